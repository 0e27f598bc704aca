/*
 * test_sample.c - the sampler: exact truncation sets and probabilities on
 * crafted logits (top-k, top-p, min-p and their order), temperature and
 * penalty arithmetic, draw statistics, seeded reproducibility, bit-identical
 * save/restore mid-stream, logprobs, and request parsing.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "aios/error.h"
#include "llmcore/sample.h"

static llm_sampler *mk(float temp, int top_k, float top_p, float min_p)
{
    llm_sample_params p;
    llm_sampler *s;

    llm_sample_params_default(&p);
    p.temperature = temp;
    p.top_k = top_k;
    p.top_p = top_p;
    p.min_p = min_p;
    p.seed = 1234;
    p.has_seed = true;
    cr_assert_eq(llm_sampler_new(&p, 8, &s), 0);
    return s;
}

/* logits whose softmax over 8 tokens is probs[] (zeros -> very unlikely) */
static void from_probs(const double *probs, float *logits)
{
    for (int i = 0; i < 8; i++)
        logits[i] = probs[i] > 0 ? (float)log(probs[i]) : -30.0f;
}

/* The final distribution as a full array over the 8 tokens. */
static void dist8(llm_sampler *s, const float *logits, const uint32_t *mask, double *out)
{
    int32_t ids[8];
    float pr[8];
    int n = llm_sampler_dist(s, logits, mask, ids, pr, 8);

    cr_assert_gt(n, 0);
    for (int i = 0; i < 8; i++)
        out[i] = 0;
    for (int i = 0; i < n; i++)
        out[ids[i]] = pr[i];
}

static void expect(const double *got, const double *want)
{
    for (int i = 0; i < 8; i++)
        cr_assert(fabs(got[i] - want[i]) < 1e-5, "token %d: %f, want %f", i, got[i], want[i]);
}

static const double P[8] = {0.05, 0.30, 0.02, 0.25, 0.20, 0.10, 0.05, 0.03};

Test(sample, greedy_and_ties, .timeout = 10)
{
    llm_sampler *s = mk(0.0f, 0, 1.0f, 0.0f);
    float l[8] = {1, 5, 3, 5, -2, 0, 4, 1};
    uint32_t mask = 0xffu & ~(1u << 1) & ~(1u << 3);

    cr_assert_eq(llm_sampler_sample(s, l, NULL, NULL), 1, "lowest id among the best");
    cr_assert_eq(llm_sampler_sample(s, l, &mask, NULL), 6, "best allowed");
    mask = 0;
    cr_assert_eq(llm_sampler_sample(s, l, &mask, NULL), AIOS_EINVAL);
    llm_sampler_free(s);
}

Test(sample, top_k_exact, .timeout = 10)
{
    float l[8];
    double d[8], w[8] = {0};
    llm_sampler *s = mk(1.0f, 3, 1.0f, 0.0f);

    from_probs(P, l);
    dist8(s, l, NULL, d);
    /* the three best (1, 3, 4) renormalised */
    w[1] = 0.30 / 0.75, w[3] = 0.25 / 0.75, w[4] = 0.20 / 0.75;
    expect(d, w);
    llm_sampler_free(s);
}

Test(sample, top_p_exact, .timeout = 10)
{
    float l[8];
    double d[8], w[8] = {0};
    llm_sampler *s = mk(1.0f, 0, 0.74f, 0.0f);

    from_probs(P, l);
    dist8(s, l, NULL, d);
    /* 0.30 + 0.25 = 0.55 < 0.74 <= 0.75: tokens 1, 3, 4 */
    w[1] = 0.30 / 0.75, w[3] = 0.25 / 0.75, w[4] = 0.20 / 0.75;
    expect(d, w);
    llm_sampler_free(s);

    s = mk(1.0f, 0, 0.76f, 0.0f); /* one more: token 5 */
    dist8(s, l, NULL, d);
    memset(w, 0, sizeof(w));
    w[1] = 0.30 / 0.85, w[3] = 0.25 / 0.85, w[4] = 0.20 / 0.85, w[5] = 0.10 / 0.85;
    expect(d, w);
    llm_sampler_free(s);
}

Test(sample, min_p_exact, .timeout = 10)
{
    float l[8];
    double d[8], w[8] = {0};
    llm_sampler *s = mk(1.0f, 0, 1.0f, 0.5f);

    from_probs(P, l);
    dist8(s, l, NULL, d);
    /* keep p >= 0.5 * 0.30 = 0.15: tokens 1, 3, 4 */
    w[1] = 0.30 / 0.75, w[3] = 0.25 / 0.75, w[4] = 0.20 / 0.75;
    expect(d, w);
    llm_sampler_free(s);
}

Test(sample, order_of_operations, .timeout = 10)
{
    float l[8];
    double d[8], w[8] = {0};
    /* mask removes token 1; top-k 3 then keeps 3, 4, 5; top-p 0.6 of
     * (0.25, 0.20, 0.10)/0.55 keeps 3, 4; min-p 0.9 then keeps only 3 */
    uint32_t mask = 0xffu & ~(1u << 1);
    llm_sampler *s = mk(1.0f, 3, 0.6f, 0.0f);

    from_probs(P, l);
    dist8(s, l, &mask, d);
    w[3] = 0.25 / 0.45, w[4] = 0.20 / 0.45;
    expect(d, w);
    llm_sampler_free(s);
    s = mk(1.0f, 3, 0.6f, 0.9f);
    dist8(s, l, &mask, d);
    memset(w, 0, sizeof(w));
    w[3] = 1.0;
    expect(d, w);
    llm_sampler_free(s);
}

Test(sample, temperature_scales_logits, .timeout = 10)
{
    float l[8] = {0, 2, -1, 0.5f, 0, 0, 0, 0};
    double d[8], w[8], z = 0;
    llm_sampler *s = mk(2.0f, 0, 1.0f, 0.0f);

    for (int i = 0; i < 8; i++)
        z += exp(l[i] / 2.0);
    for (int i = 0; i < 8; i++)
        w[i] = exp(l[i] / 2.0) / z;
    dist8(s, l, NULL, d);
    expect(d, w);
    llm_sampler_free(s);
}

Test(sample, draws_follow_the_distribution, .timeout = 20)
{
    float l[8];
    int hist[8] = {0};
    const int N = 40000;
    llm_sampler *s = mk(1.0f, 0, 1.0f, 0.0f);

    from_probs(P, l);
    for (int i = 0; i < N; i++) {
        int32_t t = llm_sampler_sample(s, l, NULL, NULL);
        cr_assert(t >= 0 && t < 8);
        hist[t]++;
    }
    for (int i = 0; i < 8; i++) {
        double f = (double)hist[i] / N, sd = sqrt(P[i] * (1 - P[i]) / N);
        cr_assert(fabs(f - P[i]) < 5 * sd, "token %d: %f vs %f", i, f, P[i]);
    }
    llm_sampler_free(s);
}

Test(sample, penalties, .timeout = 10)
{
    llm_sample_params p;
    llm_sampler *s;
    float l[8] = {2, -1, 1, 0.5f, 0, 0, 0, 0};
    double d[8], w[8], z = 0, v[8];

    llm_sample_params_default(&p);
    p.repeat_penalty = 2.0f;
    p.frequency_penalty = 0.5f;
    p.presence_penalty = 0.25f;
    p.penalty_last_n = 3;
    cr_assert_eq(llm_sampler_new(&p, 8, &s), 0);
    /* history 7 0 0 1 2: the window of 3 is 0 1 2 */
    int32_t h[] = {7, 0, 0, 1, 2};
    for (int i = 0; i < 5; i++)
        cr_assert_eq(llm_sampler_accept(s, h[i]), 0);
    for (int i = 0; i < 8; i++)
        v[i] = l[i];
    v[0] = 2.0 / 2 - 0.5 - 0.25;  /* once in the window */
    v[1] = -1.0 * 2 - 0.5 - 0.25;
    v[2] = 1.0 / 2 - 0.5 - 0.25;
    /* token 7 left the window: untouched */
    for (int i = 0; i < 8; i++)
        z += exp(v[i]);
    for (int i = 0; i < 8; i++)
        w[i] = exp(v[i]) / z;
    dist8(s, l, NULL, d);
    expect(d, w);
    llm_sampler_free(s);
}

Test(sample, seed_reproducible, .timeout = 20)
{
    llm_sample_params p;
    llm_sampler *a, *b, *c;
    float *l = malloc(49152 * sizeof(float));
    uint64_t x = 99;
    int same_ab = 0, same_ac = 0;

    llm_sample_params_default(&p);
    p.seed = 77;
    p.has_seed = true;
    p.top_p = 0.95f;
    cr_assert_eq(llm_sampler_new(&p, 49152, &a), 0);
    cr_assert_eq(llm_sampler_new(&p, 49152, &b), 0);
    p.seed = 78;
    cr_assert_eq(llm_sampler_new(&p, 49152, &c), 0);
    cr_assert_eq(llm_sampler_seed(a), 77);
    for (int step = 0; step < 60; step++) {
        for (int i = 0; i < 49152; i++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            l[i] = (float)(x >> 40) / 1048576.0f; /* 0..16: a spread distribution */
        }
        int32_t ta = llm_sampler_sample(a, l, NULL, NULL);
        int32_t tb = llm_sampler_sample(b, l, NULL, NULL);
        int32_t tc = llm_sampler_sample(c, l, NULL, NULL);
        same_ab += ta == tb;
        same_ac += ta == tc;
        llm_sampler_accept(a, ta);
        llm_sampler_accept(b, tb);
        llm_sampler_accept(c, tc);
    }
    cr_assert_eq(same_ab, 60);
    cr_assert_lt(same_ac, 10);
    llm_sampler_free(a);
    llm_sampler_free(b);
    llm_sampler_free(c);
    free(l);
}

/* Deterministic logits of step k. */
static void logits_at(int k, float *l, int n)
{
    uint64_t x = 1000 + (uint64_t)k;
    for (int i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        l[i] = (float)(x >> 44) / 65536.0f * 6.0f;
    }
}

Test(sample, save_restore_bit_identical, .timeout = 30)
{
    const int n = 4096;
    llm_sample_params p;
    llm_sampler *a, *b;
    float *l = malloc((size_t)n * sizeof(float));
    int32_t first[200], second[200];
    uint8_t *blob = NULL;
    size_t need = 0;

    llm_sample_params_default(&p);
    p.seed = 5;
    p.has_seed = true;
    p.temperature = 0.8f;
    p.top_k = 50;
    p.repeat_penalty = 1.3f;
    p.frequency_penalty = 0.2f;
    p.penalty_last_n = 64;
    cr_assert_eq(llm_sampler_new(&p, n, &a), 0);
    for (int k = 0; k < 200; k++) {
        if (k == 120) {
            need = llm_sampler_save(a, NULL, 0);
            blob = malloc(need);
            cr_assert_eq(llm_sampler_save(a, blob, need), need);
        }
        logits_at(k, l, n);
        first[k] = llm_sampler_sample(a, l, NULL, NULL);
        llm_sampler_accept(a, first[k]);
    }
    /* a fresh sampler with another seed, restored, continues identically */
    p.seed = 6;
    cr_assert_eq(llm_sampler_new(&p, n, &b), 0);
    cr_assert_eq(llm_sampler_restore(b, blob, need), 0);
    cr_assert_eq(llm_sampler_seed(b), 5);
    for (int k = 120; k < 200; k++) {
        logits_at(k, l, n);
        second[k] = llm_sampler_sample(b, l, NULL, NULL);
        llm_sampler_accept(b, second[k]);
        cr_assert_eq(second[k], first[k], "step %d", k);
    }
    cr_assert_eq(llm_sampler_restore(b, blob, need - 1), AIOS_ECORRUPT);
    blob[0] ^= 1;
    cr_assert_eq(llm_sampler_restore(b, blob, need), AIOS_ECORRUPT);
    free(blob);
    free(l);
    llm_sampler_free(a);
    llm_sampler_free(b);
}

Test(sample, logprobs_of_raw_logits, .timeout = 10)
{
    llm_sample_params p;
    llm_sampler *s;
    llm_sample_info info;
    float l[8] = {1, 3, -2, 2.5f, 0, 3, -1, 0.25f};
    double z = 0;

    llm_sample_params_default(&p);
    p.temperature = 0.0f; /* greedy: the processed distribution differs from the raw one */
    p.repeat_penalty = 5.0f;
    p.logprobs = true;
    p.top_logprobs = 3;
    cr_assert_eq(llm_sampler_new(&p, 8, &s), 0);
    llm_sampler_accept(s, 1);
    for (int i = 0; i < 8; i++)
        z += exp(l[i]);
    int32_t t = llm_sampler_sample(s, l, NULL, &info);
    cr_assert_eq(t, 5, "token 1 is penalised, 5 wins");
    cr_assert(fabs(info.logprob - (3 - log(z))) < 1e-5);
    cr_assert_eq(info.n_top, 3);
    cr_assert_eq(info.top[0].token, 1);
    cr_assert_eq(info.top[1].token, 5);
    cr_assert_eq(info.top[2].token, 3);
    cr_assert(fabs(info.top[2].logprob - (2.5 - log(z))) < 1e-5);
    llm_sampler_free(s);
}

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x > y ? -1 : x < y;
}

Test(sample, large_vocab_truncation_is_exact, .timeout = 30)
{
    const int n = 49152;
    llm_sample_params p;
    llm_sampler *s;
    float *l = malloc((size_t)n * sizeof(float));
    int32_t *ids = malloc((size_t)n * sizeof(int32_t));
    float *pr = malloc((size_t)n * sizeof(float));
    double *sorted = malloc((size_t)n * sizeof(double));

    logits_at(3, l, n);
    llm_sample_params_default(&p);
    p.top_p = 0.9f;
    cr_assert_eq(llm_sampler_new(&p, n, &s), 0);
    int k = llm_sampler_dist(s, l, NULL, ids, pr, n);
    /* brute force: sort all probabilities, take the shortest head with 0.9 */
    double z = 0, mx = -1e30;
    for (int i = 0; i < n; i++)
        mx = l[i] > mx ? l[i] : mx;
    for (int i = 0; i < n; i++)
        z += (sorted[i] = exp((double)l[i] - mx));
    qsort(sorted, (size_t)n, sizeof(double), cmpd);
    double cum = 0;
    int want = 0;
    while (cum < 0.9 * z)
        cum += sorted[want++];
    cr_assert(abs(k - want) <= 1, "kept %d, brute force %d", k, want);
    double kept_min = 1e30;
    for (int i = 0; i < k; i++)
        kept_min = fmin(kept_min, exp((double)l[ids[i]] - mx));
    cr_assert(kept_min >= sorted[k - 1] * (1 - 1e-6), "the kept tokens are the most likely");
    llm_sampler_free(s);

    p.top_p = 1.0f;
    p.top_k = 40;
    cr_assert_eq(llm_sampler_new(&p, n, &s), 0);
    cr_assert_eq(llm_sampler_dist(s, l, NULL, ids, pr, n), 40);
    for (int i = 0; i < 40; i++)
        cr_assert_geq(exp((double)l[ids[i]] - mx), sorted[39] * (1 - 1e-6));
    llm_sampler_free(s);
    free(l);
    free(ids);
    free(pr);
    free(sorted);
}

Test(sample, params_from_json, .timeout = 10)
{
    static const struct { const char *req; int rc; const char *needle; } cases[] = {
        {"{\"temperature\":0.2,\"top_p\":0.5,\"top_k\":4,\"min_p\":0.1,\"seed\":9,"
         "\"frequency_penalty\":1,\"presence_penalty\":-1,\"repeat_penalty\":1.1,"
         "\"repeat_last_n\":32,\"logprobs\":true,\"top_logprobs\":5}", 0, ""},
        {"{\"temperature\":\"hot\"}", AIOS_EINVAL, "temperature"},
        {"{\"top_p\":1.5}", AIOS_EINVAL, "top_p"},
        {"{\"top_p\":0}", AIOS_EINVAL, "top_p"},
        {"{\"top_k\":-1}", AIOS_EINVAL, "top_k"},
        {"{\"seed\":1.5}", AIOS_EINVAL, "seed"},
        {"{\"top_logprobs\":3}", AIOS_EINVAL, "logprobs"},
        {"{\"top_logprobs\":21,\"logprobs\":true}", AIOS_EINVAL, "top_logprobs"},
        {"{\"frequency_penalty\":3}", AIOS_EINVAL, "frequency_penalty"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_error_t je;
        json_t *j = json_loads(cases[i].req, 0, &je);
        llm_sample_params p;
        char err[128];
        llm_sample_params_default(&p);
        int rc = llm_sample_params_from_json(j, &p, err, sizeof(err));
        cr_assert_eq(rc, cases[i].rc, "%s: %s", cases[i].req, err);
        cr_assert(strstr(err, cases[i].needle), "%s: '%s'", cases[i].req, err);
        if (rc == 0) {
            cr_assert_float_eq(p.temperature, 0.2f, 1e-6);
            cr_assert_eq(p.top_k, 4);
            cr_assert_eq(p.seed, 9);
            cr_assert(p.has_seed && p.logprobs);
            cr_assert_eq(p.top_logprobs, 5);
            cr_assert_eq(p.penalty_last_n, 32);
        }
        json_decref(j);
    }
}

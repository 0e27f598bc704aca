/*
 * sample.c - the sampler (see sample.h for the order of operations).
 *
 * Owns the random generator (xoshiro256**, seeded through splitmix64) and
 * the penalty history of one sequence.  The per-step work arrays (one entry
 * per vocabulary token) are per thread, not per sequence, so thousands of
 * waiting sequences cost only their history.  Truncation never sorts the
 * whole vocabulary: top-k is a selection, top-p selects and sorts a growing
 * head until it holds the requested mass.  Every tie is broken by token id,
 * so a pick depends only on the logits, the parameters and the state.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "aios/error.h"
#include "llmcore/sample.h"

struct llm_sampler {
    llm_sample_params p;
    int n_vocab;
    uint64_t seed;
    uint64_t rng[4];
    int32_t *hist;
    size_t n_hist, cap_hist;
};

typedef struct cand {
    float v;
    int32_t id;
} cand;

/* ---- per-thread scratch ------------------------------------------------------------ */

typedef struct scratch {
    cand *c;
    float *w;
    size_t cap;
    int32_t *pen;
    size_t cap_pen;
} scratch;

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_free(void *p)
{
    scratch *s = p;
    if (s) {
        free(s->c);
        free(s->w);
        free(s->pen);
        free(s);
    }
}

static void scratch_init(void)
{
    pthread_key_create(&scratch_key, scratch_free);
}

/* This thread's work arrays, grown to n candidates and m history tokens. */
static scratch *get_scratch(size_t n, size_t m)
{
    scratch *s;

    pthread_once(&scratch_once, scratch_init);
    s = pthread_getspecific(scratch_key);
    if (!s) {
        s = calloc(1, sizeof(*s));
        if (!s || pthread_setspecific(scratch_key, s) != 0) {
            free(s);
            return NULL;
        }
    }
    if (s->cap < n) {
        cand *c = realloc(s->c, n * sizeof(cand));
        if (!c)
            return NULL;
        s->c = c;
        float *w = realloc(s->w, n * sizeof(float));
        if (!w)
            return NULL;
        s->w = w;
        s->cap = n;
    }
    if (s->cap_pen < m) {
        int32_t *q = realloc(s->pen, m * sizeof(int32_t));
        if (!q)
            return NULL;
        s->pen = q;
        s->cap_pen = m;
    }
    return s;
}

/* ---- random numbers --------------------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* xoshiro256** (Blackman & Vigna): the next 64 random bits. */
static uint64_t rng_next(uint64_t s[4])
{
    uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

/* A uniform double in [0, 1) from the top 53 bits. */
static double rng_unit(uint64_t s[4])
{
    return (double)(rng_next(s) >> 11) * 0x1.0p-53;
}

/* ---- parameters ------------------------------------------------------------------------- */

void llm_sample_params_default(llm_sample_params *p)
{
    memset(p, 0, sizeof(*p));
    p->temperature = 1.0f;
    p->top_p = 1.0f;
    p->repeat_penalty = 1.0f;
    p->penalty_last_n = -1;
}

static int get_num(const json_t *req, const char *key, double lo, double hi, float *out, char *err,
                   size_t errlen)
{
    const json_t *v = json_object_get(req, key);
    double x;

    if (!v || json_is_null(v))
        return 0;
    if (!json_is_number(v)) {
        snprintf(err, errlen, "'%s' must be a number", key);
        return AIOS_EINVAL;
    }
    x = json_number_value(v);
    if (!(x >= lo && x <= hi)) {
        snprintf(err, errlen, "'%s' must be between %g and %g", key, lo, hi);
        return AIOS_EINVAL;
    }
    *out = (float)x;
    return 0;
}

static int get_int(const json_t *req, const char *key, json_int_t lo, json_int_t hi, int32_t *out,
                   char *err, size_t errlen)
{
    const json_t *v = json_object_get(req, key);

    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        snprintf(err, errlen, "'%s' must be an integer between %lld and %lld", key,
                 (long long)lo, (long long)hi);
        return AIOS_EINVAL;
    }
    *out = (int32_t)json_integer_value(v);
    return 0;
}

int llm_sample_params_from_json(const json_t *req, llm_sample_params *p, char *err, size_t errlen)
{
    const json_t *v;
    int rc;

    if (err && errlen)
        err[0] = 0;
    if (!req)
        return 0;
    if ((rc = get_num(req, "temperature", 0, 100, &p->temperature, err, errlen)) < 0 ||
        (rc = get_num(req, "top_p", 0, 1, &p->top_p, err, errlen)) < 0 ||
        (rc = get_num(req, "min_p", 0, 1, &p->min_p, err, errlen)) < 0 ||
        (rc = get_num(req, "repeat_penalty", 0.01, 100, &p->repeat_penalty, err, errlen)) < 0 ||
        (rc = get_num(req, "frequency_penalty", -2, 2, &p->frequency_penalty, err, errlen)) < 0 ||
        (rc = get_num(req, "presence_penalty", -2, 2, &p->presence_penalty, err, errlen)) < 0 ||
        (rc = get_int(req, "top_k", 0, 1 << 30, &p->top_k, err, errlen)) < 0 ||
        (rc = get_int(req, "repeat_last_n", -1, 1 << 30, &p->penalty_last_n, err, errlen)) < 0 ||
        (rc = get_int(req, "penalty_last_n", -1, 1 << 30, &p->penalty_last_n, err, errlen)) < 0 ||
        (rc = get_int(req, "top_logprobs", 0, LLM_TOP_LOGPROBS_MAX, &p->top_logprobs, err,
                      errlen)) < 0)
        return rc;
    if (p->top_p <= 0) {
        snprintf(err, errlen, "'top_p' must be above 0");
        return AIOS_EINVAL;
    }
    v = json_object_get(req, "seed");
    if (v && !json_is_null(v)) {
        if (!json_is_integer(v)) {
            snprintf(err, errlen, "'seed' must be an integer");
            return AIOS_EINVAL;
        }
        p->seed = (uint64_t)json_integer_value(v);
        p->has_seed = true;
    }
    v = json_object_get(req, "logprobs");
    if (v && !json_is_null(v)) {
        if (!json_is_boolean(v)) {
            snprintf(err, errlen, "'logprobs' must be a boolean");
            return AIOS_EINVAL;
        }
        p->logprobs = json_is_true(v);
    }
    if (p->top_logprobs > 0 && !p->logprobs) {
        snprintf(err, errlen, "'top_logprobs' needs 'logprobs' set to true");
        return AIOS_EINVAL;
    }
    return 0;
}

/* ---- sampler ------------------------------------------------------------------------------- */

int llm_sampler_new(const llm_sample_params *p, int n_vocab, llm_sampler **out)
{
    llm_sampler *s;
    uint64_t x;

    *out = NULL;
    if (!p || n_vocab <= 0)
        return AIOS_EINVAL;
    s = calloc(1, sizeof(*s));
    if (!s)
        return AIOS_ENOMEM;
    s->p = *p;
    s->n_vocab = n_vocab;
    if (p->has_seed) {
        s->seed = p->seed;
    } else if (getrandom(&s->seed, sizeof(s->seed), GRND_NONBLOCK) != (ssize_t)sizeof(s->seed)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        s->seed = (uint64_t)ts.tv_sec * 1000000007ull ^ (uint64_t)ts.tv_nsec ^ (uint64_t)(uintptr_t)s;
    }
    x = s->seed;
    for (int i = 0; i < 4; i++)
        s->rng[i] = splitmix64(&x);
    *out = s;
    return 0;
}

void llm_sampler_free(llm_sampler *s)
{
    if (!s)
        return;
    free(s->hist);
    free(s);
}

const llm_sample_params *llm_sampler_params(const llm_sampler *s)
{
    return &s->p;
}

uint64_t llm_sampler_seed(const llm_sampler *s)
{
    return s->seed;
}

/* The part of the history the penalties look at. */
static size_t window(const llm_sampler *s, size_t *from)
{
    size_t n = s->n_hist;

    if (s->p.penalty_last_n == 0) {
        *from = n;
        return 0;
    }
    if (s->p.penalty_last_n > 0 && n > (size_t)s->p.penalty_last_n) {
        *from = n - (size_t)s->p.penalty_last_n;
        return (size_t)s->p.penalty_last_n;
    }
    *from = 0;
    return n;
}

int llm_sampler_accept(llm_sampler *s, int32_t tok)
{
    if (tok < 0 || tok >= s->n_vocab)
        return AIOS_EINVAL;
    if (s->p.penalty_last_n == 0)
        return 0;
    /* a bounded window never needs more than twice its size */
    if (s->p.penalty_last_n > 0 && s->n_hist >= 2 * (size_t)s->p.penalty_last_n) {
        size_t keep = (size_t)s->p.penalty_last_n;
        memmove(s->hist, s->hist + s->n_hist - keep, keep * sizeof(int32_t));
        s->n_hist = keep;
    }
    if (s->n_hist == s->cap_hist) {
        size_t nc = s->cap_hist ? s->cap_hist * 2 : 64;
        int32_t *h = realloc(s->hist, nc * sizeof(int32_t));
        if (!h)
            return AIOS_ENOMEM;
        s->hist = h;
        s->cap_hist = nc;
    }
    s->hist[s->n_hist++] = tok;
    return 0;
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return x < y ? -1 : x > y;
}

/* "a ranks before b": larger value first, then smaller id. */
static inline bool before(const cand *a, const cand *b)
{
    return a->v > b->v || (a->v == b->v && a->id < b->id);
}

/* Partition c[lo..hi) around a median-of-three pivot: returns st with
 * c[lo..st) ranking before c[st] and c[st+1..hi) after it. */
static size_t partition(cand *c, size_t lo, size_t hi)
{
    size_t mid = lo + (hi - lo) / 2, st = lo;
    cand *a = &c[lo], *b = &c[mid], *z = &c[hi - 1], t;

    if (before(b, a)) { t = *a; *a = *b; *b = t; }
    if (before(z, a)) { t = *a; *a = *z; *z = t; }
    if (before(z, b)) { t = *b; *b = *z; *z = t; }
    t = *b; *b = *z; *z = t; /* the median is the pivot, at hi-1 */
    cand piv = c[hi - 1];
    for (size_t i = lo; i < hi - 1; i++) {
        if (before(&c[i], &piv)) {
            t = c[i]; c[i] = c[st]; c[st] = t;
            st++;
        }
    }
    t = c[st]; c[st] = c[hi - 1]; c[hi - 1] = t;
    return st;
}

/* Partition c[0..n) so that c[0..k) are the k best (unordered). */
static void select_top(cand *c, size_t n, size_t k)
{
    size_t lo = 0, hi = n;

    if (k == 0 || k >= n)
        return;
    while (hi - lo > 1) {
        size_t st = partition(c, lo, hi);
        if (st == k || st + 1 == k)
            return;
        if (st > k)
            hi = st;
        else
            lo = st + 1;
    }
}

/*
 * Top-p without sorting: reorder c[0..n) (c[i].v = probability mass) so
 * that c[0..k) are the best k candidates for the smallest k whose mass
 * reaches want; returns k.  Expected linear time.
 */
static size_t select_mass(cand *c, size_t n, double want)
{
    size_t lo = 0, hi = n;

    while (hi > lo) {
        if (hi - lo == 1)
            return lo + 1;
        size_t st = partition(c, lo, hi);
        double m = 0;
        for (size_t i = lo; i < st; i++)
            m += c[i].v;
        if (m >= want && st > lo) {
            hi = st;
            continue;
        }
        if (m + c[st].v >= want)
            return st + 1;
        want -= m + c[st].v;
        lo = st + 1;
    }
    return lo ? lo : 1;
}

/* A logit after the penalties, for a token seen count times in the window. */
static float penalise(const llm_sample_params *p, float v, size_t count)
{
    if (p->repeat_penalty != 1.0f)
        v = v > 0 ? v / p->repeat_penalty : v * p->repeat_penalty;
    return v - (float)count * p->frequency_penalty - p->presence_penalty;
}

/* The k best of w[0..n) (finite values only) into c, by a bounded heap
 * whose root is the worst kept; returns how many. */
static size_t heap_top(const float *w, int n, size_t k, cand *c)
{
    size_t m = 0;

    for (int i = 0; i < n; i++) {
        cand x = {w[i], i};
        if (!(w[i] > -INFINITY))
            continue;
        if (m == k && !before(&x, &c[0]))
            continue;
        size_t at;
        if (m < k) { /* sift up */
            at = m++;
            while (at > 0 && before(&c[(at - 1) / 2], &x)) {
                c[at] = c[(at - 1) / 2];
                at = (at - 1) / 2;
            }
        } else { /* replace the root, sift down */
            at = 0;
            for (;;) {
                size_t l = 2 * at + 1, r = l + 1, worst = at;
                cand *wv = &x;
                if (l < m && before(wv, &c[l]))
                    worst = l, wv = &c[l];
                if (r < m && before(wv, &c[r]))
                    worst = r;
                if (worst == at)
                    break;
                c[at] = c[worst];
                at = worst;
            }
        }
        c[at] = x;
    }
    return m;
}

/*
 * Run every step before the draw.  On return c[0..*n) hold the surviving
 * candidates with c[i].v their unnormalised probability (sum in *mass), or
 * *greedy >= 0 when the pick is already decided.
 *
 * Two equivalent front ends: a sparse one when the mask allows few tokens
 * (candidates straight from the mask bits) and a dense one that works on a
 * copy of the logits (penalties and mask in place, then a heap for top-k or
 * an argmax for greedy), which avoids building 49k candidates.
 */
static int process(llm_sampler *s, const float *logits, const uint32_t *mask, cand **out,
                   size_t *n_out, double *mass, int32_t *greedy)
{
    const llm_sample_params *p = &s->p;
    size_t from, wn = window(s, &from);
    int nv = s->n_vocab, nw = (nv + 31) / 32;
    scratch *sc = get_scratch((size_t)nv, wn + 1);
    size_t n = 0, allowed = (size_t)nv;
    bool topk_done = false;
    cand *c;

    *greedy = -1;
    if (!sc)
        return AIOS_ENOMEM;
    c = sc->c;
    bool pen = wn > 0 && (p->repeat_penalty != 1.0f || p->frequency_penalty != 0.0f ||
                          p->presence_penalty != 0.0f);
    int32_t *h = sc->pen;
    if (pen) {
        memcpy(h, s->hist + from, wn * sizeof(int32_t));
        qsort(h, wn, sizeof(int32_t), cmp_i32);
    }
    if (mask) {
        allowed = 0;
        for (int i = 0; i < nw; i++)
            allowed += (size_t)__builtin_popcount(mask[i]);
        if (allowed == 0)
            return AIOS_EINVAL;
    }

    if (mask && allowed * 8 < (size_t)nv) {
        /* sparse: candidates in id order, penalties found by bisection */
        for (int wi = 0; wi < nw; wi++)
            for (uint32_t m = mask[wi]; m; m &= m - 1) {
                int32_t id = wi * 32 + __builtin_ctz(m);
                if (id < nv) {
                    c[n].id = id;
                    c[n].v = isnan(logits[id]) ? -INFINITY : logits[id];
                    n++;
                }
            }
        if (n == 0)
            return AIOS_EINVAL;
        for (size_t i = 0; pen && i < wn;) {
            size_t j = i, lo = 0, hi = n;
            while (j < wn && h[j] == h[i])
                j++;
            while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (c[mid].id < h[i])
                    lo = mid + 1;
                else
                    hi = mid;
            }
            if (lo < n && c[lo].id == h[i])
                c[lo].v = penalise(p, c[lo].v, j - i);
            i = j;
        }
        if (p->temperature <= 0.0f || p->top_k == 1) {
            size_t b = 0;
            for (size_t i = 1; i < n; i++)
                if (c[i].v > c[b].v)
                    b = i;
            *greedy = c[b].id;
            return 0;
        }
    } else {
        /* dense: a working copy of the logits */
        float *w = sc->w;
        memcpy(w, logits, (size_t)nv * sizeof(float));
        for (size_t i = 0; pen && i < wn;) {
            size_t j = i;
            while (j < wn && h[j] == h[i])
                j++;
            w[h[i]] = penalise(p, w[h[i]], j - i);
            i = j;
        }
        if (mask) {
            for (int wi = 0; wi < nw; wi++) {
                uint32_t m = ~mask[wi];
                if (!m)
                    continue;
                for (; m; m &= m - 1) {
                    int id = wi * 32 + __builtin_ctz(m);
                    if (id < nv)
                        w[id] = -INFINITY;
                }
            }
        }
        if (p->temperature <= 0.0f || p->top_k == 1) {
            int b = -1;
            float best = -INFINITY;
            for (int i = 0; i < nv; i++)
                if (w[i] > best || (b < 0 && w[i] == best && (!mask || (mask[i >> 5] >> (i & 31)) & 1))) {
                    best = w[i];
                    b = i;
                }
            *greedy = b >= 0 ? b : 0;
            return 0;
        }
        if (p->top_k > 0 && p->top_k <= 4096) {
            n = heap_top(w, nv, (size_t)p->top_k, c);
            topk_done = true;
        } else {
            for (int i = 0; i < nv; i++)
                if (w[i] > -INFINITY) {
                    c[n].v = w[i];
                    c[n].id = i;
                    n++;
                }
        }
        if (n == 0) { /* every allowed logit is -inf: uniform over the allowed */
            for (int i = 0; i < nv; i++)
                if (!mask || ((mask[i >> 5] >> (i & 31)) & 1)) {
                    c[n].v = 0;
                    c[n].id = i;
                    n++;
                }
        }
    }

    /* temperature */
    float inv = 1.0f / p->temperature;
    float mx = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        c[i].v *= inv;
        if (c[i].v > mx)
            mx = c[i].v;
    }
    if (mx == -INFINITY) { /* nothing has finite odds: uniform */
        for (size_t i = 0; i < n; i++)
            c[i].v = 0;
        mx = 0;
    }

    /* top-k */
    if (!topk_done && p->top_k > 0 && (size_t)p->top_k < n) {
        select_top(c, n, (size_t)p->top_k);
        n = (size_t)p->top_k;
    }

    /* softmax numerators */
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        c[i].v = expf(c[i].v - mx);
        sum += c[i].v;
    }

    /* top-p: the smallest set of best candidates holding top_p of the mass */
    if (p->top_p < 1.0f) {
        n = select_mass(c, n, (double)p->top_p * sum);
        sum = 0;
        for (size_t i = 0; i < n; i++)
            sum += c[i].v;
    }

    /* min-p: drop what is below min_p times the best */
    if (p->min_p > 0.0f) {
        float best = 0;
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (c[i].v > best)
                best = c[i].v;
        float cut = p->min_p * best;
        sum = 0;
        for (size_t i = 0; i < n; i++)
            if (c[i].v >= cut) {
                c[k++] = c[i];
                sum += c[i].v;
            }
        n = k;
    }
    *out = c;
    *n_out = n;
    *mass = sum;
    return 0;
}

/* Log-softmax of the raw logits for tok, and the top alternatives. */
static void raw_logprobs(const llm_sampler *s, const float *logits, int32_t tok,
                         llm_sample_info *info)
{
    float mx = -INFINITY;
    double sum = 0, logz;
    int nt = s->p.top_logprobs;

    for (int i = 0; i < s->n_vocab; i++)
        if (logits[i] > mx)
            mx = logits[i];
    for (int i = 0; i < s->n_vocab; i++)
        if (!isnan(logits[i]))
            sum += exp((double)logits[i] - (double)mx);
    logz = (double)mx + log(sum);
    info->logprob = (float)((double)logits[tok] - logz);
    info->n_top = 0;
    for (int i = 0; i < s->n_vocab && nt > 0; i++) {
        float v = logits[i];
        int k = info->n_top;
        if (isnan(v))
            continue;
        if (k == nt && !(v > info->top[k - 1].logprob))
            continue;
        if (k < nt)
            info->n_top++;
        else
            k--;
        while (k > 0 && info->top[k - 1].logprob < v) {
            info->top[k] = info->top[k - 1];
            k--;
        }
        info->top[k].token = i;
        info->top[k].logprob = v;
    }
    for (int k = 0; k < info->n_top; k++)
        info->top[k].logprob = (float)((double)info->top[k].logprob - logz);
}

void llm_sampler_logprobs(llm_sampler *s, const float *logits, int32_t tok,
                          llm_sample_info *info)
{
    if (!info)
        return;
    info->logprob = 0;
    info->n_top = 0;
    if (s->p.logprobs && tok >= 0 && tok < s->n_vocab)
        raw_logprobs(s, logits, tok, info);
}

int32_t llm_sampler_sample(llm_sampler *s, const float *logits, const uint32_t *mask,
                           llm_sample_info *info)
{
    cand *c = NULL;
    size_t n = 0;
    double mass = 0;
    int32_t tok;
    int rc = process(s, logits, mask, &c, &n, &mass, &tok);

    if (rc < 0)
        return rc;
    if (tok < 0) {
        double u = rng_unit(s->rng) * mass, cum = 0;
        tok = c[n - 1].id;
        for (size_t i = 0; i < n; i++) {
            cum += c[i].v;
            if (u < cum) {
                tok = c[i].id;
                break;
            }
        }
    }
    llm_sampler_logprobs(s, logits, tok, info);
    return tok;
}

int llm_sampler_dist(llm_sampler *s, const float *logits, const uint32_t *mask, int32_t *ids,
                     float *probs, int cap)
{
    cand *c = NULL;
    size_t n = 0;
    double mass = 0;
    int32_t tok;
    int rc = process(s, logits, mask, &c, &n, &mass, &tok);

    if (rc < 0)
        return rc;
    if (tok >= 0) {
        if (cap > 0) {
            ids[0] = tok;
            probs[0] = 1.0f;
        }
        return 1;
    }
    for (size_t i = 0; i < n && (int)i < cap; i++) {
        ids[i] = c[i].id;
        probs[i] = (float)(c[i].v / mass);
    }
    return (int)n;
}

/* ---- save / restore ------------------------------------------------------------------------- */

#define SAMPLER_MAGIC 0x31504d53u /* "SMP1" */

size_t llm_sampler_save(const llm_sampler *s, void *buf, size_t cap)
{
    size_t from, wn = window(s, &from);
    size_t need = 4 + 4 + 8 + 32 + 8 + wn * sizeof(int32_t);
    uint8_t *p = buf;
    uint32_t magic = SAMPLER_MAGIC, nv = (uint32_t)s->n_vocab;
    uint64_t n = wn;

    if (!buf || cap < need)
        return need;
    memcpy(p, &magic, 4);
    memcpy(p + 4, &nv, 4);
    memcpy(p + 8, &s->seed, 8);
    memcpy(p + 16, s->rng, 32);
    memcpy(p + 48, &n, 8);
    if (wn)
        memcpy(p + 56, s->hist + from, wn * sizeof(int32_t));
    return need;
}

int llm_sampler_restore(llm_sampler *s, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    uint32_t magic, nv;
    uint64_t n;

    if (len < 56)
        return AIOS_ECORRUPT;
    memcpy(&magic, p, 4);
    memcpy(&nv, p + 4, 4);
    memcpy(&n, p + 48, 8);
    if (magic != SAMPLER_MAGIC || nv != (uint32_t)s->n_vocab || n > (len - 56) / 4 ||
        len != 56 + n * 4)
        return AIOS_ECORRUPT;
    for (uint64_t i = 0; i < n; i++) {
        int32_t t;
        memcpy(&t, p + 56 + i * 4, 4);
        if (t < 0 || t >= s->n_vocab)
            return AIOS_ECORRUPT;
    }
    if (n > s->cap_hist) {
        int32_t *h = realloc(s->hist, (size_t)n * sizeof(int32_t));
        if (!h)
            return AIOS_ENOMEM;
        s->hist = h;
        s->cap_hist = (size_t)n;
    }
    memcpy(&s->seed, p + 8, 8);
    memcpy(s->rng, p + 16, 32);
    if (n)
        memcpy(s->hist, p + 56, (size_t)n * 4);
    s->n_hist = (size_t)n;
    return 0;
}

/*
 * test_attn.c - the attention kernels (llmcore/attn.h): every SIMD level
 * equals the scalar reference bit for bit (scores, softmax, outputs; f16 and
 * f32 caches; block sizes that are and are not multiples of the vector
 * width; 1 to 27 queries at once), a query's result does not depend on how
 * many queries run with it, and the reference is within float rounding of a
 * float64 computation; the exp polynomial against libm.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "aios/llm.h"
#include "llmcore/attn.h"
#include "llmcore/quant.h"

static unsigned rng = 99;

static float frand(void)
{
    rng = rng * 1103515245u + 12345u;
    return (float)(rng >> 8) / (float)(1u << 24) * 2.0f - 1.0f;
}

/* One head's cache of n positions in blocks of bt: K transposed per block
 * ([d][bt]), V rows ([slot][vstride], the head at offset 0). */
typedef struct {
    int n, bt, hd, vstride, f16, nb;
    uint8_t *k, *v;
    const void **kb, **vb;
    float *kf, *vf; /* the values as floats [n][hd] */
} cache;

static void make_cache(cache *c, int n, int bt, int hd, int f16)
{
    size_t es = f16 ? 2 : 4;

    c->n = n, c->bt = bt, c->hd = hd, c->vstride = hd + 8, c->f16 = f16;
    c->nb = (n + bt - 1) / bt;
    c->k = calloc((size_t)c->nb * (size_t)bt * (size_t)hd, es);
    c->v = calloc((size_t)c->nb * (size_t)bt * (size_t)c->vstride, es);
    c->kb = malloc(sizeof(void *) * (size_t)c->nb);
    c->vb = malloc(sizeof(void *) * (size_t)c->nb);
    c->kf = malloc(sizeof(float) * (size_t)n * (size_t)hd);
    c->vf = malloc(sizeof(float) * (size_t)n * (size_t)hd);
    for (int b = 0; b < c->nb; b++) {
        c->kb[b] = c->k + (size_t)b * (size_t)bt * (size_t)hd * es;
        c->vb[b] = c->v + (size_t)b * (size_t)bt * (size_t)c->vstride * es;
    }
    for (int j = 0; j < n; j++)
        for (int d = 0; d < hd; d++) {
            float kv = frand() * 2, vv = frand();
            size_t ki = (size_t)(j / bt) * (size_t)bt * (size_t)hd + (size_t)d * (size_t)bt + (size_t)(j % bt);
            size_t vi = ((size_t)(j / bt) * (size_t)bt + (size_t)(j % bt)) * (size_t)c->vstride + (size_t)d;
            if (f16) {
                ((uint16_t *)c->k)[ki] = llm_f32_to_fp16(kv);
                ((uint16_t *)c->v)[vi] = llm_f32_to_fp16(vv);
                kv = llm_fp16_to_f32(llm_f32_to_fp16(kv));
                vv = llm_fp16_to_f32(llm_f32_to_fp16(vv));
            } else {
                ((float *)c->k)[ki] = kv;
                ((float *)c->v)[vi] = vv;
            }
            c->kf[(size_t)j * (size_t)hd + (size_t)d] = kv;
            c->vf[(size_t)j * (size_t)hd + (size_t)d] = vv;
        }
}

static void free_cache(cache *c)
{
    free(c->k);
    free(c->v);
    free(c->kb);
    free(c->vb);
    free(c->kf);
    free(c->vf);
}

/* The whole attention of nq queries (query i sees positions <= base + i)
 * with one level's kernels; out [nq][hd]. */
static void attend(const llm_attn_ops *a, const cache *c, const float *q, int nq, int base, float *s, float *out)
{
    size_t ss = ((size_t)c->n + 15) & ~(size_t)15;

    a->scores(q, (size_t)c->hd, nq, c->kb, c->bt, c->n, c->hd, 0.125f, s, ss);
    for (int i = 0; i < nq; i++)
        a->softmax(s + (size_t)i * ss, base + i + 1, c->n, c->f16);
    a->av(s, ss, nq, c->vb, c->bt, c->vstride, c->n, c->hd, out, (size_t)c->hd);
}

Test(attn, levels_bit_identical_and_close_to_float64, .timeout = 30)
{
    static const int shapes[][4] = {/* n, bt, hd, nq */
                                    {37, 16, 64, 3}, {100, 4, 64, 27}, {64, 32, 128, 9}, {5, 16, 80, 1}, {70, 7, 48, 13}};
    int top = llm_quant_set_level(LLM_SIMD_COUNT);

    for (int f16 = 0; f16 < 2; f16++)
        for (size_t sh = 0; sh < sizeof(shapes) / sizeof(shapes[0]); sh++) {
            int n = shapes[sh][0], bt = shapes[sh][1], hd = shapes[sh][2], nq = shapes[sh][3];
            int base = n - nq; /* the last nq positions, causal */
            cache c;
            float *q = malloc(sizeof(float) * (size_t)(nq * hd));
            float *s = malloc(sizeof(float) * (size_t)nq * (size_t)(n + 16));
            float *ref = malloc(sizeof(float) * (size_t)(nq * hd)), *got = malloc(sizeof(float) * (size_t)(nq * hd));

            make_cache(&c, n, bt, hd, f16);
            for (int i = 0; i < nq * hd; i++)
                q[i] = f16 ? llm_fp16_to_f32(llm_f32_to_fp16(frand() * 3)) : frand() * 3;
            attend(llm__attn_ops(LLM_SIMD_SCALAR, f16 ? LLM_KV_F16 : LLM_KV_F32), &c, q, nq, base, s, ref);
            /* float64 attention: within float rounding (f16 weights when f16) */
            for (int i = 0; i < nq; i++) {
                int len = base + i + 1;
                double mx = -INFINITY, sum = 0, *w = malloc(sizeof(double) * (size_t)len);
                for (int j = 0; j < len; j++) {
                    double a = 0;
                    for (int d = 0; d < hd; d++)
                        a += (double)q[i * hd + d] * c.kf[(size_t)j * (size_t)hd + (size_t)d];
                    w[j] = a * 0.125;
                    mx = fmax(mx, w[j]);
                }
                for (int j = 0; j < len; j++)
                    sum += (w[j] = exp(w[j] - mx));
                for (int d = 0; d < hd; d++) {
                    double o = 0;
                    for (int j = 0; j < len; j++)
                        o += w[j] / sum * c.vf[(size_t)j * (size_t)hd + (size_t)d];
                    cr_assert(fabs(o - ref[i * hd + d]) <= (f16 ? 2e-3 : 1e-5), "f16 %d shape %zu q %d d %d: %g vs %g",
                              f16, sh, i, d, ref[i * hd + d], o);
                }
                free(w);
            }
            for (int lvl = LLM_SIMD_AVX2; lvl <= top; lvl++) {
                const llm_attn_ops *a = llm__attn_ops(lvl, f16 ? LLM_KV_F16 : LLM_KV_F32);
                attend(a, &c, q, nq, base, s, got);
                cr_assert(memcmp(ref, got, sizeof(float) * (size_t)(nq * hd)) == 0, "level %d f16 %d shape %zu", lvl,
                          f16, sh);
                /* each query alone (only its own positions) gives the same */
                for (int i = 0; i < nq; i++) {
                    cache one = c;
                    one.n = base + i + 1;
                    attend(a, &one, q + (size_t)i * (size_t)hd, 1, base + i, s, got);
                    cr_assert(memcmp(ref + (size_t)i * (size_t)hd, got, sizeof(float) * (size_t)hd) == 0,
                              "level %d: query %d alone differs", lvl, i);
                }
            }
            free_cache(&c);
            free(q);
            free(s);
            free(ref);
            free(got);
        }
    llm_quant_set_level(top);
}

Test(attn, exp_polynomial, .timeout = 10)
{
    double worst = 0;

    for (float x = -90.0f; x <= 88.0f; x += 0.00137f) {
        float e = llm__expf(x);
        double want = exp((double)x);
        if (x < -87.33654475f) {
            cr_assert_eq(e, 0.0f);
            continue;
        }
        if (want > 1e-37)
            worst = fmax(worst, fabs(e - want) / want);
    }
    cr_assert_eq(llm__expf(0.0f), 1.0f);
    cr_assert(isinf(llm__expf(89.0f)));
    cr_assert_lt(worst, 3e-7, "relative error %g", worst);
}

Test(attn, swiglu_levels_bit_identical, .timeout = 10)
{
    int top = llm_quant_set_level(LLM_SIMD_COUNT);
    float g[203], u[203], ref[203], got[203];

    for (int i = 0; i < 203; i++)
        g[i] = frand() * 12, u[i] = frand() * 3;
    g[7] = -100.0f, g[8] = 100.0f; /* exp over- and underflow */
    llm__attn_ops(LLM_SIMD_SCALAR, LLM_KV_F16)->swiglu(g, u, ref, 203);
    for (int i = 0; i < 203; i++) {
        double want = g[i] / (1.0 + exp(-(double)g[i])) * u[i];
        cr_assert(fabs(ref[i] - want) <= 1e-6 * (1 + fabs(want)), "%d: %g vs %g", i, ref[i], want);
    }
    for (int lvl = LLM_SIMD_AVX2; lvl <= top; lvl++) {
        llm__attn_ops(lvl, LLM_KV_F16)->swiglu(g, u, got, 203);
        cr_assert(memcmp(ref, got, sizeof(ref)) == 0, "level %d", lvl);
    }
    llm_quant_set_level(top);
}

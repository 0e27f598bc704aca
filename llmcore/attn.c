/*
 * attn.c - attention kernels (attn.h): the scalar reference here, the SIMD
 * versions from attn_simd.inc compiled once for AVX2+FMA+F16C and once for
 * AVX-512, and the table that picks them.  The exp is the classic
 * Cody-Waite range reduction (x = k ln2 + r, ln2 split in two parts) with a
 * degree-7 minimax polynomial for e^r on |r| <= ln2/2 (the Cephes expf
 * coefficients), evaluated with fma in the same order at every level.
 * Stateless; any thread.
 */
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "aios/llm.h"
#include "llmcore/attn.h"
#include "llmcore/quant.h"

#define EXP_LOG2E 1.44269504088896341f
#define EXP_C1 0.693359375f
#define EXP_C2 -2.12194440e-4f
#define EXP_P0 1.9875691500e-4f
#define EXP_P1 1.3981999507e-3f
#define EXP_P2 8.3334519073e-3f
#define EXP_P3 4.1665795894e-2f
#define EXP_P4 1.6666665459e-1f
#define EXP_P5 5.0000001201e-1f
#define EXP_MIN -87.33654475f /* below: 0 */
#define EXP_MAX 88.0f         /* above: inf */

float llm__expf(float x)
{
    float k, r, z, p, y;
    int32_t e;
    uint32_t bits;
    float sc;

    if (x != x)
        return x;
    if (x < EXP_MIN)
        return 0.0f;
    if (x > EXP_MAX)
        return INFINITY;
    k = nearbyintf(x * EXP_LOG2E);
    r = fmaf(k, -EXP_C1, x);
    r = fmaf(k, -EXP_C2, r);
    z = r * r;
    p = fmaf(EXP_P0, r, EXP_P1);
    p = fmaf(p, r, EXP_P2);
    p = fmaf(p, r, EXP_P3);
    p = fmaf(p, r, EXP_P4);
    p = fmaf(p, r, EXP_P5);
    y = fmaf(p, z, r) + 1.0f;
    e = (int32_t)k + 127;
    bits = (uint32_t)e << 23;
    memcpy(&sc, &bits, 4);
    return y * sc;
}

static float kf16(const void *p, size_t i)
{
    return llm_fp16_to_f32(((const uint16_t *)p)[i]);
}

static float kf32(const void *p, size_t i)
{
    return ((const float *)p)[i];
}

typedef float (*ld_fn)(const void *p, size_t i);

/* The fixed order of attn_simd.inc: even terms and odd terms in two fma
 * chains, added at the end. */
static void scores_ref(ld_fn ld, const float *q, size_t qs, int nq, const void *const *kb, int bt, int n, int hd,
                       float scale, float *s, size_t ss)
{
    for (int i = 0; i < nq; i++)
        for (int j = 0; j < n; j++) {
            const void *k = kb[j / bt];
            float a[2] = {0, 0};
            for (int d = 0; d < hd; d++)
                a[d & 1] = fmaf(q[(size_t)i * qs + (size_t)d], ld(k, (size_t)d * (size_t)bt + (size_t)(j % bt)), a[d & 1]);
            s[(size_t)i * ss + (size_t)j] = (a[0] + a[1]) * scale;
        }
}

static void av_ref(ld_fn ld, const float *p, size_t ps, int nq, const void *const *vb, int bt, int vstride, int n,
                   int hd, float *o, size_t os)
{
    for (int i = 0; i < nq; i++)
        for (int d = 0; d < hd; d++) {
            float a[2] = {0, 0};
            for (int j = 0; j < n; j++)
                a[j & 1] = fmaf(p[(size_t)i * ps + (size_t)j],
                                ld(vb[j / bt], (size_t)(j % bt) * (size_t)vstride + (size_t)d), a[j & 1]);
            o[(size_t)i * os + (size_t)d] = a[0] + a[1];
        }
}

static void softmax_ref(float *s, int n, int nz, int r16)
{
    float mx = -INFINITY, inv;
    double lane[8] = {0};

    for (int j = 0; j < n; j++)
        mx = s[j] > mx ? s[j] : mx;
    for (int j = 0; j < n; j++) {
        s[j] = llm__expf(s[j] - mx);
        lane[j % 8] += (double)s[j];
    }
    inv = (float)(1.0 / (((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]))));
    for (int j = 0; j < n; j++) {
        s[j] *= inv;
        if (r16)
            s[j] = llm_fp16_to_f32(llm_f32_to_fp16(s[j]));
    }
    for (int j = n; j < nz; j++)
        s[j] = 0;
}

static void swiglu_ref(const float *g, const float *u, float *h, int n)
{
    for (int i = 0; i < n; i++)
        h[i] = g[i] / (1.0f + llm__expf(-g[i])) * u[i];
}

static void scores_ref_f16(const float *q, size_t qs, int nq, const void *const *kb, int bt, int n, int hd,
                           float scale, float *s, size_t ss)
{
    scores_ref(kf16, q, qs, nq, kb, bt, n, hd, scale, s, ss);
}

static void scores_ref_f32(const float *q, size_t qs, int nq, const void *const *kb, int bt, int n, int hd,
                           float scale, float *s, size_t ss)
{
    scores_ref(kf32, q, qs, nq, kb, bt, n, hd, scale, s, ss);
}

static void av_ref_f16(const float *p, size_t ps, int nq, const void *const *vb, int bt, int vstride, int n, int hd,
                       float *o, size_t os)
{
    av_ref(kf16, p, ps, nq, vb, bt, vstride, n, hd, o, os);
}

static void av_ref_f32(const float *p, size_t ps, int nq, const void *const *vb, int bt, int vstride, int n, int hd,
                       float *o, size_t os)
{
    av_ref(kf32, p, ps, nq, vb, bt, vstride, n, hd, o, os);
}

/* ---- SIMD levels ---- */

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
#define SFX avx2
#define VW 8
#include "llmcore/attn_simd.inc"
#undef SFX
#undef VW
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512dq")
#define SFX avx512
#define VW 16
#include "llmcore/attn_simd.inc"
#undef SFX
#undef VW
#pragma GCC pop_options

static const llm_attn_ops ops[LLM_SIMD_COUNT][2] = {
    [LLM_SIMD_SCALAR] = {[LLM_KV_F16] = {scores_ref_f16, softmax_ref, av_ref_f16, swiglu_ref},
                         [LLM_KV_F32] = {scores_ref_f32, softmax_ref, av_ref_f32, swiglu_ref}},
    [LLM_SIMD_AVX2] = {[LLM_KV_F16] = {scores_f16_avx2, softmax_avx2, av_f16_avx2, swiglu_avx2},
                       [LLM_KV_F32] = {scores_f32_avx2, softmax_avx2, av_f32_avx2, swiglu_avx2}},
    [LLM_SIMD_AVX512] = {[LLM_KV_F16] = {scores_f16_avx512, softmax_avx512, av_f16_avx512, swiglu_avx512},
                         [LLM_KV_F32] = {scores_f32_avx512, softmax_avx512, av_f32_avx512, swiglu_avx512}},
};

const llm_attn_ops *llm__attn_ops(int level, int kv_type)
{
    if (level < 0 || level >= LLM_SIMD_COUNT || (kv_type != LLM_KV_F16 && kv_type != LLM_KV_F32))
        return NULL;
    return &ops[level][kv_type];
}

/*
 * ops.c - element-wise and attention kernels of the forward pass: a scalar
 * reference and AVX2/FMA/F16C versions (target attributes, chosen at run
 * time through llm__ops_for()).  Stateless; any thread.
 */
#include <immintrin.h>
#include <math.h>

#include "llmcore/ops.h"
#include "llmcore/quant.h"

/* ---- scalar ---- */

static void rmsnorm_ref(const float *x, const float *w, float *y, int n, float eps)
{
    double ss = 0;
    float sc;

    for (int i = 0; i < n; i++)
        ss += (double)x[i] * x[i];
    sc = (float)(1.0 / sqrt(ss / n + eps));
    for (int i = 0; i < n; i++)
        y[i] = x[i] * sc * w[i];
}

static void to_f16_ref(const float *x, uint16_t *y, int n)
{
    for (int i = 0; i < n; i++)
        y[i] = llm_f32_to_fp16(x[i]);
}

static void qk_f16_ref(const float *q, const uint16_t *k, int stride, int n, int d, float scale, float *out)
{
    for (int j = 0; j < n; j++) {
        float s = 0;
        for (int i = 0; i < d; i++)
            s += q[i] * llm_fp16_to_f32(k[(size_t)j * (size_t)stride + (size_t)i]);
        out[j] = s * scale;
    }
}

static void qk_f32_ref(const float *q, const float *k, int stride, int n, int d, float scale, float *out)
{
    for (int j = 0; j < n; j++) {
        float s = 0;
        for (int i = 0; i < d; i++)
            s += q[i] * k[(size_t)j * (size_t)stride + (size_t)i];
        out[j] = s * scale;
    }
}

static void av_f16_ref(const float *w, const uint16_t *v, int stride, int n, int d, float *acc)
{
    for (int j = 0; j < n; j++)
        for (int i = 0; i < d; i++)
            acc[i] += w[j] * llm_fp16_to_f32(v[(size_t)j * (size_t)stride + (size_t)i]);
}

static void av_f32_ref(const float *w, const float *v, int stride, int n, int d, float *acc)
{
    for (int j = 0; j < n; j++)
        for (int i = 0; i < d; i++)
            acc[i] += w[j] * v[(size_t)j * (size_t)stride + (size_t)i];
}

static void round_f16_ref(float *x, int n)
{
    for (int i = 0; i < n; i++)
        x[i] = llm_fp16_to_f32(llm_f32_to_fp16(x[i]));
}

static void swiglu_ref(const float *g, const float *u, float *h, int n)
{
    for (int i = 0; i < n; i++)
        h[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

/* ---- AVX2 ---- */

#define AVX2 __attribute__((target("avx2,fma,f16c")))

AVX2 static float hsum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

AVX2 static void rmsnorm_avx2(const float *x, const float *w, float *y, int n, float eps)
{
    __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd();
    double ss;
    int i = 0;
    float sc;

    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(v)), hi = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
        a0 = _mm256_fmadd_pd(lo, lo, a0);
        a1 = _mm256_fmadd_pd(hi, hi, a1);
    }
    a0 = _mm256_add_pd(a0, a1);
    {
        double t[4];
        _mm256_storeu_pd(t, a0);
        ss = t[0] + t[1] + t[2] + t[3];
    }
    for (; i < n; i++)
        ss += (double)x[i] * x[i];
    sc = (float)(1.0 / sqrt(ss / n + eps));
    {
        __m256 vs = _mm256_set1_ps(sc);
        for (i = 0; i + 8 <= n; i += 8)
            _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), vs), _mm256_loadu_ps(w + i)));
        for (; i < n; i++)
            y[i] = x[i] * sc * w[i];
    }
}

AVX2 static void to_f16_avx2(const float *x, uint16_t *y, int n)
{
    int i = 0;

    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(y + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++)
        y[i] = llm_f32_to_fp16(x[i]);
}

AVX2 static void qk_f16_avx2(const float *q, const uint16_t *k, int stride, int n, int d, float scale,
                             float *out)
{
    if (d % 8) {
        qk_f16_ref(q, k, stride, n, d, scale, out);
        return;
    }
    for (int j = 0; j < n; j++) {
        const uint16_t *kj = k + (size_t)j * (size_t)stride;
        __m256 a = _mm256_setzero_ps(), b = _mm256_setzero_ps();
        int i = 0;
        for (; i + 16 <= d; i += 16) {
            a = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(kj + i))), a);
            b = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8),
                                _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(kj + i + 8))), b);
        }
        for (; i < d; i += 8)
            a = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(kj + i))), a);
        out[j] = hsum8(_mm256_add_ps(a, b)) * scale;
    }
}

AVX2 static void qk_f32_avx2(const float *q, const float *k, int stride, int n, int d, float scale, float *out)
{
    if (d % 8) {
        qk_f32_ref(q, k, stride, n, d, scale, out);
        return;
    }
    for (int j = 0; j < n; j++) {
        const float *kj = k + (size_t)j * (size_t)stride;
        __m256 a = _mm256_setzero_ps();
        for (int i = 0; i < d; i += 8)
            a = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_loadu_ps(kj + i), a);
        out[j] = hsum8(a) * scale;
    }
}

AVX2 static void av_f16_avx2(const float *w, const uint16_t *v, int stride, int n, int d, float *acc)
{
    if (d % 8 || d > 256) {
        av_f16_ref(w, v, stride, n, d, acc);
        return;
    }
    __m256 a[32];
    for (int i = 0; i < d / 8; i++)
        a[i] = _mm256_loadu_ps(acc + 8 * i);
    for (int j = 0; j < n; j++) {
        const uint16_t *vj = v + (size_t)j * (size_t)stride;
        __m256 wj = _mm256_set1_ps(w[j]);
        for (int i = 0; i < d / 8; i++)
            a[i] = _mm256_fmadd_ps(wj, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(vj + 8 * i))), a[i]);
    }
    for (int i = 0; i < d / 8; i++)
        _mm256_storeu_ps(acc + 8 * i, a[i]);
}

AVX2 static void av_f32_avx2(const float *w, const float *v, int stride, int n, int d, float *acc)
{
    if (d % 8 || d > 256) {
        av_f32_ref(w, v, stride, n, d, acc);
        return;
    }
    __m256 a[32];
    for (int i = 0; i < d / 8; i++)
        a[i] = _mm256_loadu_ps(acc + 8 * i);
    for (int j = 0; j < n; j++) {
        const float *vj = v + (size_t)j * (size_t)stride;
        __m256 wj = _mm256_set1_ps(w[j]);
        for (int i = 0; i < d / 8; i++)
            a[i] = _mm256_fmadd_ps(wj, _mm256_loadu_ps(vj + 8 * i), a[i]);
    }
    for (int i = 0; i < d / 8; i++)
        _mm256_storeu_ps(acc + 8 * i, a[i]);
}

AVX2 static void round_f16_avx2(float *x, int n)
{
    int i = 0;

    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(x + i, _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT)));
    for (; i < n; i++)
        x[i] = llm_fp16_to_f32(llm_f32_to_fp16(x[i]));
}

static const llm_ops ops_ref = {rmsnorm_ref, to_f16_ref, qk_f16_ref, qk_f32_ref,
                                av_f16_ref,  av_f32_ref, round_f16_ref, swiglu_ref};
static const llm_ops ops_avx2 = {rmsnorm_avx2, to_f16_avx2, qk_f16_avx2,    qk_f32_avx2,
                                 av_f16_avx2,  av_f32_avx2, round_f16_avx2, swiglu_ref};

const llm_ops *llm__ops_for(int level)
{
    return level >= LLM_SIMD_AVX2 ? &ops_avx2 : &ops_ref;
}

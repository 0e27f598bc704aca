/*
 * ops.c - element-wise kernels of the forward pass (RMSNorm, f16 rows): a
 * scalar reference and AVX2/FMA/F16C versions (target attributes, chosen at run
 * time through llm__ops_for()).  Stateless; any thread.
 */
#include <immintrin.h>
#include <math.h>

#include "llmcore/ops.h"
#include "llmcore/quant.h"

/* ---- scalar ---- */

/* The scale as GGUF engines compute it: float squares summed in float64,
 * the mean rounded to float, then 1 / sqrtf(mean + eps) in float. */
static void rmsnorm_ref(const float *x, const float *w, float *y, int n, float eps)
{
    double ss = 0;
    float sc, mean;

    for (int i = 0; i < n; i++)
        ss += (double)(x[i] * x[i]);
    mean = (float)(ss / n);
    sc = 1.0f / sqrtf(mean + eps);
    for (int i = 0; i < n; i++)
        y[i] = x[i] * sc * w[i];
}

static void to_f16_ref(const float *x, uint16_t *y, int n)
{
    for (int i = 0; i < n; i++)
        y[i] = llm_f32_to_fp16(x[i]);
}





static void round_f16_ref(float *x, int n)
{
    for (int i = 0; i < n; i++)
        x[i] = llm_fp16_to_f32(llm_f32_to_fp16(x[i]));
}


/* ---- AVX2 ---- */

#define AVX2 __attribute__((target("avx2,fma,f16c")))


AVX2 static void rmsnorm_avx2(const float *x, const float *w, float *y, int n, float eps)
{
    __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd();
    double ss;
    int i = 0;
    float sc, mean;

    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        v = _mm256_mul_ps(v, v);
        a0 = _mm256_add_pd(a0, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
        a1 = _mm256_add_pd(a1, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
    }
    a0 = _mm256_add_pd(a0, a1);
    {
        double t[4];
        _mm256_storeu_pd(t, a0);
        ss = t[0] + t[1] + t[2] + t[3];
    }
    for (; i < n; i++)
        ss += (double)(x[i] * x[i]);
    mean = (float)(ss / n);
    sc = 1.0f / sqrtf(mean + eps);
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





AVX2 static void round_f16_avx2(float *x, int n)
{
    int i = 0;

    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(x + i, _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT)));
    for (; i < n; i++)
        x[i] = llm_fp16_to_f32(llm_f32_to_fp16(x[i]));
}

static const llm_ops ops_ref = {rmsnorm_ref, to_f16_ref, round_f16_ref};
static const llm_ops ops_avx2 = {rmsnorm_avx2, to_f16_avx2, round_f16_avx2};

const llm_ops *llm__ops_for(int level)
{
    return level >= LLM_SIMD_AVX2 ? &ops_avx2 : &ops_ref;
}

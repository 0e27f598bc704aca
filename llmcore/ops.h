/*
 * ops.h - the small vector kernels of the forward pass (RMSNorm, f16 rows,
 * attention dot/accumulate) with a scalar and an AVX2 version each, picked
 * once per context from llm_quant_level() (private to llmcore).
 */
#ifndef LLM_OPS_H
#define LLM_OPS_H

#include <stdint.h>

typedef struct llm_ops {
    /* y = x / sqrt(mean(x^2) + eps) * w */
    void (*rmsnorm)(const float *x, const float *w, float *y, int n, float eps);
    /* f32 <-> f16 rows */
    void (*to_f16)(const float *x, uint16_t *y, int n);
    /* dot of a float row with n keys (f16 or f32 rows of `stride` elements):
     * out[j] = scale * q . k_j */
    void (*qk_f16)(const float *q, const uint16_t *k, int stride, int n, int d, float scale, float *out);
    void (*qk_f32)(const float *q, const float *k, int stride, int n, int d, float scale, float *out);
    /* acc += sum_j w[j] * v_j */
    void (*av_f16)(const float *w, const uint16_t *v, int stride, int n, int d, float *acc);
    void (*av_f32)(const float *w, const float *v, int stride, int n, int d, float *acc);
    /* x[i] = (float)(fp16)x[i] */
    void (*round_f16)(float *x, int n);
    /* h = silu(g) * u */
    void (*swiglu)(const float *g, const float *u, float *h, int n);
} llm_ops;

/* The kernels for a SIMD level (LLM_SIMD_*). */
const llm_ops *llm__ops_for(int level);

#endif /* LLM_OPS_H */

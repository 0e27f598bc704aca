/*
 * ops.h - the small vector kernels of the forward pass (RMSNorm, f16 rows)
 * with a scalar and an AVX2 version each, picked once per context from
 * llm_quant_level() (private to llmcore).  Attention and SwiGLU: attn.h.
 */
#ifndef LLM_OPS_H
#define LLM_OPS_H

#include <stdint.h>

typedef struct llm_ops {
    /* y = x / sqrt(mean(x^2) + eps) * w */
    void (*rmsnorm)(const float *x, const float *w, float *y, int n, float eps);
    /* f32 <-> f16 rows */
    void (*to_f16)(const float *x, uint16_t *y, int n);
    /* x[i] = (float)(fp16)x[i] */
    void (*round_f16)(float *x, int n);
} llm_ops;

/* The kernels for a SIMD level (LLM_SIMD_*). */
const llm_ops *llm__ops_for(int level);

#endif /* LLM_OPS_H */

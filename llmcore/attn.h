/*
 * attn.h - attention kernels of the forward pass (private to llmcore):
 * scores of several queries against a head's keys in the paged cache,
 * softmax, and the probability-weighted sum of values; and SwiGLU, which
 * shares their exp.  One table per SIMD
 * level and cache element type; every level does the same arithmetic in
 * the same order (sequential fma over the head dimension for a score and
 * over positions for an output, the same exp polynomial, the softmax sum
 * in eight float64 lanes by position mod 8), so results are bit-identical
 * across levels and do not depend on how many queries run together.
 * Stateless; any thread.
 */
#ifndef LLM_ATTN_H
#define LLM_ATTN_H

#include <stddef.h>

/* Keys of one head are given per cache block: kb[b] points at the head's
 * dimension 0 of block b in the transposed K layout (element (d, slot t)
 * at kb[b][d * bt + t]); values per block: vb[b] points at the head's
 * dimension 0 of slot 0 (slot t at vb[b][t * vstride]). */
typedef struct llm_attn_ops {
    /* s[i * ss + j] = scale * sum_d q[i * qs + d] * K_j[d], i < nq, j < n */
    void (*scores)(const float *q, size_t qs, int nq, const void *const *kb, int bt, int n, int hd, float scale,
                   float *s, size_t ss);
    /* s[0..n) := softmax(s[0..n)), rounded to fp16 precision when r16;
     * s[n..nz) := 0 */
    void (*softmax)(float *s, int n, int nz, int r16);
    /* o[i * os + d] = sum_{j < n} p[i * ps + j] * V_j[d] */
    void (*av)(const float *p, size_t ps, int nq, const void *const *vb, int bt, int vstride, int n, int hd,
               float *o, size_t os);
    /* h = silu(g) * u = g / (1 + e^-g) * u */
    void (*swiglu)(const float *g, const float *u, float *h, int n);
} llm_attn_ops;

/* The kernels for a SIMD level (LLM_SIMD_*) and cache type (LLM_KV_*). */
const llm_attn_ops *llm__attn_ops(int level, int kv_type);

/* e^x by the polynomial every level uses: 0 below -87.3, inf above 88. */
float llm__expf(float x);

#endif /* LLM_ATTN_H */

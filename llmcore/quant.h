/*
 * quant.h - the quant table: one row per tensor type with its block layout,
 * a scalar reference (dequantize, tile matmul) and SIMD kernels picked at
 * run time from the CPU's features (private to llmcore).
 *
 * Matrix products never dequantize weights: an activation row is quantized
 * once to llm_q8 blocks (32 int8 values, a scale and the scaled sum), and
 * the kernels do integer dot products block by block, then scale.  Float
 * weight types (F32, F16, BF16) take float activations instead.
 *
 * The table is immutable; llm_quant_ops_of() and friends are safe from any
 * thread after llm_quant_init() (which is idempotent and thread-safe).
 */
#ifndef LLM_QUANT_H
#define LLM_QUANT_H

#include <stddef.h>
#include <stdint.h>

#include "llmcore/gguf.h"

#define LLM_QK 32 /* elements per activation block */

/* One activation block: x[i] ~= d * q[i].  As GGUF's q8_0/q8_1 blocks are
 * made (so results match other GGUF engines): q = round-half-even(x * 127 /
 * amax), the scale d = amax / 127 kept at fp16 precision, s = d * sum(q)
 * rounded to fp16 (with d before its rounding); sum = sum(q) exactly. */
typedef struct llm_q8 {
    float d;
    float s;
    int32_t sum;
    int8_t q[LLM_QK];
} llm_q8;

/* What a weight type's matmul wants as its activation row. */
enum { LLM_ACT_Q8 = 0, LLM_ACT_F32 = 1 };

/* SIMD levels, best last; llm_quant_level() says which one is in use. */
enum { LLM_SIMD_SCALAR = 0, LLM_SIMD_AVX2 = 1, LLM_SIMD_AVX512 = 2, LLM_SIMD_COUNT };

/* Dequantize n elements (a multiple of the block) of one row. */
typedef void (*llm_dequant_fn)(const void *src, float *dst, int64_t n);

/*
 * A tile of a matrix product: for r < nr, c < nc
 *     out[c * ldo + r] = dot(weight row r, activation row c)
 * n: elements per row; w: first weight row, w_stride bytes between rows;
 * x: first activation row (llm_q8 blocks or floats per the row's act),
 * x_stride bytes between rows.
 */
typedef void (*llm_mm_fn)(int n, const void *w, size_t w_stride, int nr, const void *x,
                          size_t x_stride, int nc, float *out, size_t ldo);

/* Quantize n floats (multiple of 32) into n/32 activation blocks. */
typedef void (*llm_quantize_fn)(const float *x, llm_q8 *y, int64_t n);

/*
 * Packed weights.  A matrix is cut into panels of LLM_PANEL rows; a panel
 * stores, per 32-element block, the 16 rows' fp16 scales (and mins), then
 * the 16 rows' values interleaved by 4-byte groups: 64-byte chunk k holds
 * bytes 4k..4k+3 of every row's block, row r at offset 4r.  One vector
 * load is then one 4-element group of 16 rows, and an integer dot
 * instruction against the activation's 4 bytes broadcast leaves row r's
 * partial sum in lane r: a panel's 16 results come out as one vector with
 * no horizontal sums.  The arithmetic per (row, column) is the same for
 * every tile shape and every SIMD level (exact integer dot per block, then
 * acc = fma(isum, d * x.d, acc) and, with mins, acc = fma(m, x.s, acc)), so
 * packed results are bit-identical across levels and batch shapes.
 * A short last panel is padded with zero rows.
 */
#define LLM_PANEL 16

/* Pack rows [0, nrows) (nrows <= LLM_PANEL) of n elements into one panel. */
typedef void (*llm_pack_fn)(const void *w, size_t w_stride, int nrows, int64_t n, void *dst);

/* Like llm_mm_fn over packed panels: rows [0, nr) starting at panel wp,
 * panel_bytes between panels. */
typedef void (*llm_pmm_fn)(int n, const void *wp, size_t panel_bytes, int nr, const void *x,
                           size_t x_stride, int nc, float *out, size_t ldo);

typedef struct llm_quant_row {
    uint32_t type;           /* llm_type */
    const char *name;
    uint32_t blck;           /* elements per block */
    uint32_t bytes;          /* bytes per block */
    int act;                 /* LLM_ACT_* */
    llm_dequant_fn dequant;  /* scalar reference */
    llm_mm_fn mm[LLM_SIMD_COUNT]; /* per SIMD level; NULL = not written for that level */
    uint32_t pk_bytes;       /* packed bytes per panel per 32 elements; 0 = no packed form */
    llm_pack_fn pack;
    llm_pmm_fn pmm[LLM_SIMD_COUNT]; /* packed kernels (scalar one = reference) */
} llm_quant_row;

/* Pick kernels for this CPU (idempotent). */
void llm_quant_init(void);

/* The table row of a type the engine can compute with, NULL otherwise. */
const llm_quant_row *llm_quant_row_of(uint32_t type);

/* The kernel in use for a type at the current level (falls back to lower
 * levels where a level has no kernel).  NULL for unsupported types. */
llm_mm_fn llm_quant_mm(uint32_t type);

/* Bytes of a packed matrix (0 when the type has no packed form); bytes of
 * one panel of it. */
size_t llm_quant_packed_bytes(uint32_t type, int64_t n_in, int64_t n_out);
size_t llm_quant_panel_bytes(uint32_t type, int64_t n_in);
/* Pack a whole [n_out][n_in] matrix (rows w_stride bytes apart). */
int llm_quant_pack(uint32_t type, const void *w, size_t w_stride, int64_t n_in, int64_t n_out, void *dst);
/* The packed kernel at the current level, NULL below AVX2 (the scalar
 * level runs the plain reference kernels); llm_quant_pmm_at() any level. */
llm_pmm_fn llm_quant_pmm(uint32_t type);
llm_pmm_fn llm_quant_pmm_at(uint32_t type, int level);

/* Quantizer of activation rows at the current level. */
llm_quantize_fn llm_quant_q8(void);

/* Current SIMD level; llm_quant_set_level() caps it (tests compare levels)
 * and returns the level actually in use. */
int llm_quant_level(void);
int llm_quant_set_level(int level);
const char *llm_quant_level_name(int level);

/* Bytes of an activation row of n elements for a type's act kind. */
size_t llm_quant_act_bytes(int act, int64_t n);

/* Scalar reference quantizer (also what the SIMD ones must match). */
void llm_quantize_q8_ref(const float *x, llm_q8 *y, int64_t n);

/* fp16 / bf16 conversions (scalar, exact). */
float llm_fp16_to_f32(uint16_t h);
uint16_t llm_f32_to_fp16(float f);
float llm_bf16_to_f32(uint16_t h);

/* Block layouts (ggml's, little-endian), checked by static asserts. */
typedef struct { uint16_t d; int8_t qs[32]; } llm_blk_q8_0;
typedef struct { uint16_t d; uint8_t qs[16]; } llm_blk_q4_0;
typedef struct { uint16_t d, m; uint8_t qs[16]; } llm_blk_q4_1;
typedef struct { uint16_t d; uint8_t qh[4]; uint8_t qs[16]; } llm_blk_q5_0;
typedef struct { uint16_t d, m; uint8_t qh[4]; uint8_t qs[16]; } llm_blk_q5_1;
typedef struct { uint16_t d, dmin; uint8_t scales[12]; uint8_t qs[128]; } llm_blk_q4_k;
typedef struct { uint16_t d, dmin; uint8_t scales[12]; uint8_t qh[32]; uint8_t qs[128]; } llm_blk_q5_k;
typedef struct { uint8_t ql[128]; uint8_t qh[64]; int8_t scales[16]; uint16_t d; } llm_blk_q6_k;

/* Scale and min of sub-block j (0..7) of a Q4_K/Q5_K super-block. */
static inline void llm_k_scale_min(int j, const uint8_t *q, uint8_t *sc, uint8_t *m)
{
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/* SIMD kernel sets, defined in quant_simd.c (one per level). */
extern const llm_mm_fn llm__mm_avx2[LLM_T_COUNT];
extern const llm_mm_fn llm__mm_avx512[LLM_T_COUNT];
extern const llm_pmm_fn llm__pmm_avx2[LLM_T_COUNT];
extern const llm_pmm_fn llm__pmm_avx512[LLM_T_COUNT];
void llm__quantize_q8_avx2(const float *x, llm_q8 *y, int64_t n);
void llm__quantize_q8_avx512(const float *x, llm_q8 *y, int64_t n);

#endif /* LLM_QUANT_H */

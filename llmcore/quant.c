/*
 * quant.c - the quant table and the scalar reference kernels.
 *
 * Each supported tensor type is one row: block size and bytes, the kind of
 * activation its matmul wants, a scalar dequantizer and a matmul per SIMD
 * level.  The scalar matmul works like the SIMD ones (integer dot per
 * 32-element block against a q8 activation block, then scale), so it is both
 * the portable fallback and the reference the SIMD kernels are tested
 * against.  llm_quant_init() checks the CPU once (__builtin_cpu_supports)
 * and picks the level.  Owns only static tables; any thread.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "llmcore/quant.h"

_Static_assert(sizeof(llm_q8) == 44, "llm_q8 layout");
_Static_assert(sizeof(llm_blk_q8_0) == 34, "Q8_0 block");
_Static_assert(sizeof(llm_blk_q4_0) == 18, "Q4_0 block");
_Static_assert(sizeof(llm_blk_q4_1) == 20, "Q4_1 block");
_Static_assert(sizeof(llm_blk_q5_0) == 22, "Q5_0 block");
_Static_assert(sizeof(llm_blk_q5_1) == 24, "Q5_1 block");
_Static_assert(sizeof(llm_blk_q4_k) == 144, "Q4_K block");
_Static_assert(sizeof(llm_blk_q5_k) == 176, "Q5_K block");
_Static_assert(sizeof(llm_blk_q6_k) == 210, "Q6_K block");

/* ---- half / bfloat16 ------------------------------------------------------ */

float llm_fp16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1F;
    uint32_t man = h & 0x3FF;
    uint32_t bits;
    float f;

    if (exp == 0) {
        /* zero or subnormal: man * 2^-24 */
        f = (float)man * 0x1p-24f;
        return sign ? -f : f;
    }
    if (exp == 31)
        bits = sign | 0x7F800000u | (man << 13);
    else
        bits = sign | ((exp + 112) << 23) | (man << 13);
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t llm_f32_to_fp16(float f)
{
    uint32_t x, sign, man;
    int exp;

    memcpy(&x, &f, 4);
    sign = (x >> 16) & 0x8000;
    exp = (int)((x >> 23) & 0xFF) - 127 + 15;
    man = x & 0x7FFFFF;
    if (((x >> 23) & 0xFF) == 0xFF)
        return (uint16_t)(sign | 0x7C00 | (man ? 0x200 : 0));
    if (exp >= 31)
        return (uint16_t)(sign | 0x7C00);
    if (exp <= 0) {
        /* subnormal: round to nearest even on the shifted mantissa */
        uint32_t m, shift, r, half;

        if (exp < -10)
            return (uint16_t)sign;
        m = man | 0x800000;
        shift = (uint32_t)(14 - exp);
        r = m >> shift;
        half = 1u << (shift - 1);
        if ((m & ((1u << shift) - 1)) > half || ((m & ((1u << shift) - 1)) == half && (r & 1)))
            r++;
        return (uint16_t)(sign | r);
    }
    {
        uint32_t r = ((uint32_t)exp << 10) | (man >> 13);
        uint32_t rest = man & 0x1FFF;

        if (rest > 0x1000 || (rest == 0x1000 && (r & 1)))
            r++; /* may carry into the exponent, which is right */
        return (uint16_t)(sign | r);
    }
}

float llm_bf16_to_f32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;

    memcpy(&f, &bits, 4);
    return f;
}

/* ---- scalar block decoding -------------------------------------------------
 * dec32(row, b, qi, dg, m): the b-th 32-element group of a row as integers
 * qi with value[i] = dg[i / 16] * qi[i] + m.  Shared by the reference
 * dequantizer and the reference matmul. */

typedef void (*dec32_fn)(const uint8_t *row, int64_t b, int32_t qi[32], float dg[2], float *m);

static void dec_q8_0(const uint8_t *row, int64_t b, int32_t qi[32], float dg[2], float *m)
{
    const llm_blk_q8_0 *x = (const llm_blk_q8_0 *)row + b;

    for (int i = 0; i < 32; i++)
        qi[i] = x->qs[i];
    dg[0] = dg[1] = llm_fp16_to_f32(x->d);
    *m = 0;
}

static void dec_q4_0(const uint8_t *row, int64_t b, int32_t qi[32], float dg[2], float *m)
{
    const llm_blk_q4_0 *x = (const llm_blk_q4_0 *)row + b;

    for (int i = 0; i < 16; i++) {
        qi[i] = (x->qs[i] & 0xF) - 8;
        qi[i + 16] = (x->qs[i] >> 4) - 8;
    }
    dg[0] = dg[1] = llm_fp16_to_f32(x->d);
    *m = 0;
}

static void dec_q4_1(const uint8_t *row, int64_t b, int32_t qi[32], float dg[2], float *m)
{
    const llm_blk_q4_1 *x = (const llm_blk_q4_1 *)row + b;

    for (int i = 0; i < 16; i++) {
        qi[i] = x->qs[i] & 0xF;
        qi[i + 16] = x->qs[i] >> 4;
    }
    dg[0] = dg[1] = llm_fp16_to_f32(x->d);
    *m = llm_fp16_to_f32(x->m);
}

static void dec_q5_0(const uint8_t *row, int64_t b, int32_t qi[32], float dg[2], float *m)
{
    const llm_blk_q5_0 *x = (const llm_blk_q5_0 *)row + b;
    uint32_t qh;

    memcpy(&qh, x->qh, 4);
    for (int i = 0; i < 16; i++) {
        qi[i] = ((x->qs[i] & 0xF) | (((qh >> i) & 1) << 4)) - 16;
        qi[i + 16] = ((x->qs[i] >> 4) | (((qh >> (i + 16)) & 1) << 4)) - 16;
    }
    dg[0] = dg[1] = llm_fp16_to_f32(x->d);
    *m = 0;
}

static void dec_q5_1(const uint8_t *row, int64_t b, int32_t qi[32], float dg[2], float *m)
{
    const llm_blk_q5_1 *x = (const llm_blk_q5_1 *)row + b;
    uint32_t qh;

    memcpy(&qh, x->qh, 4);
    for (int i = 0; i < 16; i++) {
        qi[i] = (x->qs[i] & 0xF) | (((qh >> i) & 1) << 4);
        qi[i + 16] = (x->qs[i] >> 4) | (((qh >> (i + 16)) & 1) << 4);
    }
    dg[0] = dg[1] = llm_fp16_to_f32(x->d);
    *m = llm_fp16_to_f32(x->m);
}

static void dec_q4_k(const uint8_t *row, int64_t b, int32_t qi[32], float dg[2], float *m)
{
    const llm_blk_q4_k *x = (const llm_blk_q4_k *)row + b / 8;
    int j = (int)(b % 8);
    const uint8_t *q = x->qs + 32 * (j / 2);
    uint8_t sc, mn;

    llm_k_scale_min(j, x->scales, &sc, &mn);
    for (int i = 0; i < 32; i++)
        qi[i] = (j & 1) ? q[i] >> 4 : q[i] & 0xF;
    dg[0] = dg[1] = llm_fp16_to_f32(x->d) * sc;
    *m = -llm_fp16_to_f32(x->dmin) * mn;
}

static void dec_q5_k(const uint8_t *row, int64_t b, int32_t qi[32], float dg[2], float *m)
{
    const llm_blk_q5_k *x = (const llm_blk_q5_k *)row + b / 8;
    int j = (int)(b % 8);
    const uint8_t *q = x->qs + 32 * (j / 2);
    uint8_t sc, mn;

    llm_k_scale_min(j, x->scales, &sc, &mn);
    for (int i = 0; i < 32; i++)
        qi[i] = ((j & 1) ? q[i] >> 4 : q[i] & 0xF) | (((x->qh[i] >> j) & 1) << 4);
    dg[0] = dg[1] = llm_fp16_to_f32(x->d) * sc;
    *m = -llm_fp16_to_f32(x->dmin) * mn;
}

static void dec_q6_k(const uint8_t *row, int64_t b, int32_t qi[32], float dg[2], float *m)
{
    const llm_blk_q6_k *x = (const llm_blk_q6_k *)row + b / 8;
    int j = (int)(b % 8), h = j / 4, k = j % 4;
    const uint8_t *ql = x->ql + 64 * h + (k & 1) * 32;
    const uint8_t *qh = x->qh + 32 * h;
    float d = llm_fp16_to_f32(x->d);

    for (int i = 0; i < 32; i++) {
        int lo = (k & 2) ? ql[i] >> 4 : ql[i] & 0xF;
        qi[i] = (lo | (((qh[i] >> (2 * k)) & 3) << 4)) - 32;
    }
    dg[0] = d * x->scales[8 * h + 2 * k];
    dg[1] = d * x->scales[8 * h + 2 * k + 1];
    *m = 0;
}

/* ---- reference dequantizers ---------------------------------------------- */

#define DEFINE_DEQUANT(name, dec)                                           \
    static void deq_##name(const void *src, float *dst, int64_t n)          \
    {                                                                       \
        int32_t qi[32];                                                     \
        float dg[2], m;                                                     \
        for (int64_t b = 0; b < n / 32; b++) {                              \
            dec((const uint8_t *)src, b, qi, dg, &m);                       \
            for (int i = 0; i < 32; i++)                                    \
                dst[b * 32 + i] = dg[i / 16] * (float)qi[i] + m;            \
        }                                                                   \
    }
DEFINE_DEQUANT(q8_0, dec_q8_0)
DEFINE_DEQUANT(q4_0, dec_q4_0)
DEFINE_DEQUANT(q4_1, dec_q4_1)
DEFINE_DEQUANT(q5_0, dec_q5_0)
DEFINE_DEQUANT(q5_1, dec_q5_1)
DEFINE_DEQUANT(q4_k, dec_q4_k)
DEFINE_DEQUANT(q5_k, dec_q5_k)
DEFINE_DEQUANT(q6_k, dec_q6_k)

static void deq_f32(const void *src, float *dst, int64_t n)
{
    memcpy(dst, src, (size_t)n * 4);
}

static void deq_f16(const void *src, float *dst, int64_t n)
{
    const uint16_t *s = src;
    for (int64_t i = 0; i < n; i++)
        dst[i] = llm_fp16_to_f32(s[i]);
}

static void deq_bf16(const void *src, float *dst, int64_t n)
{
    const uint16_t *s = src;
    for (int64_t i = 0; i < n; i++)
        dst[i] = llm_bf16_to_f32(s[i]);
}

/* ---- reference matmuls ------------------------------------------------------
 * Integer dot per 16-element half (so Q6_K's two scales fit), float scale
 * per block, the min term through the activation block's scaled sum. */

#define DEFINE_MM_REF(name, dec)                                                        \
    static void mm_ref_##name(int n, const void *w, size_t ws, int nr, const void *x,   \
                              size_t xs, int nc, float *out, size_t ldo)                \
    {                                                                                   \
        int32_t qi[32];                                                                 \
        float dg[2], m;                                                                 \
        for (int r = 0; r < nr; r++) {                                                  \
            const uint8_t *wr = (const uint8_t *)w + (size_t)r * ws;                    \
            for (int c = 0; c < nc; c++) {                                              \
                const llm_q8 *xb = (const llm_q8 *)((const uint8_t *)x + (size_t)c * xs); \
                float acc = 0;                                                          \
                for (int b = 0; b < n / 32; b++) {                                      \
                    int32_t s0 = 0, s1 = 0;                                             \
                    dec(wr, b, qi, dg, &m);                                             \
                    for (int i = 0; i < 16; i++) {                                      \
                        s0 += qi[i] * xb[b].q[i];                                       \
                        s1 += qi[i + 16] * xb[b].q[i + 16];                             \
                    }                                                                   \
                    acc += xb[b].d * (dg[0] * (float)s0 + dg[1] * (float)s1) + m * xb[b].s; \
                }                                                                       \
                out[(size_t)c * ldo + r] = acc;                                         \
            }                                                                           \
        }                                                                               \
    }
DEFINE_MM_REF(q8_0, dec_q8_0)
DEFINE_MM_REF(q4_0, dec_q4_0)
DEFINE_MM_REF(q4_1, dec_q4_1)
DEFINE_MM_REF(q5_0, dec_q5_0)
DEFINE_MM_REF(q5_1, dec_q5_1)
DEFINE_MM_REF(q4_k, dec_q4_k)
DEFINE_MM_REF(q5_k, dec_q5_k)
DEFINE_MM_REF(q6_k, dec_q6_k)

#define DEFINE_FMM_REF(name, T, conv)                                                   \
    static void mm_ref_##name(int n, const void *w, size_t ws, int nr, const void *x,   \
                              size_t xs, int nc, float *out, size_t ldo)                \
    {                                                                                   \
        for (int r = 0; r < nr; r++) {                                                  \
            const T *wr = (const T *)((const uint8_t *)w + (size_t)r * ws);             \
            for (int c = 0; c < nc; c++) {                                              \
                const float *xr = (const float *)((const uint8_t *)x + (size_t)c * xs); \
                float acc = 0;                                                          \
                for (int i = 0; i < n; i++)                                             \
                    acc += conv(wr[i]) * xr[i];                                         \
                out[(size_t)c * ldo + r] = acc;                                         \
            }                                                                           \
        }                                                                               \
    }
#define CONV_F32(v) (v)
DEFINE_FMM_REF(f32, float, CONV_F32)
DEFINE_FMM_REF(f16, uint16_t, llm_fp16_to_f32)
DEFINE_FMM_REF(bf16, uint16_t, llm_bf16_to_f32)

/* ---- activation quantizer -------------------------------------------------- */

void llm_quantize_q8_ref(const float *x, llm_q8 *y, int64_t n)
{
    for (int64_t b = 0; b < n / 32; b++) {
        const float *xb = x + b * 32;
        float amax = 0, d, id;
        int32_t sum = 0;

        for (int i = 0; i < 32; i++)
            amax = fmaxf(amax, fabsf(xb[i]));
        /* GGUF's q8_0/q8_1 recipe: multiply by 127/amax, round half to
         * even; the scale and the scaled sum are stored at fp16 */
        d = amax / 127.0f;
        id = amax != 0.0f ? 127.0f / amax : 0.0f;
        for (int i = 0; i < 32; i++) {
            int v = (int)nearbyintf(xb[i] * id);
            y[b].q[i] = (int8_t)v;
            sum += v;
        }
        y[b].d = llm_fp16_to_f32(llm_f32_to_fp16(d));
        y[b].s = llm_fp16_to_f32(llm_f32_to_fp16(d * (float)sum));
        y[b].sum = sum;
    }
}

/* ---- packed panels (layout in quant.h) -------------------------------------
 * Per 32-element block of a panel: d[16] fp16, then m[16] fp16 (Q4_1 only),
 * then the values: Q4_0/Q4_1 4 chunks of 64 bytes whose byte 4r+i is qs[4k+i]
 * of row r (low nibble element 4k+i, high nibble element 16+4k+i, as in the
 * file); Q8_0 8 chunks whose byte 4r+i is qs[4k+i] of row r. */

enum { PK_Q4_0, PK_Q4_1, PK_Q8_0 };

static int pk_kind(uint32_t type)
{
    return type == LLM_T_Q4_0 ? PK_Q4_0 : type == LLM_T_Q4_1 ? PK_Q4_1 : PK_Q8_0;
}

static void pack_panel(const void *w, size_t ws, int nrows, int64_t n, void *dst, uint32_t type)
{
    int kind = pk_kind(type), nb = (int)(n / 32);
    size_t pbb = llm_quant_row_of(type)->pk_bytes;

    memset(dst, 0, pbb * (size_t)nb);
    for (int r = 0; r < nrows; r++) {
        const uint8_t *row = (const uint8_t *)w + (size_t)r * ws;
        for (int b = 0; b < nb; b++) {
            uint8_t *pb = (uint8_t *)dst + (size_t)b * pbb;
            uint16_t *d = (uint16_t *)pb;
            if (kind == PK_Q8_0) {
                const llm_blk_q8_0 *x = (const llm_blk_q8_0 *)row + b;
                d[r] = x->d;
                for (int k = 0; k < 8; k++)
                    memcpy(pb + 32 + 64 * k + 4 * r, x->qs + 4 * k, 4);
            } else if (kind == PK_Q4_1) {
                const llm_blk_q4_1 *x = (const llm_blk_q4_1 *)row + b;
                d[r] = x->d;
                d[16 + r] = x->m;
                for (int k = 0; k < 4; k++)
                    memcpy(pb + 64 + 64 * k + 4 * r, x->qs + 4 * k, 4);
            } else {
                const llm_blk_q4_0 *x = (const llm_blk_q4_0 *)row + b;
                d[r] = x->d;
                for (int k = 0; k < 4; k++)
                    memcpy(pb + 32 + 64 * k + 4 * r, x->qs + 4 * k, 4);
            }
        }
    }
}

#define DEFINE_PACK(name, T) \
    static void pack_##name(const void *w, size_t ws, int nrows, int64_t n, void *dst) \
    {                                                                                 \
        pack_panel(w, ws, nrows, n, dst, T);                                          \
    }
DEFINE_PACK(q4_0, LLM_T_Q4_0)
DEFINE_PACK(q4_1, LLM_T_Q4_1)
DEFINE_PACK(q8_0, LLM_T_Q8_0)

/* The packed reference: the same arithmetic as the SIMD kernels, in the
 * same order, with fmaf, so they agree bit for bit. */
static void pmm_ref(uint32_t type, int n, const void *wp, size_t pstride, int nr, const void *x, size_t xs,
                    int nc, float *out, size_t ldo)
{
    int kind = pk_kind(type), nb = n / 32;
    size_t pbb = llm_quant_row_of(type)->pk_bytes;

    for (int r = 0; r < nr; r++) {
        const uint8_t *panel = (const uint8_t *)wp + (size_t)(r / LLM_PANEL) * pstride;
        int lr = r % LLM_PANEL;
        for (int c = 0; c < nc; c++) {
            const llm_q8 *xb = (const llm_q8 *)((const uint8_t *)x + (size_t)c * xs);
            float acc = 0;
            for (int b = 0; b < nb; b++) {
                const uint8_t *pb = panel + (size_t)b * pbb;
                const uint16_t *d = (const uint16_t *)pb;
                int32_t is = 0;
                if (kind == PK_Q8_0) {
                    for (int i = 0; i < 32; i++)
                        is += (int8_t)pb[32 + 64 * (i / 4) + 4 * lr + i % 4] * xb[b].q[i];
                } else {
                    const uint8_t *q = pb + (kind == PK_Q4_1 ? 64 : 32);
                    for (int i = 0; i < 16; i++) {
                        uint8_t v = q[64 * (i / 4) + 4 * lr + i % 4];
                        is += (v & 0xF) * xb[b].q[i] + (v >> 4) * xb[b].q[i + 16];
                    }
                    if (kind == PK_Q4_0)
                        is -= 8 * xb[b].sum;
                }
                acc = fmaf((float)is, llm_fp16_to_f32(d[lr]) * xb[b].d, acc);
                if (kind == PK_Q4_1)
                    acc = fmaf(llm_fp16_to_f32(d[16 + lr]), xb[b].s, acc);
            }
            out[(size_t)c * ldo + r] = acc;
        }
    }
}

#define DEFINE_PMM_REF(name, T)                                                                     \
    static void pmm_ref_##name(int n, const void *wp, size_t ps, int nr, const void *x, size_t xs, \
                               int nc, float *out, size_t ldo)                                      \
    {                                                                                               \
        pmm_ref(T, n, wp, ps, nr, x, xs, nc, out, ldo);                                             \
    }
DEFINE_PMM_REF(q4_0, LLM_T_Q4_0)
DEFINE_PMM_REF(q4_1, LLM_T_Q4_1)
DEFINE_PMM_REF(q8_0, LLM_T_Q8_0)

/* ---- the table ------------------------------------------------------------- */

#define ROW(T, nm, bl, by, act, deq, ref) \
    [T] = {T, nm, bl, by, act, deq, {ref, NULL, NULL}, 0, NULL, {NULL, NULL, NULL}}
#define PROW(T, nm, bl, by, act, deq, ref, pkb, pk, pref) \
    [T] = {T, nm, bl, by, act, deq, {ref, NULL, NULL}, pkb, pk, {pref, NULL, NULL}}

static llm_quant_row rows[LLM_T_COUNT] = {
    ROW(LLM_T_F32, "F32", 1, 4, LLM_ACT_F32, deq_f32, mm_ref_f32),
    ROW(LLM_T_F16, "F16", 1, 2, LLM_ACT_F32, deq_f16, mm_ref_f16),
    ROW(LLM_T_BF16, "BF16", 1, 2, LLM_ACT_F32, deq_bf16, mm_ref_bf16),
    PROW(LLM_T_Q8_0, "Q8_0", 32, 34, LLM_ACT_Q8, deq_q8_0, mm_ref_q8_0, 32 + 512, pack_q8_0, pmm_ref_q8_0),
    PROW(LLM_T_Q4_0, "Q4_0", 32, 18, LLM_ACT_Q8, deq_q4_0, mm_ref_q4_0, 32 + 256, pack_q4_0, pmm_ref_q4_0),
    PROW(LLM_T_Q4_1, "Q4_1", 32, 20, LLM_ACT_Q8, deq_q4_1, mm_ref_q4_1, 64 + 256, pack_q4_1, pmm_ref_q4_1),
    ROW(LLM_T_Q5_0, "Q5_0", 32, 22, LLM_ACT_Q8, deq_q5_0, mm_ref_q5_0),
    ROW(LLM_T_Q5_1, "Q5_1", 32, 24, LLM_ACT_Q8, deq_q5_1, mm_ref_q5_1),
    ROW(LLM_T_Q4_K, "Q4_K", 256, 144, LLM_ACT_Q8, deq_q4_k, mm_ref_q4_k),
    ROW(LLM_T_Q5_K, "Q5_K", 256, 176, LLM_ACT_Q8, deq_q5_k, mm_ref_q5_k),
    ROW(LLM_T_Q6_K, "Q6_K", 256, 210, LLM_ACT_Q8, deq_q6_k, mm_ref_q6_k),
};

static const char *const level_names[LLM_SIMD_COUNT] = {"scalar", "avx2", "avx512"};
static const llm_quantize_fn quantizers[LLM_SIMD_COUNT] = {
    llm_quantize_q8_ref, llm__quantize_q8_avx2, llm__quantize_q8_avx512,
};

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int cpu_level;            /* best level this CPU runs */
static _Atomic int active_level; /* min(cpu_level, cap) */

/* Fill the SIMD columns of the table and detect the CPU's level. */
static void quant_init_once(void)
{
    __builtin_cpu_init();
    for (int t = 0; t < LLM_T_COUNT; t++) {
        if (!rows[t].name)
            continue;
        rows[t].mm[LLM_SIMD_AVX2] = llm__mm_avx2[t];
        rows[t].mm[LLM_SIMD_AVX512] = llm__mm_avx512[t];
        if (rows[t].pk_bytes) {
            rows[t].pmm[LLM_SIMD_AVX2] = llm__pmm_avx2[t];
            rows[t].pmm[LLM_SIMD_AVX512] = llm__pmm_avx512[t];
        }
    }
    cpu_level = LLM_SIMD_SCALAR;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
        __builtin_cpu_supports("f16c"))
        cpu_level = LLM_SIMD_AVX2;
    if (cpu_level == LLM_SIMD_AVX2 && __builtin_cpu_supports("avx512f") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vnni"))
        cpu_level = LLM_SIMD_AVX512;
    atomic_store(&active_level, cpu_level);
    /* AIOS_LLM_SIMD=scalar|avx2|avx512 caps the level (measurement, bisecting) */
    {
        const char *cap = getenv("AIOS_LLM_SIMD");
        for (int l = 0; cap && l < LLM_SIMD_COUNT; l++)
            if (strcmp(cap, level_names[l]) == 0 && l < cpu_level)
                atomic_store(&active_level, l);
    }
}

void llm_quant_init(void)
{
    pthread_once(&init_once, quant_init_once);
}

const llm_quant_row *llm_quant_row_of(uint32_t type)
{
    llm_quant_init();
    if (type >= LLM_T_COUNT || !rows[type].name)
        return NULL;
    return &rows[type];
}

llm_mm_fn llm_quant_mm(uint32_t type)
{
    const llm_quant_row *r = llm_quant_row_of(type);

    if (!r)
        return NULL;
    for (int l = atomic_load(&active_level); l >= 0; l--)
        if (r->mm[l])
            return r->mm[l];
    return NULL;
}

size_t llm_quant_panel_bytes(uint32_t type, int64_t n_in)
{
    const llm_quant_row *r = llm_quant_row_of(type);

    return r && r->pk_bytes && n_in % 32 == 0 ? (size_t)r->pk_bytes * (size_t)(n_in / 32) : 0;
}

size_t llm_quant_packed_bytes(uint32_t type, int64_t n_in, int64_t n_out)
{
    return llm_quant_panel_bytes(type, n_in) * (size_t)((n_out + LLM_PANEL - 1) / LLM_PANEL);
}

int llm_quant_pack(uint32_t type, const void *w, size_t w_stride, int64_t n_in, int64_t n_out, void *dst)
{
    const llm_quant_row *r = llm_quant_row_of(type);
    size_t pb = llm_quant_panel_bytes(type, n_in);

    if (!pb)
        return -1;
    for (int64_t p = 0; p * LLM_PANEL < n_out; p++) {
        int64_t nrow = n_out - p * LLM_PANEL < LLM_PANEL ? n_out - p * LLM_PANEL : LLM_PANEL;
        r->pack((const uint8_t *)w + (size_t)(p * LLM_PANEL) * w_stride, w_stride, (int)nrow, n_in,
                (uint8_t *)dst + (size_t)p * pb);
    }
    return 0;
}

llm_pmm_fn llm_quant_pmm_at(uint32_t type, int level)
{
    const llm_quant_row *r = llm_quant_row_of(type);

    if (!r || !r->pk_bytes || level < 0 || level > cpu_level)
        return NULL;
    return r->pmm[level];
}

llm_pmm_fn llm_quant_pmm(uint32_t type)
{
    int l = llm_quant_level();

    return l >= LLM_SIMD_AVX2 ? llm_quant_pmm_at(type, l) : NULL;
}

llm_quantize_fn llm_quant_q8(void)
{
    llm_quant_init();
    return quantizers[atomic_load(&active_level)];
}

int llm_quant_level(void)
{
    llm_quant_init();
    return atomic_load(&active_level);
}

int llm_quant_set_level(int level)
{
    llm_quant_init();
    if (level < 0)
        level = 0;
    if (level > cpu_level)
        level = cpu_level;
    atomic_store(&active_level, level);
    return level;
}

const char *llm_quant_level_name(int level)
{
    return level >= 0 && level < LLM_SIMD_COUNT ? level_names[level] : "?";
}

size_t llm_quant_act_bytes(int act, int64_t n)
{
    return act == LLM_ACT_F32 ? (size_t)n * sizeof(float) : (size_t)(n / 32) * sizeof(llm_q8);
}

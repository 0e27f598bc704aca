/*
 * test_quant.c - the quant table against the gguf package (committed
 * fixtures from tests/reference/llm/gen_quant.py): every type's reference
 * dequantizer, and every SIMD level's matmul against float64 dot products
 * within the bound that activation quantization allows; SIMD levels against
 * the scalar reference; the activation quantizers bit for bit.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmcore/quant.h"

typedef struct {
    uint32_t type, nrows, n, nx;
    uint8_t *raw;
    size_t row_bytes;
    float *deq, *x;
    double *dots;
    void *blob;
} fixture;

static void load_fixture(const char *name, fixture *f)
{
    char path[256];
    FILE *fp;
    long sz;
    uint8_t *p;

    snprintf(path, sizeof(path), "tests/reference/llm/quant/%s.bin", name);
    fp = fopen(path, "rb");
    cr_assert_not_null(fp, "fixture %s missing (run from the repository root)", path);
    fseek(fp, 0, SEEK_END);
    sz = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    f->blob = malloc((size_t)sz);
    cr_assert_eq(fread(f->blob, 1, (size_t)sz, fp), (size_t)sz);
    fclose(fp);
    p = f->blob;
    cr_assert(memcmp(p, "LQF1", 4) == 0);
    memcpy(&f->type, p + 4, 4);
    memcpy(&f->nrows, p + 8, 4);
    memcpy(&f->n, p + 12, 4);
    memcpy(&f->nx, p + 16, 4);
    p += 20;
    f->row_bytes = llm_type_row_bytes(f->type, f->n);
    f->raw = p;
    p += f->row_bytes * f->nrows;
    /* the float arrays sit at arbitrary offsets of the file: copy them out
     * aligned */
    f->deq = malloc(sizeof(float) * f->n * f->nrows);
    memcpy(f->deq, p, sizeof(float) * f->n * f->nrows);
    p += sizeof(float) * f->n * f->nrows;
    f->x = malloc(sizeof(float) * f->n * f->nx);
    memcpy(f->x, p, sizeof(float) * f->n * f->nx);
    p += sizeof(float) * f->n * f->nx;
    f->dots = malloc(sizeof(double) * f->nx * f->nrows);
    memcpy(f->dots, p, sizeof(double) * f->nx * f->nrows);
    p += sizeof(double) * f->nx * f->nrows;
    cr_assert_eq((long)(p - (uint8_t *)f->blob), sz, "fixture %s size", name);
}

static void free_fixture(fixture *f)
{
    free(f->deq);
    free(f->x);
    free(f->dots);
    free(f->blob);
}

static const char *const types[] = {"F32",  "F16",  "BF16", "Q8_0", "Q4_0", "Q4_1",
                                    "Q5_0", "Q5_1", "Q4_K", "Q5_K", "Q6_K"};
#define NTYPES (sizeof(types) / sizeof(types[0]))

Test(quant, dequant_matches_gguf, .timeout = 10)
{
    for (size_t t = 0; t < NTYPES; t++) {
        fixture f;
        const llm_quant_row *row;
        float *y;

        load_fixture(types[t], &f);
        row = llm_quant_row_of(f.type);
        cr_assert_not_null(row, "%s has a table row", types[t]);
        cr_assert_str_eq(row->name, types[t]);
        y = malloc(sizeof(float) * f.n);
        for (uint32_t r = 0; r < f.nrows; r++) {
            row->dequant(f.raw + r * f.row_bytes, y, f.n);
            for (uint32_t i = 0; i < f.n; i++) {
                float ref = f.deq[r * f.n + i];
                cr_assert(fabsf(y[i] - ref) <= 1e-6f * fmaxf(1.0f, fabsf(ref)),
                          "%s row %u elem %u: %g vs gguf %g", types[t], r, i, y[i], ref);
            }
        }
        free(y);
        free_fixture(&f);
    }
}

/* Run one type's matmul at a level; out[nx][nrows]. */
static void run_mm(const fixture *f, const llm_quant_row *row, float *out)
{
    llm_mm_fn mm = llm_quant_mm(f->type);
    size_t xs = llm_quant_act_bytes(row->act, f->n);
    uint8_t *act = malloc(xs * f->nx);

    cr_assert_not_null(mm);
    for (uint32_t c = 0; c < f->nx; c++) {
        if (row->act == LLM_ACT_F32)
            memcpy(act + c * xs, f->x + c * f->n, xs);
        else
            llm_quant_q8()(f->x + c * f->n, (llm_q8 *)(act + c * xs), f->n);
    }
    /* the whole matrix, then one row at a time (the decode-shaped path) */
    mm((int)f->n, f->raw, f->row_bytes, (int)f->nrows, act, xs, (int)f->nx, out, f->nrows);
    for (uint32_t c = 0; c < f->nx; c++) {
        float one[8];
        mm((int)f->n, f->raw, f->row_bytes, (int)f->nrows, act + c * xs, xs, 1, one, f->nrows);
        for (uint32_t r = 0; r < f->nrows; r++)
            cr_assert(fabsf(one[r] - out[c * f->nrows + r]) <= 1e-5f * (1 + fabsf(one[r])),
                      "single-row tile differs");
    }
    free(act);
}

Test(quant, matmul_matches_gguf_dots_at_every_level, .timeout = 20)
{
    int top = llm_quant_set_level(LLM_SIMD_COUNT);

    for (size_t t = 0; t < NTYPES; t++) {
        fixture f;
        const llm_quant_row *row;
        float ref[64], out[64];

        load_fixture(types[t], &f);
        row = llm_quant_row_of(f.type);
        cr_assert_leq(f.nx * f.nrows, 64u);
        llm_quant_set_level(LLM_SIMD_SCALAR);
        run_mm(&f, row, ref);
        for (int lvl = LLM_SIMD_SCALAR; lvl <= top; lvl++) {
            cr_assert_eq(llm_quant_set_level(lvl), lvl);
            run_mm(&f, row, out);
            for (uint32_t c = 0; c < f.nx; c++) {
                for (uint32_t r = 0; r < f.nrows; r++) {
                    const float *w = f.deq + r * f.n, *x = f.x + c * f.n;
                    double bound = 1e-5, mag = 0;
                    float got = out[c * f.nrows + r];
                    double want = f.dots[c * f.nrows + r];

                    /* |x - d*q| <= d/2 per element when x is quantized */
                    for (uint32_t b = 0; b < f.n / 32; b++) {
                        float amax = 0, wsum = 0;
                        for (int i = 0; i < 32; i++) {
                            amax = fmaxf(amax, fabsf(x[b * 32 + i]));
                            wsum += fabsf(w[b * 32 + i]);
                            mag += fabs((double)w[b * 32 + i] * x[b * 32 + i]);
                        }
                        if (row->act == LLM_ACT_Q8)
                            bound += amax / 127.0 * 0.5 * wsum * 1.001;
                    }
                    bound += 1e-5 * mag;
                    cr_assert(fabs(got - want) <= bound, "%s level %s row %u col %u: %g vs %g (bound %g)",
                              types[t], llm_quant_level_name(lvl), r, c, got, want, bound);
                    cr_assert(fabsf(got - ref[c * f.nrows + r]) <= 2e-5 * (mag + 1e-3),
                              "%s level %s differs from scalar: %g vs %g", types[t],
                              llm_quant_level_name(lvl), got, ref[c * f.nrows + r]);
                }
            }
        }
        free_fixture(&f);
    }
    llm_quant_set_level(top);
}

Test(quant, q8_quantizers_bit_identical, .timeout = 10)
{
    int top = llm_quant_set_level(LLM_SIMD_COUNT);
    float x[256];
    llm_q8 ref[8], got[8];
    unsigned s = 7;

    for (int i = 0; i < 256; i++) {
        s = s * 1103515245u + 12345u;
        x[i] = ((float)(s >> 8) / (float)(1u << 24) - 0.5f) * (i < 32 ? 0.0f : (float)(i % 7 + 1));
    }
    x[40] = 0.5f; /* ties round to even in both */
    llm_quantize_q8_ref(x, ref, 256);
    cr_assert_eq(ref[0].d, 0.0f);
    for (int lvl = LLM_SIMD_AVX2; lvl <= top; lvl++) {
        llm_quant_set_level(lvl);
        llm_quant_q8()(x, got, 256);
        cr_assert(memcmp(ref, got, sizeof(ref)) == 0, "level %s quantizer differs", llm_quant_level_name(lvl));
    }
    llm_quant_set_level(top);
}

Test(quant, fp16_conversions, .timeout = 5)
{
    /* round trip of every finite half value, and some rounding cases */
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7C00) == 0x7C00)
            continue;
        cr_assert_eq(llm_f32_to_fp16(llm_fp16_to_f32((uint16_t)h)), h, "half %04x", h);
    }
    cr_assert_eq(llm_fp16_to_f32(0x3C00), 1.0f);
    cr_assert_eq(llm_f32_to_fp16(1.0f + 0x1p-11f), 0x3C00); /* tie to even */
    cr_assert_eq(llm_f32_to_fp16(65536.0f), 0x7C00);
    cr_assert_eq(llm_bf16_to_f32(0x3F80), 1.0f);
    cr_assert_null(llm_quant_row_of(LLM_T_Q2_K));
    cr_assert_null(llm_quant_row_of(999));
}

/* Packed panels: every level's packed kernel equals the scalar packed
 * reference bit for bit, for any tile shape (all columns at once and one
 * at a time), on the fixtures (5 rows: a short panel) and on random
 * matrices of 2 full panels + a short one; and it stays within the
 * activation-quantization bound of the gguf package's float64 dots. */
static void check_packed(uint32_t type, const uint8_t *raw, size_t row_bytes, int nrows, int n, const float *x,
                         int nx, const double *dots, const float *deq)
{
    int top = llm_quant_set_level(LLM_SIMD_COUNT);
    size_t pb = llm_quant_panel_bytes(type, n), xs = llm_quant_act_bytes(LLM_ACT_Q8, n);
    uint8_t *packed = malloc(llm_quant_packed_bytes(type, n, nrows));
    uint8_t *act = malloc(xs * (size_t)nx);
    float *ref = malloc(sizeof(float) * (size_t)(nrows * nx)), *got = malloc(sizeof(float) * (size_t)(nrows * nx));

    cr_assert_gt(pb, 0u);
    cr_assert_eq(llm_quant_pack(type, raw, row_bytes, n, nrows, packed), 0);
    for (int c = 0; c < nx; c++)
        llm_quantize_q8_ref(x + (size_t)c * (size_t)n, (llm_q8 *)(act + (size_t)c * xs), n);
    llm_quant_pmm_at(type, LLM_SIMD_SCALAR)(n, packed, pb, nrows, act, xs, nx, ref, (size_t)nrows);
    for (int lvl = LLM_SIMD_AVX2; lvl <= top; lvl++) {
        llm_pmm_fn f = llm_quant_pmm_at(type, lvl);
        cr_assert_not_null(f);
        f(n, packed, pb, nrows, act, xs, nx, got, (size_t)nrows);
        cr_assert(memcmp(ref, got, sizeof(float) * (size_t)(nrows * nx)) == 0, "type %u level %s: packed batch",
                  type, llm_quant_level_name(lvl));
        for (int c = 0; c < nx; c++) {
            f(n, packed, pb, nrows, act + (size_t)c * xs, xs, 1, got, (size_t)nrows);
            cr_assert(memcmp(ref + (size_t)c * (size_t)nrows, got, sizeof(float) * (size_t)nrows) == 0,
                      "type %u level %s: one column differs from the batch", type, llm_quant_level_name(lvl));
        }
    }
    for (int c = 0; c < nx; c++) {
        for (int r = 0; r < nrows; r++) {
            double bound = 1e-5, mag = 0, want = dots[(size_t)c * (size_t)nrows + (size_t)r];
            const float *w = deq + (size_t)r * (size_t)n, *xc = x + (size_t)c * (size_t)n;
            for (int b = 0; b < n / 32; b++) {
                float amax = 0, wsum = 0;
                for (int i = 0; i < 32; i++) {
                    amax = fmaxf(amax, fabsf(xc[b * 32 + i]));
                    wsum += fabsf(w[b * 32 + i]);
                    mag += fabs((double)w[b * 32 + i] * xc[b * 32 + i]);
                }
                /* activation rounding, plus the fp16 rounding of a q8
                 * block's scaled sum for the min term */
                bound += amax / 127.0 * 0.5 * wsum * 1.001 + 32 * amax * 1e-3 * fabsf(w[b * 32]);
            }
            bound += 1e-5 * mag;
            cr_assert(fabs(ref[(size_t)c * (size_t)nrows + (size_t)r] - want) <= bound,
                      "type %u row %d col %d: %g vs %g (bound %g)", type, r, c,
                      ref[(size_t)c * (size_t)nrows + (size_t)r], want, bound);
        }
    }
    llm_quant_set_level(top);
    free(packed);
    free(act);
    free(ref);
    free(got);
}

Test(quant, packed_kernels_bit_identical_and_within_bound, .timeout = 20)
{
    static const char *const pk[] = {"Q4_0", "Q4_1", "Q8_0"};
    unsigned s = 12345;

    for (size_t t = 0; t < 3; t++) {
        fixture f;
        const llm_quant_row *row;
        int nrows = 40, n = 256, nx = 11;
        size_t rb;
        uint8_t *raw;
        float *deq, *x;
        double *dots;

        load_fixture(pk[t], &f);
        check_packed(f.type, f.raw, f.row_bytes, (int)f.nrows, (int)f.n, f.x, (int)f.nx, f.dots, f.deq);
        /* random blocks: random bytes with sane fp16 scales */
        row = llm_quant_row_of(f.type);
        rb = llm_type_row_bytes(f.type, (uint64_t)n);
        raw = malloc(rb * (size_t)nrows);
        deq = malloc(sizeof(float) * (size_t)(nrows * n));
        x = malloc(sizeof(float) * (size_t)(nx * n));
        dots = malloc(sizeof(double) * (size_t)(nx * nrows));
        for (size_t i = 0; i < rb * (size_t)nrows; i++) {
            s = s * 1103515245u + 12345u;
            raw[i] = (uint8_t)(s >> 16);
        }
        for (int r = 0; r < nrows; r++) {
            for (int b = 0; b < n / 32; b++) {
                uint8_t *blk = raw + (size_t)r * rb + (size_t)b * row->bytes;
                uint16_t d = llm_f32_to_fp16(0.001f * (float)(1 + (r * 7 + b) % 13));
                uint16_t mn = llm_f32_to_fp16(-0.004f * (float)((r + b) % 5));
                memcpy(blk, &d, 2);
                if (f.type == LLM_T_Q4_1)
                    memcpy(blk + 2, &mn, 2);
            }
            row->dequant(raw + (size_t)r * rb, deq + (size_t)r * (size_t)n, n);
        }
        for (int i = 0; i < nx * n; i++) {
            s = s * 1103515245u + 12345u;
            x[i] = ((float)(s >> 8) / (float)(1u << 24) - 0.5f) * (float)(1 + i % 5);
        }
        x[3 * n + 7] = 300.0f; /* an outlier, as real activations have */
        for (int c = 0; c < nx; c++)
            for (int r = 0; r < nrows; r++) {
                double a = 0;
                for (int i = 0; i < n; i++)
                    a += (double)deq[(size_t)r * (size_t)n + (size_t)i] * x[(size_t)c * (size_t)n + (size_t)i];
                dots[(size_t)c * (size_t)nrows + (size_t)r] = a;
            }
        check_packed(f.type, raw, rb, nrows, n, x, nx, dots, deq);
        free(raw);
        free(deq);
        free(x);
        free(dots);
        free_fixture(&f);
    }
}

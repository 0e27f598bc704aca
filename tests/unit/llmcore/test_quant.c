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
    f->deq = (float *)p;
    p += sizeof(float) * f->n * f->nrows;
    f->x = (float *)p;
    p += sizeof(float) * f->n * f->nx;
    f->dots = (double *)p;
    p += sizeof(double) * f->nx * f->nrows;
    cr_assert_eq((long)(p - (uint8_t *)f->blob), sz, "fixture %s size", name);
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
        free(f.blob);
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
        free(f.blob);
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

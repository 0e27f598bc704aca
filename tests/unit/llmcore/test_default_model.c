/*
 * test_default_model.c - the real default model (SmolLM2-135M-Instruct Q4_1)
 * against llama.cpp's reference (tests/reference/llm/model/smollm2.json from
 * gen_model.py): top-1 agreement over every greedy position of the 10
 * prompts (teacher-forced), top logits close, greedy continuations for 32
 * tokens identical up to a near-tie; and batched equals unbatched:
 * the prompts run together in one batch and then decoded together give the
 * same tokens and logits as each run alone.
 *
 * Why not bit-identical greedy text: this model's residual stream carries
 * outliers in the hundreds, so a float rounding difference of 1e-7 that
 * flips one 8-bit activation rounding moves logits by ~0.1 a few layers
 * later (measured: scalar vs SIMD kernels of this engine differ that way
 * too, while both match a float64 simulation of their own rounding).  Where
 * llama.cpp's two best tokens are that close, either engine may pick
 * either; the tests require our choice to be such a near-tie in llama.cpp's
 * own logits.  Measured agreement: 96.7% (619/640); see docs/LLMCORE.md.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aios/error.h"
#include "aios/llm.h"

#define REF "tests/reference/llm/model/smollm2.json"
#define MAXP 10
#define MAXTOK 512

typedef struct {
    int n_prompt, n_gen, n_top;
    int32_t prompt[MAXTOK];
    int32_t greedy[MAXTOK];
    int32_t top_id[MAXTOK][5];
    float top_logit[MAXTOK][5];
} ref_prompt;

static ref_prompt refs[MAXP];
static int n_refs;

static const char *model_path(void)
{
    static char buf[1024];
    const char *p = getenv("AIOS_TEST_MODEL");

    if (p && *p)
        return p;
    snprintf(buf, sizeof(buf), "%s/.local/share/aios/models/SmolLM2-135M-Instruct.Q4_1.gguf",
             getenv("HOME") ? getenv("HOME") : "/root");
    return buf;
}

static void load_refs(void)
{
    json_error_t je;
    json_t *root = json_load_file(REF, 0, &je), *ps, *p;
    size_t i;

    cr_assert_not_null(root, "cannot read %s: %s", REF, je.text);
    ps = json_object_get(root, "prompts");
    n_refs = 0;
    json_array_foreach(ps, i, p) {
        ref_prompt *r = &refs[n_refs++];
        json_t *a, *v;
        size_t k;

        cr_assert_leq(n_refs, MAXP);
        a = json_object_get(p, "tokens");
        r->n_prompt = (int)json_array_size(a);
        json_array_foreach(a, k, v) r->prompt[k] = (int32_t)json_integer_value(v);
        a = json_object_get(p, "greedy");
        r->n_gen = (int)json_array_size(a);
        json_array_foreach(a, k, v) r->greedy[k] = (int32_t)json_integer_value(v);
        a = json_object_get(p, "top");
        r->n_top = (int)json_array_size(a);
        json_array_foreach(a, k, v) {
            for (int j = 0; j < 5; j++) {
                r->top_id[k][j] = (int32_t)json_integer_value(json_array_get(json_array_get(v, j), 0));
                r->top_logit[k][j] = (float)json_real_value(json_array_get(json_array_get(v, j), 1));
            }
        }
        cr_assert_lt(r->n_prompt + r->n_gen, MAXTOK);
    }
    json_decref(root);
    cr_assert_eq(n_refs, 10);
}

typedef struct {
    llm_model *m;
    llm_kv *kv;
    llm_ctx *c;
    int nv;
} eng;

static void eng_open(eng *e, int threads)
{
    char err[256];

    cr_assert_eq(llm_model_load(model_path(), NULL, &e->m, err, sizeof(err)), 0, "%s", err);
    e->nv = llm_model_get_info(e->m)->n_vocab;
    cr_assert_eq(llm_kv_new(e->m, 48u << 20, 16, LLM_KV_F16, &e->kv), 0);
    cr_assert_eq(llm_ctx_new(e->m, e->kv, threads, MAXTOK, &e->c), 0);
}

static void eng_close(eng *e)
{
    llm_kv_stats st;

    llm_ctx_free(e->c);
    llm_kv_get_stats(e->kv, &st);
    cr_assert_eq(st.blocks_used, 0, "blocks leaked");
    llm_kv_free(e->kv);
    llm_model_free(e->m);
}

#define NEAR_TIE 1.0f

/* Whether token tok is, in llama.cpp's logits at greedy position g of
 * prompt r, within NEAR_TIE of its best (positions with top-5 only). */
static bool near_tie(const ref_prompt *r, int g, int tok)
{
    if (g >= r->n_top)
        return true; /* no top-5 recorded: counted by the agreement rate */
    for (int j = 0; j < 5; j++)
        if (r->top_id[g][j] == tok)
            return r->top_logit[g][0] - r->top_logit[g][j] <= NEAR_TIE;
    return false;
}

static int argmax(const float *x, int n)
{
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b])
            b = i;
    return b;
}

Test(default_model, info, .timeout = 30)
{
    eng e;
    const llm_model_info *i;

    eng_open(&e, 1);
    i = llm_model_get_info(e.m);
    cr_assert_str_eq(i->arch_name, "llama");
    cr_assert_eq(i->n_layer, 30);
    cr_assert_eq(i->n_embd, 576);
    cr_assert_eq(i->n_head, 9);
    cr_assert_eq(i->n_head_kv, 3);
    cr_assert_eq(i->head_dim, 64);
    cr_assert_eq(i->n_ff, 1536);
    cr_assert_eq(i->n_vocab, 49152);
    cr_assert_float_eq(i->rope_base, 100000.0f, 1e-3);
    cr_assert_float_eq(i->rms_eps, 1e-5f, 1e-9);
    cr_assert(i->tied_output);
    cr_assert_not(i->rope_neox);
    cr_assert_str_eq(i->weight_type, "Q4_1");
    cr_assert_not_null(llm_model_gguf(e.m));
    eng_close(&e);
}

/* Every greedy position teacher-forced, one batch per prompt. */
Test(default_model, top1_agreement_with_llama_cpp, .timeout = 240)
{
    eng e;
    int agree = 0, total = 0;
    float worst = 0;
    float *lg;

    load_refs();
    eng_open(&e, 2);
    lg = malloc(sizeof(float) * (size_t)e.nv * MAXTOK);
    for (int p = 0; p < n_refs; p++) {
        ref_prompt *r = &refs[p];
        int n = r->n_prompt + r->n_gen - 1;
        int32_t toks[MAXTOK], seq[MAXTOK], pos[MAXTOK], s;
        uint8_t want[MAXTOK];

        cr_assert_eq(llm_kv_seq_new(e.kv, &s), 0);
        for (int i = 0; i < n; i++) {
            toks[i] = i < r->n_prompt ? r->prompt[i] : r->greedy[i - r->n_prompt];
            seq[i] = s, pos[i] = i;
            want[i] = i >= r->n_prompt - 1;
        }
        llm_batch b = {n, toks, seq, pos, want};
        cr_assert_eq(llm_forward(e.c, &b, lg), 0);
        for (int g = 0; g < r->n_gen; g++) {
            const float *row = lg + (size_t)g * (size_t)e.nv;
            int mine = argmax(row, e.nv);

            agree += mine == r->greedy[g];
            total++;
            if (g < r->n_top)
                worst = fmaxf(worst, fabsf(row[r->top_id[g][0]] - r->top_logit[g][0]));
            cr_assert(mine == r->greedy[g] || near_tie(r, g, mine),
                      "prompt %d position %d: we pick %d, llama.cpp %d, which is not a near-tie", p, g, mine,
                      r->greedy[g]);
        }
        cr_assert_eq(llm_kv_seq_free(e.kv, s), 0);
    }
    fprintf(stderr, "default model: top-1 agreement %d/%d, worst top logit difference %.3f\n", agree, total,
            worst);
    cr_assert_geq(total, 256);
    cr_assert_geq(agree * 100, total * 95, "top-1 agreement %d/%d is below 95%%", agree, total);
    cr_assert_lt(worst, 1.0f, "a top logit differs from llama.cpp's by %.3f", worst);
    free(lg);
    eng_close(&e);
}

/* Prefill all prompts in one batch, then decode all of them together; the
 * result must be llama.cpp's greedy continuation for 32 tokens, up to the
 * first position where llama.cpp itself had a near-tie. */
Test(default_model, greedy_32_batched_follows_llama_cpp, .timeout = 240)
{
    eng e;
    int32_t s[MAXP], toks[MAXTOK], seq[MAXTOK], pos[MAXTOK], gen[MAXP][32];
    uint8_t want[MAXTOK];
    int n = 0, last[MAXP];
    float *lg;

    load_refs();
    eng_open(&e, 2);
    lg = malloc(sizeof(float) * (size_t)e.nv * MAXP);
    for (int p = 0; p < n_refs; p++) {
        cr_assert_eq(llm_kv_seq_new(e.kv, &s[p]), 0);
        for (int i = 0; i < refs[p].n_prompt; i++, n++) {
            toks[n] = refs[p].prompt[i], seq[n] = s[p], pos[n] = i;
            want[n] = i == refs[p].n_prompt - 1;
        }
        last[p] = refs[p].n_prompt;
    }
    llm_batch b = {n, toks, seq, pos, want};
    cr_assert_eq(llm_forward(e.c, &b, lg), 0);
    for (int g = 0; g < 32; g++) {
        for (int p = 0; p < n_refs; p++) {
            gen[p][g] = argmax(lg + (size_t)p * (size_t)e.nv, e.nv);
            toks[p] = gen[p][g], seq[p] = s[p], pos[p] = last[p]++;
        }
        llm_batch d = {n_refs, toks, seq, pos, NULL};
        cr_assert_eq(llm_forward(e.c, &d, lg), 0);
    }
    {
        int full = 0;
        for (int p = 0; p < n_refs; p++) {
            int same = 0;
            while (same < 32 && gen[p][same] == refs[p].greedy[same])
                same++;
            full += same == 32;
            fprintf(stderr, "prompt %d: first %d greedy tokens identical to llama.cpp\n", p, same);
            if (same < 32)
                cr_assert(near_tie(&refs[p], same, gen[p][same]),
                          "prompt %d token %d: we pick %d, llama.cpp %d, which is not a near-tie", p, same,
                          gen[p][same], refs[p].greedy[same]);
            llm_kv_seq_free(e.kv, s[p]);
        }
        fprintf(stderr, "%d of %d prompts: 32 greedy tokens identical to llama.cpp\n", full, n_refs);
    }
    free(lg);
    eng_close(&e);
}

/* Four prompts alone and together (prefill interleaved, then 8 decode steps
 * together): same tokens, logits equal to float rounding. */
Test(default_model, batched_equals_unbatched, .timeout = 240)
{
    enum { NP = 4, STEPS = 8 };
    eng e;
    float *alone, *tog, *lg;
    int32_t s[NP];
    int32_t toks[MAXTOK], seq[MAXTOK], pos[MAXTOK];
    float maxd = 0;

    load_refs();
    eng_open(&e, 2);
    alone = malloc(sizeof(float) * (size_t)e.nv * NP * (STEPS + 1));
    tog = malloc(sizeof(float) * (size_t)e.nv * NP * (STEPS + 1));
    lg = malloc(sizeof(float) * (size_t)e.nv * NP);
    /* alone */
    for (int p = 0; p < NP; p++) {
        const ref_prompt *r = &refs[p];
        uint8_t want[MAXTOK] = {0};
        int32_t t, q;

        cr_assert_eq(llm_kv_seq_new(e.kv, &s[p]), 0);
        for (int i = 0; i < r->n_prompt; i++)
            seq[i] = s[p], pos[i] = i;
        want[r->n_prompt - 1] = 1;
        llm_batch b = {r->n_prompt, r->prompt, seq, pos, want};
        cr_assert_eq(llm_forward(e.c, &b, alone + (size_t)p * (STEPS + 1) * e.nv), 0);
        for (int g = 0; g < STEPS; g++) {
            float *prev = alone + ((size_t)p * (STEPS + 1) + g) * e.nv;
            t = argmax(prev, e.nv), q = r->n_prompt + g;
            llm_batch d = {1, &t, &s[p], &q, NULL};
            cr_assert_eq(llm_forward(e.c, &d, prev + e.nv), 0);
        }
        llm_kv_seq_free(e.kv, s[p]);
    }
    /* together: prompts interleaved token by token in one batch */
    {
        int n = 0, done = 0, idx[NP] = {0}, row_of[NP];
        uint8_t want[MAXTOK] = {0};

        for (int p = 0; p < NP; p++)
            cr_assert_eq(llm_kv_seq_new(e.kv, &s[p]), 0);
        while (done < NP) {
            done = 0;
            for (int p = 0; p < NP; p++) {
                if (idx[p] == refs[p].n_prompt) {
                    done++;
                    continue;
                }
                toks[n] = refs[p].prompt[idx[p]], seq[n] = s[p], pos[n] = idx[p];
                if (++idx[p] == refs[p].n_prompt)
                    want[n] = 1, row_of[p] = n;
                n++;
            }
        }
        llm_batch b = {n, toks, seq, pos, want};
        cr_assert_eq(llm_forward(e.c, &b, lg), 0);
        /* wanted rows come back in batch order */
        for (int p = 0; p < NP; p++) {
            int k = 0;
            for (int q = 0; q < NP; q++)
                k += row_of[q] < row_of[p];
            memcpy(tog + (size_t)p * (STEPS + 1) * e.nv, lg + (size_t)k * e.nv, sizeof(float) * (size_t)e.nv);
        }
        for (int g = 0; g < STEPS; g++) {
            for (int p = 0; p < NP; p++) {
                toks[p] = argmax(tog + ((size_t)p * (STEPS + 1) + g) * e.nv, e.nv);
                seq[p] = s[p], pos[p] = refs[p].n_prompt + g;
            }
            llm_batch d = {NP, toks, seq, pos, NULL};
            cr_assert_eq(llm_forward(e.c, &d, lg), 0);
            for (int p = 0; p < NP; p++)
                memcpy(tog + ((size_t)p * (STEPS + 1) + g + 1) * e.nv, lg + (size_t)p * e.nv,
                       sizeof(float) * (size_t)e.nv);
        }
        for (int p = 0; p < NP; p++)
            llm_kv_seq_free(e.kv, s[p]);
    }
    for (size_t i = 0; i < (size_t)e.nv * NP * (STEPS + 1); i++)
        maxd = fmaxf(maxd, fabsf(alone[i] - tog[i]));
    for (int p = 0; p < NP; p++)
        for (int g = 0; g <= STEPS; g++)
            cr_assert_eq(argmax(alone + ((size_t)p * (STEPS + 1) + g) * e.nv, e.nv),
                         argmax(tog + ((size_t)p * (STEPS + 1) + g) * e.nv, e.nv), "prompt %d step %d", p, g);
    cr_assert_lt(maxd, 1e-3f, "batched logits differ by %g", maxd);
    fprintf(stderr, "batched vs unbatched: max logit difference %g\n", maxd);
    free(alone);
    free(tog);
    free(lg);
    eng_close(&e);
}

/*
 * test_default_model.c - the real default model (SmolLM2-135M-Instruct Q4_1)
 * against llama.cpp's reference (tests/reference/llm/model/smollm2.json from
 * gen_model.py: 10 prompts, 256 greedy positions each), held to the bar
 * llama.cpp itself meets: model/agreement.json (measure_agreement.sh) holds
 * how well llama.cpp agrees with that reference through its other correct
 * code paths (whole sequences per call, flash attention, an AVX2 build).
 *   - teacher-forced top-1 agreement over all 2560 positions at least
 *     llama.cpp's lowest, and every position where we pick another token a
 *     near-tie: the reference rates our token within the largest gap at
 *     which llama.cpp's own paths deviate; top logits as close as theirs;
 *   - greedy decoding of all prompts batched: at least as many prompts
 *     reproduce the reference's first 32 tokens as for llama.cpp's paths,
 *     and where one parts, it is at such a near-tie;
 *   - batched equals unbatched bit for bit.
 * Why not 99% / 32 identical tokens everywhere: 8-bit activation rounding
 * with this model's outliers makes every implementation differ from every
 * other (and from an exact float64 pass) by ~0.19 logits RMS; llama.cpp's
 * paths agree with each other and with the exact model on 97-98% of these
 * positions (docs/LLMCORE.md has the table).
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
#define AGREE "tests/reference/llm/model/agreement.json"
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

/* llama.cpp against its own reference (agreement.json) */
typedef struct {
    int positions;     /* prompts x greedy positions */
    int floor_top1;    /* lowest teacher-forced agreement of its other paths */
    float near_tie;    /* largest reference gap at which one of them deviates */
    float top_logit;   /* largest top-logit difference of one of them */
    float rms;         /* largest RMS difference of the reference token's logit */
    int floor_greedy;  /* fewest prompts reproducing 32 greedy tokens */
} llama_self;

static llama_self self;

static void load_agreement(void)
{
    json_error_t je;
    json_t *root = json_load_file(AGREE, 0, &je), *vs, *gr, *v;
    const char *name;

    cr_assert_not_null(root, "cannot read %s: %s", AGREE, je.text);
    self.positions = (int)json_integer_value(json_object_get(root, "positions"));
    self.floor_top1 = self.positions;
    self.floor_greedy = MAXP;
    vs = json_object_get(root, "vs_ref");
    /* llama_b1 is the reference's own path: it must reproduce it */
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(vs, "llama_b1"), "agree")), self.positions,
                 "agreement.json: llama.cpp does not reproduce its reference");
    json_object_foreach(vs, name, v) {
        if (strncmp(name, "llama_", 6) != 0 || !strcmp(name, "llama_b1"))
            continue;
        self.floor_top1 = (int)fmin(self.floor_top1, json_integer_value(json_object_get(v, "agree")));
        self.near_tie = fmaxf(self.near_tie, (float)json_real_value(json_object_get(v, "max_ref_gap")));
        self.top_logit = fmaxf(self.top_logit, (float)json_real_value(json_object_get(v, "max_top_logit_diff")));
    }
    json_object_foreach(json_object_get(root, "pairs"), name, v) {
        if (strncmp(name, "rms:llama_", 10) == 0 && strcmp(name, "rms:llama_b1|ref") != 0 && strstr(name, "|ref"))
            self.rms = fmaxf(self.rms, (float)json_real_value(v));
    }
    gr = json_object_get(root, "greedy_prefix");
    json_object_foreach(gr, name, v) {
        if (strncmp(name, "llama_", 6) != 0 || !strcmp(name, "llama_b1"))
            continue;
        self.floor_greedy = (int)fmin(self.floor_greedy, json_integer_value(json_object_get(v, "reach32")));
        self.near_tie = fmaxf(self.near_tie, (float)json_real_value(json_object_get(v, "max_ref_gap")));
    }
    json_decref(root);
    cr_assert_gt(self.positions, 2000);
    cr_assert_gt(self.near_tie, 0.0f);
    cr_assert_gt(self.rms, 0.0f);
    fprintf(stderr, "llama.cpp against its reference: top-1 >= %d/%d, deviations at gaps <= %.3f, top logits within "
                    "%.3f (RMS %.3f), %d/%d prompts keep 32 greedy tokens\n",
            self.floor_top1, self.positions, self.near_tie, self.top_logit, self.rms, self.floor_greedy, MAXP);
}

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

/* How far below its best the reference rates token tok at greedy position
 * g of prompt r (99 when tok is not in its top-5). */
static float ref_gap(const ref_prompt *r, int g, int tok)
{
    for (int j = 0; j < 5; j++)
        if (r->top_id[g][j] == tok)
            return r->top_logit[g][0] - r->top_logit[g][j];
    return 99.0f;
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
Test(default_model, top1_agreement_with_llama_cpp, .timeout = 300)
{
    eng e;
    int agree = 0, total = 0;
    float worst = 0, worst_gap = 0;
    double sq = 0, rms;
    float *lg;

    load_refs();
    load_agreement();
    eng_open(&e, 2);
    lg = malloc(sizeof(float) * (size_t)e.nv * (size_t)refs[0].n_gen);
    for (int p = 0; p < n_refs; p++) {
        ref_prompt *r = &refs[p];
        int n = r->n_prompt + r->n_gen - 1;
        int32_t toks[MAXTOK], seq[MAXTOK], pos[MAXTOK], s;
        uint8_t want[MAXTOK];

        cr_assert_eq(r->n_top, r->n_gen);
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
            worst = fmaxf(worst, fabsf(row[r->top_id[g][0]] - r->top_logit[g][0]));
            sq += (double)(row[r->top_id[g][0]] - r->top_logit[g][0]) * (row[r->top_id[g][0]] - r->top_logit[g][0]);
            if (mine != r->greedy[g]) {
                float gap = ref_gap(r, g, mine);
                worst_gap = fmaxf(worst_gap, gap);
                cr_assert(gap <= self.near_tie,
                          "prompt %d position %d: we pick %d, llama.cpp %d and rates ours %.3f below it (llama.cpp's "
                          "own paths deviate only within %.3f)",
                          p, g, mine, r->greedy[g], gap, self.near_tie);
            }
        }
        cr_assert_eq(llm_kv_seq_free(e.kv, s), 0);
    }
    rms = sqrt(sq / total);
    fprintf(stderr, "default model: top-1 agreement %d/%d (llama.cpp's own paths: >= %d), deviations at gaps <= %.3f, "
                    "top logits within %.3f (RMS %.3f)\n",
            agree, total, self.floor_top1, worst_gap, worst, rms);
    cr_assert_eq(total, self.positions);
    cr_assert_geq(agree, self.floor_top1, "top-1 agreement %d/%d is below llama.cpp's own %d", agree, total,
                  self.floor_top1);
    /* the RMS is the stable measure (llama.cpp's paths: ~0.18-0.21); the
     * largest single difference is a tail, held loosely */
    cr_assert_leq(rms, 1.15 * self.rms, "top logits differ from llama.cpp's by %.3f RMS (its own paths: %.3f)", rms,
                  self.rms);
    cr_assert_leq(worst, 1.5f * self.top_logit, "a top logit differs from llama.cpp's by %.3f", worst);
    free(lg);
    eng_close(&e);
}

/* Prefill all prompts in one batch, then decode all of them together for
 * 32 tokens: as many prompts keep llama.cpp's greedy text as for its own
 * other paths, and where one parts it is at a near-tie. */
Test(default_model, greedy_32_batched_follows_llama_cpp, .timeout = 240)
{
    eng e;
    int32_t s[MAXP], toks[MAXTOK], seq[MAXTOK], pos[MAXTOK], gen[MAXP][32];
    uint8_t want[MAXTOK];
    int n = 0, last[MAXP];
    float *lg;

    load_refs();
    load_agreement();
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
                cr_assert(ref_gap(&refs[p], same, gen[p][same]) <= self.near_tie,
                          "prompt %d token %d: we pick %d, llama.cpp %d, %.3f below its best", p, same, gen[p][same],
                          refs[p].greedy[same], ref_gap(&refs[p], same, gen[p][same]));
            llm_kv_seq_free(e.kv, s[p]);
        }
        fprintf(stderr, "%d of %d prompts: 32 greedy tokens identical to llama.cpp (its own paths: >= %d)\n", full,
                n_refs, self.floor_greedy);
        cr_assert_geq(full, self.floor_greedy);
    }
    free(lg);
    eng_close(&e);
}

/* Four prompts alone and together (prefill interleaved, then 8 decode steps
 * together): the same logits bit for bit. */
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
    cr_assert_eq(maxd, 0.0f, "batched logits differ by %g", maxd);
    fprintf(stderr, "batched vs unbatched: max logit difference %g\n", maxd);
    free(alone);
    free(tog);
    free(lg);
    eng_close(&e);
}

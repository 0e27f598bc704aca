/*
 * llama_ref.c - llama.cpp (linked from a build of the llama-cpp-python
 * 0.3.36 sources, see build_llama_ref.sh) as a reference for the engine's
 * agreement measurements: greedy continuations and teacher-forced top-k
 * logits of the default model, with llama.cpp's evaluation knobs exposed
 * (tokens per llama_decode call, flash attention on/off, threads), so the
 * same model can be compared with itself across builds and code paths.
 *
 *   llama_ref MODEL IN OUT [-b BATCH] [-fa 0|1] [-t THREADS] [-k TOPK] [-g NGEN]
 *
 * IN: one sequence per line, "prompt ids<TAB>continuation ids" (ids comma
 * separated; the continuation may be empty).  With a continuation the
 * whole sequence is evaluated BATCH tokens per call (teacher forcing) and
 * the top-k logits are written for every position from the last prompt
 * token on; without one, the prompt is evaluated BATCH tokens per call and
 * NGEN tokens are generated greedily, one per call.
 * OUT: one JSON object per line: {"greedy":[ids],"top":[[[id,logit],...],...]}
 * (greedy = the argmax at each written position).
 * Not part of the build; a measuring tool.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llama.h"

static void quiet(enum ggml_log_level level, const char *text, void *user)
{
    (void)user;
    if (level == GGML_LOG_LEVEL_ERROR)
        fputs(text, stderr);
}

static int parse_ids(char *s, int *out, int cap)
{
    int n = 0;
    for (char *t = strtok(s, ","); t && n < cap; t = strtok(NULL, ","))
        if (*t && *t != '\n')
            out[n++] = atoi(t);
    return n;
}

static void write_top(FILE *f, const float *lg, int nv, int k, int *best)
{
    int idx[64];

    for (int i = 0; i < k; i++) {
        int b = -1;
        for (int v = 0; v < nv; v++) {
            int taken = 0;
            for (int j = 0; j < i; j++)
                taken |= idx[j] == v;
            if (!taken && (b < 0 || lg[v] > lg[b]))
                b = v;
        }
        idx[i] = b;
        fprintf(f, "%s[%d,%.6f]", i ? "," : "[", b, lg[b]);
    }
    fputc(']', f);
    *best = idx[0];
}

/* Evaluate toks[0..n) starting at position p0, batch tokens per call;
 * logits for positions >= want_from. */
static int eval(struct llama_context *ctx, struct llama_batch *b, const int *toks, int n, int p0, int batch,
                int want_from)
{
    for (int i = 0; i < n; i += batch) {
        int cnt = n - i < batch ? n - i : batch;
        b->n_tokens = cnt;
        for (int j = 0; j < cnt; j++) {
            int pos = p0 + i + j;
            b->token[j] = toks[i + j];
            b->pos[j] = pos;
            b->n_seq_id[j] = 1;
            b->seq_id[j][0] = 0;
            b->logits[j] = pos >= want_from;
        }
        if (llama_decode(ctx, *b) != 0)
            return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    int batch = 1, fa = 0, threads = 1, topk = 5, ngen = 256;
    struct llama_model_params mp;
    struct llama_context_params cp;
    struct llama_model *model;
    struct llama_context *ctx;
    struct llama_batch b;
    FILE *in, *out;
    static char line[1 << 20];
    static int ptoks[8192], ctoks[8192], all[16384];
    int nv;

    if (argc < 4) {
        fprintf(stderr, "usage: llama_ref MODEL IN OUT [-b N] [-fa 0|1] [-t N] [-k N] [-g N]\n");
        return 2;
    }
    for (int i = 4; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "-b"))
            batch = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-fa"))
            fa = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-t"))
            threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-k"))
            topk = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-g"))
            ngen = atoi(argv[i + 1]);
    }
    if (topk < 1 || topk > 64 || batch < 1)
        return 2;
    llama_log_set(quiet, NULL);
    llama_backend_init();
    mp = llama_model_default_params();
    model = llama_model_load_from_file(argv[1], mp);
    if (!model)
        return 1;
    cp = llama_context_default_params();
    cp.n_ctx = 2048;
    cp.n_batch = cp.n_ubatch = (uint32_t)(batch > 512 ? batch : 512);
    cp.n_threads = cp.n_threads_batch = threads;
    cp.flash_attn_type = fa ? LLAMA_FLASH_ATTN_TYPE_ENABLED : LLAMA_FLASH_ATTN_TYPE_DISABLED;
    ctx = llama_init_from_model(model, cp);
    if (!ctx)
        return 1;
    nv = llama_vocab_n_tokens(llama_model_get_vocab(model));
    b = llama_batch_init(batch > 512 ? batch : 512, 0, 1);
    in = fopen(argv[2], "r");
    out = fopen(argv[3], "w");
    if (!in || !out)
        return 1;
    while (fgets(line, sizeof(line), in)) {
        char *tab = strchr(line, '\t');
        int np, nc = 0, best;
        if (tab) {
            *tab = 0;
            nc = parse_ids(tab + 1, ctoks, 8192);
        }
        np = parse_ids(line, ptoks, 8192);
        if (np < 1)
            continue;
        llama_memory_clear(llama_get_memory(ctx), true);
        fputs("{\"top\":[", out);
        if (nc > 0) {
            int *greedy = malloc(sizeof(int) * (size_t)(nc + 1));
            memcpy(all, ptoks, sizeof(int) * (size_t)np);
            memcpy(all + np, ctoks, sizeof(int) * (size_t)nc);
            /* every call writes its logits; read them per call */
            for (int i = 0, k = 0; i < np + nc; i += batch) {
                int cnt = np + nc - i < batch ? np + nc - i : batch;
                if (eval(ctx, &b, all + i, cnt, i, batch, np - 1) < 0)
                    return 1;
                for (int j = 0; j < cnt; j++) {
                    if (i + j < np - 1)
                        continue;
                    if (k)
                        fputc(',', out);
                    write_top(out, llama_get_logits_ith(ctx, j), nv, topk, &best);
                    greedy[k++] = best;
                }
            }
            fputs("],\"greedy\":[", out);
            for (int k = 0; k < nc + 1; k++)
                fprintf(out, "%s%d", k ? "," : "", greedy[k]);
            free(greedy);
        } else {
            int *greedy = malloc(sizeof(int) * (size_t)ngen);
            if (eval(ctx, &b, ptoks, np, 0, batch, np - 1) < 0)
                return 1;
            for (int g = 0; g < ngen; g++) {
                if (g)
                    fputc(',', out);
                write_top(out, llama_get_logits_ith(ctx, -1), nv, topk, &best);
                greedy[g] = best;
                if (eval(ctx, &b, &best, 1, np + g, 1, 0) < 0)
                    return 1;
            }
            fputs("],\"greedy\":[", out);
            for (int g = 0; g < ngen; g++)
                fprintf(out, "%s%d", g ? "," : "", greedy[g]);
            free(greedy);
        }
        fputs("]}\n", out);
        fflush(out);
    }
    fclose(in);
    fclose(out);
    llama_batch_free(b);
    llama_free(ctx);
    llama_model_free(model);
    return 0;
}

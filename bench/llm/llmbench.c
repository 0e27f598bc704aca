/*
 * llmbench.c - the engine's side of bench/llm/run.sh: loads a GGUF model and
 * measures prompt processing (one batch of n_prompt tokens) and generation
 * (n_gen single-token steps from an empty context) the way llama-bench's
 * pp/tg tests do, plus resident memory after load.
 *
 *   llmbench MODEL [-t THREADS] [-p N_PROMPT] [-n N_GEN] [-r REPS]
 *   llmbench MODEL -g "1,2,3" [-n N]      greedy continuation of token ids
 *   llmbench MODEL -f IN OUT [-k K]        teacher-forced top-k, the format of
 *                                          tests/reference/llm/llama_ref.c
 *   llmbench MODEL -B ROWS [-c CTX] [-n N]  batched decode: ROWS sequences, each
 *                                          prefilled with CTX tokens, then N
 *                                          steps of one token per sequence (what
 *                                          the engine runs for concurrent agents)
 *
 * One warm-up round, then the mean of REPS rounds, like llama-bench.
 * Prints "pp<N> t=<T> <tok/s>", "tg<N> t=<T> <tok/s>", the resident memory
 * after load and the peak ("rss_load_mib", "rss_peak_mib") and the KV
 * budget ("kv_budget_mib").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aios/llm.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static long status_kib(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t k = strlen(key);

    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, key, k) == 0 && sscanf(line + k, ": %ld", &v) == 1)
            break;
    fclose(f);
    return v;
}

static int parse_ids(char *s, int32_t *out, int cap)
{
    int n = 0;
    for (char *t = strtok(s, ","); t && n < cap; t = strtok(NULL, ","))
        if (*t && *t != '\n')
            out[n++] = atoi(t);
    return n;
}

/* Teacher forcing: each line of IN is "prompt ids<TAB>continuation ids";
 * the whole sequence runs as one batch and the top-k logits from the last
 * prompt token on go to OUT as {"top":[[[id,logit],...],...],"greedy":[...]}. */
static int forced(llm_ctx *c, llm_kv *kv, int nv, const char *in_path, const char *out_path, int k)
{
    FILE *in = fopen(in_path, "r"), *out = fopen(out_path, "w");
    static char line[1 << 20];
    static int32_t toks[8192], seqs[8192], pos[8192];
    static uint8_t want[8192];
    float *lg = malloc(sizeof(float) * (size_t)nv * 4096);

    if (!in || !out || !lg)
        return -1;
    while (fgets(line, sizeof(line), in)) {
        char *tab = strchr(line, '\t');
        int np, nc = 0, nw = 0, s, *best;
        if (!tab)
            continue;
        *tab = 0;
        np = parse_ids(line, toks, 4096);
        nc = parse_ids(tab + 1, toks + np, 4096);
        if (np < 1 || nc < 1 || np + nc > 4096)
            continue;
        llm_kv_seq_new(kv, &s);
        for (int i = 0; i < np + nc; i++) {
            seqs[i] = s, pos[i] = i, want[i] = i >= np - 1;
            nw += want[i];
        }
        llm_batch b = {np + nc, toks, seqs, pos, want};
        if (llm_forward(c, &b, lg) < 0)
            return -1;
        best = malloc(sizeof(int) * (size_t)nw);
        fputs("{\"top\":[", out);
        for (int w = 0; w < nw; w++) {
            const float *r = lg + (size_t)w * (size_t)nv;
            int idx[64];
            for (int i = 0; i < k; i++) {
                int bi = -1;
                for (int v = 0; v < nv; v++) {
                    int taken = 0;
                    for (int j = 0; j < i; j++)
                        taken |= idx[j] == v;
                    if (!taken && (bi < 0 || r[v] > r[bi]))
                        bi = v;
                }
                idx[i] = bi;
                fprintf(out, "%s[%d,%.6f]", i ? "," : (w ? ",[" : "["), bi, r[bi]);
            }
            fputc(']', out);
            best[w] = idx[0];
        }
        fputs("],\"greedy\":[", out);
        for (int w = 0; w < nw; w++)
            fprintf(out, "%s%d", w ? "," : "", best[w]);
        fputs("]}\n", out);
        free(best);
        llm_kv_seq_free(kv, s);
    }
    fclose(in);
    fclose(out);
    free(lg);
    return 0;
}

/* ROWS sequences of CTX tokens, then n_gen steps of ROWS decode tokens. */
static int batched_decode(llm_ctx *c, llm_kv *kv, int nv, int rows, int ctx_len, int n_gen, int n_threads)
{
    int32_t *seq = malloc(sizeof(int32_t) * (size_t)rows), *tok = malloc(sizeof(int32_t) * 4096);
    int32_t *sv = malloc(sizeof(int32_t) * 4096), *pv = malloc(sizeof(int32_t) * 4096);
    float *lg = malloc(sizeof(float) * (size_t)nv * (size_t)rows);
    uint8_t *want = calloc(512, 1);
    double t0, t1;

    if (!seq || !tok || !sv || !pv || !lg || !want)
        return -1;
    for (int r = 0; r < rows; r++) {
        llm_kv_seq_new(kv, &seq[r]);
        for (int at = 0; at < ctx_len; at += 512) {
            int n = ctx_len - at < 512 ? ctx_len - at : 512;
            for (int i = 0; i < n; i++)
                tok[i] = (int32_t)(((unsigned)(at + i) * 7919u + 13u * (unsigned)r) % (unsigned)nv), sv[i] = seq[r],
                pv[i] = at + i;
            llm_batch b = {n, tok, sv, pv, want};   /* no logits while prefilling */
            if (llm_forward(c, &b, lg) < 0)
                return -1;
        }
    }
    t0 = now();
    for (int g = 0; g < n_gen; g++) {
        for (int r = 0; r < rows; r++)
            tok[r] = (int32_t)(((unsigned)g * 31u + (unsigned)r) % (unsigned)nv), sv[r] = seq[r], pv[r] = ctx_len + g;
        llm_batch d = {rows, tok, sv, pv, NULL};
        if (llm_forward(c, &d, lg) < 0)
            return -1;
    }
    t1 = now();
    printf("tgB%d c=%d t=%d %.2f tok/s, %.2f ms per step\n", rows, ctx_len, n_threads,
           rows * n_gen / (t1 - t0), (t1 - t0) * 1e3 / n_gen);
    free(seq);
    free(tok);
    free(sv);
    free(pv);
    free(lg);
    free(want);
    return 0;
}

static int argmax(const float *x, int n)
{
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b])
            b = i;
    return b;
}

int main(int argc, char **argv)
{
    const char *path, *greedy = NULL, *f_in = NULL, *f_out = NULL;
    int n_threads = 1, n_prompt = 512, n_gen = 128, reps = 3, topk = 5, rows = 0, ctx_len = 300;
    llm_model *m;
    llm_kv *kv;
    llm_ctx *c;
    char err[256];
    const llm_model_info *info;
    float *logits;
    int32_t *toks, *seqs, *pos;
    double sum_pp = 0, sum_tg = 0, tg_wall = 0, pp_wall = 0;
    llm_ctx_stats s0, s1, s2, s3;
    uint64_t pp_wait = 0, tg_wait = 0, tg_bar = 0, tg_sleep = 0;
    size_t kv_budget = 64u << 20;

    if (argc < 2) {
        fprintf(stderr, "usage: llmbench MODEL [-t N] [-p N] [-n N] [-r N] [-g ids]\n");
        return 2;
    }
    path = argv[1];
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "-t"))
            n_threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-p"))
            n_prompt = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-n"))
            n_gen = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-r"))
            reps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-g"))
            greedy = argv[i + 1];
        else if (!strcmp(argv[i], "-k"))
            topk = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-B"))
            rows = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-c"))
            ctx_len = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-f") && i + 2 < argc) {
            f_in = argv[i + 1];
            f_out = argv[i + 2];
            i++;
        }
    }
    if (topk < 1 || topk > 64)
        return 2;
    if (llm_model_load(path, NULL, &m, err, sizeof(err)) < 0) {
        fprintf(stderr, "llmbench: %s\n", err);
        return 1;
    }
    info = llm_model_get_info(m);
    if (f_in)
        n_prompt = 4096, kv_budget = 256u << 20;
    if (rows > 0) {
        if (rows > 256 || ctx_len < 1 || ctx_len > 4000)
            return 2;
        kv_budget = (size_t)512 << 20;
    }
    if (llm_kv_new(m, kv_budget, 16, LLM_KV_F16, &kv) < 0 ||
        llm_ctx_new(m, kv, n_threads, n_prompt > 512 ? n_prompt : 512, &c) < 0) {
        fprintf(stderr, "llmbench: cannot make the context\n");
        return 1;
    }
    printf("rss_load_mib %.1f\nkv_budget_mib %.1f\n", status_kib("VmRSS") / 1024.0, kv_budget / 1048576.0);
    if (f_in)
        return forced(c, kv, info->n_vocab, f_in, f_out, topk) < 0;
    if (rows > 0)
        return batched_decode(c, kv, info->n_vocab, rows, ctx_len, n_gen, n_threads) < 0;
    logits = malloc(sizeof(float) * (size_t)info->n_vocab * 2);
    toks = malloc(sizeof(int32_t) * 4096);
    seqs = calloc(4096, sizeof(int32_t));
    pos = malloc(sizeof(int32_t) * 4096);
    if (greedy) {
        int n = 0, s;
        char *dup = strdup(greedy), *save = NULL;
        uint8_t *want;
        for (char *t = strtok_r(dup, ",", &save); t && n < 4000; t = strtok_r(NULL, ",", &save))
            toks[n++] = atoi(t);
        free(dup);
        if (n < 1)
            return 2;
        want = calloc((size_t)n, 1);
        want[n - 1] = 1;
        llm_kv_seq_new(kv, &s);
        for (int i = 0; i < n; i++)
            seqs[i] = s, pos[i] = i;
        llm_batch b = {n, toks, seqs, pos, want};
        if (llm_forward(c, &b, logits) < 0)
            return 1;
        if (getenv("LLMBENCH_LOGITS")) {
            int top = argmax(logits, info->n_vocab);
            printf("top %d %.4f; logit[%d] %.4f\n", top, logits[top], atoi(getenv("LLMBENCH_LOGITS")),
                   logits[atoi(getenv("LLMBENCH_LOGITS"))]);
        }
        for (int g = 0; g < n_gen; g++) {
            int32_t t = argmax(logits, info->n_vocab), p = n + g;
            printf("%d%c", t, g + 1 < n_gen ? ',' : '\n');
            llm_batch d = {1, &t, &s, &p, NULL};
            if (llm_forward(c, &d, logits) < 0)
                return 1;
        }
        return 0;
    }
    for (int i = 0; i < n_prompt; i++)
        toks[i] = (int32_t)((i * 7919u + 13) % (unsigned)info->n_vocab), pos[i] = i;
    for (int r = -1; r < reps; r++) { /* r = -1: warm-up */
        int32_t s;
        uint8_t *want = calloc((size_t)n_prompt, 1);
        double t0, t1;

        want[n_prompt - 1] = 1;
        llm_kv_seq_new(kv, &s);
        for (int i = 0; i < n_prompt; i++)
            seqs[i] = s;
        llm_batch b = {n_prompt, toks, seqs, pos, want};
        llm_ctx_get_stats(c, &s0);
        t0 = now();
        if (llm_forward(c, &b, logits) < 0)
            return 1;
        t1 = now();
        llm_ctx_get_stats(c, &s1);
        if (r >= 0) {
            sum_pp += n_prompt / (t1 - t0);
            pp_wall += t1 - t0;
            pp_wait += s1.wait_ns - s0.wait_ns;
        }
        llm_kv_seq_free(kv, s);
        free(want);
        /* generation from an empty context */
        llm_kv_seq_new(kv, &s);
        llm_ctx_get_stats(c, &s2);
        t0 = now();
        for (int g = 0; g < n_gen; g++) {
            int32_t t = toks[g], p = g;
            llm_batch d = {1, &t, &s, &p, NULL};
            if (llm_forward(c, &d, logits) < 0)
                return 1;
        }
        t1 = now();
        llm_ctx_get_stats(c, &s3);
        if (r >= 0) {
            sum_tg += n_gen / (t1 - t0);
            tg_wall += t1 - t0;
            tg_wait += s3.wait_ns - s2.wait_ns;
            tg_bar += s3.barriers - s2.barriers;
            tg_sleep += s3.sleeps - s2.sleeps;
        }
        llm_kv_seq_free(kv, s);
    }
    printf("pp%d t=%d %.2f\n", n_prompt, n_threads, sum_pp / reps);
    printf("tg%d t=%d %.2f\n", n_gen, n_threads, sum_tg / reps);
    /* synchronisation cost: thread time spent waiting, as a share of all
     * threads' time in the measured rounds */
    printf("sync t=%d pp_wait_share %.3f tg_wait_share %.3f tg_barriers_per_token %.1f tg_wait_us_per_token %.1f "
           "tg_sleeps %llu\n",
           n_threads, pp_wait * 1e-9 / (pp_wall * n_threads), tg_wait * 1e-9 / (tg_wall * n_threads),
           (double)tg_bar / ((double)n_gen * reps), tg_wait * 1e-3 / ((double)n_gen * reps),
           (unsigned long long)tg_sleep);
    printf("rss_peak_mib %.1f\n", status_kib("VmHWM") / 1024.0);
    llm_ctx_free(c);
    llm_kv_free(kv);
    llm_model_free(m);
    free(logits);
    free(toks);
    free(seqs);
    free(pos);
    return 0;
}

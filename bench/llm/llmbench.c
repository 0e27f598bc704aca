/*
 * llmbench.c - the engine's side of bench/llm/run.sh: loads a GGUF model and
 * measures prompt processing (one batch of n_prompt tokens) and generation
 * (n_gen single-token steps from an empty context) the way llama-bench's
 * pp/tg tests do, plus resident memory after load.
 *
 *   llmbench MODEL [-t THREADS] [-p N_PROMPT] [-n N_GEN] [-r REPS]
 *   llmbench MODEL -g "1,2,3" [-n N]      greedy continuation of token ids
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
    const char *path, *greedy = NULL;
    int n_threads = 1, n_prompt = 512, n_gen = 128, reps = 3;
    llm_model *m;
    llm_kv *kv;
    llm_ctx *c;
    char err[256];
    const llm_model_info *info;
    float *logits;
    int32_t *toks, *seqs, *pos;
    double sum_pp = 0, sum_tg = 0;
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
    }
    if (llm_model_load(path, NULL, &m, err, sizeof(err)) < 0) {
        fprintf(stderr, "llmbench: %s\n", err);
        return 1;
    }
    info = llm_model_get_info(m);
    if (llm_kv_new(m, kv_budget, 16, LLM_KV_F16, &kv) < 0 ||
        llm_ctx_new(m, kv, n_threads, n_prompt > 512 ? n_prompt : 512, &c) < 0) {
        fprintf(stderr, "llmbench: cannot make the context\n");
        return 1;
    }
    printf("rss_load_mib %.1f\nkv_budget_mib %.1f\n", status_kib("VmRSS") / 1024.0, kv_budget / 1048576.0);
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
        t0 = now();
        if (llm_forward(c, &b, logits) < 0)
            return 1;
        t1 = now();
        if (r >= 0)
            sum_pp += n_prompt / (t1 - t0);
        llm_kv_seq_free(kv, s);
        free(want);
        /* generation from an empty context */
        llm_kv_seq_new(kv, &s);
        t0 = now();
        for (int g = 0; g < n_gen; g++) {
            int32_t t = toks[g], p = g;
            llm_batch d = {1, &t, &s, &p, NULL};
            if (llm_forward(c, &d, logits) < 0)
                return 1;
        }
        t1 = now();
        if (r >= 0)
            sum_tg += n_gen / (t1 - t0);
        llm_kv_seq_free(kv, s);
    }
    printf("pp%d t=%d %.2f\n", n_prompt, n_threads, sum_pp / reps);
    printf("tg%d t=%d %.2f\n", n_gen, n_threads, sum_tg / reps);
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

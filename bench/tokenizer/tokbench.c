/*
 * tokbench.c - time our tokenizer on a file: build the tokenizer from a
 * GGUF, tokenize the whole file N times (and detokenize the ids), print one
 * JSON line with the median/min times, the token count and a hash of the
 * ids so bench/tokenizer/run.sh can check the peer produced the same ids.
 *
 *   build/tokbench MODEL.gguf INPUT [ITERATIONS]
 *
 * Single-threaded; a benchmark tool, not part of the daemon.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "llmcore/gguf.h"
#include "llmcore/tokenizer.h"

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    llm_gguf *g;
    llm_tokenizer *t;
    char err[256], *text, *back;
    FILE *f;
    long len;
    int iters = argc > 3 ? atoi(argv[3]) : 20;
    double *tt, *td, t0, build_ms;
    int32_t *ids = NULL;
    size_t n = 0, bl;
    unsigned long long h = 0xcbf29ce484222325ULL;

    if (argc < 3 || iters < 1) {
        fprintf(stderr, "usage: tokbench MODEL.gguf INPUT [ITERATIONS]\n");
        return 2;
    }
    f = fopen(argv[2], "rb");
    if (!f) {
        perror(argv[2]);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    fseek(f, 0, SEEK_SET);
    text = malloc((size_t)len + 1);
    if (!text || fread(text, 1, (size_t)len, f) != (size_t)len) {
        fprintf(stderr, "cannot read %s\n", argv[2]);
        return 1;
    }
    fclose(f);
    t0 = now_ms();
    if (llm_gguf_open(argv[1], &g, err, sizeof(err)) != 0 ||
        llm_tokenizer_from_gguf(g, &t, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s: %s\n", argv[1], err);
        return 1;
    }
    build_ms = now_ms() - t0;
    tt = calloc((size_t)iters, sizeof(*tt));
    td = calloc((size_t)iters, sizeof(*td));
    for (int i = 0; i < iters; i++) {
        free(ids);
        t0 = now_ms();
        if (llm_tokenize(t, text, (size_t)len, false, false, &ids, &n) != 0)
            return 1;
        tt[i] = now_ms() - t0;
        t0 = now_ms();
        if (llm_detokenize(t, ids, n, false, &back, &bl) != 0)
            return 1;
        td[i] = now_ms() - t0;
        free(back);
    }
    for (size_t i = 0; i < n; i++) {
        for (int k = 0; k < 4; k++) {
            h ^= ((uint32_t)ids[i] >> (8 * k)) & 0xff;
            h *= 0x100000001b3ULL;
        }
    }
    qsort(tt, (size_t)iters, sizeof(*tt), cmp_d);
    qsort(td, (size_t)iters, sizeof(*td), cmp_d);
    printf("{\"bytes\": %ld, \"tokens\": %zu, \"build_ms\": %.3f, \"tok_ms_median\": %.3f, "
           "\"tok_ms_min\": %.3f, \"detok_ms_median\": %.3f, \"ids_fnv\": \"%016llx\"}\n",
           len, n, build_ms, tt[iters / 2], tt[0], td[iters / 2], h);
    free(ids);
    free(tt);
    free(td);
    free(text);
    llm_tokenizer_free(t);
    llm_gguf_close(g);
    return 0;
}

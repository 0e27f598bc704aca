/*
 * bench_embed.c - throughput of the C sentence encoder.
 *
 *   build/bench-embed MODEL_DIR INPUT.jsonl THREADS REPS [KERNEL]
 *
 * Embeds every text of INPUT.jsonl ({"text": ...} per line) in one
 * lsfs_embed_texts() call, REPS times, and prints the best run:
 *   OURS texts=N tokens=T seconds=S texts_per_s=... tokens_per_s=... kernel=...
 * tokens counts what the model sees ([CLS] and [SEP] included), as the peer does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "aios/embed.h"
#include "aios/error.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: %s MODEL_DIR INPUT.jsonl THREADS REPS [KERNEL]\n", argv[0]);
        return 2;
    }
    lsfs_embed_opts o = {.threads = atoi(argv[3]), .kernel = argc > 5 ? argv[5] : NULL};
    int reps = atoi(argv[4]);
    lsfs_embedder *e;
    int rc = lsfs_embed_open_opts(argv[1], &o, &e);
    if (rc < 0) {
        fprintf(stderr, "cannot open model '%s': %s\n", argv[1], aios_strerror(rc));
        return 1;
    }
    FILE *f = fopen(argv[2], "r");
    if (!f) {
        perror(argv[2]);
        return 1;
    }
    size_t n = 0, cap = 0, lcap = 0;
    char **texts = NULL, *line = NULL;
    while (getline(&line, &lcap, f) > 0) {
        json_error_t err;
        json_t *j = json_loads(line, 0, &err);
        if (!j)
            continue;
        if (n == cap)
            texts = realloc(texts, (cap = cap ? 2 * cap : 64) * sizeof *texts);
        texts[n++] = strdup(json_string_value(json_object_get(j, "text")));
        json_decref(j);
    }
    fclose(f);
    free(line);
    size_t tokens = 0, got;
    int32_t ids[1024];
    for (size_t i = 0; i < n; i++) {
        lsfs_embed_tokenize(e, texts[i], ids, 1024, &got);
        tokens += got;
    }
    float *out = malloc(n * (size_t)lsfs_embed_dim(e) * sizeof *out);
    lsfs_embed_texts(e, (const char *const *)texts, n < 8 ? n : 8, out);   /* warm up */
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        if ((rc = lsfs_embed_texts(e, (const char *const *)texts, n, out)) < 0) {
            fprintf(stderr, "embed: %s\n", aios_strerror(rc));
            return 1;
        }
        double dt = now() - t0;
        best = dt < best ? dt : best;
    }
    printf("OURS texts=%zu tokens=%zu seconds=%.4f texts_per_s=%.1f tokens_per_s=%.1f kernel=%s\n",
           n, tokens, best, (double)n / best, (double)tokens / best, lsfs_embed_kernel_name(e));
    for (size_t i = 0; i < n; i++)
        free(texts[i]);
    free(texts);
    free(out);
    lsfs_embed_close(e);
    return 0;
}

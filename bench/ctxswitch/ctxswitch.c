/*
 * ctxswitch.c - the cost of a context switch: save and restore of an
 * N-token context (default 2,048) to host memory and to disk (zstd,
 * checksummed snapshot file) against recomputing it by prefill, with the
 * same code the engine uses (llm_kv_seq_export/import, snapshot images and
 * files).  Also checks that every path gives the same next-token logits.
 *
 *   ctxswitch MODEL [-n TOKENS] [-t THREADS] [-r REPS] [-d DIR] [-z LEVEL]
 *
 * Prints one line per measurement and a final
 *   RESULT restore_vs_recompute=<x> restore_disk_vs_recompute=<x> ...
 * Runs on the calling thread plus the forward's pool; not part of make test.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "aios/llm.h"
#include "llmcore/snapshot.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    return v[n / 2];
}

/* Prefill tokens[0..n) into a fresh sequence in chunks of `chunk`. */
static int prefill(llm_ctx *c, llm_kv *kv, const int32_t *tok, int n, int chunk, int32_t *seq_out)
{
    int32_t seq, *sv = malloc(sizeof(int32_t) * (size_t)chunk), *pv = malloc(sizeof(int32_t) * (size_t)chunk);
    uint8_t *want = calloc((size_t)chunk, 1);
    int rc = llm_kv_seq_new(kv, &seq);

    for (int i = 0; rc == 0 && i < n; i += chunk) {
        int m = n - i < chunk ? n - i : chunk;
        llm_batch b = {m, tok + i, sv, pv, want};
        for (int k = 0; k < m; k++) {
            sv[k] = seq;
            pv[k] = i + k;
        }
        rc = llm_forward(c, &b, NULL);
    }
    free(sv);
    free(pv);
    free(want);
    *seq_out = seq;
    return rc;
}

/* Logits of one more token after seq (appends it). */
static int next_logits(llm_ctx *c, int32_t seq, int pos, int32_t tok, float *out)
{
    llm_batch b = {1, &tok, &seq, &pos, NULL};
    return llm_forward(c, &b, out);
}

int main(int argc, char **argv)
{
    const char *path, *dir = "/tmp";
    int n = 2048, threads = 0, reps = 3, level = 1, opt;
    llm_model *m;
    llm_kv *kv;
    llm_ctx *c;
    char err[256], file[4096];
    int32_t *tok, seq;
    float *ref, *got;
    int nv;
    double *t_pre, *t_save, *t_load, *t_wr, *t_rd;
    size_t written = 0, img_len = 0;

    while ((opt = getopt(argc, argv, "n:t:r:d:z:")) != -1) {
        switch (opt) {
        case 'n': n = atoi(optarg); break;
        case 't': threads = atoi(optarg); break;
        case 'r': reps = atoi(optarg); break;
        case 'd': dir = optarg; break;
        case 'z': level = atoi(optarg); break;
        default:
            fprintf(stderr, "usage: ctxswitch MODEL [-n TOKENS] [-t THREADS] [-r REPS] [-d DIR] [-z LEVEL]\n");
            return 2;
        }
    }
    if (optind >= argc || n < 16 || reps < 1) {
        fprintf(stderr, "usage: ctxswitch MODEL [-n TOKENS] [-t THREADS] [-r REPS] [-d DIR] [-z LEVEL]\n");
        return 2;
    }
    path = argv[optind];
    if (llm_model_load(path, NULL, &m, err, sizeof(err)) < 0) {
        fprintf(stderr, "ctxswitch: %s\n", err);
        return 1;
    }
    nv = llm_model_get_info(m)->n_vocab;
    if (llm_kv_new(m, (size_t)(n + 64) * 23040 * 3 + (64u << 20), 16, LLM_KV_F16, &kv) < 0 ||
        llm_ctx_new(m, kv, threads, 512, &c) < 0) {
        fprintf(stderr, "ctxswitch: cannot allocate the cache\n");
        return 1;
    }
    tok = malloc(sizeof(int32_t) * (size_t)(n + 1));
    srand(7);
    for (int i = 0; i <= n; i++)
        tok[i] = 100 + rand() % (nv - 200);
    ref = malloc(sizeof(float) * (size_t)nv);
    got = malloc(sizeof(float) * (size_t)nv);
    t_pre = calloc((size_t)reps, sizeof(double));
    t_save = calloc((size_t)reps, sizeof(double));
    t_load = calloc((size_t)reps, sizeof(double));
    t_wr = calloc((size_t)reps, sizeof(double));
    t_rd = calloc((size_t)reps, sizeof(double));
    snprintf(file, sizeof(file), "%s/ctxswitch-%d.snap", dir, (int)getpid());
    printf("model %s, %d tokens, %d threads, zstd level %d\n", path, n, threads, level);
    for (int r = 0; r < reps; r++) {
        double t0;
        int32_t s2;
        void *img, *back;
        size_t blen;
        llm_image_view v = {0}, w;

        /* recompute: prefill in 512-token chunks (the engine's largest step) */
        t0 = now();
        if (prefill(c, kv, tok, n, 512, &seq) < 0) {
            fprintf(stderr, "ctxswitch: prefill failed\n");
            return 1;
        }
        t_pre[r] = now() - t0;
        /* save to host: the K/V export packed into an image, as preempt() does */
        t0 = now();
        v.tokens = tok;
        v.n_tokens = (uint32_t)n;
        v.kv_len = llm_kv_seq_export_size(kv, seq);
        llm_image_pack(&v, &img, &img_len);
        llm_image_unpack(img, img_len, &w);
        json_decref(w.meta);
        llm_kv_seq_export(kv, seq, (void *)w.kv, v.kv_len);
        t_save[r] = now() - t0;
        if (r == 0 && next_logits(c, seq, n, tok[n], ref) < 0)
            return 1;
        llm_kv_seq_free(kv, seq);
        /* restore from host */
        t0 = now();
        if (llm_kv_seq_import(kv, w.kv, w.kv_len, &s2) < 0) {
            fprintf(stderr, "ctxswitch: import failed\n");
            return 1;
        }
        t_load[r] = now() - t0;
        if (next_logits(c, s2, n, tok[n], got) < 0 || memcmp(ref, got, sizeof(float) * (size_t)nv) != 0) {
            fprintf(stderr, "ctxswitch: restored context gives different logits\n");
            return 1;
        }
        llm_kv_seq_free(kv, s2);
        /* disk: write the image as a snapshot file, read it back and import */
        t0 = now();
        if (llm_snapfile_write(file, img, img_len, level, &written) < 0) {
            fprintf(stderr, "ctxswitch: cannot write %s\n", file);
            return 1;
        }
        t_wr[r] = now() - t0;
        free(img);
        t0 = now();
        if (llm_snapfile_read(file, &back, &blen) < 0 || llm_image_unpack(back, blen, &w) < 0 ||
            llm_kv_seq_import(kv, w.kv, w.kv_len, &s2) < 0) {
            fprintf(stderr, "ctxswitch: cannot read %s back\n", file);
            return 1;
        }
        t_rd[r] = now() - t0;
        json_decref(w.meta);
        if (next_logits(c, s2, n, tok[n], got) < 0 || memcmp(ref, got, sizeof(float) * (size_t)nv) != 0) {
            fprintf(stderr, "ctxswitch: context restored from disk gives different logits\n");
            return 1;
        }
        llm_kv_seq_free(kv, s2);
        free(back);
        unlink(file);
        printf("rep %d: recompute %.3f s, save host %.4f s, restore host %.4f s, write disk %.3f s, "
               "read+restore disk %.3f s\n",
               r, t_pre[r], t_save[r], t_load[r], t_wr[r], t_rd[r]);
    }
    {
        double pre = median(t_pre, reps), sv = median(t_save, reps), ld = median(t_load, reps),
               wr = median(t_wr, reps), rd = median(t_rd, reps);
        printf("image %.1f MiB, file %.1f MiB (zstd %d: %.2fx)\n", (double)img_len / 1048576.0,
               (double)written / 1048576.0, level, (double)img_len / (double)written);
        printf("median: recompute %.3f s (%.0f tokens/s), host save %.1f ms + restore %.1f ms, disk write %.0f ms, "
               "read+restore %.0f ms\n",
               pre, n / pre, sv * 1e3, ld * 1e3, wr * 1e3, rd * 1e3);
        printf("RESULT restore_vs_recompute=%.1f restore_disk_vs_recompute=%.1f switch_host_vs_recompute=%.1f "
               "tokens=%d recompute_s=%.3f restore_host_ms=%.2f restore_disk_ms=%.1f\n",
               pre / ld, pre / rd, pre / (sv + ld), n, pre, ld * 1e3, rd * 1e3);
    }
    llm_ctx_free(c);
    llm_kv_free(kv);
    llm_model_free(m);
    return 0;
}

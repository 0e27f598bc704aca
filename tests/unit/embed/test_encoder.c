/*
 * test_encoder.c - the BERT encoder on the real all-MiniLM-L6-v2 weights:
 * cosine >= 0.999 against the reference vectors of 100 sentences (made by
 * the package's own runtime, tests/reference/embed/), the SIMD kernels
 * against the scalar reference, batching and thread invariance, concurrent
 * callers, and refusal of missing or corrupt model files.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aios/error.h"
#include "embed_fixture.h"

#define DIM 384

/* Sanitizer builds (make asan) run the encoder ~10x slower: they check
 * memory safety on a subset of the sentences, the normal build on all. */
#if defined(__SANITIZE_ADDRESS__)
#define N_SENTENCES 12
#define N_BATCH 6
#else
#define N_SENTENCES 100
#define N_BATCH 24
#endif

Test(encoder, reference_vectors_100, .timeout = 120)
{
    lsfs_embedder *e = embed_test_open(NULL);
    cr_assert_eq(lsfs_embed_dim(e), DIM);
    cr_assert_str_eq(lsfs_embed_model_name(e), "all-MiniLM-L6-v2");
    size_t n;
    char **s = embed_test_sentences(&n);
    cr_assert_eq(n, 100);
    float *ref = embed_test_ref_vectors(n, DIM);
    n = N_SENTENCES;
    float *out = malloc(n * DIM * sizeof *out);
    cr_assert_eq(lsfs_embed_texts(e, (const char *const *)s, n, out), 0);
    double worst = 1.0;
    size_t worst_i = 0;
    for (size_t i = 0; i < n; i++) {
        double c = embed_test_cosine(out + i * DIM, ref + i * DIM, DIM);
        if (c < worst)
            worst = c, worst_i = i;
        double norm = embed_test_cosine(out + i * DIM, out + i * DIM, DIM);
        cr_assert_float_eq(norm, 1.0, 1e-6);
    }
    cr_assert_geq(worst, 0.999, "sentence %zu: cosine %.6f with the reference ('%.60s')", worst_i,
                  worst, s[worst_i]);
    /* Different sentences are not all the same vector. */
    cr_assert_lt(embed_test_cosine(out, out + (n / 2) * DIM, DIM), 0.9);
    free(out);
    free(ref);
    embed_test_free_strings(s);
    lsfs_embed_close(e);
}

/* Every SIMD kernel set this CPU runs agrees with the scalar reference. */
Test(encoder, simd_matches_scalar, .timeout = 90)
{
    lsfs_embed_opts o = {.kernel = "scalar"};
    lsfs_embedder *ref = embed_test_open(&o);
    cr_assert_str_eq(lsfs_embed_kernel_name(ref), "scalar");
    size_t n;
    char **s = embed_test_sentences(&n);
    float *ref_vec = embed_test_ref_vectors(n, DIM);
    const size_t idx[3] = {0, 13, 38};
    const char *texts[3] = {s[idx[0]], s[idx[1]], s[idx[2]]};
    float a[3 * DIM], b[3 * DIM];
    cr_assert_eq(lsfs_embed_texts(ref, texts, 3, b), 0);
    for (int i = 0; i < 3; i++) {
        double c = embed_test_cosine(b + i * DIM, ref_vec + idx[i] * DIM, DIM);
        cr_assert_geq(c, 0.999, "scalar vs reference on '%s': cosine %.7f", texts[i], c);
    }
    const char *kernels[] = {"avx2", "avx512"};
    int tested = 0;
    for (int kk = 0; kk < 2; kk++) {
        lsfs_embed_opts ko = {.kernel = kernels[kk]};
        lsfs_embedder *fast = NULL;
        if (lsfs_embed_open_opts(embed_test_model_dir(), &ko, &fast) == AIOS_ENOTSUP)
            continue;   /* this CPU lacks it */
        cr_assert_not_null(fast);
        cr_assert_eq(lsfs_embed_texts(fast, texts, 3, a), 0);
        for (int i = 0; i < 3; i++) {
            double c = embed_test_cosine(a + i * DIM, b + i * DIM, DIM);
            cr_assert_geq(c, 0.99999, "%s vs scalar on '%s': cosine %.7f", kernels[kk], texts[i], c);
        }
        lsfs_embed_close(fast);
        tested++;
    }
    cr_assert_gt(tested, 0, "no SIMD kernel set runs on this CPU");
    free(ref_vec);
    embed_test_free_strings(s);
    lsfs_embed_close(ref);
}

/* Batching, splitting into several forward passes and threads change nothing. */
Test(encoder, batching_and_threads_invariant, .timeout = 60)
{
    lsfs_embedder *one = embed_test_open(NULL);
    lsfs_embed_opts o = {.threads = 2, .batch_tokens = 256};
    lsfs_embedder *split = embed_test_open(&o);
    size_t n;
    char **s = embed_test_sentences(&n);
    const size_t m = N_BATCH;   /* short and medium sentences, several passes of 256 tokens */
    const char *texts[N_BATCH];
    for (size_t i = 0; i < m; i++)
        texts[i] = s[i * 3];
    float *all = malloc(m * DIM * sizeof *all), *per = malloc(m * DIM * sizeof *per);
    float *thr = malloc(m * DIM * sizeof *thr);
    cr_assert_eq(lsfs_embed_texts(one, texts, m, all), 0);
    for (size_t i = 0; i < m; i++)
        cr_assert_eq(lsfs_embed_texts(one, &texts[i], 1, per + i * DIM), 0);
    cr_assert_eq(lsfs_embed_texts(split, texts, m, thr), 0);
    for (size_t i = 0; i < m * DIM; i++) {
        cr_assert_float_eq(all[i], per[i], 1e-5, "batched vs single at %zu", i);
        cr_assert_float_eq(all[i], thr[i], 1e-5, "one thread vs two at %zu", i);
    }
    free(all);
    free(per);
    free(thr);
    embed_test_free_strings(s);
    lsfs_embed_close(split);
    lsfs_embed_close(one);
}

typedef struct caller {
    lsfs_embedder *e;
    const char *const *texts;
    size_t n;
    float *out;
    int rc;
} caller;

static void *call_embed(void *arg)
{
    caller *c = arg;
    for (int r = 0; r < 3 && c->rc == 0; r++)
        c->rc = lsfs_embed_texts(c->e, c->texts, c->n, c->out);
    return NULL;
}

/* Four threads share one embedder, as the daemon's workers do. */
Test(encoder, concurrent_callers, .timeout = 60)
{
    lsfs_embedder *e = embed_test_open(NULL);
    size_t n;
    char **s = embed_test_sentences(&n);
    float *want = malloc(16 * DIM * sizeof *want), *got = malloc(16 * DIM * sizeof *got);
    cr_assert_eq(lsfs_embed_texts(e, (const char *const *)s, 16, want), 0);
    pthread_t t[4];
    caller c[4];
    for (int i = 0; i < 4; i++) {
        c[i] = (caller){e, (const char *const *)s + 4 * i, 4, got + 4 * i * DIM, 0};
        cr_assert_eq(pthread_create(&t[i], NULL, call_embed, &c[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        cr_assert_eq(c[i].rc, 0);
    }
    for (size_t i = 0; i < 16 * DIM; i++)
        cr_assert_float_eq(want[i], got[i], 1e-5);
    free(want);
    free(got);
    embed_test_free_strings(s);
    lsfs_embed_close(e);
}

Test(encoder, edge_inputs, .timeout = 30)
{
    lsfs_embedder *e = embed_test_open(NULL);
    float v[2 * DIM];
    const char *texts[2] = {"", "\x01\x02 \xff"};
    cr_assert_eq(lsfs_embed_texts(e, texts, 2, v), 0);
    /* Both are just [CLS] [SEP]: the same unit vector. */
    cr_assert_float_eq(embed_test_cosine(v, v + DIM, DIM), 1.0, 1e-6);
    cr_assert_eq(lsfs_embed_texts(e, texts, 0, v), 0);
    const char *bad[1] = {NULL};
    cr_assert_eq(lsfs_embed_texts(e, bad, 1, v), AIOS_EINVAL);
    lsfs_embed_close(e);
}

Test(encoder, default_path, .timeout = 10)
{
    char buf[256];
    unsetenv("AIOS_EMBED_MODEL");
    cr_assert_str_eq(lsfs_embed_default_path("/data", buf, sizeof buf),
                     "/data/models/all-MiniLM-L6-v2");
    setenv("AIOS_EMBED_MODEL", "/elsewhere/m", 1);
    cr_assert_str_eq(lsfs_embed_default_path("/data", buf, sizeof buf), "/elsewhere/m");
    cr_assert_null(lsfs_embed_default_path("/data", buf, 4));
    unsetenv("AIOS_EMBED_MODEL");
}

static void copy_file(const char *from, const char *to, long limit)
{
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    cr_assert(a && b, "copy %s -> %s", from, to);
    char buf[65536];
    size_t n;
    long left = limit;
    while ((limit < 0 || left > 0) && (n = fread(buf, 1, sizeof buf, a)) > 0) {
        if (limit >= 0 && (long)n > left)
            n = (size_t)left;
        fwrite(buf, 1, n, b);
        left -= (long)n;
    }
    fclose(a);
    fclose(b);
}

Test(encoder, missing_and_corrupt_model, .timeout = 30)
{
    lsfs_embedder *e = (lsfs_embedder *)1;
    char dir[] = "/tmp/aios-embed-test-XXXXXX", p[512], q[4300];
    cr_assert_not_null(mkdtemp(dir));
    cr_assert_eq(lsfs_embed_open("/nonexistent/aios/model", &e), AIOS_ENOENT);
    cr_assert_null(e);
    /* A folder with the configs and vocabulary but a truncated weight file. */
    const char *src = embed_test_model_dir();
    const char *files[] = {"config.json", "vocab.txt", "sentence_bert_config.json"};
    for (int i = 0; i < 3; i++) {
        snprintf(q, sizeof q, "%s/%s", src, files[i]);
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        copy_file(q, p, -1);
    }
    snprintf(q, sizeof q, "%s/model.safetensors", src);
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    cr_assert_eq(lsfs_embed_open(dir, &e), AIOS_ENOENT, "no weight file");
    copy_file(q, p, 1 << 20);   /* header intact, data cut short */
    cr_assert_eq(lsfs_embed_open(dir, &e), AIOS_ECORRUPT);
    cr_assert_null(e);
    copy_file(q, p, 100);       /* header cut short */
    cr_assert_eq(lsfs_embed_open(dir, &e), AIOS_ECORRUPT);
    FILE *f = fopen(p, "wb");   /* a header length past the end */
    fwrite("\xff\xff\xff\xff\x00\x00\x00\x00{}", 1, 10, f);
    fclose(f);
    cr_assert_eq(lsfs_embed_open(dir, &e), AIOS_ECORRUPT);
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        unlink(p);
    }
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    unlink(p);
    rmdir(dir);
}

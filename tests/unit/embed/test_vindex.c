/*
 * test_vindex.c - the vector index: the exact scan against a brute-force
 * double-precision reference (every kernel set), recall@10 >= 0.95 of the
 * approximate graph against exact on clustered vectors, add / replace /
 * remove / filter behaviour, compaction, and concurrent searches with
 * writes.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "aios/embed.h"
#include "aios/error.h"

#define DIM 384
#define LAT 32

/* ---- data: unit vectors in topic clusters of a low-dimensional latent space ---- */

typedef struct gen {
    uint64_t s;
    float *proj;             /* [LAT][DIM] */
    float *centres;          /* [nc][LAT] */
    size_t nc;
} gen;

static double unif(gen *g)
{
    g->s ^= g->s << 13;
    g->s ^= g->s >> 7;
    g->s ^= g->s << 17;
    return ((double)(g->s >> 11) + 0.5) / 9007199254740992.0;
}

static double gauss(gen *g)
{
    return sqrt(-2.0 * log(unif(g))) * cos(6.283185307179586 * unif(g));
}

static void gen_init(gen *g, uint64_t seed, size_t nc)
{
    g->s = seed;
    g->nc = nc;
    g->proj = malloc(LAT * DIM * sizeof *g->proj);
    g->centres = malloc(nc * LAT * sizeof *g->centres);
    for (size_t i = 0; i < LAT * DIM; i++)
        g->proj[i] = (float)gauss(g);
    for (size_t i = 0; i < nc * LAT; i++)
        g->centres[i] = (float)gauss(g);
}

static void gen_free(gen *g)
{
    free(g->proj);
    free(g->centres);
}

static void gen_vec(gen *g, float *v)
{
    const float *c = g->centres + (size_t)(unif(g) * (double)g->nc) * LAT;
    float z[LAT];
    for (int l = 0; l < LAT; l++)
        z[l] = c[l] + (float)(0.5 * gauss(g));
    double n = 0;
    for (int d = 0; d < DIM; d++) {
        float x = (float)(0.3 * gauss(g));
        for (int l = 0; l < LAT; l++)
            x += z[l] * g->proj[l * DIM + d];
        v[d] = x;
        n += (double)x * x;
    }
    for (int d = 0; d < DIM; d++)
        v[d] = (float)(v[d] / sqrt(n));
}

static float *gen_many(gen *g, size_t n)
{
    float *v = malloc(n * DIM * sizeof *v);
    for (size_t i = 0; i < n; i++)
        gen_vec(g, v + i * DIM);
    return v;
}

/* Brute force in double: the k best (id = index + 1) for q. */
static void brute(const float *data, size_t n, const float *q, size_t k, int64_t *ids, double *sc)
{
    for (size_t j = 0; j < k; j++)
        sc[j] = -INFINITY, ids[j] = 0;
    for (size_t i = 0; i < n; i++) {
        double s = 0;
        for (int d = 0; d < DIM; d++)
            s += (double)q[d] * data[i * DIM + d];
        if (s <= sc[k - 1])
            continue;
        size_t j = k - 1;
        while (j > 0 && sc[j - 1] < s) {
            sc[j] = sc[j - 1], ids[j] = ids[j - 1];
            j--;
        }
        sc[j] = s, ids[j] = (int64_t)i + 1;
    }
}

static lsfs_vindex *filled(const lsfs_vindex_opts *o, const float *data, size_t n)
{
    lsfs_vindex *v;
    cr_assert_eq(lsfs_vindex_new_opts(DIM, o, &v), 0);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(lsfs_vindex_add(v, (int64_t)i + 1, data + i * DIM), 0);
    cr_assert_eq(lsfs_vindex_size(v), n);
    return v;
}

static void check_exact(const char *kernel)
{
    gen g;
    gen_init(&g, 42, 40);
    const size_t n = 3000, k = 10;
    float *data = gen_many(&g, n), q[DIM];
    lsfs_vindex_opts o = {.kernel = kernel};
    lsfs_vindex *v = filled(&o, data, n);
    for (int t = 0; t < 25; t++) {
        gen_vec(&g, q);
        int64_t want[10], got[10];
        double wsc[10];
        float gsc[10];
        size_t m;
        brute(data, n, q, k, want, wsc);
        cr_assert_eq(lsfs_vindex_search(v, q, k, true, NULL, NULL, got, gsc, &m), 0);
        cr_assert_eq(m, k);
        for (size_t j = 0; j < k; j++) {
            cr_assert_float_eq(gsc[j], wsc[j], 2e-5, "%s query %d rank %zu", kernel, t, j);
            /* Same id unless two scores tie within rounding. */
            if (got[j] != want[j])
                cr_assert_float_eq(wsc[j], j + 1 < k ? wsc[j + 1] : wsc[j - 1], 2e-5,
                                   "%s query %d rank %zu: id %lld, reference %lld", kernel, t, j,
                                   (long long)got[j], (long long)want[j]);
        }
    }
    lsfs_vindex_free(v);
    free(data);
    gen_free(&g);
}

Test(vindex, exact_matches_bruteforce_scalar, .timeout = 30)
{
    check_exact("scalar");
}

Test(vindex, exact_matches_bruteforce_simd, .timeout = 30)
{
    check_exact(NULL);   /* the best this CPU runs */
    lsfs_vindex *v = NULL;
    if (lsfs_vindex_new_opts(DIM, &(lsfs_vindex_opts){.kernel = "avx2"}, &v) == 0) {
        lsfs_vindex_free(v);
        check_exact("avx2");
    }
}

/* Recall@10 of the approximate index against the exact scan, n vectors. */
static void check_recall(const lsfs_vindex_opts *o, size_t n, const char *kind)
{
    gen g;
    gen_init(&g, 7, n / 50);
    const size_t nq = 200, k = 10;
    float *data = gen_many(&g, n), *qs = gen_many(&g, nq);
    lsfs_vindex *v = filled(o, data, n);
    lsfs_vindex_stat st;
    cr_assert_eq(lsfs_vindex_stats(v, &st), 0);
    cr_assert(st.approx, "no approximate index at %zu vectors (threshold %zu)", n,
              st.opts.approx_threshold);
    cr_assert_str_eq(st.opts.approx, kind);
    size_t hits = 0;
    for (size_t t = 0; t < nq; t++) {
        int64_t ex[10], ap[10];
        float es[10], as[10];
        size_t ne, na;
        cr_assert_eq(lsfs_vindex_search(v, qs + t * DIM, k, true, NULL, NULL, ex, es, &ne), 0);
        cr_assert_eq(lsfs_vindex_search(v, qs + t * DIM, k, false, NULL, NULL, ap, as, &na), 0);
        cr_assert_eq(na, k);
        for (size_t i = 0; i < k; i++) {
            if (i > 0)
                cr_assert_geq(as[i - 1], as[i], "results are best first");
            for (size_t j = 0; j < k; j++)
                if (ap[i] == ex[j]) {
                    hits++;
                    break;
                }
        }
    }
    double recall = (double)hits / (double)(nq * k);
    cr_assert_geq(recall, 0.95, "%s recall@10 %.4f", kind, recall);
    lsfs_vindex_free(v);
    free(data);
    free(qs);
    gen_free(&g);
}

/* The default index (IVF) at its default threshold of 20000 vectors. */
Test(vindex, approximate_recall_ivf, .timeout = 120)
{
    check_recall(NULL, 20000, "ivf");
}

/* The HNSW graph, from 1000 vectors on (kept smaller: its build is slower). */
Test(vindex, approximate_recall_hnsw, .timeout = 120)
{
    lsfs_vindex_opts o = {.approx = "hnsw", .approx_threshold = 1000};
    check_recall(&o, 8000, "hnsw");
}

static bool even_only(int64_t id, void *arg)
{
    (*(int *)arg)++;
    return id % 2 == 0;
}

static bool rare_only(int64_t id, void *arg)
{
    return id % 997 == 0;
}

static void check_edits(const char *approx)
{
    gen g;
    gen_init(&g, 9, 20);
    const size_t n = 2000;
    float *data = gen_many(&g, n), q[DIM];
    lsfs_vindex_opts o = {.approx_threshold = 500, .approx = approx};
    lsfs_vindex *v = filled(&o, data, n);
    int64_t ids[10];
    float sc[10];
    size_t m;

    /* A stored vector finds itself first, exactly and approximately. */
    for (int exact = 0; exact < 2; exact++) {
        cr_assert_eq(lsfs_vindex_search(v, data + 77 * DIM, 5, exact, NULL, NULL, ids, sc, &m), 0);
        cr_assert_eq(m, 5);
        cr_assert_eq(ids[0], 78);
        cr_assert_float_eq(sc[0], 1.0f, 1e-5);
    }
    /* Replace: id 78 now holds another vector; the old one is gone. */
    cr_assert_eq(lsfs_vindex_add(v, 78, data + 5 * DIM), 0);
    cr_assert_eq(lsfs_vindex_size(v), n);
    cr_assert_eq(lsfs_vindex_search(v, data + 5 * DIM, 2, true, NULL, NULL, ids, sc, &m), 0);
    cr_assert(ids[0] == 78 || ids[0] == 6);
    cr_assert(ids[1] == 78 || ids[1] == 6);
    cr_assert_eq(lsfs_vindex_search(v, data + 77 * DIM, 10, true, NULL, NULL, ids, sc, &m), 0);
    for (size_t i = 0; i < m; i++)
        cr_assert_neq(ids[i], 78, "replaced vector still found");

    /* Remove: gone from both paths; removing twice is ENOENT. */
    cr_assert_eq(lsfs_vindex_remove(v, 6), 0);
    cr_assert_eq(lsfs_vindex_remove(v, 6), AIOS_ENOENT);
    cr_assert_eq(lsfs_vindex_size(v), n - 1);
    for (int exact = 0; exact < 2; exact++) {
        cr_assert_eq(lsfs_vindex_search(v, data + 5 * DIM, 10, exact, NULL, NULL, ids, sc, &m), 0);
        for (size_t i = 0; i < m; i++)
            cr_assert_neq(ids[i], 6);
    }

    /* Filters: only admitted ids come back, both paths. */
    gen_vec(&g, q);
    for (int exact = 0; exact < 2; exact++) {
        int calls = 0;
        cr_assert_eq(lsfs_vindex_search(v, q, 10, exact, even_only, &calls, ids, sc, &m), 0);
        cr_assert_eq(m, 10);
        cr_assert_gt(calls, 0);
        for (size_t i = 0; i < m; i++)
            cr_assert_eq(ids[i] % 2, 0);
        /* A very selective filter still finds all its matches (exact fallback). */
        cr_assert_eq(lsfs_vindex_search(v, q, 10, exact, rare_only, NULL, ids, sc, &m), 0);
        cr_assert_eq(m, 2, "ids 997 and 1994 match");
        for (size_t i = 0; i < m; i++)
            cr_assert_eq(ids[i] % 997, 0);
    }

    /* Mass removal compacts; what is left is still searchable. */
    for (int64_t id = 2; id <= (int64_t)n; id += 2)
        if (id != 6)
            cr_assert_eq(lsfs_vindex_remove(v, id), 0, "remove %lld", (long long)id);
    lsfs_vindex_stat st;
    cr_assert_eq(lsfs_vindex_stats(v, &st), 0);
    cr_assert_eq(st.live, n / 2, "the odd ids are left");
    cr_assert(st.approx, "approximate index rebuilt after compaction");
    cr_assert_lt(st.dead, st.live, "compaction ran");
    cr_assert_eq(lsfs_vindex_search(v, data + 10 * DIM, 3, false, NULL, NULL, ids, sc, &m), 0);
    cr_assert_eq(ids[0], 11);

    /* Edge cases. */
    cr_assert_eq(lsfs_vindex_search(v, q, 0, true, NULL, NULL, ids, sc, &m), 0);
    cr_assert_eq(m, 0);
    float bad[DIM] = {NAN};
    cr_assert_eq(lsfs_vindex_add(v, 1, bad), AIOS_EINVAL);
    lsfs_vindex *e = NULL;
    cr_assert_eq(lsfs_vindex_new(0, &e), AIOS_EINVAL);
    cr_assert_null(e);
    cr_assert_eq(lsfs_vindex_new_opts(DIM, &(lsfs_vindex_opts){.approx = "nope"}, &e), AIOS_EINVAL);
    cr_assert_eq(lsfs_vindex_new(DIM, &e), 0);
    cr_assert_eq(lsfs_vindex_search(e, q, 5, false, NULL, NULL, ids, sc, &m), 0);
    cr_assert_eq(m, 0);
    cr_assert_eq(lsfs_vindex_remove(e, 1), AIOS_ENOENT);
    lsfs_vindex_free(e);
    lsfs_vindex_free(NULL);
    lsfs_vindex_free(v);
    free(data);
    gen_free(&g);
}

Test(vindex, add_replace_remove_filter_ivf, .timeout = 60)
{
    check_edits("ivf");
}

Test(vindex, add_replace_remove_filter_hnsw, .timeout = 60)
{
    check_edits("hnsw");
}

typedef struct worker {
    lsfs_vindex *v;
    const float *data;
    size_t n;
    int writes;
    int failures;
} worker;

static void *searcher(void *arg)
{
    worker *w = arg;
    int64_t ids[5];
    float sc[5];
    size_t m;
    for (size_t i = 0; i < 300; i++) {
        size_t at = (i * 37) % w->n;
        if (lsfs_vindex_search(w->v, w->data + at * DIM, 5, i % 2, NULL, NULL, ids, sc, &m) != 0 ||
            m == 0 || sc[0] < 0.999f)
            w->failures++;
    }
    return NULL;
}

static void *writer(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < w->writes; i++) {
        int64_t id = 100000 + i;
        if (lsfs_vindex_add(w->v, id, w->data + (size_t)(i % 100) * DIM) != 0 ||
            (i % 3 == 0 && lsfs_vindex_remove(w->v, id) != 0))
            w->failures++;
    }
    return NULL;
}

/* Searches run concurrently with adds and removes and stay correct. */
static void check_concurrent(const char *approx)
{
    gen g;
    gen_init(&g, 11, 30);
    const size_t n = 3000;
    float *data = gen_many(&g, n);
    lsfs_vindex_opts o = {.approx_threshold = 1000, .approx = approx};
    lsfs_vindex *v = filled(&o, data, n);
    pthread_t t[4];
    worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (worker){v, data, n, i == 3 ? 600 : 0, 0};
        cr_assert_eq(pthread_create(&t[i], NULL, i == 3 ? writer : searcher, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        cr_assert_eq(w[i].failures, 0, "%s thread %d: %d failures", approx, i, w[i].failures);
    }
    cr_assert_eq(lsfs_vindex_size(v), n + 400);
    lsfs_vindex_free(v);
    free(data);
    gen_free(&g);
}

Test(vindex, concurrent_search_and_write, .timeout = 60)
{
    check_concurrent("ivf");
    check_concurrent("hnsw");
}

/* A batch add (the store's rebuild at start) equals adding one by one. */
Test(vindex, batch_add, .timeout = 60)
{
    gen g;
    gen_init(&g, 13, 60);
    const size_t n = 5000;
    float *data = gen_many(&g, n), q[DIM];
    int64_t *ids = malloc(n * sizeof *ids);
    for (size_t i = 0; i < n; i++)
        ids[i] = (int64_t)i + 1;
    lsfs_vindex_opts o = {.approx_threshold = 1000};
    lsfs_vindex *one = filled(&o, data, n), *bat;
    cr_assert_eq(lsfs_vindex_new_opts(DIM, &o, &bat), 0);
    cr_assert_eq(lsfs_vindex_add_batch(bat, ids, data, 3000), 0);
    cr_assert_eq(lsfs_vindex_add_batch(bat, ids + 3000, data + 3000 * DIM, n - 3000), 0);
    cr_assert_eq(lsfs_vindex_size(bat), n);
    lsfs_vindex_stat st;
    cr_assert_eq(lsfs_vindex_stats(bat, &st), 0);
    cr_assert(st.approx);
    for (int t = 0; t < 20; t++) {
        gen_vec(&g, q);
        int64_t a[10], b[10];
        float sa[10], sb[10];
        size_t na, nb;
        cr_assert_eq(lsfs_vindex_search(one, q, 10, true, NULL, NULL, a, sa, &na), 0);
        cr_assert_eq(lsfs_vindex_search(bat, q, 10, true, NULL, NULL, b, sb, &nb), 0);
        cr_assert_eq(na, nb);
        cr_assert_arr_eq(a, b, na * sizeof a[0]);
        cr_assert_eq(lsfs_vindex_search(bat, q, 10, false, NULL, NULL, b, sb, &nb), 0);
        cr_assert_eq(nb, 10);
    }
    /* A repeated id keeps the later vector; a non-finite value rejects the batch. */
    int64_t dup[2] = {1, 1};
    float two[2 * DIM];
    memcpy(two, data + 10 * DIM, DIM * sizeof(float));
    memcpy(two + DIM, data + 20 * DIM, DIM * sizeof(float));
    cr_assert_eq(lsfs_vindex_add_batch(bat, dup, two, 2), 0);
    cr_assert_eq(lsfs_vindex_size(bat), n);
    int64_t top[1];
    float ts[1];
    size_t m;
    cr_assert_eq(lsfs_vindex_search(bat, data + 20 * DIM, 1, true, NULL, NULL, top, ts, &m), 0);
    cr_assert(top[0] == 1 || top[0] == 21);
    cr_assert_float_eq(ts[0], 1.0f, 1e-5);
    two[5] = INFINITY;
    int64_t fresh[2] = {900001, 900002};
    cr_assert_eq(lsfs_vindex_add_batch(bat, fresh, two, 2), AIOS_EINVAL);
    cr_assert_eq(lsfs_vindex_size(bat), n);
    lsfs_vindex_free(bat);
    lsfs_vindex_free(one);
    free(ids);
    free(data);
    gen_free(&g);
}

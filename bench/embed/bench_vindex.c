/*
 * bench_vindex.c - the vector index: build time, query latency p50/p99 and
 * recall@10 of the HNSW graph against the exact scan, on clustered random
 * unit vectors (dim 384, shaped like sentence embeddings, see clustered()).
 *
 *   build/bench-vindex [N ...]        (default: 10000 100000)
 * Environment: BENCH_APPROX (ivf or hnsw; default: the index's default),
 * BENCH_QUERIES (default 500), BENCH_NPROBE (IVF), BENCH_EF (HNSW ef_search),
 * BENCH_M, BENCH_EFC (HNSW); zero or unset means the index's default.
 * build_s: one lsfs_vindex_add() per vector with approx_threshold 1 (the
 * approximate index grows with the data, as it would past the threshold);
 * batch_s: one lsfs_vindex_add_batch() of everything with the default
 * threshold (the store's rebuild at start).  Queries run on the first index.
 * Prints one table row per N and a final RESULT line.  Single-threaded.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aios/embed.h"

#define DIM 384
#define K 10

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static uint64_t rng = 88172645463325252ull;

static double unif(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return ((double)(rng >> 11) + 0.5) / 9007199254740992.0;
}

static double gauss(void)
{
    return sqrt(-2.0 * log(unif())) * cos(6.283185307179586 * unif());
}

static void normalize(float *v)
{
    double s = 0;
    for (int i = 0; i < DIM; i++)
        s += (double)v[i] * v[i];
    for (int i = 0; i < DIM; i++)
        v[i] = (float)(v[i] / sqrt(s));
}

/*
 * Data shaped like sentence embeddings: a low intrinsic dimension (LAT
 * latent coordinates mapped into 384 by a fixed random matrix) with topic
 * clusters in the latent space, plus a little full-dimensional noise, then
 * normalised.  Neighbourhoods are then smooth, as with real embeddings,
 * rather than equidistant noise balls.
 */
#define LAT_MAX 128
static int LAT = 24;
typedef struct space {
    float *proj;             /* [LAT][DIM] */
    float *centres;          /* [nc][LAT] */
    size_t nc;
} space;

static void space_init(space *sp, size_t nc)
{
    sp->nc = nc;
    sp->proj = malloc((size_t)LAT * DIM * sizeof *sp->proj);
    sp->centres = malloc(nc * (size_t)LAT * sizeof *sp->centres);
    for (size_t i = 0; i < (size_t)LAT * DIM; i++)
        sp->proj[i] = (float)gauss();
    for (size_t i = 0; i < nc * (size_t)LAT; i++)
        sp->centres[i] = (float)gauss();
}

static float *clustered(const space *sp, size_t n)
{
    float *v = malloc(n * DIM * sizeof *v);
    for (size_t i = 0; i < n; i++) {
        const float *c = sp->centres + (size_t)(unif() * (double)sp->nc) * LAT;
        float z[LAT_MAX];
        for (int l = 0; l < LAT; l++)
            z[l] = c[l] + (float)(0.5 * gauss());
        for (int d = 0; d < DIM; d++) {
            float x = (float)(0.3 * gauss());
            for (int l = 0; l < LAT; l++)
                x += z[l] * sp->proj[l * DIM + d];
            v[i * DIM + d] = x;
        }
        normalize(v + i * DIM);
    }
    return v;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct(double *v, size_t n, double p)
{
    qsort(v, n, sizeof *v, cmp_double);
    return v[(size_t)(p * (double)(n - 1))];
}

static int env_int(const char *name, int def)
{
    const char *s = getenv(name);
    return s && *s ? atoi(s) : def;
}

int main(int argc, char **argv)
{
    size_t sizes[8] = {10000, 100000};
    int n_sizes = 2;
    if (argc > 1) {
        n_sizes = 0;
        for (int i = 1; i < argc && n_sizes < 8; i++)
            sizes[n_sizes++] = (size_t)atoll(argv[i]);
    }
    const int nq = env_int("BENCH_QUERIES", 500);
    LAT = env_int("BENCH_LAT", 48);
    if (LAT < 1 || LAT > LAT_MAX)
        LAT = 48;
    lsfs_vindex_opts o = {.approx_threshold = 1, .M = env_int("BENCH_M", 0),
                          .ef_construction = env_int("BENCH_EFC", 0),
                          .ef_search = env_int("BENCH_EF", 0), .nprobe = env_int("BENCH_NPROBE", 0),
                          .approx = getenv("BENCH_APPROX")};
    printf("%6s %8s %9s %9s %9s %9s %9s %9s %9s %8s %8s %7s\n", "kind", "N", "build_s", "add_us",
           "batch_s",
           "exact_p50", "exact_p99", "appr_p50", "appr_p99", "speedup", "recall10", "MiB");
    double last_recall = 0, last_p50 = 0, last_p99 = 0, last_build = 0, last_ex = 0;
    double last_rebuild = 0;
    lsfs_vindex_stat last_st;
    memset(&last_st, 0, sizeof last_st);
    for (int si = 0; si < n_sizes; si++) {
        size_t n = sizes[si], nc = n / 50 > 10 ? n / 50 : 10;
        space sp;
        space_init(&sp, nc);
        float *data = clustered(&sp, n);
        float *queries = clustered(&sp, (size_t)nq);

        lsfs_vindex *v;
        if (lsfs_vindex_new_opts(DIM, &o, &v) < 0)
            return 1;
        double t0 = now();
        for (size_t i = 0; i < n; i++)
            lsfs_vindex_add(v, (int64_t)i + 1, data + i * DIM);
        double build = now() - t0;
        lsfs_vindex_stat st;
        lsfs_vindex_stats(v, &st);
        /* The store's start-up: every vector in one batch, default threshold. */
        lsfs_vindex_opts ro = o;
        ro.approx_threshold = 0;
        lsfs_vindex *rv;
        int64_t *ids = malloc(n * sizeof *ids);
        for (size_t i = 0; i < n; i++)
            ids[i] = (int64_t)i + 1;
        if (lsfs_vindex_new_opts(DIM, &ro, &rv) < 0)
            return 1;
        t0 = now();
        lsfs_vindex_add_batch(rv, ids, data, n);
        double rebuild = now() - t0;
        lsfs_vindex_free(rv);
        free(ids);

        double *tex = malloc(nq * sizeof *tex), *tap = malloc(nq * sizeof *tap);
        double hits = 0;
        for (int q = 0; q < nq; q++) {
            int64_t ie[K], ia[K];
            float se[K], sa[K];
            size_t ne, na;
            double a = now();
            lsfs_vindex_search(v, queries + (size_t)q * DIM, K, true, NULL, NULL, ie, se, &ne);
            double b = now();
            lsfs_vindex_search(v, queries + (size_t)q * DIM, K, false, NULL, NULL, ia, sa, &na);
            double c = now();
            tex[q] = (b - a) * 1e3;
            tap[q] = (c - b) * 1e3;
            for (size_t i = 0; i < na; i++)
                for (size_t j = 0; j < ne; j++)
                    if (ia[i] == ie[j]) {
                        hits++;
                        break;
                    }
        }
        double recall = hits / (double)(nq * K);
        double ep50 = pct(tex, nq, 0.5), ep99 = pct(tex, nq, 0.99);
        double ap50 = pct(tap, nq, 0.5), ap99 = pct(tap, nq, 0.99);
        printf("%6s %8zu %9.2f %9.1f %9.2f %9.3f %9.3f %9.3f %9.3f %8.1f %8.4f %7.1f\n",
               st.opts.approx, n, build,
               build / (double)n * 1e6, rebuild, ep50, ep99, ap50, ap99, ep50 / ap50, recall,
               (double)st.bytes / (1 << 20));
        last_recall = recall, last_p50 = ap50, last_p99 = ap99, last_build = build, last_ex = ep50;
        last_st = st;
        last_rebuild = rebuild;
        fflush(stdout);
        lsfs_vindex_free(v);
        free(tex);
        free(tap);
        free(data);
        free(queries);
        free(sp.proj);
        free(sp.centres);
    }
    printf("RESULT bench=vindex approx=%s n=%zu build_s=%.2f batch_s=%.2f exact_p50_ms=%.3f "
           "approx_p50_ms=%.3f approx_p99_ms=%.3f recall10=%.4f cells=%zu nprobe=%zu M=%d efc=%d "
           "ef=%d\n",
           last_st.opts.approx, sizes[n_sizes - 1], last_build, last_rebuild, last_ex, last_p50,
           last_p99,
           last_recall, last_st.cells, last_st.nprobe, last_st.opts.M, last_st.opts.ef_construction,
           last_st.opts.ef_search);
    return 0;
}

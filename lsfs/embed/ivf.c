/*
 * ivf.c - the inverted-file approximate index of the vector index: the
 * vectors are partitioned by spherical k-means into nlist cells; a query
 * scores the nlist centroids, then scans only the nprobe best cells.
 *
 * Cheap to build (a few Lloyd iterations over a sample, then one
 * assignment pass, both scoring many vectors against all centroids with the
 * encoder's packed matmul kernel) and trivially incremental: a new vector
 * joins the cell of
 * its nearest centroid.  When the index has grown to several times the size
 * it was trained at, the owner retrains it.
 *
 * Owns the centroids and the cells (node numbers, not copies of vectors).
 * Mutated only under the owner's write lock; searches only read it and keep
 * their scratch on their own stack and heap, so they run concurrently.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lsfs/embed/embed_int.h"

#define KMEANS_ITERS 6
#define SAMPLE_PER_LIST 32   /* training points per cell */
#define SCORE_BLOCK 256

static inline const float *vec(const lsfs__vspace *vs, int32_t node)
{
    return vs->vecs + (size_t)node * (size_t)vs->dim;
}

static uint64_t next_rand(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1Dull;
}

void lsfs__ivf_free(lsfs__ivf *f)
{
    if (!f)
        return;
    for (size_t i = 0; f->lists && i < f->nlist; i++)
        free(f->lists[i]);
    free(f->lists);
    free(f->len);
    free(f->cap);
    lsfs__free(f->cent);
    free(f);
}

/* The centroid with the highest dot product with x. */
static size_t nearest(const lsfs__ivf *f, const lsfs__vspace *vs, const float *x, float *scratch)
{
    size_t best = 0;
    float bs = -INFINITY;
    for (size_t c0 = 0; c0 < f->nlist; c0 += SCORE_BLOCK) {
        size_t nb = f->nlist - c0 < SCORE_BLOCK ? f->nlist - c0 : SCORE_BLOCK;
        vs->k->dot_many(x, f->cent + c0 * (size_t)vs->dim, vs->dim, nb, scratch);
        for (size_t i = 0; i < nb; i++)
            if (scratch[i] > bs)
                bs = scratch[i], best = c0 + i;
    }
    return best;
}

static int list_push(lsfs__ivf *f, size_t c, int32_t node)
{
    if (f->len[c] == f->cap[c]) {
        uint32_t cap = f->cap[c] ? 2 * f->cap[c] : 16;
        int32_t *l = realloc(f->lists[c], cap * sizeof *l);
        if (!l)
            return AIOS_ENOMEM;
        f->lists[c] = l, f->cap[c] = cap;
    }
    f->lists[c][f->len[c]++] = node;
    return 0;
}

int lsfs__ivf_add(lsfs__ivf *f, const lsfs__vspace *vs, int32_t node)
{
    float scratch[SCORE_BLOCK];
    return list_push(f, nearest(f, vs, vec(vs, node), scratch), node);
}

/* Normalise v[dim] in place; false when it is (nearly) zero. */
static bool unit(float *v, int dim)
{
    double s = 0;
    for (int i = 0; i < dim; i++)
        s += (double)v[i] * v[i];
    if (s < 1e-20)
        return false;
    float inv = (float)(1.0 / sqrt(s));
    for (int i = 0; i < dim; i++)
        v[i] *= inv;
    return true;
}

/*
 * Scores of rows x[n][D] (contiguous) against every centroid at once, as one
 * matmul with the packed-panel kernel (much faster than one dot product at a
 * time), and the best centroid of each row into best[n].  cl holds the
 * centroids padded to a multiple of 16 rows (copies of centroid 0, which
 * never win a tie); scores has room for ASSIGN_ROWS x cl->out.
 */
#define ASSIGN_ROWS 96
static void assign_rows(const lsfs__vspace *vs, const lsfs__linear *cl, size_t nlist,
                        const float *x, size_t n, float *scores, int32_t *best)
{
    for (size_t r0 = 0; r0 < n; r0 += ASSIGN_ROWS) {
        int rows = n - r0 < ASSIGN_ROWS ? (int)(n - r0) : ASSIGN_ROWS;
        vs->k->linear(cl, x + r0 * (size_t)vs->dim, rows, scores);
        for (int r = 0; r < rows; r++) {
            const float *sr = scores + (size_t)r * (size_t)cl->out;
            size_t b = 0;
            for (size_t c = 1; c < nlist; c++)
                if (sr[c] > sr[b])
                    b = c;
            best[r0 + (size_t)r] = (int32_t)b;
        }
    }
}

/* (Re)pack the centroids for assign_rows: rows past nlist copy row 0. */
static int pack_centroids(const lsfs__ivf *f, int D, lsfs__linear *cl)
{
    for (size_t c = f->nlist; c < (size_t)cl->out; c++)
        memcpy(f->cent + c * (size_t)D, f->cent, (size_t)D * sizeof(float));
    lsfs__linear_unpack(cl);
    return lsfs__linear_pack(cl);
}

int lsfs__ivf_train(const lsfs__vspace *vs, const uint8_t *dead, size_t n_nodes, size_t nlist,
                    uint64_t seed, lsfs__ivf **out)
{
    int rc = AIOS_ENOMEM;
    const int D = vs->dim;
    size_t n_live = 0;
    *out = NULL;
    for (size_t i = 0; i < n_nodes; i++)
        n_live += !dead[i];
    if (nlist < 1 || n_live < nlist)
        return AIOS_EINVAL;

    const size_t npad = (nlist + LSFS_PANEL - 1) / LSFS_PANEL * LSFS_PANEL;
    lsfs__ivf *f = calloc(1, sizeof *f);
    int32_t *sample = NULL, *assign = NULL;
    float *xs = NULL, *sums = NULL, *scores = NULL, *zero = NULL;
    size_t *count = NULL;
    lsfs__linear cl = {.in = D, .out = (int)npad};
    if (!f)
        return AIOS_ENOMEM;
    f->nlist = nlist;
    f->trained_n = n_live;
    f->cent = lsfs__alloc(npad * (size_t)D * sizeof(float));
    f->lists = calloc(nlist, sizeof *f->lists);
    f->len = calloc(nlist, sizeof *f->len);
    f->cap = calloc(nlist, sizeof *f->cap);
    if (!f->cent || !f->lists || !f->len || !f->cap)
        goto out_free;

    /* A random sample of live nodes (reservoir), copied contiguous; spread
     * picks from it seed the centroids. */
    size_t ns = nlist * SAMPLE_PER_LIST < n_live ? nlist * SAMPLE_PER_LIST : n_live;
    sample = malloc(ns * sizeof *sample);
    assign = malloc((ns > ASSIGN_ROWS ? ns : ASSIGN_ROWS) * sizeof *assign);
    xs = lsfs__alloc(ns * (size_t)D * sizeof *xs);
    sums = calloc(nlist * (size_t)D, sizeof *sums);
    count = calloc(nlist, sizeof *count);
    scores = lsfs__alloc((size_t)ASSIGN_ROWS * npad * sizeof *scores);
    zero = calloc(npad, sizeof *zero);
    if (!sample || !assign || !xs || !sums || !count || !scores || !zero)
        goto out_free;
    cl.w = f->cent;
    cl.b = zero;
    uint64_t rs = seed ? seed : 0x1F0DULL;
    size_t seen = 0;
    for (size_t i = 0; i < n_nodes; i++) {
        if (dead[i])
            continue;
        if (seen < ns)
            sample[seen] = (int32_t)i;
        else {
            size_t j = next_rand(&rs) % (seen + 1);
            if (j < ns)
                sample[j] = (int32_t)i;
        }
        seen++;
    }
    for (size_t i = 0; i < ns; i++)
        memcpy(xs + i * (size_t)D, vec(vs, sample[i]), (size_t)D * sizeof(float));
    for (size_t c = 0; c < nlist; c++)
        memcpy(f->cent + c * (size_t)D, xs + c * (ns / nlist) * (size_t)D, (size_t)D * sizeof(float));

    /* Spherical k-means (Lloyd): assign by dot product, centroid = normalised mean. */
    for (int it = 0; it < KMEANS_ITERS; it++) {
        if ((rc = pack_centroids(f, D, &cl)) < 0)
            goto out_free;
        assign_rows(vs, &cl, nlist, xs, ns, scores, assign);
        memset(sums, 0, nlist * (size_t)D * sizeof *sums);
        memset(count, 0, nlist * sizeof *count);
        for (size_t i = 0; i < ns; i++) {
            const float *x = xs + i * (size_t)D;
            float *sc = sums + (size_t)assign[i] * (size_t)D;
            count[assign[i]]++;
            for (int d = 0; d < D; d++)
                sc[d] += x[d];
        }
        for (size_t c = 0; c < nlist; c++) {
            float *cc = f->cent + c * (size_t)D;
            if (count[c] == 0 || !unit(sums + c * (size_t)D, D)) {
                /* An empty cell takes a random sample point. */
                memcpy(cc, xs + (next_rand(&rs) % ns) * (size_t)D, (size_t)D * sizeof(float));
                continue;
            }
            memcpy(cc, sums + c * (size_t)D, (size_t)D * sizeof(float));
        }
    }

    /* Every live node joins its best cell (stored rows are contiguous). */
    if ((rc = pack_centroids(f, D, &cl)) < 0)
        goto out_free;
    for (size_t b0 = 0; b0 < n_nodes; b0 += ASSIGN_ROWS) {
        size_t nb = n_nodes - b0 < ASSIGN_ROWS ? n_nodes - b0 : ASSIGN_ROWS;
        assign_rows(vs, &cl, nlist, vec(vs, (int32_t)b0), nb, scores, assign);
        for (size_t i = 0; i < nb; i++)
            if (!dead[b0 + i] && (rc = list_push(f, (size_t)assign[i], (int32_t)(b0 + i))) < 0)
                goto out_free;
    }
    rc = 0;
    *out = f;
    f = NULL;
out_free:
    lsfs__linear_unpack(&cl);
    free(zero);
    lsfs__free(scores);
    free(count);
    free(sums);
    lsfs__free(xs);
    free(assign);
    free(sample);
    lsfs__ivf_free(f);
    return rc;
}

/* Keep the k best of a stream in a min-heap h[0..*n). */
static void keep_best(lsfs__hit *h, size_t *n, size_t k, lsfs__hit x)
{
    size_t i;
    if (*n < k) {
        i = (*n)++;
        while (i > 0 && h[(i - 1) / 2].score > x.score) {
            h[i] = h[(i - 1) / 2];
            i = (i - 1) / 2;
        }
    } else {
        if (x.score <= h[0].score)
            return;
        i = 0;
        for (;;) {
            size_t c = 2 * i + 1;
            if (c >= *n)
                break;
            if (c + 1 < *n && h[c + 1].score < h[c].score)
                c++;
            if (h[c].score >= x.score)
                break;
            h[i] = h[c];
            i = c;
        }
    }
    h[i] = x;
}

static int cmp_desc(const void *a, const void *b)
{
    float x = ((const lsfs__hit *)a)->score, y = ((const lsfs__hit *)b)->score;
    return (x < y) - (x > y);
}

int lsfs__ivf_search(const lsfs__ivf *f, const lsfs__vspace *vs, const float *q, size_t nprobe,
                     size_t k, lsfs__hnsw_ok ok, void *arg, lsfs__hit *out)
{
    if (nprobe > f->nlist)
        nprobe = f->nlist;
    if (k == 0 || nprobe == 0)
        return 0;
    lsfs__hit *cells = malloc(nprobe * sizeof *cells);
    float *cs = malloc(f->nlist * sizeof *cs);
    if (!cells || !cs) {
        free(cells);
        free(cs);
        return AIOS_ENOMEM;
    }
    /* The nprobe cells whose centroids score best. */
    vs->k->dot_many(q, f->cent, vs->dim, f->nlist, cs);
    size_t nc = 0;
    for (size_t c = 0; c < f->nlist; c++)
        keep_best(cells, &nc, nprobe, (lsfs__hit){cs[c], (int32_t)c});
    size_t n = 0;
    for (size_t i = 0; i < nc; i++) {
        const int32_t *l = f->lists[cells[i].node];
        uint32_t len = f->len[cells[i].node];
        for (uint32_t j = 0; j < len; j++) {
            if (j + 2 < len)
                __builtin_prefetch(vec(vs, l[j + 2]));
            float s = vs->k->dot(q, vec(vs, l[j]), vs->dim);
            if (n == k && s <= out[0].score)
                continue;
            if (ok && !ok(l[j], arg))
                continue;
            keep_best(out, &n, k, (lsfs__hit){s, l[j]});
        }
    }
    qsort(out, n, sizeof *out, cmp_desc);
    free(cells);
    free(cs);
    return (int)n;
}

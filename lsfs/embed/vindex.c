/*
 * vindex.c - the in-memory vector index of LSFS: (id, vector) pairs, top-k by
 * dot product, with an exact SIMD scan and an approximate index for large
 * indexes: IVF cells (ivf.c, the default) or an HNSW graph (hnsw.c), behind
 * one small table of operations.
 *
 * Storage: vectors live in one dense array, node i at vecs[i*dim]; ids[i] is
 * its chunk id, dead[i] marks a removed (or replaced) node.  An open-address
 * table maps id -> node.  Removed nodes stay in the approximate index (as
 * graph waypoints, or cell members) and are never returned; when they pass a
 * quarter of all nodes the arrays are compacted and the approximate index
 * rebuilt.
 *
 * The approximate index exists once the index has held approx_threshold
 * vectors (it is built then from everything present, and kept up to date on
 * every add after; IVF cells are retrained when the index has grown four
 * times past their training size); below that, and when exact is asked for,
 * the exact scan answers.
 *
 * Threads: one pthread rwlock (writers preferred) guards everything; searches
 * hold it shared and keep their scratch on their own heap, add/remove hold it
 * exclusive.  The filter callback runs under the shared lock.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aios/log.h"
#include "lsfs/embed/embed_int.h"

#define DEFAULT_THRESHOLD 20000
#define DEFAULT_M 16
#define DEFAULT_EF_CONSTRUCTION 64
#define DEFAULT_EF_SEARCH 64
#define DEFAULT_NPROBE 0        /* 0: chosen from the number of cells */
#define SCAN_BLOCK 256
#define COMPACT_MIN_DEAD 256   /* and a quarter of all nodes */

struct lsfs_vindex {
    pthread_rwlock_t lock;
    int dim;
    const lsfs__kernels *k;
    lsfs_vindex_opts opts;

    size_t n_nodes, cap;     /* nodes stored (live + dead) / allocated */
    size_t n_dead;
    float *vecs;             /* [cap][dim] */
    int64_t *ids;            /* [cap] */
    uint8_t *dead;           /* [cap] */

    int64_t *hkeys;          /* id -> node table, linear probing */
    int32_t *hvals;          /* node, or -1 for an empty slot */
    size_t hcap;             /* power of two, > 2 * live */

    const struct approx_ops *ax;   /* the approximate index kind */
    lsfs__hnsw *graph;       /* HNSW, or NULL */
    lsfs__ivf *ivf;          /* IVF, or NULL */
};

/* ---- id table ---------------------------------------------------------------------- */

static inline size_t hslot(const lsfs_vindex *v, int64_t id)
{
    uint64_t x = (uint64_t)id * 0x9E3779B97F4A7C15ull;
    return (size_t)(x ^ (x >> 29)) & (v->hcap - 1);
}

static int32_t hget(const lsfs_vindex *v, int64_t id)
{
    for (size_t i = hslot(v, id);; i = (i + 1) & (v->hcap - 1)) {
        if (v->hvals[i] < 0)
            return -1;
        if (v->hkeys[i] == id)
            return v->hvals[i];
    }
}

/* Insert or overwrite; the table always has room (see hgrow). */
static void hput(lsfs_vindex *v, int64_t id, int32_t node)
{
    size_t i = hslot(v, id);
    while (v->hvals[i] >= 0 && v->hkeys[i] != id)
        i = (i + 1) & (v->hcap - 1);
    v->hkeys[i] = id;
    v->hvals[i] = node;
}

/* Delete with backward shift, so probe chains stay unbroken without tombstones. */
static void hdel(lsfs_vindex *v, int64_t id)
{
    size_t mask = v->hcap - 1, i = hslot(v, id);
    while (v->hvals[i] >= 0 && v->hkeys[i] != id)
        i = (i + 1) & mask;
    if (v->hvals[i] < 0)
        return;
    for (size_t j = (i + 1) & mask; v->hvals[j] >= 0; j = (j + 1) & mask) {
        size_t home = hslot(v, v->hkeys[j]);
        /* Move j back into the hole at i unless its home lies in (i, j]. */
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            v->hkeys[i] = v->hkeys[j];
            v->hvals[i] = v->hvals[j];
            i = j;
        }
    }
    v->hvals[i] = -1;
}

static int hresize(lsfs_vindex *v, size_t cap)
{
    int64_t *keys = malloc(cap * sizeof *keys);
    int32_t *vals = malloc(cap * sizeof *vals);
    if (!keys || !vals) {
        free(keys);
        free(vals);
        return AIOS_ENOMEM;
    }
    int64_t *ok = v->hkeys;
    int32_t *ov = v->hvals;
    size_t ocap = v->hcap;
    v->hkeys = keys, v->hvals = vals, v->hcap = cap;
    for (size_t i = 0; i < cap; i++)
        vals[i] = -1;
    for (size_t i = 0; i < ocap; i++)
        if (ov[i] >= 0)
            hput(v, ok[i], ov[i]);
    free(ok);
    free(ov);
    return 0;
}

/* ---- storage ----------------------------------------------------------------------- */

static int reserve_nodes(lsfs_vindex *v, size_t need)
{
    if (need <= v->cap)
        return 0;
    if (need > INT32_MAX)
        return AIOS_ELIMIT;
    size_t cap = v->cap ? v->cap : 1024;
    while (cap < need)
        cap *= 2;
    float *vecs = lsfs__alloc(cap * (size_t)v->dim * sizeof *vecs);
    int64_t *ids = realloc(v->ids, cap * sizeof *ids);
    if (ids)
        v->ids = ids;
    uint8_t *dead = realloc(v->dead, cap);
    if (dead)
        v->dead = dead;
    if (!vecs || !ids || !dead) {
        lsfs__free(vecs);
        return AIOS_ENOMEM;
    }
    if (v->n_nodes)
        memcpy(vecs, v->vecs, v->n_nodes * (size_t)v->dim * sizeof *vecs);
    lsfs__free(v->vecs);
    v->vecs = vecs;
    v->cap = cap;
    return 0;
}

static lsfs__vspace space(const lsfs_vindex *v)
{
    return (lsfs__vspace){v->vecs, v->dim, v->k};
}

/* ---- the approximate indexes --------------------------------------------------- */

/* HNSW: a graph over every stored node (dead ones too: they route). */
static int hnsw_build(lsfs_vindex *v)
{
    lsfs__hnsw *g;
    int rc = lsfs__hnsw_new(v->opts.M, v->opts.ef_construction, 0x5EED0001ull + v->n_nodes, &g);
    if (rc < 0)
        return rc;
    lsfs__vspace vs = space(v);
    for (size_t i = 0; i < v->n_nodes; i++) {
        if ((rc = lsfs__hnsw_add(g, &vs)) < 0) {
            lsfs__hnsw_free(g);
            return rc;
        }
    }
    lsfs__hnsw_free(v->graph);
    v->graph = g;
    return 0;
}

static int hnsw_add(lsfs_vindex *v, int32_t node)
{
    lsfs__vspace vs = space(v);
    return lsfs__hnsw_add(v->graph, &vs);
}

/* With a selective filter the walk could cover the whole graph: past a
 * quarter of it an exact scan is cheaper and complete. */
static int hnsw_search(const lsfs_vindex *v, const float *q, size_t k, lsfs__hnsw_ok ok,
                       void *arg, lsfs__hit *out)
{
    lsfs__vspace vs = space(v);
    size_t ef = (size_t)v->opts.ef_search > k ? (size_t)v->opts.ef_search : k;
    int got = lsfs__hnsw_search(v->graph, &vs, q, ef, ok, arg, v->n_nodes / 4 + ef, out);
    return got < 0 ? got : (size_t)got < k ? got : (int)k;
}

static void hnsw_drop(lsfs_vindex *v)
{
    lsfs__hnsw_free(v->graph);
    v->graph = NULL;
}

static size_t hnsw_bytes(const lsfs_vindex *v)
{
    const lsfs__hnsw *g = v->graph;
    size_t b = g->cap * ((size_t)(1 + g->M0 + g->M0 / 2) * sizeof(int32_t) + 1 + sizeof(int32_t *));
    for (size_t i = 0; i < g->n; i++)
        b += (size_t)g->level[i] * (size_t)(1 + g->M + g->M / 2) * sizeof(int32_t);
    return b;
}

/* IVF: about 2 sqrt(n) cells (16 to 8192, never more than the vectors),
 * trained on the live vectors. */
static size_t ivf_cells(size_t live)
{
    size_t c = (size_t)(2.0 * sqrt((double)live));
    c = c < 16 ? 16 : c > 8192 ? 8192 : c;
    return c < live ? c : live;
}

static int ivf_build(lsfs_vindex *v)
{
    lsfs__ivf *f;
    lsfs__vspace vs = space(v);
    size_t live = v->n_nodes - v->n_dead;
    if (live == 0)
        return 0;
    int rc = lsfs__ivf_train(&vs, v->dead, v->n_nodes, ivf_cells(live), 0x1F0D0001ull + live, &f);
    if (rc < 0)
        return rc;
    lsfs__ivf_free(v->ivf);
    v->ivf = f;
    return 0;
}

static int ivf_add(lsfs_vindex *v, int32_t node)
{
    lsfs__vspace vs = space(v);
    if (v->n_nodes - v->n_dead >= 4 * v->ivf->trained_n)
        return ivf_build(v);   /* grown well past its training: retrain */
    return lsfs__ivf_add(v->ivf, &vs, node);
}

/* nprobe: given, or a sixteenth of the cells (at least 8). */
static size_t ivf_nprobe(const lsfs_vindex *v)
{
    if (v->opts.nprobe > 0)
        return (size_t)v->opts.nprobe;
    size_t p = v->ivf->nlist / 16;
    return p < 8 ? 8 : p;
}

static int ivf_search(const lsfs_vindex *v, const float *q, size_t k, lsfs__hnsw_ok ok, void *arg,
                      lsfs__hit *out)
{
    lsfs__vspace vs = space(v);
    return lsfs__ivf_search(v->ivf, &vs, q, ivf_nprobe(v), k, ok, arg, out);
}

static void ivf_drop(lsfs_vindex *v)
{
    lsfs__ivf_free(v->ivf);
    v->ivf = NULL;
}

static size_t ivf_bytes(const lsfs_vindex *v)
{
    size_t b = v->ivf->nlist * ((size_t)v->dim * sizeof(float) + sizeof(int32_t *) + 8);
    for (size_t i = 0; i < v->ivf->nlist; i++)
        b += v->ivf->cap[i] * sizeof(int32_t);
    return b;
}

/* One row per approximate index kind. */
typedef struct approx_ops {
    const char *name;
    int (*build)(lsfs_vindex *v);              /* from every stored node */
    int (*add)(lsfs_vindex *v, int32_t node);  /* node was just stored */
    int (*search)(const lsfs_vindex *v, const float *q, size_t k, lsfs__hnsw_ok ok, void *arg,
                  lsfs__hit *out);             /* best first, count or AIOS_E* */
    void (*drop)(lsfs_vindex *v);
    size_t (*bytes)(const lsfs_vindex *v);
    bool (*present)(const lsfs_vindex *v);
} approx_ops;

static bool hnsw_present(const lsfs_vindex *v)
{
    return v->graph != NULL;
}

static bool ivf_present(const lsfs_vindex *v)
{
    return v->ivf != NULL;
}

static const approx_ops approx_table[] = {
    {"ivf", ivf_build, ivf_add, ivf_search, ivf_drop, ivf_bytes, ivf_present},
    {"hnsw", hnsw_build, hnsw_add, hnsw_search, hnsw_drop, hnsw_bytes, hnsw_present},
};

static const approx_ops *approx_pick(const char *name)
{
    for (size_t i = 0; i < sizeof approx_table / sizeof approx_table[0]; i++)
        if (!name || !*name || strcmp(name, approx_table[i].name) == 0)
            return &approx_table[i];
    return NULL;
}

/* Build (or rebuild) the approximate index; on failure searches stay exact. */
static void approx_build(lsfs_vindex *v)
{
    int rc = v->ax->build(v);
    if (rc < 0) {
        aios_log(AIOS_LOG_WARN, "embed", "vector index: %s build failed (%s), exact scans only",
                 v->ax->name, aios_strerror(rc));
        v->ax->drop(v);
    }
}

/* Drop dead nodes: rewrite the arrays densely, rebuild the id table and the
 * approximate index. */
static int compact(lsfs_vindex *v)
{
    size_t w = 0;
    for (size_t i = 0; i < v->n_nodes; i++) {
        if (v->dead[i])
            continue;
        if (w != i) {
            memcpy(v->vecs + w * (size_t)v->dim, v->vecs + i * (size_t)v->dim,
                   (size_t)v->dim * sizeof(float));
            v->ids[w] = v->ids[i];
        }
        v->dead[w] = 0;
        hput(v, v->ids[w], (int32_t)w);
        w++;
    }
    v->n_nodes = w;
    v->n_dead = 0;
    if (!v->ax->present(v))
        return 0;
    v->ax->drop(v);   /* node numbers changed */
    if (w >= v->opts.approx_threshold)
        approx_build(v);
    return 0;
}

/* ---- public API ---------------------------------------------------------------------- */

int lsfs_vindex_new_opts(int dim, const lsfs_vindex_opts *opts, lsfs_vindex **out)
{
    *out = NULL;
    if (dim <= 0 || dim > 65536)
        return AIOS_EINVAL;
    lsfs_vindex *v = calloc(1, sizeof *v);
    if (!v)
        return AIOS_ENOMEM;
    v->dim = dim;
    v->k = lsfs__kernels_pick(opts ? opts->kernel : NULL);
    if (!v->k) {
        free(v);
        return AIOS_ENOTSUP;
    }
    v->opts = (lsfs_vindex_opts){.approx_threshold = DEFAULT_THRESHOLD, .M = DEFAULT_M,
                                 .ef_construction = DEFAULT_EF_CONSTRUCTION,
                                 .ef_search = DEFAULT_EF_SEARCH};
    if (opts) {
        if (opts->approx_threshold)
            v->opts.approx_threshold = opts->approx_threshold;
        if (opts->M > 0)
            v->opts.M = opts->M;
        if (opts->ef_construction > 0)
            v->opts.ef_construction = opts->ef_construction;
        if (opts->ef_search > 0)
            v->opts.ef_search = opts->ef_search;
    }
    v->ax = approx_pick(opts ? opts->approx : NULL);
    if (!v->ax) {
        free(v);
        return AIOS_EINVAL;
    }
    if (opts && opts->nprobe > 0)
        v->opts.nprobe = opts->nprobe;
    v->opts.kernel = v->k->name;
    v->opts.approx = v->ax->name;
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    int rc = pthread_rwlock_init(&v->lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    if (rc != 0) {
        free(v);
        return AIOS_ESYS;
    }
    if (hresize(v, 1024) < 0) {
        lsfs_vindex_free(v);
        return AIOS_ENOMEM;
    }
    *out = v;
    return 0;
}

int lsfs_vindex_new(int dim, lsfs_vindex **out)
{
    return lsfs_vindex_new_opts(dim, NULL, out);
}

void lsfs_vindex_free(lsfs_vindex *v)
{
    if (!v)
        return;
    lsfs__hnsw_free(v->graph);
    lsfs__ivf_free(v->ivf);
    free(v->hkeys);
    free(v->hvals);
    lsfs__free(v->vecs);
    free(v->ids);
    free(v->dead);
    pthread_rwlock_destroy(&v->lock);
    free(v);
}

/* Store one vector; with upkeep, also update the approximate index and
 * compact when due (a batch does both once at its end). */
static int add_locked(lsfs_vindex *v, int64_t id, const float *vec, bool upkeep)
{
    int rc;
    size_t live = v->n_nodes - v->n_dead;
    if ((live + 1) * 2 >= v->hcap && (rc = hresize(v, v->hcap * 2)) < 0)
        return rc;
    if ((rc = reserve_nodes(v, v->n_nodes + 1)) < 0)
        return rc;
    int32_t old = hget(v, id);
    size_t node = v->n_nodes++;
    memcpy(v->vecs + node * (size_t)v->dim, vec, (size_t)v->dim * sizeof(float));
    v->ids[node] = id;
    v->dead[node] = 0;
    hput(v, id, (int32_t)node);
    if (old >= 0) {   /* a replaced vector: the old node becomes dead */
        v->dead[old] = 1;
        v->n_dead++;
    }
    if (!upkeep)
        return 0;
    if (v->ax->present(v)) {
        if ((rc = v->ax->add(v, (int32_t)node)) < 0) {
            aios_log(AIOS_LOG_WARN, "embed", "vector index: %s update failed (%s), exact scans only",
                     v->ax->name, aios_strerror(rc));
            v->ax->drop(v);
        }
    } else if (v->n_nodes - v->n_dead >= v->opts.approx_threshold) {
        approx_build(v);
    }
    if (v->n_dead >= COMPACT_MIN_DEAD && v->n_dead * 4 >= v->n_nodes)
        return compact(v);
    return 0;
}

static bool all_finite(const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return false;
    return true;
}

int lsfs_vindex_add(lsfs_vindex *v, int64_t id, const float *vec)
{
    if (!v || !vec || !all_finite(vec, (size_t)v->dim))
        return AIOS_EINVAL;
    pthread_rwlock_wrlock(&v->lock);
    int rc = add_locked(v, id, vec, true);
    pthread_rwlock_unlock(&v->lock);
    return rc;
}

int lsfs_vindex_add_batch(lsfs_vindex *v, const int64_t *ids, const float *vecs, size_t n)
{
    if (!v || (n > 0 && (!ids || !vecs)))
        return AIOS_EINVAL;
    if (!all_finite(vecs, n * (size_t)v->dim))
        return AIOS_EINVAL;
    int rc = 0;
    pthread_rwlock_wrlock(&v->lock);
    size_t first = v->n_nodes;
    if ((rc = reserve_nodes(v, v->n_nodes + n)) < 0)
        goto out;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = add_locked(v, ids[i], vecs + i * (size_t)v->dim, false);
    /* Upkeep once: compact, then extend or (re)build the approximate index. */
    if (v->n_dead >= COMPACT_MIN_DEAD && v->n_dead * 4 >= v->n_nodes) {
        int crc = compact(v);
        rc = rc < 0 ? rc : crc;
    } else if (v->ax->present(v) && (v->n_nodes - first) * 8 < v->n_nodes) {
        for (size_t node = first; node < v->n_nodes; node++) {
            int arc = v->ax->add(v, (int32_t)node);
            if (arc < 0) {
                v->ax->drop(v);
                break;
            }
        }
    } else if (v->n_nodes - v->n_dead >= v->opts.approx_threshold) {
        v->ax->drop(v);
        approx_build(v);
    }
out:
    pthread_rwlock_unlock(&v->lock);
    return rc;
}

int lsfs_vindex_remove(lsfs_vindex *v, int64_t id)
{
    if (!v)
        return AIOS_EINVAL;
    pthread_rwlock_wrlock(&v->lock);
    int rc = 0;
    int32_t node = hget(v, id);
    if (node < 0) {
        rc = AIOS_ENOENT;
        goto out;
    }
    hdel(v, id);
    v->dead[node] = 1;
    v->n_dead++;
    if (v->n_dead >= COMPACT_MIN_DEAD && v->n_dead * 4 >= v->n_nodes)
        rc = compact(v);
out:
    pthread_rwlock_unlock(&v->lock);
    return rc;
}

size_t lsfs_vindex_size(const lsfs_vindex *v)
{
    lsfs_vindex *m = (lsfs_vindex *)v;   /* the lock is the only mutable part */
    pthread_rwlock_rdlock(&m->lock);
    size_t n = v->n_nodes - v->n_dead;
    pthread_rwlock_unlock(&m->lock);
    return n;
}

/* ---- search ---------------------------------------------------------------------------- */

/* A bounded min-heap of the k best (score, node) seen by the exact scan. */
typedef struct topk {
    lsfs__hit *h;
    size_t n, k;
} topk;

static void topk_push(topk *t, float score, int32_t node)
{
    size_t i;
    if (t->n < t->k) {
        i = t->n++;
        while (i > 0 && t->h[(i - 1) / 2].score > score) {
            t->h[i] = t->h[(i - 1) / 2];
            i = (i - 1) / 2;
        }
    } else {
        i = 0;
        for (;;) {   /* replace the root, sift down */
            size_t c = 2 * i + 1;
            if (c >= t->n)
                break;
            if (c + 1 < t->n && t->h[c + 1].score < t->h[c].score)
                c++;
            if (t->h[c].score >= score)
                break;
            t->h[i] = t->h[c];
            i = c;
        }
    }
    t->h[i] = (lsfs__hit){score, node};
}

static int cmp_desc(const void *a, const void *b)
{
    const lsfs__hit *x = a, *y = b;
    if (x->score != y->score)
        return (x->score < y->score) - (x->score > y->score);
    return (x->node > y->node) - (x->node < y->node);
}

/* Exact top-k over every live node: blocks of dot products, then the heap.
 * The filter is asked only about nodes that would enter the top k. */
static size_t exact_scan(const lsfs_vindex *v, const float *q, size_t k, lsfs_vindex_filter filter,
                         void *arg, lsfs__hit *out)
{
    float scores[SCAN_BLOCK];
    topk t = {out, 0, k};
    for (size_t b = 0; b < v->n_nodes; b += SCAN_BLOCK) {
        size_t nb = v->n_nodes - b < SCAN_BLOCK ? v->n_nodes - b : SCAN_BLOCK;
        v->k->dot_many(q, v->vecs + b * (size_t)v->dim, v->dim, nb, scores);
        for (size_t i = 0; i < nb; i++) {
            size_t node = b + i;
            if (v->dead[node] || (t.n == k && scores[i] <= t.h[0].score))
                continue;
            if (filter && !filter(v->ids[node], arg))
                continue;
            topk_push(&t, scores[i], (int32_t)node);
        }
    }
    qsort(out, t.n, sizeof *out, cmp_desc);
    return t.n;
}

typedef struct admit_ctx {
    const lsfs_vindex *v;
    lsfs_vindex_filter filter;
    void *arg;
} admit_ctx;

static bool admit(int32_t node, void *arg)
{
    const admit_ctx *a = arg;
    if (a->v->dead[node])
        return false;
    return !a->filter || a->filter(a->v->ids[node], a->arg);
}

int lsfs_vindex_search(lsfs_vindex *v, const float *query, size_t k, bool exact,
                       lsfs_vindex_filter filter, void *arg, int64_t *ids_out, float *scores_out,
                       size_t *n_out)
{
    if (!v || !query || !n_out || (k > 0 && !ids_out))
        return AIOS_EINVAL;
    *n_out = 0;
    if (k == 0)
        return 0;
    int rc = 0;
    pthread_rwlock_rdlock(&v->lock);
    size_t live = v->n_nodes - v->n_dead;
    size_t ef = (size_t)v->opts.ef_search > k ? (size_t)v->opts.ef_search : k;
    lsfs__hit *hits = malloc(ef * sizeof *hits);
    if (!hits) {
        rc = AIOS_ENOMEM;
        goto out;
    }
    size_t n = 0;
    bool done = false;
    if (!exact && v->ax->present(v) && live >= v->opts.approx_threshold) {
        admit_ctx a = {v, filter, arg};
        int got = v->ax->search(v, query, k, (filter || v->n_dead) ? admit : NULL, &a, hits);
        if (got < 0) {
            rc = got;
            goto out_free;
        }
        n = (size_t)got;
        /* Too few matches (a selective filter): the exact scan finds them all. */
        done = n == k || (!filter && n == live);
    }
    if (!done)
        n = exact_scan(v, query, k, filter, arg, hits);
    for (size_t i = 0; i < n; i++) {
        ids_out[i] = v->ids[hits[i].node];
        if (scores_out)
            scores_out[i] = hits[i].score;
    }
    *n_out = n;
out_free:
    free(hits);
out:
    pthread_rwlock_unlock(&v->lock);
    return rc;
}

int lsfs_vindex_stats(lsfs_vindex *v, lsfs_vindex_stat *st)
{
    if (!v || !st)
        return AIOS_EINVAL;
    pthread_rwlock_rdlock(&v->lock);
    st->live = v->n_nodes - v->n_dead;
    st->dead = v->n_dead;
    st->approx = v->ax->present(v);
    st->graph_levels = v->graph ? v->graph->max_level + 1 : 0;
    st->cells = v->ivf ? v->ivf->nlist : 0;
    st->nprobe = v->ivf ? ivf_nprobe(v) : 0;
    st->bytes = v->cap * ((size_t)v->dim * sizeof(float) + sizeof(int64_t) + 1) +
                v->hcap * (sizeof(int64_t) + sizeof(int32_t)) + (st->approx ? v->ax->bytes(v) : 0);
    st->opts = v->opts;
    pthread_rwlock_unlock(&v->lock);
    return 0;
}

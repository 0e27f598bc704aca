/*
 * hnsw.c - the approximate nearest-neighbour graph of the vector index
 * (hierarchical navigable small world, Malkov & Yashunin 2016/2018).
 *
 * Nodes are numbered densely as the index stores vectors; similarity is the
 * dot product (vectors are L2-normalised).  Insertion descends greedily
 * through the upper layers, then at each of the node's layers collects
 * ef_construction candidates and keeps a diverse subset as neighbours (the
 * paper's heuristic: a candidate is kept only if it is closer to the new node
 * than to every neighbour kept so far), linking both ways and pruning the
 * other side with the same heuristic when it is full.
 *
 * Owns the adjacency lists.  lsfs__hnsw_add() runs under the owner's write
 * lock; lsfs__hnsw_search() only reads and keeps its state (visited bits,
 * heaps) on the caller's heap, so searches run concurrently.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lsfs/embed/embed_int.h"

#define MAX_LEVEL 15

/* ---- binary heaps of hits ----------------------------------------------------- */

/* best=true: the highest score on top (candidates to expand);
 * best=false: the lowest on top (the worst of the results kept so far). */
typedef struct hheap {
    lsfs__hit *h;
    size_t n, cap;
    bool best;
} hheap;

static bool above(const hheap *hp, lsfs__hit a, lsfs__hit b)
{
    return hp->best ? a.score > b.score : a.score < b.score;
}

static int heap_push(hheap *hp, lsfs__hit x)
{
    if (hp->n == hp->cap) {
        size_t cap = hp->cap ? hp->cap * 2 : 64;
        lsfs__hit *h = realloc(hp->h, cap * sizeof *h);
        if (!h)
            return AIOS_ENOMEM;
        hp->h = h, hp->cap = cap;
    }
    size_t i = hp->n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!above(hp, x, hp->h[p]))
            break;
        hp->h[i] = hp->h[p];
        i = p;
    }
    hp->h[i] = x;
    return 0;
}

static lsfs__hit heap_pop(hheap *hp)
{
    lsfs__hit top = hp->h[0], x = hp->h[--hp->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= hp->n)
            break;
        if (c + 1 < hp->n && above(hp, hp->h[c + 1], hp->h[c]))
            c++;
        if (!above(hp, hp->h[c], x))
            break;
        hp->h[i] = hp->h[c];
        i = c;
    }
    if (hp->n > 0)
        hp->h[i] = x;
    return top;
}

/* ---- graph access --------------------------------------------------------------- */

/* Slots of a neighbour list: M (or M0) plus half as much slack, so a full
 * list is pruned once per M/2 new edges instead of on every one. */
static inline int slots(int m)
{
    return m + m / 2;
}

static inline int32_t *links(const lsfs__hnsw *g, int32_t node, int layer)
{
    if (layer == 0)
        return g->l0 + (size_t)node * (size_t)(1 + slots(g->M0));
    return g->up[node] + (size_t)(layer - 1) * (size_t)(1 + slots(g->M));
}

static inline const float *vec(const lsfs__vspace *vs, int32_t node)
{
    return vs->vecs + (size_t)node * (size_t)vs->dim;
}

static inline float sim(const lsfs__vspace *vs, const float *q, int32_t node)
{
    return vs->k->dot(q, vec(vs, node), vs->dim);
}

int lsfs__hnsw_new(int M, int ef_construction, uint64_t seed, lsfs__hnsw **out)
{
    lsfs__hnsw *g = calloc(1, sizeof *g);
    *out = NULL;
    if (!g)
        return AIOS_ENOMEM;
    g->M = M < 4 ? 4 : M > 64 ? 64 : M;
    g->M0 = 2 * g->M;
    g->ef_construction = ef_construction < g->M ? g->M : ef_construction;
    g->mult = 1.0 / log((double)g->M);
    g->rng = seed ? seed : 0x9E3779B97F4A7C15ull;
    g->entry = -1;
    *out = g;
    return 0;
}

void lsfs__hnsw_free(lsfs__hnsw *g)
{
    if (!g)
        return;
    for (size_t i = 0; g->up && i < g->n; i++)
        free(g->up[i]);
    free(g->up);
    free(g->level);
    free(g->l0);
    free(g);
}

static int reserve(lsfs__hnsw *g, size_t need)
{
    if (need <= g->cap)
        return 0;
    size_t cap = g->cap ? g->cap : 1024;
    while (cap < need)
        cap *= 2;
    int32_t *l0 = realloc(g->l0, cap * (size_t)(1 + slots(g->M0)) * sizeof *l0);
    if (!l0)
        return AIOS_ENOMEM;
    g->l0 = l0;
    uint8_t *level = realloc(g->level, cap);
    if (!level)
        return AIOS_ENOMEM;
    g->level = level;
    int32_t **up = realloc(g->up, cap * sizeof *up);
    if (!up)
        return AIOS_ENOMEM;
    g->up = up;
    g->cap = cap;
    return 0;
}

/* Draw a top layer: floor(-ln(u) * mult), u uniform in (0, 1]. */
static int draw_level(lsfs__hnsw *g)
{
    g->rng ^= g->rng >> 12;
    g->rng ^= g->rng << 25;
    g->rng ^= g->rng >> 27;
    uint64_t r = g->rng * 0x2545F4914F6CDD1Dull;
    double u = ((double)(r >> 11) + 1.0) / 9007199254740992.0;
    int l = (int)(-log(u) * g->mult);
    return l > MAX_LEVEL ? MAX_LEVEL : l;
}

/* ---- search ------------------------------------------------------------------- */

typedef struct searcher {
    uint64_t *visited;       /* one bit per node */
    hheap cand, res;
    size_t scored;
} searcher;

static int searcher_init(searcher *s, size_t n)
{
    memset(s, 0, sizeof *s);
    s->cand.best = true;
    s->res.best = false;
    s->visited = calloc((n + 63) / 64, sizeof *s->visited);
    return s->visited ? 0 : AIOS_ENOMEM;
}

static void searcher_fini(searcher *s)
{
    free(s->visited);
    free(s->cand.h);
    free(s->res.h);
}

static inline bool visit(searcher *s, int32_t node)
{
    uint64_t bit = 1ull << (node & 63);
    if (s->visited[node >> 6] & bit)
        return false;
    s->visited[node >> 6] |= bit;
    return true;
}

/* Walk to the best neighbour while it improves (ef = 1), one layer. */
static void greedy(const lsfs__hnsw *g, const lsfs__vspace *vs, const float *q, int layer,
                   int32_t *ep, float *ep_s)
{
    bool moved = true;
    while (moved) {
        moved = false;
        const int32_t *nb = links(g, *ep, layer);
        for (int32_t i = 1; i <= nb[0]; i++) {
            float s = sim(vs, q, nb[i]);
            if (s > *ep_s)
                *ep_s = s, *ep = nb[i], moved = true;
        }
    }
}

/*
 * Best-first search of one layer from ep, keeping the ef best admissible
 * nodes in s->res.  Non-admissible nodes are still expanded (the graph is
 * navigated through them) but never kept.
 */
static int search_layer(const lsfs__hnsw *g, const lsfs__vspace *vs, const float *q, int32_t ep,
                        float ep_s, size_t ef, int layer, lsfs__hnsw_ok ok, void *arg,
                        size_t budget, searcher *s)
{
    int rc;
    lsfs__hit h = {ep_s, ep};
    visit(s, ep);
    if ((rc = heap_push(&s->cand, h)) < 0)
        return rc;
    if ((!ok || ok(ep, arg)) && (rc = heap_push(&s->res, h)) < 0)
        return rc;
    while (s->cand.n > 0) {
        lsfs__hit c = heap_pop(&s->cand);
        if (s->res.n >= ef && c.score < s->res.h[0].score)
            break;
        if (budget && s->scored >= budget)
            break;
        const int32_t *nb = links(g, c.node, layer);
        /* Start the vectors of unseen neighbours on their way into cache. */
        for (int32_t i = 1; i <= nb[0]; i++)
            if (!(s->visited[nb[i] >> 6] & (1ull << (nb[i] & 63))))
                __builtin_prefetch(vec(vs, nb[i]));
        for (int32_t i = 1; i <= nb[0]; i++) {
            int32_t e = nb[i];
            if (!visit(s, e))
                continue;
            float se = sim(vs, q, e);
            s->scored++;
            if (s->res.n < ef || se > s->res.h[0].score) {
                lsfs__hit he = {se, e};
                if ((rc = heap_push(&s->cand, he)) < 0)
                    return rc;
                if (!ok || ok(e, arg)) {
                    if ((rc = heap_push(&s->res, he)) < 0)
                        return rc;
                    if (s->res.n > ef)
                        heap_pop(&s->res);
                }
            }
        }
    }
    return 0;
}

/* Drain s->res into out, best first; returns the count. */
static size_t drain_sorted(searcher *s, lsfs__hit *out)
{
    size_t n = s->res.n;
    for (size_t i = n; i > 0; i--)
        out[i - 1] = heap_pop(&s->res);
    return n;
}

int lsfs__hnsw_search(const lsfs__hnsw *g, const lsfs__vspace *vs, const float *q, size_t ef,
                      lsfs__hnsw_ok ok, void *arg, size_t visit_budget, lsfs__hit *out)
{
    if (g->entry < 0 || ef == 0)
        return 0;
    searcher s;
    int rc = searcher_init(&s, g->n);
    if (rc < 0)
        return rc;
    int32_t ep = g->entry;
    float ep_s = sim(vs, q, ep);
    for (int l = g->max_level; l > 0; l--)
        greedy(g, vs, q, l, &ep, &ep_s);
    rc = search_layer(g, vs, q, ep, ep_s, ef, 0, ok, arg, visit_budget, &s);
    if (rc == 0)
        rc = (int)drain_sorted(&s, out);
    searcher_fini(&s);
    return rc;
}

/* ---- insertion ------------------------------------------------------------------ */

static int cmp_hit_desc(const void *a, const void *b)
{
    float x = ((const lsfs__hit *)a)->score, y = ((const lsfs__hit *)b)->score;
    return (x < y) - (x > y);
}

/*
 * The neighbour-selection heuristic: from candidates sorted best first
 * (scores relative to the base node), keep c only if it is more similar to
 * the base than to every node already kept; at most m.  Returns the count
 * written to sel.
 */
static int select_diverse(const lsfs__vspace *vs, const lsfs__hit *cand, size_t n, int m,
                          int32_t *sel)
{
    int k = 0;
    for (size_t i = 0; i < n && k < m; i++) {
        bool keep = true;
        const float *cv = vec(vs, cand[i].node);
        for (int j = 0; j < k && keep; j++)
            keep = vs->k->dot(cv, vec(vs, sel[j]), vs->dim) < cand[i].score;
        if (keep)
            sel[k++] = cand[i].node;
    }
    return k;
}

/* Add the edge from -> to at layer; when from's list (with its slack) is
 * full, re-select M (M0) neighbours among the old ones plus to. */
static void connect(lsfs__hnsw *g, const lsfs__vspace *vs, int32_t from, int32_t to, int layer)
{
    int32_t *nb = links(g, from, layer);
    int mmax = layer == 0 ? g->M0 : g->M;
    if (nb[0] < slots(mmax)) {
        nb[1 + nb[0]++] = to;
        return;
    }
    lsfs__hit cand[1 + 192];
    const float *fv = vec(vs, from);
    int n = 0;
    for (int32_t i = 1; i <= nb[0]; i++)
        cand[n++] = (lsfs__hit){vs->k->dot(fv, vec(vs, nb[i]), vs->dim), nb[i]};
    cand[n++] = (lsfs__hit){vs->k->dot(fv, vec(vs, to), vs->dim), to};
    qsort(cand, (size_t)n, sizeof cand[0], cmp_hit_desc);
    nb[0] = select_diverse(vs, cand, (size_t)n, mmax, nb + 1);
}

int lsfs__hnsw_add(lsfs__hnsw *g, const lsfs__vspace *vs)
{
    int rc;
    if ((rc = reserve(g, g->n + 1)) < 0)
        return rc;
    int32_t node = (int32_t)g->n;
    int level = draw_level(g);
    g->level[node] = (uint8_t)level;
    g->l0[(size_t)node * (size_t)(1 + slots(g->M0))] = 0;
    g->up[node] = NULL;
    if (level > 0) {
        g->up[node] = calloc((size_t)level * (size_t)(1 + slots(g->M)), sizeof(int32_t));
        if (!g->up[node])
            return AIOS_ENOMEM;
    }
    if (g->entry < 0) {
        g->entry = node;
        g->max_level = level;
        g->n++;
        return 0;
    }

    const float *q = vec(vs, node);
    int32_t ep = g->entry;
    float ep_s = sim(vs, q, ep);
    for (int l = g->max_level; l > level; l--)
        greedy(g, vs, q, l, &ep, &ep_s);

    lsfs__hit *found = malloc((size_t)g->ef_construction * sizeof *found);
    if (!found)
        goto out_nomem;
    for (int l = level < g->max_level ? level : g->max_level; l >= 0; l--) {
        searcher s;
        if ((rc = searcher_init(&s, g->n)) < 0)
            goto out_free;
        rc = search_layer(g, vs, q, ep, ep_s, (size_t)g->ef_construction, l, NULL, NULL, 0, &s);
        size_t nf = rc == 0 ? drain_sorted(&s, found) : 0;
        searcher_fini(&s);
        if (rc < 0)
            goto out_free;
        int32_t *mine = links(g, node, l);
        mine[0] = select_diverse(vs, found, nf, l == 0 ? g->M0 : g->M, mine + 1);
        for (int32_t i = 1; i <= mine[0]; i++)
            connect(g, vs, mine[i], node, l);
        if (nf > 0)
            ep = found[0].node, ep_s = found[0].score;
    }
    free(found);
    if (level > g->max_level) {
        g->max_level = level;
        g->entry = node;
    }
    g->n++;
    return 0;

out_nomem:
    rc = AIOS_ENOMEM;
out_free:
    free(found);
    /* The node stays unlinked and uncounted; its slot is reused next time. */
    free(g->up[node]);
    g->up[node] = NULL;
    return rc;
}

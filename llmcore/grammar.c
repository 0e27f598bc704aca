/*
 * grammar.c - running a compiled grammar: advancing by bytes and tokens,
 * computing the mask of allowed tokens, forcing a completion.
 *
 * Configurations live in a scratch arena as persistent stacks (a cell is a
 * frame plus the index of the cell below it), so forking on an anyOf or
 * trying a byte costs one small copy, never a stack copy.  The mask of a
 * configuration is taken from a cache keyed by its top frame: a cache entry
 * is made by walking the vocabulary's token trie from that frame alone (the
 * frames below are unknown), which yields the tokens that stay within the
 * frame and the trie nodes where the frame ends; at run time only those are
 * walked again with the real frames below.  The cache lives in the compiled
 * grammar and is shared by every sequence using it (mutex), so after the
 * first few documents nearly every step is a cache hit.
 *
 * The arena is owned by each llm_gstate (one thread at a time); the cache is
 * owned by llm_grammar.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aios/error.h"
#include "llmcore/grammar_nodes.h"

#define GC_EMPTY UINT32_MAX       /* below the root: the document has ended */
#define GC_BASE (UINT32_MAX - 1)  /* below a cache walk's frame: not known */
#define OPS(g, f) (&llm_grammar__ops[(g)->nodes[(f).node].kind])
#define NODE(g, f) (&(g)->nodes[(f).node])

typedef struct gcell {
    gframe f;
    uint32_t up;
    uint32_t depth;
} gcell;

/* Scratch for walks: the arena of cells, the configuration lists of each
 * trie level and the uncertain records of a cache walk. */
typedef struct gwalk {
    gcell *cells;
    uint32_t n_cells, cap_cells;
    uint32_t *cfg;
    uint32_t n_cfg, cap_cfg;
    gunc *unc;
    uint32_t n_unc, cap_unc;
    uint32_t tnode;     /* trie node whose byte is being fed */
    bool oom;
    uint32_t *bits;     /* scratch mask for cache builds */
} gwalk;

/* One configuration held between steps: an explicit stack. */
typedef struct gconf {
    uint32_t depth;
    gframe fr[G_MAX_DEPTH];
} gconf;

struct llm_gstate {
    llm_grammar *g;
    uint32_t n_conf;
    gconf *conf;        /* [G_MAX_CONFIGS] */
    gwalk w;
};

/* ---- arena ---------------------------------------------------------------------- */

static uint32_t cell_new(gwalk *w, const gframe *f, uint32_t up, uint32_t depth)
{
    if (w->n_cells == w->cap_cells) {
        uint32_t nc = w->cap_cells ? w->cap_cells * 2 : 1024;
        gcell *p = realloc(w->cells, nc * sizeof(gcell));
        if (!p) {
            w->oom = true;
            return GC_EMPTY;
        }
        w->cells = p;
        w->cap_cells = nc;
    }
    w->cells[w->n_cells].f = *f;
    w->cells[w->n_cells].up = up;
    w->cells[w->n_cells].depth = depth;
    return w->n_cells++;
}

static bool cell_same(const gwalk *w, uint32_t a, uint32_t b)
{
    if (a == b)
        return true;
    if (a >= GC_BASE || b >= GC_BASE)
        return false;
    const gcell *x = &w->cells[a], *y = &w->cells[b];
    return x->up == y->up && x->depth == y->depth && memcmp(&x->f, &y->f, sizeof(gframe)) == 0;
}

/* Append a configuration to the current level (from level_start), once. */
static void emit(gwalk *w, uint32_t level_start, uint32_t top)
{
    for (uint32_t i = level_start; i < w->n_cfg; i++)
        if (cell_same(w, w->cfg[i], top))
            return;
    if (w->n_cfg - level_start >= G_MAX_CONFIGS)
        return; /* keep the first ones: each is a valid way on */
    if (w->n_cfg == w->cap_cfg) {
        uint32_t nc = w->cap_cfg ? w->cap_cfg * 2 : 1024;
        uint32_t *p = realloc(w->cfg, nc * sizeof(uint32_t));
        if (!p) {
            w->oom = true;
            return;
        }
        w->cfg = p;
        w->cap_cfg = nc;
    }
    w->cfg[w->n_cfg++] = top;
}

static void record_unc(gwalk *w, const gframe *f)
{
    if (w->n_unc == w->cap_unc) {
        uint32_t nc = w->cap_unc ? w->cap_unc * 2 : 256;
        gunc *p = realloc(w->unc, nc * sizeof(gunc));
        if (!p) {
            w->oom = true;
            return;
        }
        w->unc = p;
        w->cap_unc = nc;
    }
    w->unc[w->n_unc].tnode = w->tnode;
    w->unc[w->n_unc].f = *f;
    w->n_unc++;
}

/* The parent cell `up` after its child f ended: a new cell. */
static uint32_t pop_into(gwalk *w, const llm_grammar *g, uint32_t up, const gframe *f)
{
    gcell p = w->cells[up];
    OPS(g, p.f)->child_done(g, NODE(g, p.f), &p.f, f);
    return cell_new(w, &p.f, p.up, p.depth);
}

/* Pop frames that are finished (nothing can follow inside them), then emit.
 * A finished frame directly on GC_BASE stays: its end is reported when the
 * next byte arrives. */
static void settle_emit(gwalk *w, const llm_grammar *g, uint32_t top, uint32_t level_start)
{
    while (top < GC_BASE) {
        gcell c = w->cells[top];
        if (!OPS(g, c.f)->finished(g, NODE(g, c.f), &c.f) || c.up == GC_BASE)
            break;
        if (c.up == GC_EMPTY) {
            top = GC_EMPTY;
            break;
        }
        top = pop_into(w, g, c.up, &c.f);
    }
    if (!w->oom)
        emit(w, level_start, top);
}

static void feed(gwalk *w, const llm_grammar *g, uint32_t top, uint8_t b, uint32_t level_start);

/* Push child (every viable alternative of an ALT) above parent and give it b. */
static void push_feed(gwalk *w, const llm_grammar *g, uint32_t parent, uint32_t child,
                      uint32_t carg, uint8_t b, uint32_t level_start)
{
    const gnode *cn = &g->nodes[child];
    uint32_t pdepth = w->cells[parent].depth;
    uint32_t budget = G_MAX_DEPTH - pdepth;
    const uint32_t *list = &child;
    uint32_t n = 1;

    if (cn->kind == GK_ALT) {
        list = &g->alts[cn->u.alt.first];
        n = cn->u.alt.n;
    }
    for (uint32_t i = 0; i < n; i++) {
        const gnode *an = &g->nodes[list[i]];
        gframe f = {list[i], 0, 0, 0};
        if (an->mindepth > budget)
            continue;
        llm_grammar__ops[an->kind].init(g, an, &f, carg);
        uint32_t t = cell_new(w, &f, parent, pdepth + 1);
        if (w->oom)
            return;
        feed(w, g, t, b, level_start);
    }
}

/* Give byte b to configuration top; the successors are emitted. */
static void feed(gwalk *w, const llm_grammar *g, uint32_t top, uint8_t b, uint32_t level_start)
{
    for (;;) {
        if (top >= GC_BASE || w->oom)
            return; /* nothing may follow the document */
        gcell c = w->cells[top];
        uint32_t child = G_NONE, carg = 0;
        int r = OPS(g, c.f)->step(g, NODE(g, c.f), &c.f, b, G_MAX_DEPTH - c.depth, &child, &carg);

        switch (r) {
        case GS_OK:
            settle_emit(w, g, cell_new(w, &c.f, c.up, c.depth), level_start);
            return;
        case GS_PUSH:
            push_feed(w, g, cell_new(w, &c.f, c.up, c.depth), child, carg, b, level_start);
            return;
        case GS_POP:
            if (c.up == GC_BASE) {
                record_unc(w, &c.f);
                return;
            }
            if (c.up == GC_EMPTY)
                return;
            top = pop_into(w, g, c.up, &c.f);
            continue;
        default:
            return;
        }
    }
}

/*
 * Walk the token trie from node `start` (its byte not yet fed) to `end`,
 * beginning with the configurations init[0..n_init) (cells already in the
 * arena).  Every token whose bytes keep some configuration alive gets its
 * bit set.
 */
static void walk(gwalk *w, const llm_grammar *g, uint32_t start, uint32_t end,
                 const uint32_t *init, uint32_t n_init, uint32_t *bits)
{
    const llm_gvocab *v = g->v;
    uint32_t lvl_start[260], lvl_n[260], mark[260];
    uint32_t base = v->tdepth[start] - 1;

    w->n_cfg = 0;
    for (uint32_t i = 0; i < n_init; i++)
        emit(w, 0, init[i]);
    lvl_start[base] = 0;
    lvl_n[base] = w->n_cfg;
    mark[base] = w->n_cells;
    for (uint32_t i = start; i < end && !w->oom;) {
        uint32_t d = v->tdepth[i];
        uint32_t from = lvl_start[d - 1], nfrom = lvl_n[d - 1];

        w->n_cells = mark[d - 1];
        w->n_cfg = from + nfrom;
        lvl_start[d] = w->n_cfg;
        w->tnode = i;
        for (uint32_t k = 0; k < nfrom; k++)
            feed(w, g, w->cfg[from + k], v->tb[i], lvl_start[d]);
        lvl_n[d] = w->n_cfg - lvl_start[d];
        if (lvl_n[d] == 0) {
            i = v->tend[i];
            continue;
        }
        for (int32_t t = v->ttok[i]; t >= 0; t = v->tnext[t])
            bits[t >> 5] |= 1u << (t & 31);
        mark[d] = w->n_cells;
        i++;
    }
}

/* ---- the mask cache ------------------------------------------------------------------ */

static int words_of(const llm_gvocab *v)
{
    return (v->n_vocab + 31) / 32;
}

static uint32_t key_hash(const uint32_t *k)
{
    uint64_t h = 0x9e3779b97f4a7c15ull;

    for (int i = 0; i < G_KEY_WORDS; i++) {
        h ^= k[i];
        h *= 0xff51afd7ed558ccdull;
        h ^= h >> 33;
    }
    return (uint32_t)h;
}

static void entry_free(gentry *e)
{
    if (!e)
        return;
    free(e->acc_list);
    free(e->acc_bits);
    free(e->unc);
    free(e);
}

int llm_grammar__cache_init(gcache *c, size_t limit)
{
    memset(c, 0, sizeof(*c));
    c->limit = limit;
    c->n_buckets = 1024;
    c->buckets = calloc(c->n_buckets, sizeof(gentry *));
    if (!c->buckets)
        return AIOS_ENOMEM;
    if (pthread_mutex_init(&c->lock, NULL) != 0) {
        free(c->buckets);
        return AIOS_ENOMEM;
    }
    return 0;
}

/* Drop every entry (lock held, or no other user). */
static void cache_clear(gcache *c)
{
    for (uint32_t i = 0; i < c->n_buckets; i++) {
        gentry *e = c->buckets[i];
        while (e) {
            gentry *nx = e->next;
            entry_free(e);
            e = nx;
        }
        c->buckets[i] = NULL;
    }
    c->bytes = 0;
    c->entries = 0;
    c->clears++;
}

void llm_grammar__cache_destroy(gcache *c)
{
    if (!c->buckets)
        return;
    cache_clear(c);
    pthread_mutex_destroy(&c->lock);
    free(c->buckets);
    c->buckets = NULL;
}

static gentry *cache_find(gcache *c, const uint32_t *key, uint32_t h)
{
    for (gentry *e = c->buckets[h & (c->n_buckets - 1)]; e; e = e->next)
        if (memcmp(e->key, key, sizeof(e->key)) == 0)
            return e;
    return NULL;
}

/*
 * The cache key of a (normalised) top frame.  Frames of kinds whose tokens
 * do not depend on the grammar (strings, numbers, formats, free text) are
 * keyed by their parameters and go to the vocabulary's shared cache; the
 * rest by node id and budget in the grammar's own cache.
 */
static gcache *cache_key(const llm_grammar *g, const gframe *f, uint32_t budget, uint32_t *k)
{
    const gnode *nd = &g->nodes[f->node];

    memset(k, 0, G_KEY_WORDS * sizeof(uint32_t));
    k[0] = 0x80000000u | nd->kind;
    k[1] = nd->flags;
    switch (nd->kind) {
    case GK_STR:
        k[2] = nd->u.str.min;
        k[3] = nd->u.str.max;
        break;
    case GK_FMT:
        k[2] = nd->u.fmt.fmt;
        break;
    case GK_NUM:
        k[2] = (uint32_t)nd->u.num.lo;
        k[3] = (uint32_t)((uint64_t)nd->u.num.lo >> 32);
        k[4] = (uint32_t)nd->u.num.hi;
        k[5] = (uint32_t)((uint64_t)nd->u.num.hi >> 32);
        break;
    case GK_FREE:
        break;
    case GK_KEY:
        /* a key of an object without declared names is just a string */
        if (g->trie[nd->u.key.root].child == G_NONE) {
            k[7] = f->s;
            k[8] = f->n;
            return g->v->shared;
        }
        /* fall through */
    default:
        k[0] = 1;
        k[1] = f->node;
        k[2] = budget;
        k[7] = f->s;
        k[8] = f->n;
        k[9] = f->x;
        return (gcache *)&g->cache;
    }
    k[7] = f->s;
    k[8] = f->n;
    k[9] = f->x;
    return g->v->shared;
}

/* Build the entry of a top frame by walking the whole trie from it alone. */
static gentry *entry_build(gwalk *w, const llm_grammar *g, const gframe *f, uint32_t budget,
                           const uint32_t *key)
{
    const llm_gvocab *v = g->v;
    int nw = words_of(v);
    gentry *e = calloc(1, sizeof(*e));
    uint32_t init, count = 0;

    if (!e)
        return NULL;
    if (!w->bits && !(w->bits = malloc((size_t)nw * 4)))
        goto out_free;
    memset(w->bits, 0, (size_t)nw * 4);
    w->n_cells = 0;
    w->n_unc = 0;
    w->oom = false;
    init = cell_new(w, f, GC_BASE, G_MAX_DEPTH - budget);
    if (v->n_nodes > 1)
        walk(w, g, 1, v->n_nodes, &init, 1, w->bits);
    if (w->oom)
        goto out_free;
    for (int i = 0; i < nw; i++)
        count += (uint32_t)__builtin_popcount(w->bits[i]);
    memcpy(e->key, key, sizeof(e->key));
    e->n_acc = count;
    if ((size_t)count * 32 < (size_t)v->n_vocab) {
        uint32_t k = 0;
        e->acc_list = malloc((count ? count : 1) * sizeof(uint32_t));
        if (!e->acc_list)
            goto out_free;
        for (int i = 0; i < nw; i++)
            for (uint32_t m = w->bits[i]; m; m &= m - 1)
                e->acc_list[k++] = (uint32_t)i * 32 + (uint32_t)__builtin_ctz(m);
        e->bytes = count * sizeof(uint32_t);
    } else {
        e->acc_bits = malloc((size_t)nw * 4);
        if (!e->acc_bits)
            goto out_free;
        memcpy(e->acc_bits, w->bits, (size_t)nw * 4);
        e->bytes = (size_t)nw * 4;
    }
    e->n_unc = w->n_unc;
    if (w->n_unc) {
        e->unc = malloc(w->n_unc * sizeof(gunc));
        if (!e->unc)
            goto out_free;
        memcpy(e->unc, w->unc, w->n_unc * sizeof(gunc));
    }
    e->bytes += sizeof(*e) + e->n_unc * sizeof(gunc);
    return e;

out_free:
    entry_free(e);
    return NULL;
}

/* OR entry e into bits and copy its uncertain records into the walker
 * (c->lock held). */
static int entry_apply(gwalk *w, const llm_gvocab *v, const gentry *e, uint32_t *bits)
{
    if (e->acc_bits) {
        int nw = words_of(v);
        for (int i = 0; i < nw; i++)
            bits[i] |= e->acc_bits[i];
    } else {
        for (uint32_t i = 0; i < e->n_acc; i++)
            bits[e->acc_list[i] >> 5] |= 1u << (e->acc_list[i] & 31);
    }
    w->n_unc = 0;
    if (e->n_unc > w->cap_unc) {
        gunc *p = realloc(w->unc, e->n_unc * sizeof(gunc));
        if (!p)
            return AIOS_ENOMEM;
        w->unc = p;
        w->cap_unc = e->n_unc;
    }
    if (e->n_unc)
        memcpy(w->unc, e->unc, e->n_unc * sizeof(gunc));
    w->n_unc = e->n_unc;
    return 0;
}

/*
 * OR the cached mask of frame f into bits and copy its uncertain records
 * into the walker (w->unc).  Builds and inserts the entry on a miss (outside
 * the lock); an entry is only read under the lock, so a concurrent clear
 * never frees one in use.
 */
static int cache_apply(gwalk *w, llm_grammar *g, const gframe *f, uint32_t budget, uint32_t *bits)
{
    uint32_t key[G_KEY_WORDS];
    gcache *c = cache_key(g, f, budget, key);
    uint32_t h = key_hash(key);
    gentry *e, *ne;
    int rc;

    pthread_mutex_lock(&c->lock);
    e = cache_find(c, key, h);
    if (e) {
        c->hits++;
        rc = entry_apply(w, g->v, e, bits);
        pthread_mutex_unlock(&c->lock);
        return rc;
    }
    pthread_mutex_unlock(&c->lock);

    ne = entry_build(w, g, f, budget, key);
    if (!ne)
        return AIOS_ENOMEM;
    pthread_mutex_lock(&c->lock);
    c->misses++;
    e = cache_find(c, key, h);
    if (e) {
        entry_free(ne);
    } else {
        if (c->bytes + ne->bytes > c->limit)
            cache_clear(c);
        e = ne;
        e->next = c->buckets[h & (c->n_buckets - 1)];
        c->buckets[h & (c->n_buckets - 1)] = e;
        c->bytes += e->bytes;
        c->entries++;
    }
    rc = entry_apply(w, g->v, e, bits);
    pthread_mutex_unlock(&c->lock);
    return rc;
}

/* ---- compiled grammars ------------------------------------------------------------------ */

static int grammar_done(llm_grammar *g, uint32_t root, llm_grammar **out, char *err, size_t errlen)
{
    char tmp[64];
    int rc;

    if (!err || !errlen) {
        err = tmp;
        errlen = sizeof(tmp);
    }
    g->root = root;
    rc = llm_grammar__finish(g, err, errlen);
    if (rc < 0) {
        llm_grammar_unref(g);
        return rc;
    }
    *out = g;
    return 0;
}

int llm_grammar__build(const llm_gvocab *v, const json_t *schema, bool or_text,
                       const llm_grammar_opts *opts, llm_grammar **out, char *err, size_t errlen)
{
    llm_grammar *g;
    uint32_t root;
    int rc;

    *out = NULL;
    if (err && errlen)
        err[0] = 0;
    if (!v || !schema)
        return AIOS_EINVAL;
    if ((rc = llm_grammar__alloc(&g, v, opts)) < 0)
        return rc;
    rc = llm_grammar__compile(g, schema, &root, err, errlen);
    if (rc == 0 && or_text) {
        uint32_t alts[2] = {root, llm_grammar__free_text_node(g, true)};
        root = alts[1] == G_NONE ? G_NONE : llm_grammar__alt_node(g, alts, 2);
        if (root == G_NONE)
            rc = AIOS_ENOMEM;
    }
    if (rc < 0) {
        if (rc == AIOS_ENOMEM && err && errlen)
            snprintf(err, errlen, "out of memory compiling the schema");
        llm_grammar_unref(g);
        return rc;
    }
    return grammar_done(g, root, out, err, errlen);
}

int llm_grammar_from_schema(const llm_gvocab *v, const json_t *schema,
                            const llm_grammar_opts *opts, llm_grammar **out, char *err,
                            size_t errlen)
{
    return llm_grammar__build(v, schema, false, opts, out, err, errlen);
}

int llm_grammar_any_json(const llm_gvocab *v, bool object_only, const llm_grammar_opts *opts,
                         llm_grammar **out)
{
    llm_grammar *g;
    uint32_t root;
    int rc;

    *out = NULL;
    if ((rc = llm_grammar__alloc(&g, v, opts)) < 0)
        return rc;
    root = llm_grammar__any_node(g, object_only);
    if (root == G_NONE) {
        llm_grammar_unref(g);
        return AIOS_ENOMEM;
    }
    return grammar_done(g, root, out, NULL, 0);
}

void llm_grammar_ref(llm_grammar *g)
{
    if (g)
        __atomic_add_fetch(&g->refs, 1, __ATOMIC_RELAXED);
}

void llm_grammar_unref(llm_grammar *g)
{
    if (!g || __atomic_sub_fetch(&g->refs, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    llm_grammar__cache_destroy(&g->cache);
    free(g->nodes);
    free(g->props);
    free(g->alts);
    free(g->trie);
    free(g);
}

int llm_gvocab_prewarm(llm_gvocab *v)
{
    static const struct { const char *schema, *prefix; } warm[] = {
        {"{\"type\":\"string\"}", "\"a"},        /* inside a string */
        {"{\"type\":\"object\"}", "{\"a"},       /* inside a free key */
    };
    uint32_t *bits = malloc((size_t)words_of(v) * 4);
    int rc = bits ? 0 : AIOS_ENOMEM;

    for (size_t i = 0; i < sizeof(warm) / sizeof(warm[0]) && rc == 0; i++) {
        json_t *s = json_loads(warm[i].schema, 0, NULL);
        llm_grammar *g = NULL;
        llm_gstate *st = NULL;
        if (!s || (rc = llm_grammar_from_schema(v, s, NULL, &g, NULL, 0)) < 0 ||
            (rc = llm_gstate_new(g, &st)) < 0 ||
            (rc = llm_gstate_accept_bytes(st, warm[i].prefix, strlen(warm[i].prefix))) < 0)
            rc = rc < 0 ? rc : AIOS_ENOMEM;
        else
            rc = llm_gstate_mask(st, bits) < 0 ? AIOS_ENOMEM : 0;
        llm_gstate_free(st);
        llm_grammar_unref(g);
        json_decref(s);
    }
    free(bits);
    return rc;
}

void llm_gvocab_clear_cache(llm_gvocab *v)
{
    pthread_mutex_lock(&v->shared->lock);
    cache_clear(v->shared);
    pthread_mutex_unlock(&v->shared->lock);
}

void llm_grammar_get_stats(llm_grammar *g, llm_grammar_stats *st)
{
    gcache *sh = g->v->shared;

    memset(st, 0, sizeof(*st));
    pthread_mutex_lock(&g->cache.lock);
    st->hits = g->cache.hits;
    st->misses = g->cache.misses;
    st->entries = g->cache.entries;
    st->bytes = g->cache.bytes;
    st->clears = g->cache.clears;
    st->nodes = g->n_nodes;
    pthread_mutex_unlock(&g->cache.lock);
    pthread_mutex_lock(&sh->lock);
    st->shared_hits = sh->hits;
    st->shared_misses = sh->misses;
    st->shared_entries = sh->entries;
    st->shared_bytes = sh->bytes;
    pthread_mutex_unlock(&sh->lock);
}

/* ---- states ------------------------------------------------------------------------------- */

/* The configurations of a fresh document: the root (every alternative). */
void llm_gstate_reset(llm_gstate *st)
{
    const llm_grammar *g = st->g;
    const gnode *rn = &g->nodes[g->root];
    const uint32_t *list = &g->root;
    uint32_t n = 1;

    if (rn->kind == GK_ALT) {
        list = &g->alts[rn->u.alt.first];
        n = rn->u.alt.n;
    }
    st->n_conf = 0;
    for (uint32_t i = 0; i < n && st->n_conf < G_MAX_CONFIGS; i++) {
        const gnode *an = &g->nodes[list[i]];
        gconf *c = &st->conf[st->n_conf];
        if (an->mindepth > G_MAX_DEPTH)
            continue;
        c->depth = 1;
        c->fr[0] = (gframe){list[i], 0, 0, 0};
        llm_grammar__ops[an->kind].init(g, an, &c->fr[0], 0);
        st->n_conf++;
    }
}

int llm_gstate_new(llm_grammar *g, llm_gstate **out)
{
    llm_gstate *st = calloc(1, sizeof(*st));

    *out = NULL;
    if (!st)
        return AIOS_ENOMEM;
    st->conf = malloc(G_MAX_CONFIGS * sizeof(gconf));
    if (!st->conf) {
        free(st);
        return AIOS_ENOMEM;
    }
    llm_grammar_ref(g);
    st->g = g;
    llm_gstate_reset(st);
    *out = st;
    return 0;
}

void llm_gstate_free(llm_gstate *st)
{
    if (!st)
        return;
    llm_grammar_unref(st->g);
    free(st->conf);
    free(st->w.cells);
    free(st->w.cfg);
    free(st->w.unc);
    free(st->w.bits);
    free(st);
}

int llm_gstate_clone(const llm_gstate *st, llm_gstate **out)
{
    int rc = llm_gstate_new(st->g, out);

    return rc < 0 ? rc : llm_gstate_copy(*out, st);
}

int llm_gstate_copy(llm_gstate *dst, const llm_gstate *src)
{
    if (dst->g != src->g)
        return AIOS_EINVAL;
    dst->n_conf = src->n_conf;
    for (uint32_t i = 0; i < src->n_conf; i++) {
        dst->conf[i].depth = src->conf[i].depth;
        memcpy(dst->conf[i].fr, src->conf[i].fr, src->conf[i].depth * sizeof(gframe));
    }
    return 0;
}

/* Cells for frames 0..upto-1 of c; returns the top cell (GC_EMPTY if none). */
static uint32_t materialize(gwalk *w, const gconf *c, uint32_t upto)
{
    uint32_t top = GC_EMPTY;

    for (uint32_t i = 0; i < upto; i++)
        top = cell_new(w, &c->fr[i], top, i + 1);
    return top;
}

/* Unwind a cell chain into an explicit stack. */
static void unwind(const gwalk *w, uint32_t top, gconf *c)
{
    uint32_t d = 0, t = top;

    while (t < GC_BASE) {
        d++;
        t = w->cells[t].up;
    }
    c->depth = d;
    t = top;
    while (t < GC_BASE) {
        c->fr[--d] = w->cells[t].f;
        t = w->cells[t].up;
    }
}

static bool conf_can_end(const llm_grammar *g, const gconf *c)
{
    gframe child;

    for (uint32_t i = c->depth; i-- > 0;) {
        gframe f = c->fr[i];
        if (i + 1 < c->depth)
            OPS(g, f)->child_done(g, NODE(g, f), &f, &child);
        if (!OPS(g, f)->complete(g, NODE(g, f), &f))
            return false;
        child = f;
    }
    return true;
}

bool llm_gstate_can_end(const llm_gstate *st)
{
    for (uint32_t i = 0; i < st->n_conf; i++)
        if (conf_can_end(st->g, &st->conf[i]))
            return true;
    return false;
}

bool llm_gstate_finished(const llm_gstate *st)
{
    for (uint32_t i = 0; i < st->n_conf; i++)
        if (st->conf[i].depth != 0)
            return false;
    return st->n_conf > 0;
}

/* Feed bytes to every configuration; on success the survivors replace the
 * state when commit is set.  Returns the number of survivors. */
static int feed_bytes(llm_gstate *st, const char *bytes, size_t len, bool commit)
{
    gwalk *w = &st->w;
    const llm_grammar *g = st->g;
    uint32_t from, n;

    w->n_cells = 0;
    w->n_cfg = 0;
    w->oom = false;
    for (uint32_t i = 0; i < st->n_conf; i++) {
        uint32_t t = materialize(w, &st->conf[i], st->conf[i].depth);
        emit(w, 0, t);
    }
    from = 0;
    n = w->n_cfg;
    for (size_t k = 0; k < len && n > 0; k++) {
        uint32_t next = w->n_cfg;
        w->tnode = 0;
        for (uint32_t i = 0; i < n; i++)
            feed(w, g, w->cfg[from + i], (uint8_t)bytes[k], next);
        from = next;
        n = w->n_cfg - next;
    }
    if (w->oom)
        return AIOS_ENOMEM;
    if (n == 0 || !commit)
        return (int)n;
    for (uint32_t i = 0; i < n && i < G_MAX_CONFIGS; i++)
        unwind(w, w->cfg[from + i], &st->conf[i]);
    st->n_conf = n < G_MAX_CONFIGS ? n : G_MAX_CONFIGS;
    return (int)n;
}

bool llm_gstate_allows(llm_gstate *st, int32_t tok)
{
    const llm_gvocab *v = st->g->v;

    if (tok < 0 || tok >= v->n_vocab)
        return false;
    if (llm_gvocab_is_eog(v, tok))
        return llm_gstate_can_end(st);
    if (v->excluded[tok])
        return false;
    return feed_bytes(st, v->bytes[tok], v->len[tok], false) > 0;
}

int llm_gstate_accept(llm_gstate *st, int32_t tok)
{
    const llm_gvocab *v = st->g->v;
    int rc;

    if (tok < 0 || tok >= v->n_vocab)
        return AIOS_EINVAL;
    if (llm_gvocab_is_eog(v, tok)) {
        if (!llm_gstate_can_end(st))
            return AIOS_EINVAL;
        st->n_conf = 1;
        st->conf[0].depth = 0;
        return 0;
    }
    if (v->excluded[tok])
        return AIOS_EINVAL;
    rc = feed_bytes(st, v->bytes[tok], v->len[tok], true);
    return rc < 0 ? rc : rc == 0 ? AIOS_EINVAL : 0;
}

int llm_gstate_accept_bytes(llm_gstate *st, const char *bytes, size_t len)
{
    int rc = feed_bytes(st, bytes, len, true);
    return rc < 0 ? rc : rc == 0 ? AIOS_EINVAL : 0;
}

int llm_gstate_mask(llm_gstate *st, uint32_t *bits)
{
    llm_grammar *g = st->g;
    const llm_gvocab *v = g->v;
    gwalk *w = &st->w;
    int nw = words_of(v), count = 0;
    bool can_end = false;

    memset(bits, 0, (size_t)nw * 4);
    for (uint32_t i = 0; i < st->n_conf; i++) {
        const gconf *c = &st->conf[i];
        gframe key;
        uint32_t budget;
        int rc;

        if (c->depth == 0) {
            can_end = true;
            continue;
        }
        if (!can_end && conf_can_end(g, c))
            can_end = true;
        key = c->fr[c->depth - 1];
        budget = G_MAX_DEPTH - c->depth;
        OPS(g, key)->norm(g, NODE(g, key), &key, &budget);
        if ((rc = cache_apply(w, g, &key, budget, bits)) < 0)
            return rc;
        if (w->n_unc == 0 || c->depth == 1)
            continue; /* the root's end is followed by nothing but eog */
        /* tokens that leave the top frame: walk them with the real frames below */
        uint32_t n_unc = w->n_unc;
        gunc *unc = malloc(n_unc * sizeof(gunc));
        if (!unc)
            return AIOS_ENOMEM;
        memcpy(unc, w->unc, n_unc * sizeof(gunc));
        w->n_cells = 0;
        w->oom = false;
        uint32_t below = materialize(w, c, c->depth - 1);
        uint32_t keep = w->n_cells;
        for (uint32_t k = 0; k < n_unc && !w->oom; k++) {
            w->n_cells = keep;
            gframe ended = unc[k].f;
            ended.node = c->fr[c->depth - 1].node; /* shared entries: another grammar's id */
            uint32_t start = pop_into(w, g, below, &ended);
            uint32_t tn = unc[k].tnode;
            walk(w, g, tn, v->tend[tn], &start, 1, bits);
        }
        free(unc);
        if (w->oom)
            return AIOS_ENOMEM;
    }
    if (can_end)
        for (int k = 0; k < v->n_eog; k++)
            bits[v->eog[k] >> 5] |= 1u << (v->eog[k] & 31);
    for (int i = 0; i < nw; i++)
        count += __builtin_popcount(bits[i]);
    return count;
}

/* ---- forcing a completion ------------------------------------------------------------------ */

/* The alternative of node id a completion takes: the shallowest one (the
 * first on ties) that accepts byte b when b >= 0. */
static uint32_t pick_alt(const llm_grammar *g, uint32_t id, uint32_t budget, int b)
{
    const gnode *nd = &g->nodes[id];
    uint32_t best = G_NONE, bmd = G_INF;

    if (nd->kind != GK_ALT)
        return id;
    for (uint32_t i = 0; i < nd->u.alt.n; i++) {
        uint32_t a = g->alts[nd->u.alt.first + i];
        const gnode *an = &g->nodes[a];
        if (an->mindepth > budget || an->mindepth >= bmd)
            continue;
        if (b >= 0) {
            gframe f = {a, 0, 0, 0};
            uint32_t ch, ca;
            llm_grammar__ops[an->kind].init(g, an, &f, 0);
            if (llm_grammar__ops[an->kind].step(g, an, &f, (uint8_t)b, budget - 1, &ch, &ca) ==
                GS_REJECT)
                continue;
        }
        best = a;
        bmd = an->mindepth;
    }
    return best;
}

/* One byte into a single explicit configuration, taking the completion's
 * alternative at pushes; false if it does not fit. */
static bool conf_feed(const llm_grammar *g, gconf *c, uint8_t b)
{
    for (;;) {
        if (c->depth == 0)
            return false;
        gframe *f = &c->fr[c->depth - 1];
        uint32_t budget = G_MAX_DEPTH - c->depth, child = G_NONE, carg = 0;
        int r = OPS(g, *f)->step(g, NODE(g, *f), f, b, budget, &child, &carg);

        if (r == GS_REJECT)
            return false;
        if (r == GS_POP) {
            gframe done = *f;
            c->depth--;
            if (c->depth == 0)
                return false;
            gframe *p = &c->fr[c->depth - 1];
            OPS(g, *p)->child_done(g, NODE(g, *p), p, &done);
            continue;
        }
        if (r == GS_PUSH) {
            uint32_t a = pick_alt(g, child, budget, b);
            if (a == G_NONE || c->depth >= G_MAX_DEPTH)
                return false;
            gframe *nf = &c->fr[c->depth++];
            *nf = (gframe){a, 0, 0, 0};
            llm_grammar__ops[g->nodes[a].kind].init(g, &g->nodes[a], nf, carg);
            continue;
        }
        /* consumed: pop finished frames */
        while (c->depth > 0) {
            gframe *t = &c->fr[c->depth - 1];
            if (!OPS(g, *t)->finished(g, NODE(g, *t), t))
                break;
            gframe done = *t;
            c->depth--;
            if (c->depth > 0) {
                gframe *p = &c->fr[c->depth - 1];
                OPS(g, *p)->child_done(g, NODE(g, *p), p, &done);
            }
        }
        return true;
    }
}

int llm_gstate_completion(llm_gstate *st, char *buf, size_t cap)
{
    const llm_grammar *g = st->g;
    gconf *c;
    size_t n = 0;
    int guard = 0;

    if (st->n_conf == 0)
        return AIOS_EINVAL;
    c = malloc(sizeof(*c));
    if (!c)
        return AIOS_ENOMEM;
    *c = st->conf[0];
    while (c->depth > 0) {
        gframe *f = &c->fr[c->depth - 1];
        uint32_t budget = G_MAX_DEPTH - c->depth, child = G_NONE;
        uint8_t b = 0;
        int r = OPS(g, *f)->fin(g, NODE(g, *f), f, budget, &b, &child);

        if (++guard > 1 << 20) {
            free(c);
            return AIOS_EINTERNAL;
        }
        if (r == GF_POP) {
            gframe done = *f;
            c->depth--;
            if (c->depth > 0) {
                gframe *p = &c->fr[c->depth - 1];
                OPS(g, *p)->child_done(g, NODE(g, *p), p, &done);
            }
            continue;
        }
        if (r == GF_PUSH) {
            /* the first byte of the child the completion would take */
            uint32_t a = pick_alt(g, child, budget, -1), ch;
            gframe cf = {a, 0, 0, 0};
            if (a == G_NONE) {
                free(c);
                return AIOS_EINTERNAL;
            }
            llm_grammar__ops[g->nodes[a].kind].init(g, &g->nodes[a], &cf, 0);
            if (llm_grammar__ops[g->nodes[a].kind].fin(g, &g->nodes[a], &cf, budget - 1, &b,
                                                        &ch) != GF_BYTE) {
                free(c);
                return AIOS_EINTERNAL;
            }
        }
        if (!conf_feed(g, c, b)) {
            free(c);
            return AIOS_EINTERNAL;
        }
        if (n < cap)
            buf[n] = (char)b;
        n++;
    }
    free(c);
    return (int)n;
}

/* ---- save / restore ---------------------------------------------------------------------- */

#define GSTATE_MAGIC 0x31545347u /* "GST1" */

size_t llm_gstate_save(const llm_gstate *st, void *buf, size_t cap)
{
    size_t need = 4 + 8 + 4;
    uint8_t *p = buf;

    for (uint32_t i = 0; i < st->n_conf; i++)
        need += 4 + st->conf[i].depth * sizeof(gframe);
    if (cap < need || !buf)
        return need;
    uint32_t magic = GSTATE_MAGIC;
    memcpy(p, &magic, 4);
    memcpy(p + 4, &st->g->ident, 8);
    memcpy(p + 12, &st->n_conf, 4);
    p += 16;
    for (uint32_t i = 0; i < st->n_conf; i++) {
        memcpy(p, &st->conf[i].depth, 4);
        memcpy(p + 4, st->conf[i].fr, st->conf[i].depth * sizeof(gframe));
        p += 4 + st->conf[i].depth * sizeof(gframe);
    }
    return need;
}

int llm_gstate_restore(llm_gstate *st, const void *buf, size_t len)
{
    const uint8_t *p = buf, *end = p + len;
    uint32_t magic, n;
    uint64_t ident;

    if (len < 16)
        return AIOS_ECORRUPT;
    memcpy(&magic, p, 4);
    memcpy(&ident, p + 4, 8);
    memcpy(&n, p + 12, 4);
    if (magic != GSTATE_MAGIC || ident != st->g->ident || n == 0 || n > G_MAX_CONFIGS)
        return AIOS_ECORRUPT;
    p += 16;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t d;
        if (end - p < 4)
            return AIOS_ECORRUPT;
        memcpy(&d, p, 4);
        if (d > G_MAX_DEPTH || (size_t)(end - p - 4) < d * sizeof(gframe))
            return AIOS_ECORRUPT;
        for (uint32_t k = 0; k < d; k++) {
            gframe f;
            memcpy(&f, p + 4 + k * sizeof(gframe), sizeof(f));
            if (f.node >= st->g->n_nodes)
                return AIOS_ECORRUPT;
        }
        p += 4 + d * sizeof(gframe);
    }
    if (p != end)
        return AIOS_ECORRUPT;
    p = (const uint8_t *)buf + 16;
    for (uint32_t i = 0; i < n; i++) {
        memcpy(&st->conf[i].depth, p, 4);
        memcpy(st->conf[i].fr, p + 4, st->conf[i].depth * sizeof(gframe));
        p += 4 + st->conf[i].depth * sizeof(gframe);
    }
    st->n_conf = n;
    return 0;
}

/*
 * prefix.c - the prefix cache (see prefix.h): a hash table from chained
 * block hashes to KV blocks, with a least-recently-used list for eviction.
 *
 * Owns one reference on each registered block and the table.  Engine
 * thread only (the full-block hook runs inside llm_forward on that thread).
 */
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "aios/error.h"
#include "llmcore/prefix.h"

typedef struct pentry {
    uint64_t hash;
    int32_t block;
    int32_t next;            /* bucket chain, -1 at the end */
    int32_t lru_prev, lru_next;
    bool used;
} pentry;

struct llm_prefix {
    llm_kv *kv;
    int block_tokens;
    int cap;                 /* entries = blocks in the cache */
    pentry *e;
    int32_t *bucket;         /* [nbucket] head entry or -1 */
    uint32_t nbucket;
    int32_t free_head;       /* free entries chained through next */
    int32_t lru_head, lru_tail;  /* head = least recently used */
    llm_prefix_stats st;
};

uint64_t llm_prefix_block_hash(const int32_t *tokens, int block_tokens, uint64_t prev)
{
    return XXH3_64bits_withSeed(tokens, sizeof(int32_t) * (size_t)block_tokens, prev);
}

static uint32_t bucket_of(const llm_prefix *p, uint64_t h)
{
    return (uint32_t)(h ^ (h >> 29)) & (p->nbucket - 1);
}

static int32_t find(const llm_prefix *p, uint64_t h)
{
    for (int32_t i = p->bucket[bucket_of(p, h)]; i >= 0; i = p->e[i].next)
        if (p->e[i].hash == h)
            return i;
    return -1;
}

static void lru_remove(llm_prefix *p, int32_t i)
{
    pentry *x = &p->e[i];

    if (x->lru_prev >= 0)
        p->e[x->lru_prev].lru_next = x->lru_next;
    else
        p->lru_head = x->lru_next;
    if (x->lru_next >= 0)
        p->e[x->lru_next].lru_prev = x->lru_prev;
    else
        p->lru_tail = x->lru_prev;
    x->lru_prev = x->lru_next = -1;
}

static void lru_push_tail(llm_prefix *p, int32_t i)
{
    pentry *x = &p->e[i];

    x->lru_next = -1;
    x->lru_prev = p->lru_tail;
    if (p->lru_tail >= 0)
        p->e[p->lru_tail].lru_next = i;
    else
        p->lru_head = i;
    p->lru_tail = i;
}

/* Remove entry i from the table and drop the cache's block reference. */
static void entry_drop(llm_prefix *p, int32_t i)
{
    pentry *x = &p->e[i];
    uint32_t b = bucket_of(p, x->hash);
    int32_t *link = &p->bucket[b];

    while (*link != i)
        link = &p->e[*link].next;
    *link = x->next;
    lru_remove(p, i);
    llm_kv_block_unref(p->kv, x->block);
    x->used = false;
    x->next = p->free_head;
    p->free_head = i;
    p->st.entries--;
}

/* The KV cache's full-block hook: register the block unless its hash is known. */
static void on_full(void *user, int32_t block, uint64_t hash)
{
    llm_prefix *p = user;
    int32_t i;

    if (find(p, hash) >= 0 || p->free_head < 0)
        return;
    if (llm_kv_block_ref(p->kv, block) < 0)
        return;
    i = p->free_head;
    p->free_head = p->e[i].next;
    p->e[i].hash = hash;
    p->e[i].block = block;
    p->e[i].used = true;
    p->e[i].next = p->bucket[bucket_of(p, hash)];
    p->bucket[bucket_of(p, hash)] = i;
    lru_push_tail(p, i);
    p->st.entries++;
    p->st.inserted++;
}

int llm_prefix_new(llm_kv *kv, llm_prefix **out)
{
    llm_prefix *p = calloc(1, sizeof(*p));
    llm_kv_stats ks;

    *out = NULL;
    if (!p)
        return AIOS_ENOMEM;
    llm_kv_get_stats(kv, &ks);
    p->kv = kv;
    p->block_tokens = ks.block_tokens;
    p->cap = ks.blocks_total;
    p->nbucket = 16;
    while (p->nbucket < (uint32_t)p->cap * 2)
        p->nbucket <<= 1;
    p->e = calloc((size_t)p->cap, sizeof(*p->e));
    p->bucket = malloc(sizeof(int32_t) * p->nbucket);
    if (!p->e || !p->bucket) {
        free(p->e);
        free(p->bucket);
        free(p);
        return AIOS_ENOMEM;
    }
    for (uint32_t b = 0; b < p->nbucket; b++)
        p->bucket[b] = -1;
    for (int i = 0; i < p->cap; i++) {
        p->e[i].next = i + 1 < p->cap ? i + 1 : -1;
        p->e[i].lru_prev = p->e[i].lru_next = -1;
    }
    p->free_head = p->cap > 0 ? 0 : -1;
    p->lru_head = p->lru_tail = -1;
    llm_kv_set_full_hook(kv, on_full, p);
    *out = p;
    return 0;
}

void llm_prefix_clear(llm_prefix *p)
{
    while (p->lru_head >= 0)
        entry_drop(p, p->lru_head);
}

void llm_prefix_free(llm_prefix *p)
{
    if (!p)
        return;
    llm_prefix_clear(p);
    llm_kv_set_full_hook(p->kv, NULL, NULL);
    free(p->e);
    free(p->bucket);
    free(p);
}

/* Walk tokens' full blocks through the table; touch moves matches to the
 * most-recent end (the first block last, so chains age from their tail). */
static int walk(llm_prefix *p, const int32_t *tokens, int n, int32_t *blocks, int cap, bool touch)
{
    int bt = p->block_tokens, nb = n / bt, k;
    uint64_t h = 0;
    int32_t stack_idx[256], *idx = stack_idx;

    if (blocks && nb > cap)
        nb = cap;
    if (touch && nb > (int)(sizeof(stack_idx) / sizeof(stack_idx[0]))) {
        idx = malloc(sizeof(int32_t) * (size_t)nb);
        if (!idx)
            touch = false;
    }
    for (k = 0; k < nb; k++) {
        int32_t i;
        const int32_t *bt_tok;

        h = llm_prefix_block_hash(tokens + (size_t)k * (size_t)bt, bt, h);
        i = find(p, h);
        if (i < 0)
            break;
        /* guard against a hash collision: the tokens must be the same */
        bt_tok = llm_kv_block_tokens(p->kv, p->e[i].block);
        if (!bt_tok || memcmp(bt_tok, tokens + (size_t)k * (size_t)bt, sizeof(int32_t) * (size_t)bt) != 0)
            break;
        if (blocks)
            blocks[k] = p->e[i].block;
        if (touch)
            idx[k] = i;
    }
    if (touch) {
        for (int j = k - 1; j >= 0; j--) {
            lru_remove(p, idx[j]);
            lru_push_tail(p, idx[j]);
        }
        if (idx != stack_idx)
            free(idx);
    }
    return k;
}

int llm_prefix_match(llm_prefix *p, const int32_t *tokens, int n, int32_t *blocks, int cap)
{
    int k = walk(p, tokens, n, blocks, cap, true);

    p->st.lookups++;
    p->st.hit_blocks += (uint64_t)k;
    return k;
}

int llm_prefix_peek(llm_prefix *p, const int32_t *tokens, int n)
{
    return walk(p, tokens, n, NULL, 0, false);
}

int llm_prefix_evict(llm_prefix *p, int n)
{
    int freed = 0;
    int32_t i = p->lru_head;

    while (i >= 0 && freed < n) {
        int32_t next = p->e[i].lru_next;
        if (llm_kv_block_refcount(p->kv, p->e[i].block) == 1) {
            entry_drop(p, i);
            freed++;
            p->st.evictions++;
        }
        i = next;
    }
    return freed;
}

int llm_prefix_evictable(llm_prefix *p)
{
    int n = 0;

    for (int32_t i = p->lru_head; i >= 0; i = p->e[i].lru_next)
        n += llm_kv_block_refcount(p->kv, p->e[i].block) == 1;
    return n;
}

void llm_prefix_get_stats(llm_prefix *p, llm_prefix_stats *st)
{
    *st = p->st;
    st->cached_only = (uint64_t)llm_prefix_evictable(p);
}

/*
 * tokenizer_map.c - the open-addressing hash maps behind vocabulary and
 * merge lookups (see tokenizer_int.h), and the small growable vectors.
 *
 * Maps are filled once while a tokenizer is built and only read afterwards,
 * so lookups from many threads need no locking.  Strings hash with XXH3.
 */
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "aios/error.h"
#include "llmcore/tokenizer_int.h"

/* Smallest power of two >= 2n (load factor <= 0.5), at least 16. */
static uint32_t slots_for(uint32_t n)
{
    uint32_t cap = 16;

    while (cap < 2u * n && cap < (1u << 31))
        cap <<= 1;
    return cap;
}

int llm__strmap_init(tok_strmap *m, uint32_t n)
{
    uint32_t cap = slots_for(n);

    memset(m, 0, sizeof(*m));
    m->e = calloc(n ? n : 1, sizeof(*m->e));
    m->slot = malloc((size_t)cap * sizeof(*m->slot));
    if (!m->e || !m->slot) {
        llm__strmap_free(m);
        return AIOS_ENOMEM;
    }
    memset(m->slot, 0xff, (size_t)cap * sizeof(*m->slot));
    m->mask = cap - 1;
    return 0;
}

void llm__strmap_free(tok_strmap *m)
{
    free(m->e);
    free(m->slot);
    memset(m, 0, sizeof(*m));
}

int llm__strmap_put(tok_strmap *m, const char *key, uint32_t len, int32_t val, bool overwrite)
{
    uint64_t h = XXH3_64bits(key, len);
    uint32_t i = (uint32_t)h & m->mask;

    while (m->slot[i] >= 0) {
        tok_sentry *e = &m->e[m->slot[i]];

        if (e->hash == h && e->len == len && memcmp(e->key, key, len) == 0) {
            if (overwrite)
                e->val = val;
            return 0;
        }
        i = (i + 1) & m->mask;
    }
    if (m->n >= (m->mask + 1) / 2)
        return AIOS_ELIMIT;
    m->e[m->n] = (tok_sentry){.key = key, .len = len, .val = val, .hash = h};
    m->slot[i] = (int32_t)m->n++;
    return 0;
}

int32_t llm__strmap_get(const tok_strmap *m, const char *key, size_t len)
{
    uint64_t h;
    uint32_t i;

    if (!m->slot)
        return -1;
    h = XXH3_64bits(key, len);
    i = (uint32_t)h & m->mask;
    while (m->slot[i] >= 0) {
        const tok_sentry *e = &m->e[m->slot[i]];

        if (e->hash == h && e->len == len && memcmp(e->key, key, len) == 0)
            return e->val;
        i = (i + 1) & m->mask;
    }
    return -1;
}

/* A 64-bit mix (the murmur3 finalizer) for pair keys. */
static inline uint64_t mix64(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return k;
}

static inline uint64_t pair_key(int32_t a, int32_t b)
{
    return ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
}

int llm__pairmap_init(tok_pairmap *m, uint32_t n)
{
    uint32_t cap = slots_for(n);

    memset(m, 0, sizeof(*m));
    m->slot = malloc((size_t)cap * sizeof(*m->slot));
    if (!m->slot)
        return AIOS_ENOMEM;
    for (uint32_t i = 0; i < cap; i++)
        m->slot[i].key = UINT64_MAX;
    m->mask = cap - 1;
    return 0;
}

void llm__pairmap_free(tok_pairmap *m)
{
    free(m->slot);
    memset(m, 0, sizeof(*m));
}

void llm__pairmap_put(tok_pairmap *m, int32_t a, int32_t b, int32_t rank, int32_t result)
{
    uint64_t k = pair_key(a, b);
    uint32_t i = (uint32_t)mix64(k) & m->mask;

    while (m->slot[i].key != UINT64_MAX) {
        if (m->slot[i].key == k)
            return;                        /* first rank wins */
        i = (i + 1) & m->mask;
    }
    m->slot[i] = (tok_pair){.key = k, .rank = rank, .result = result};
}

int32_t llm__pairmap_get(const tok_pairmap *m, int32_t a, int32_t b, int32_t *result)
{
    uint64_t k;
    uint32_t i;

    if (!m->slot)
        return -1;
    k = pair_key(a, b);
    i = (uint32_t)mix64(k) & m->mask;
    while (m->slot[i].key != UINT64_MAX) {
        if (m->slot[i].key == k) {
            *result = m->slot[i].result;
            return m->slot[i].rank;
        }
        i = (i + 1) & m->mask;
    }
    return -1;
}

int llm__ids_push(tok_ids *ids, int32_t id)
{
    if (ids->n == ids->cap) {
        size_t cap = ids->cap ? ids->cap * 2 : 64;
        int32_t *v = realloc(ids->v, cap * sizeof(*v));

        if (!v)
            return AIOS_ENOMEM;
        ids->v = v;
        ids->cap = cap;
    }
    ids->v[ids->n++] = id;
    return 0;
}

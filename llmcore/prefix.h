/*
 * prefix.h - the prefix cache: full KV blocks found again by the chained
 * hash of their tokens (private to llmcore).
 *
 * Every block that becomes full (the KV cache's full-block hook) is
 * registered under its hash, which covers its tokens and, through the chain,
 * every token before it.  The cache holds one reference on each registered
 * block, so the block outlives the sequence that wrote it.  A new sequence
 * whose tokens start with cached blocks is built on them
 * (llm_kv_seq_new_from_blocks: shared, copy-on-write) and only the rest is
 * prefilled.  Blocks that only the cache still references are evicted
 * least recently used first when the engine needs room.
 * Engine thread only.
 */
#ifndef LLM_PREFIX_H
#define LLM_PREFIX_H

#include <stdint.h>

#include "aios/llm.h"

typedef struct llm_prefix llm_prefix;

typedef struct llm_prefix_stats {
    uint64_t entries;        /* blocks registered */
    uint64_t cached_only;    /* of which only the cache references (evictable) */
    uint64_t lookups, hit_blocks, evictions, inserted;
} llm_prefix_stats;

/* The hash the KV cache gives a full block: XXH3-64 of its token ids with
 * the previous block's hash (0 for the first) as seed. */
uint64_t llm_prefix_block_hash(const int32_t *tokens, int block_tokens, uint64_t prev);

/* A cache for kv; installs kv's full-block hook. */
int llm_prefix_new(llm_kv *kv, llm_prefix **out);
/* Drops every reference the cache holds and removes the hook. */
void llm_prefix_free(llm_prefix *p);

/*
 * The cached blocks that hold tokens[0..n) from the start: writes at most
 * cap block ids (not referenced: build the sequence at once) and returns
 * how many leading full blocks match.  Matched blocks become the most
 * recently used.
 */
int llm_prefix_match(llm_prefix *p, const int32_t *tokens, int n, int32_t *blocks, int cap);

/* Leading full blocks of tokens that the cache holds, without touching. */
int llm_prefix_peek(llm_prefix *p, const int32_t *tokens, int n);

/* Free up to n blocks that only the cache references, oldest first;
 * returns how many were freed. */
int llm_prefix_evict(llm_prefix *p, int n);
/* Blocks only the cache references (what llm_prefix_evict could free). */
int llm_prefix_evictable(llm_prefix *p);
/* Drop every entry (blocks still used by sequences stay with them). */
void llm_prefix_clear(llm_prefix *p);

void llm_prefix_get_stats(llm_prefix *p, llm_prefix_stats *st);

#endif /* LLM_PREFIX_H */

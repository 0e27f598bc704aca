/*
 * engine_int.h - structures shared by model.c, kvcache.c and forward.c
 * (private to llmcore): the loaded model's weights and hyperparameters,
 * and the KV cache's blocks and sequences.
 */
#ifndef LLM_ENGINE_INT_H
#define LLM_ENGINE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aios/llm.h"
#include "llmcore/gguf.h"

/* A weight matrix [n_out][n_in] (rows of n_in), or a vector (n_out = 1). */
typedef struct llm_weight {
    const void *data;     /* in the mapping */
    uint32_t type;        /* llm_type */
    int64_t n_in, n_out;
    size_t row_bytes;
    const uint8_t *packed; /* panels (quant.h), or NULL: use data */
    size_t panel_bytes;
} llm_weight;

typedef struct llm_layer {
    const float *attn_norm;          /* [n_embd] */
    llm_weight wq, wk, wv, wo;       /* [q_dim][n_embd], [kv_dim][n_embd] x2, [n_embd][q_dim] */
    const float *bq, *bk, *bv;       /* qwen2 biases or NULL */
    const float *ffn_norm;           /* [n_embd] */
    llm_weight gate, up, down;       /* [n_ff][n_embd] x2, [n_embd][n_ff] */
} llm_layer;

struct llm_model {
    llm_gguf *g;
    llm_model_info info;
    char *name;
    int q_dim, kv_dim;
    llm_weight tok_embd;             /* [n_vocab][n_embd] */
    const float *output_norm;        /* [n_embd] */
    llm_weight output;               /* [n_vocab][n_embd] (tied: = tok_embd) */
    llm_layer *layers;
    float *rope_ff;                  /* [n_rot / 2] rope_freqs factors (1 without the tensor) */
    float rope_theta_scale;          /* rope_base^(-2 / n_rot) */
    void *pack_arena;                /* packed copies of the matrices (anonymous mapping) */
    size_t pack_bytes;
};

/* ---- KV cache internals ---- */
typedef struct llm_kv_block {
    int32_t ref;          /* owners: sequences and prefix-cache refs */
    int32_t next_free;    /* free-list link, -1 at the end */
    bool has_hash;
    uint64_t hash;
} llm_kv_block;

typedef struct llm_kv_seq {
    bool used;
    int len;
    int n_blocks, cap_blocks;
    int32_t *blocks;
} llm_kv_seq;

struct llm_kv {
    const llm_model *m;
    int kv_type;          /* LLM_KV_F16 / LLM_KV_F32 */
    int esize;            /* bytes per element */
    int block_tokens;
    int n_layer, kv_dim;
    size_t layer_bytes;   /* one of K or V of one layer in a block */
    size_t block_bytes;
    int n_blocks, n_free;
    int32_t free_head;
    uint8_t *arena;
    llm_kv_block *blk;
    int32_t *tokens;      /* [n_blocks][block_tokens] */
    llm_kv_seq *seqs;
    int n_seqs_cap;
    llm_kv_full_fn full_fn;
    void *full_user;
};

/* Address of K (which = 0: the layer's transposed K, use t = 0) or V (1:
 * slot t) of layer l of a block.  K element (slot t, i < kv_dim) is at
 * index i * block_tokens + t. */
static inline void *llm__kv_ptr(const llm_kv *kv, int32_t block, int l, int which, int t)
{
    return kv->arena + (size_t)block * kv->block_bytes + ((size_t)l * 2 + (size_t)which) * kv->layer_bytes +
           (size_t)t * (size_t)kv->kv_dim * (size_t)kv->esize;
}

/* Check a batch against the cache and make room: blocks for every new
 * position (copy-on-write of shared partial blocks).  All-or-nothing. */
int llm__kv_prepare(llm_kv *kv, const int32_t *seq, const int32_t *pos, int n);
/* Record the batch's tokens and advance lengths (after the forward wrote
 * K/V); fires the full-block hook. */
void llm__kv_commit(llm_kv *kv, const int32_t *seq, const int32_t *tokens, int n);
/* The slot (block id, offset) of position pos of seq (pos < capacity). */
static inline int32_t llm__kv_slot(const llm_kv *kv, int32_t seq, int pos, int *off)
{
    *off = pos % kv->block_tokens;
    return kv->seqs[seq].blocks[pos / kv->block_tokens];
}

#endif /* LLM_ENGINE_INT_H */

/*
 * embed_int.h - private declarations of lsfs/embed: Unicode tables, the
 * WordPiece tokenizer, the safetensors reader, the BERT encoder, the compute
 * kernels, and the HNSW graph and IVF cells behind the vector index.
 *
 * Everything here is either immutable after construction (tokenizer, model
 * weights, kernel tables) or owned by one lsfs_vindex under its rwlock, so
 * any thread may use it as described at each declaration.
 */
#ifndef LSFS_EMBED_INT_H
#define LSFS_EMBED_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aios/embed.h"
#include "aios/error.h"

/* ---- Unicode tables (unicode_tab.c, generated) --------------------------- */

typedef struct lsfs__cp_range {
    uint32_t lo, hi;                    /* inclusive */
} lsfs__cp_range;

typedef struct lsfs__cp_map {
    uint32_t cp;                        /* source code point */
    uint16_t off;                       /* first replacement in lsfs__uc_map_pool */
    uint8_t len;                        /* replacement length, >= 1 */
} lsfs__cp_map;

extern const lsfs__cp_range lsfs__uc_drop[];   /* removed by the normalizer */
extern const size_t lsfs__uc_drop_n;
extern const lsfs__cp_range lsfs__uc_punct[];  /* split off by the pre-tokenizer */
extern const size_t lsfs__uc_punct_n;
extern const lsfs__cp_map lsfs__uc_map[];      /* NFD, drop Mn, lower-case */
extern const size_t lsfs__uc_map_n;
extern const uint32_t lsfs__uc_map_pool[];

/* ---- WordPiece tokenizer (wordpiece.c) ------------------------------------ */

/* BERT uncased tokenizer: vocabulary and its hash table; immutable after load. */
typedef struct lsfs__wordpiece {
    char *blob;              /* all tokens, NUL-separated */
    uint32_t *tok_off;       /* [n_vocab] offset of token i in blob */
    int n_vocab;             /* 30522 */
    uint32_t *slots;         /* open-addressing table of token id + 1, 0 = empty */
    uint32_t mask;           /* table size - 1 (power of two) */
    int max_chars;           /* longest token in code points (without "##") */
    int32_t id_unk, id_cls, id_sep, id_pad, id_mask;
} lsfs__wordpiece;

#define LSFS_WP_MAX_WORD_CHARS 100   /* longer words become [UNK] */

int lsfs__wp_load(const char *vocab_path, lsfs__wordpiece **out);
void lsfs__wp_free(lsfs__wordpiece *wp);
/* Id of a token string of len bytes, or -1. */
int32_t lsfs__wp_lookup(const lsfs__wordpiece *wp, const char *s, size_t len);
/* Token string of an id (NULL when out of range). */
const char *lsfs__wp_token(const lsfs__wordpiece *wp, int32_t id);
/*
 * Word pieces of text (no [CLS]/[SEP]).  Writes at most cap ids into ids
 * (ids may be NULL when cap is 0) and sets *n_total to the number of pieces
 * of the whole text, which may exceed cap.  Any thread.
 */
int lsfs__wp_encode(const lsfs__wordpiece *wp, const char *text, int32_t *ids, size_t cap,
                    size_t *n_total);

/* ---- safetensors (safetensors.c) --------------------------------------------- */

typedef struct lsfs__st_tensor {
    char name[96];
    char dtype[8];           /* "F32", "I64", ... */
    int n_dims;
    int64_t shape[4];
    const void *data;        /* into the mapping */
    size_t nbytes;
} lsfs__st_tensor;

typedef struct lsfs__safetensors {
    void *map;               /* the whole file, read-only mapping */
    size_t map_len;
    lsfs__st_tensor *tensors;
    size_t n_tensors;
} lsfs__safetensors;

int lsfs__st_open(const char *path, lsfs__safetensors **out);
void lsfs__st_close(lsfs__safetensors *st);
/* The tensor called name with dtype "F32" and the given shape (n_dims
 * entries), or NULL (logged) when missing or different. */
const float *lsfs__st_f32(const lsfs__safetensors *st, const char *name, int n_dims,
                          const int64_t *shape);

/* ---- compute kernels (kernels.c) ----------------------------------------- */

/* Weights of a linear layer y = x W^T + b, kept both as read (row-major
 * [out][in], for the scalar reference) and packed for the SIMD kernels:
 * panels of LSFS_PANEL output columns, each [in][LSFS_PANEL] contiguous. */
#define LSFS_PANEL 16
typedef struct lsfs__linear {
    int in, out;             /* out is a multiple of LSFS_PANEL */
    const float *w;          /* [out][in] row-major (mapping or owned) */
    const float *b;          /* [out] */
    float *packed;           /* [out/LSFS_PANEL][in][LSFS_PANEL], owned, 64-byte aligned */
} lsfs__linear;

/*
 * One row of the kernel table: the operations the encoder and the vector
 * index need, in one implementation (scalar reference, AVX2+FMA, ...).
 * All are pure functions of their arguments: safe from any thread.
 */
typedef struct lsfs__kernels {
    const char *name;
    bool (*supported)(void);
    /* y[T][out] = x[T][in] W^T + b */
    void (*linear)(const lsfs__linear *l, const float *x, int T, float *y);
    /* x[i] = gelu_erf(x[i]) */
    void (*gelu)(float *x, size_t n);
    /* x[D] = LayerNorm(x + r) * g + b; r may be NULL */
    void (*layernorm)(float *x, const float *r, const float *g, const float *b, int D, float eps);
    /* softmax in place over n entries */
    void (*softmax)(float *x, int n);
    /* scores[j] = sum_d q[d] * kt[d*ld + j] for j < n (kt is [hd][ld]) */
    void (*qk)(const float *q, const float *kt, int hd, int ld, int n, float *scores);
    /* out[d] = sum_j p[j] * v[j*ldv + d] for d < hd */
    void (*pv)(const float *p, const float *v, int ldv, int n, int hd, float *out);
    /* qk for 4 queries q[r*ldq ..] into scores[r*lds ..] (r < 4); scores past
     * n up to the next multiple of 16 may be written (kt rows are ld long) */
    void (*qk4)(const float *q, int ldq, const float *kt, int hd, int ld, int n, float *scores,
                int lds);
    /* pv for 4 rows of weights p[r*ldp ..] into out[r*ldo ..] (r < 4) */
    void (*pv4)(const float *p, int ldp, const float *v, int ldv, int n, int hd, float *out,
                int ldo);
    /* dot product of two float vectors */
    float (*dot)(const float *a, const float *b, int n);
    /* out[i] = dot(q, base + i*dim) for i < n (contiguous rows) */
    void (*dot_many)(const float *q, const float *base, int dim, size_t n, float *out);
} lsfs__kernels;

/* The best supported kernel set, or the one called name ("scalar", "avx2"),
 * or NULL when that one is unknown or unsupported on this CPU. */
const lsfs__kernels *lsfs__kernels_pick(const char *name);
/* Pack l->w into l->packed (allocates); AIOS_ENOMEM. */
int lsfs__linear_pack(lsfs__linear *l);
void lsfs__linear_unpack(lsfs__linear *l);

/* ---- BERT encoder (bert.c) ------------------------------------------------- */

typedef struct lsfs__bert_config {
    int vocab;               /* 30522 WordPiece tokens */
    int dim;                 /* 384 hidden size */
    int n_layers;            /* 6 */
    int n_heads;             /* 12 */
    int head_dim;            /* 32 = dim / n_heads */
    int ffn;                 /* 1536 intermediate size */
    int max_pos;             /* 512 position embeddings */
    int n_types;             /* 2 token types (only type 0 is used) */
    int max_tokens;          /* 256 tokens per text, [CLS] and [SEP] included */
    float ln_eps;            /* 1e-12 */
} lsfs__bert_config;

typedef struct lsfs__bert_layer {
    lsfs__linear qkv;        /* [3*dim][dim]: query, key, value rows stacked (owned) */
    lsfs__linear attn_out;   /* [dim][dim] */
    const float *ln1_g, *ln1_b;   /* [dim] attention.output.LayerNorm */
    lsfs__linear ffn_up;     /* [ffn][dim] intermediate.dense */
    lsfs__linear ffn_down;   /* [dim][ffn] output.dense */
    const float *ln2_g, *ln2_b;   /* [dim] output.LayerNorm */
    float *qkv_w, *qkv_b;    /* owned storage behind qkv */
} lsfs__bert_layer;

typedef struct lsfs__bert {
    lsfs__bert_config cfg;
    lsfs__safetensors *st;   /* owns the mapping the pointers below point into */
    const float *tok_emb;    /* [vocab][dim] word_embeddings */
    const float *pos_emb;    /* [max_pos][dim] position_embeddings */
    const float *type_emb;   /* [n_types][dim] token_type_embeddings */
    const float *emb_ln_g, *emb_ln_b;   /* [dim] embeddings.LayerNorm */
    lsfs__bert_layer *layers;           /* [n_layers] */
} lsfs__bert;

int lsfs__bert_load(const char *dir, lsfs__bert **out);
void lsfs__bert_free(lsfs__bert *m);

/*
 * Per-call scratch for a forward pass over at most max_tokens tokens in all
 * (texts packed one after the other, no padding).  Owned by one call.
 */
typedef struct lsfs__bert_scratch {
    int max_tokens;
    float *x;                /* [T][dim] hidden states */
    float *qkv;              /* [T][3*dim] */
    float *ctx;              /* [T][dim] attention output before the projection */
    float *tmp;              /* [T][dim] */
    float *h;                /* [LSFS_FFN_ROWS][ffn] feed-forward block */
    float *kt;               /* [head_dim][max_len] keys of one head, transposed */
    float *vc;               /* [max_len][head_dim] values of one head, contiguous */
    float *scores;           /* [max_len] */
} lsfs__bert_scratch;

#define LSFS_FFN_ROWS 96

int lsfs__bert_scratch_new(const lsfs__bert *m, int max_tokens, lsfs__bert_scratch **out);
void lsfs__bert_scratch_free(lsfs__bert_scratch *s);
/*
 * Encode n_seq token sequences (ids packed, seq_len[i] each, sum <=
 * scratch->max_tokens) into out[n_seq][dim]: mean-pooled over each
 * sequence's tokens and L2-normalised.
 */
void lsfs__bert_forward(const lsfs__bert *m, const lsfs__kernels *k, lsfs__bert_scratch *s,
                        const int32_t *ids, const int *seq_len, int n_seq, float *out);

/* ---- HNSW graph (hnsw.c) ------------------------------------------------------ */

/* The vectors a graph indexes: node i is vecs[i*dim ...]. */
typedef struct lsfs__vspace {
    const float *vecs;       /* [n][dim] */
    int dim;
    const lsfs__kernels *k;
} lsfs__vspace;

typedef struct lsfs__hit {
    float score;             /* dot product with the query */
    int32_t node;
} lsfs__hit;

/*
 * A hierarchical navigable small-world graph over node numbers 0..n-1.
 * Layer 0 keeps M0 = 2M neighbours per node, upper layers M (plus half as
 * much slack before a list is pruned); a node's top layer is drawn from an
 * exponential distribution (mult = 1/ln M).
 * Mutated only under the owner's write lock; searches only read it.
 */
typedef struct lsfs__hnsw {
    int M, M0, ef_construction;
    double mult;
    uint64_t rng;            /* xorshift64* state for levels */
    int max_level;
    int32_t entry;           /* entry point, -1 when empty */
    size_t cap, n;           /* nodes allocated / inserted (0..n-1) */
    int32_t *l0;             /* [cap][1 + 1.5 M0]: count, then neighbours */
    uint8_t *level;          /* [cap] top layer of each node */
    int32_t **up;            /* [cap] -> [level][1 + 1.5 M] for layers 1..level, or NULL */
} lsfs__hnsw;

int lsfs__hnsw_new(int M, int ef_construction, uint64_t seed, lsfs__hnsw **out);
void lsfs__hnsw_free(lsfs__hnsw *g);
/* Insert node g->n (its vector is vs->vecs[g->n]); AIOS_ENOMEM. */
int lsfs__hnsw_add(lsfs__hnsw *g, const lsfs__vspace *vs);
/* Called for each node reached: may it be returned? (NULL = all may.) */
typedef bool (*lsfs__hnsw_ok)(int32_t node, void *arg);
/*
 * Best (up to) ef admissible nodes for q, best first, into out[ef].
 * visit_budget bounds the nodes scored (0 = no bound).  Returns the count,
 * or a negative AIOS_E* code.  Read-only: any number at once.
 */
int lsfs__hnsw_search(const lsfs__hnsw *g, const lsfs__vspace *vs, const float *q, size_t ef,
                      lsfs__hnsw_ok ok, void *arg, size_t visit_budget, lsfs__hit *out);

/* ---- IVF cells (ivf.c) --------------------------------------------------------- */

/* nlist spherical k-means cells over node numbers; mutated only under the
 * owner's write lock, searched concurrently. */
typedef struct lsfs__ivf {
    size_t nlist;
    float *cent;             /* [nlist rounded up to 16][dim] unit centroids (padding
                                rows repeat centroid 0) */
    int32_t **lists;         /* [nlist] -> nodes of the cell */
    uint32_t *len, *cap;     /* [nlist] */
    size_t trained_n;        /* live vectors when trained */
} lsfs__ivf;

/* Train nlist cells on the live nodes (dead[i] == 0) and assign them all. */
int lsfs__ivf_train(const lsfs__vspace *vs, const uint8_t *dead, size_t n_nodes, size_t nlist,
                    uint64_t seed, lsfs__ivf **out);
void lsfs__ivf_free(lsfs__ivf *f);
/* Put node in the cell of its nearest centroid. */
int lsfs__ivf_add(lsfs__ivf *f, const lsfs__vspace *vs, int32_t node);
/* The k best admissible nodes among the nprobe best cells, best first,
 * into out[k]; returns the count or a negative AIOS_E* code. */
int lsfs__ivf_search(const lsfs__ivf *f, const lsfs__vspace *vs, const float *q, size_t nprobe,
                     size_t k, lsfs__hnsw_ok ok, void *arg, lsfs__hit *out);

/* ---- aligned allocation (kernels.c) ----------------------------------------- */

void *lsfs__alloc(size_t bytes);     /* 64-byte aligned, NULL on failure */
void lsfs__free(void *p);

#endif /* LSFS_EMBED_INT_H */

/*
 * embed.h - sentence embeddings and the in-memory vector index of LSFS.
 *
 * Two independent parts, both owned by lsfs/embed/:
 *
 *  - lsfs_embedder: a sentence-embedding model (all-MiniLM-L6-v2: a 6-layer
 *    BERT encoder with a WordPiece tokenizer, both written in C) loaded from
 *    the folder `make model` fills.  It turns texts into mean-pooled,
 *    L2-normalised float32 vectors.  Read-only after open: any number of
 *    threads may call lsfs_embed_texts() on one embedder at once (each call
 *    uses its own scratch memory).
 *
 *  - lsfs_vindex: an in-memory index of (id, vector) pairs answering top-k
 *    by cosine similarity, with an exact SIMD scan and an approximate index
 *    for large corpora (IVF cells by default, or an HNSW graph).  The store
 *    of record is SQLite (owned by the LSFS store); the store rebuilds the
 *    index from it at start.  Thread safe: searches run concurrently under a
 *    read lock, add/remove take the write lock.
 *
 * All functions returning int give 0 or a negative AIOS_E* code.
 */
#ifndef AIOS_EMBED_H
#define AIOS_EMBED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- sentence embeddings ------------------------------------------------ */

typedef struct lsfs_embedder lsfs_embedder;

/* Name of the default model folder under <data>/models/. */
#define LSFS_EMBED_DEFAULT_MODEL "all-MiniLM-L6-v2"

/* Load the sentence-embedding model from path (file or folder made by `make
 * model`).  *out is NULL on failure.  AIOS_ENOENT when the files are missing,
 * AIOS_ECORRUPT when they are malformed. */
int  lsfs_embed_open(const char *path, lsfs_embedder **out);
/* Free the embedder (NULL is fine).  No call may be in flight. */
void lsfs_embed_close(lsfs_embedder *e);
/* Vector dimension: 384 for all-MiniLM-L6-v2. */
int  lsfs_embed_dim(const lsfs_embedder *e);
/* Model name stored with each vector (a static string owned by e). */
const char *lsfs_embed_model_name(const lsfs_embedder *e);
/*
 * Embed n texts (UTF-8, NUL-terminated; invalid UTF-8 is tolerated) into
 * out[n*dim], mean-pooled over the tokens and L2-normalised.  Texts longer
 * than the model's window (256 tokens with [CLS]/[SEP]) are truncated, as the
 * reference implementation does.  Thread-safe: many worker threads may call
 * it at once on one embedder (per-call scratch memory).
 */
int  lsfs_embed_texts(lsfs_embedder *e, const char *const *texts, size_t n, float *out);
/* Default model location: $AIOS_EMBED_MODEL, else <data>/models/<default
 * name>.  Writes into buf and returns it, or NULL when it does not fit. */
const char *lsfs_embed_default_path(const char *data_dir, char *buf, size_t len);

/* Options for lsfs_embed_open_opts(); zero means the default. */
typedef struct lsfs_embed_opts {
    const char *kernel;      /* "avx2", "scalar" or NULL/"auto" (best this CPU runs) */
    int threads;             /* threads one lsfs_embed_texts() call may use (default 1: the
                                daemon already calls it from several workers) */
    int batch_tokens;        /* tokens per forward pass (default 2048, min 256) */
} lsfs_embed_opts;

/* lsfs_embed_open() with options (opts may be NULL).  AIOS_ENOTSUP when the
 * named kernel does not run on this CPU. */
int  lsfs_embed_open_opts(const char *path, const lsfs_embed_opts *opts, lsfs_embedder **out);
/* Name of the kernel set in use ("avx2", "scalar"). */
const char *lsfs_embed_kernel_name(const lsfs_embedder *e);
/* Tokens per text the model sees, [CLS] and [SEP] included (256). */
int  lsfs_embed_max_tokens(const lsfs_embedder *e);
/*
 * The token ids the model sees for text: [CLS], the WordPiece ids truncated
 * to the window, [SEP].  Writes at most cap ids and sets *n_out to the count
 * written.  Any thread.
 */
int  lsfs_embed_tokenize(const lsfs_embedder *e, const char *text, int32_t *ids, size_t cap,
                         size_t *n_out);
/* Number of WordPiece tokens of text without truncation or [CLS]/[SEP]
 * (for sizing chunks).  Any thread. */
size_t lsfs_embed_count_tokens(const lsfs_embedder *e, const char *text);

/* ---- vector index --------------------------------------------------------- */

typedef struct lsfs_vindex lsfs_vindex;   /* in-memory, thread-safe (rwlock) */

/* An empty index of dim-dimensional vectors; *out is NULL on failure. */
int  lsfs_vindex_new(int dim, lsfs_vindex **out);
/* Free the index (NULL is fine).  No call may be in flight. */
void lsfs_vindex_free(lsfs_vindex *v);
/* Add or replace the vector of id (id = chunk rowid).  The vector is copied;
 * it should be L2-normalised (scores are dot products). */
int  lsfs_vindex_add(lsfs_vindex *v, int64_t id, const float *vec);
/* Add n vectors (ids[i], vecs[i*dim ...]) under one lock; the approximate
 * index is extended or rebuilt once at the end, so a rebuild at start-up
 * costs one training, not one per growth step.  AIOS_EINVAL (nothing added)
 * when a value is not finite. */
int  lsfs_vindex_add_batch(lsfs_vindex *v, const int64_t *ids, const float *vecs, size_t n);
/* Remove id; AIOS_ENOENT when it is not in the index. */
int  lsfs_vindex_remove(lsfs_vindex *v, int64_t id);
/* Number of vectors in the index. */
size_t lsfs_vindex_size(const lsfs_vindex *v);

/*
 * Top-k by cosine (vectors are normalised, so dot product), best first.
 * filter may be NULL; when given, only ids for which filter(id, arg) is true
 * are returned (it may be called from the searching thread with the read lock
 * held, so it must not call back into this index).  exact=true forces the
 * SIMD scan, otherwise the approximate index is used once the index is large
 * (threshold configurable).  ids_out and scores_out hold k entries; *n_out is
 * how many were filled (fewer than k when fewer vectors match).
 */
typedef bool (*lsfs_vindex_filter)(int64_t id, void *arg);
int  lsfs_vindex_search(lsfs_vindex *v, const float *query, size_t k, bool exact,
                        lsfs_vindex_filter filter, void *arg,
                        int64_t *ids_out, float *scores_out, size_t *n_out);

/* Tuning of an index; zero fields take the default. */
typedef struct lsfs_vindex_opts {
    size_t approx_threshold; /* use the approximate index once this many vectors are live
                                (20000) */
    const char *approx;      /* "ivf" (default) or "hnsw" */
    int nprobe;              /* IVF: cells scanned per query (0: a sixteenth of the cells,
                                at least 8; cells = 2 sqrt(n)) */
    int M;                   /* HNSW: graph degree; layer 0 keeps 2M neighbours (16) */
    int ef_construction;     /* HNSW: candidates gathered per insertion (64) */
    int ef_search;           /* HNSW: candidates gathered per query, at least k (64) */
    const char *kernel;      /* "avx512", "avx2", "scalar", NULL = the best this CPU runs */
} lsfs_vindex_opts;

/* lsfs_vindex_new() with options (opts may be NULL). */
int  lsfs_vindex_new_opts(int dim, const lsfs_vindex_opts *opts, lsfs_vindex **out);

typedef struct lsfs_vindex_stat {
    size_t live;             /* vectors searchable */
    size_t dead;             /* removed or replaced, not yet compacted away */
    bool approx;             /* the approximate index exists */
    int graph_levels;        /* HNSW layers */
    size_t cells, nprobe;    /* IVF cells and cells scanned per query */
    size_t bytes;            /* memory held, approximately */
    lsfs_vindex_opts opts;   /* in effect (kernel and approx name what runs) */
} lsfs_vindex_stat;

int  lsfs_vindex_stats(lsfs_vindex *v, lsfs_vindex_stat *st);

#endif /* AIOS_EMBED_H */

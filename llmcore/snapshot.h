/*
 * snapshot.h - context snapshots: the image of a sequence's state, the
 * host snapshot store with spill to disk, and the snapshot file format
 * (private to llmcore; docs/SCHEDULER.md describes the format).
 *
 * An image is one contiguous buffer: a fixed header, a JSON metadata
 * object, the token ids, the decode-loop state (llm_gen_save) and the K/V
 * of every layer (llm_kv_seq_export, or nothing when the state is to be
 * recomputed from the tokens).
 *
 * The store keeps images of preempted sequences in host memory up to a byte
 * budget; beyond it the least recently stored images are written to disk
 * by the store's I/O thread (zstd-compressed, XXH3-checksummed) and their
 * host copy freed.  Past the disk budget an image loses its K/V part (the
 * engine recomputes it from the tokens).  Engine thread for the API; the
 * store's own I/O thread writes spills.
 */
#ifndef LLM_SNAPSHOT_H
#define LLM_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* ---- images ---------------------------------------------------------------------------- */

typedef struct llm_image_view {
    json_t *meta;            /* borrowed from the caller (pack) / new reference (unpack) */
    const int32_t *tokens;
    uint32_t n_tokens;
    const void *gen;         /* llm_gen_save blob, may be empty */
    size_t gen_len;
    const void *kv;          /* llm_kv_seq_export blob, may be empty */
    size_t kv_len;
} llm_image_view;

/* Bytes an image of v takes (meta serialized compactly). */
size_t llm_image_size(const llm_image_view *v);
/* Pack v into a new malloc'd buffer. */
int llm_image_pack(const llm_image_view *v, void **buf, size_t *len);
/* Parse buf (kept alive by the caller): v->meta is a new reference the
 * caller drops, the other pointers point into buf.  AIOS_ECORRUPT. */
int llm_image_unpack(const void *buf, size_t len, llm_image_view *v);

/* ---- snapshot files -------------------------------------------------------------------- */

/*
 * Write raw (len bytes) to path atomically (a temporary file then rename),
 * compressed with zstd at level (0 = stored uncompressed), with a header
 * carrying the sizes and XXH3-64 checksums.  *written (may be NULL) gets
 * the file's size.
 */
int llm_snapfile_write(const char *path, const void *raw, size_t len, int level, size_t *written);
/* Read and check a file written by llm_snapfile_write; *raw is malloc'd.
 * AIOS_ECORRUPT on a bad header, size or checksum. */
int llm_snapfile_read(const char *path, void **raw, size_t *len);

/* ---- the store ---------------------------------------------------------------------------- */

typedef struct llm_snapstore llm_snapstore;
typedef struct llm_snap llm_snap;

typedef struct llm_snapstore_stats {
    uint64_t n_host, n_disk, n_lost;
    uint64_t host_bytes, disk_bytes;       /* image bytes in memory / file bytes on disk */
    uint64_t puts, spills, loads, lost, spill_errors;
    double spill_mb_s, load_mb_s;          /* measured throughputs (EWMA) */
} llm_snapstore_stats;

/* dir: folder for spill files (created; emptied at start).  Budgets in
 * bytes; level: zstd level for spills. */
int llm_snapstore_new(const char *dir, size_t host_budget, size_t disk_budget, int level,
                      llm_snapstore **out);
void llm_snapstore_free(llm_snapstore *st);
void llm_snapstore_set_budgets(llm_snapstore *st, size_t host_budget, size_t disk_budget);
void llm_snapstore_get_stats(llm_snapstore *st, llm_snapstore_stats *out);

/* Store an image (ownership of buf passes to the store). */
int llm_snap_put(llm_snapstore *st, void *buf, size_t len, llm_snap **out);
/*
 * Get the image back, from memory or from disk (checked).  *buf is owned by
 * the snapshot and valid until llm_snap_drop().  *on_disk (may be NULL)
 * tells whether it was read from disk.  An image that lost its K/V past the
 * disk budget comes back with an empty K/V section (recompute it).
 */
int llm_snap_get(llm_snapstore *st, llm_snap *s, const void **buf, size_t *len, bool *on_disk);
/* Where the image is now, its size in memory terms and on disk. */
bool llm_snap_is_on_disk(llm_snapstore *st, const llm_snap *s);
size_t llm_snap_bytes(const llm_snap *s);
/* Forget an image (frees memory, deletes its file). */
void llm_snap_drop(llm_snapstore *st, llm_snap *s);

/* ---- the context store (snapshot_ctx.c) -----------------------------------------------
 * Named conversation states of agents, persistent across restarts:
 * <dir>/<owner key>/<name>.ctx (a snapshot file of an image) and
 * <name>.json (owner, name, sizes, times, model fingerprint) for listing.
 * Images are written behind by the store's writer thread and stay in memory
 * (up to a byte budget, and always until written) so that an agent's next
 * turn does not wait for or read back the disk.  API: engine thread only.
 */
typedef struct llm_ctxstore llm_ctxstore;

/* fingerprint: the model identity an image needs (checked on get). */
int llm_ctxstore_new(const char *dir, const char *fingerprint, size_t mem_budget, int level,
                     llm_ctxstore **out);
void llm_ctxstore_free(llm_ctxstore *cs);

/* A valid context name: 1..64 of [A-Za-z0-9._-], not starting with '.'. */
bool llm_ctx_name_ok(const char *name);

/* Store an image under owner/name (replaces; the buffer passes to the
 * store).  n_tokens: tokens the state holds (for listing). */
int llm_ctxstore_put(llm_ctxstore *cs, const char *owner, const char *name, void *image, size_t len,
                     uint32_t n_tokens);
/*
 * The image of owner/name: *image borrowed, valid until the next call on
 * the store.  AIOS_ENOENT (no such context of this owner), AIOS_ECORRUPT
 * (bad file), AIOS_ECONFLICT (made with another model).
 */
int llm_ctxstore_get(llm_ctxstore *cs, const char *owner, const char *name, const void **image,
                     size_t *len);
bool llm_ctxstore_exists(llm_ctxstore *cs, const char *owner, const char *name);
int llm_ctxstore_drop(llm_ctxstore *cs, const char *owner, const char *name);
/* Wait until every queued write is on disk (tests, shutdown). */
void llm_ctxstore_flush(llm_ctxstore *cs);
/* [{name, tokens, bytes, file_bytes, created, updated}] of owner, by name. */
json_t *llm_ctxstore_list(llm_ctxstore *cs, const char *owner);
/* Bytes of images held in memory / on disk, count of contexts. */
void llm_ctxstore_usage(llm_ctxstore *cs, uint64_t *mem_bytes, uint64_t *disk_bytes, uint64_t *count);

#endif /* LLM_SNAPSHOT_H */

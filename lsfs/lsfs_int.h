/*
 * lsfs_int.h - private structures and helpers shared by the lsfs/ files.
 *
 * The store (lsfs_store) is shared by all threads; everything mutable in it
 * is behind its own lock.  A connection (lsfs_db) belongs to one thread at a
 * time and carries the prepared-statement cache, the last error and the work
 * to do after the current transaction commits (events, vector index edits).
 */
#ifndef LSFS_INT_H
#define LSFS_INT_H

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include <sqlite3.h>
#include <jansson.h>

#include "aios/error.h"
#include "aios/lsfs.h"

struct lsfs_embedder;
struct lsfs_vindex;

#define LSFS_PATH_MAX 1024
#define LSFS_NAME_MAX 255
#define LSFS_SYSTEM_OWNER "system"

enum { LSFS_KIND_DIR = 1, LSFS_KIND_FILE = 2, LSFS_KIND_LINK = 3 };

/* ---- chunk id -> node id map (for vector filters) ------------------------- */

typedef struct lsfs__i64map {
    int64_t *keys;              /* 0 = empty slot, -1 = tombstone */
    int64_t *vals;
    size_t cap, used, live;
} lsfs__i64map;

int lsfs__i64map_put(lsfs__i64map *m, int64_t key, int64_t val);
bool lsfs__i64map_get(const lsfs__i64map *m, int64_t key, int64_t *val);
void lsfs__i64map_del(lsfs__i64map *m, int64_t key);
void lsfs__i64map_free(lsfs__i64map *m);

/* ---- string set ------------------------------------------------------------ */

typedef struct lsfs__strset {
    char **slots;
    size_t cap, n;
} lsfs__strset;

int lsfs__strset_add(lsfs__strset *s, const char *str, size_t len);
bool lsfs__strset_has(const lsfs__strset *s, const char *str, size_t len);
void lsfs__strset_free(lsfs__strset *s);

/* ---- semantic index state ---------------------------------------------------- */

typedef struct lsfs__sem {
    struct lsfs_embedder *emb;  /* NULL when no model */
    struct lsfs_vindex *chunks; /* chunk id -> vector */
    struct lsfs_vindex *notes;  /* memory note id -> vector */
    char model[128];
    int dim;
    pthread_rwlock_t map_lock;  /* guards chunk_node */
    lsfs__i64map chunk_node;    /* chunk id -> node id, for filters */
} lsfs__sem;

/* ---- watch subscribers --------------------------------------------------------- */

typedef struct lsfs__watch {
    struct lsfs__watch *next;
    uint64_t id;
    lsfs_actor who;
    char path[LSFS_PATH_MAX];
    bool recursive;
    lsfs_watch_fn fn;
    void *arg;
} lsfs__watch;

/* ---- mounts at run time ------------------------------------------------------------ */

struct lsfs__mwatch;

typedef struct lsfs__mount {
    struct lsfs__mount *next;
    char name[LSFS_NAME_MAX + 1];
    char host[4096];
    char owner[80];
    bool rw;
    int rootfd;                 /* O_PATH|O_DIRECTORY on the host folder */
    struct lsfs__mwatch *watch; /* loop-thread watcher state, or NULL */
} lsfs__mount;

/* ---- the store -------------------------------------------------------------------- */

struct lsfs_store {
    char *data_dir;
    char *db_path;
    lsfs_options opt;
    uint64_t gen;               /* tells thread-local connections apart */

    pthread_mutex_t dbs_lock;
    struct lsfs_db *dbs;        /* every connection, closed at the end */

    lsfs__sem sem;

    pthread_mutex_t watch_lock;
    lsfs__watch *watches;
    uint64_t watch_next;

    pthread_mutex_t mnt_lock;
    lsfs__mount *mounts;
    struct lsfs__mwatch_root *mwatch;   /* libuv side, loop thread */
};

/* ---- a connection ------------------------------------------------------------------- */

#define LSFS_STMT_SLOTS 512

typedef struct lsfs__vedit {
    int64_t id;
    int64_t node;               /* 0 for memory notes */
    bool note;                  /* memory-note index instead of chunks */
    float *vec;                 /* NULL = remove */
} lsfs__vedit;

struct lsfs_db {
    struct lsfs_db *next;       /* in store->dbs */
    lsfs_store *s;
    sqlite3 *h;
    struct {
        const char *sql;
        sqlite3_stmt *st;
    } stmts[LSFS_STMT_SLOTS];
    char errmsg[512];
    char errfield[64];
    bool has_errfield;
    bool in_txn;
    bool qtok_ready;            /* temp tables for query term statistics */
    json_t *events;             /* change events to publish after commit */
    lsfs__vedit *vedits;        /* vector index edits to apply at commit */
    size_t n_vedits, cap_vedits;
};

/* ---- store.c -------------------------------------------------------------------------- */

/* A cached prepared statement for sql (a string literal: cached by address),
 * reset with bindings cleared.  NULL on error (message in db). */
sqlite3_stmt *lsfs__stmt(lsfs_db *db, const char *sql);

/* Record an error; returns code.  field may be NULL. */
int lsfs__err(lsfs_db *db, int code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Map a SQLite result code to AIOS_E* and record the message. */
int lsfs__sqlerr(lsfs_db *db, int rc, const char *what);
void lsfs__clear_err(lsfs_db *db);

/* Transactions: BEGIN IMMEDIATE / COMMIT (publishes events, applies vector
 * edits) / ROLLBACK (drops them).  lsfs__end(db, rc) commits when rc >= 0
 * and rolls back otherwise, returning rc or the commit error. */
int lsfs__begin(lsfs_db *db);
int lsfs__end(lsfs_db *db, int rc);
int lsfs__exec(lsfs_db *db, const char *sql);

/* Queue an event for after commit (steals ev). */
void lsfs__event(lsfs_db *db, const char *kind, const char *path, json_t *extra);
/* Queue a vector index edit for commit (vec copied; NULL = remove). */
int lsfs__vedit_queue(lsfs_db *db, bool note, int64_t id, int64_t node, const float *vec, int dim);

int64_t lsfs__now_ms(void);

/* ---- schema.c --------------------------------------------------------------------- */

int lsfs__migrate(lsfs_db *db);
/* The SQL that takes version from_version to from_version+1 (tests). */
const char *lsfs__migration_sql(int from_version);

/* ---- blob.c --------------------------------------------------------------------------- */

/* Store content (dedup by SHA-256); *blob_id is the blobs rowid. */
int lsfs__blob_put(lsfs_db *db, const void *data, size_t len, int64_t *blob_id);
/* Load a blob's content (malloc'd, NUL-terminated). */
int lsfs__blob_get(lsfs_db *db, int64_t blob_id, char **data, size_t *len);
/* SHA-256 of data into out[32]. */
int lsfs__sha256(const void *data, size_t len, unsigned char out[32]);
/* Delete blobs no version references. */
int lsfs__blob_gc(lsfs_db *db);

/* ---- path.c ----------------------------------------------------------------------------- */

/* Normalise p (absolute, "~/..." or home-relative) into out.  Checks the
 * namespace (/home, /shared, /mnt) and component rules. */
int lsfs__path_norm(lsfs_db *db, const lsfs_actor *a, const char *p, const char *field,
                    char *out, size_t outlen);
/* Parent folder of a normalised path into out ("/" for top level). */
void lsfs__path_parent(const char *path, char *out, size_t outlen);
const char *lsfs__path_name(const char *path);
/* True when path equals prefix or lies below it. */
bool lsfs__path_under(const char *path, const char *prefix);
/* For /mnt/<name>/rest: name into name_out and rest into rel_out ("" for the
 * mount root).  false when path is not inside a mount. */
bool lsfs__path_mount(const char *path, char *name_out, size_t nlen, const char **rel_out);
/* Mime type and extension guessed from the name (static strings). */
const char *lsfs__mime_of(const char *name, const char **ext_out);
/* Glob match (*, ?, [..]) of name against pattern. */
bool lsfs__glob(const char *pattern, const char *name);

/* ---- node.c ------------------------------------------------------------------------------- */

typedef struct lsfs__node {
    int64_t id;
    char path[LSFS_PATH_MAX];
    int kind;
    char owner[80];
    int64_t head, size, blob, target;
    int64_t ctime, mtime, deleted;
    char mount[LSFS_NAME_MAX + 1];
    char mime[64];
} lsfs__node;

/* Load the live node at path; AIOS_ENOENT when none. */
int lsfs__node_get(lsfs_db *db, const char *path, lsfs__node *n);
int lsfs__node_by_id(lsfs_db *db, int64_t id, lsfs__node *n);
/* Follow a link to its target (n unchanged for other kinds). */
int lsfs__node_follow(lsfs_db *db, lsfs__node *n);
/* The stat object of a node. */
json_t *lsfs__node_json(lsfs_db *db, const lsfs__node *n);
/* Make sure the actor's home exists (inside a transaction). */
int lsfs__ensure_home(lsfs_db *db, const lsfs_actor *a);
/* Insert a node; the parent must exist and be a folder. */
int lsfs__node_insert(lsfs_db *db, const char *path, int kind, const char *owner,
                      const char *mount, int64_t *id_out);

/* Write new content as the next version of a file node (inside a
 * transaction): blob, version row, node head, chunks and keyword index. */
int lsfs__file_set(lsfs_db *db, lsfs__node *n, const void *data, size_t len,
                   const char *author, const char *op);

/* ---- acl.c ---------------------------------------------------------------------------------- */

/* Rights of a on the live node (path, owner) as LSFS_PERM_* bits. */
int lsfs__perm(lsfs_db *db, const lsfs_actor *a, const char *path, const char *owner,
               int *perm);
/* Check rights; on denial record a message naming field and return AIOS_EPERM. */
int lsfs__need(lsfs_db *db, const lsfs_actor *a, const lsfs__node *n, int want,
               const char *field);
/* Whether anyone other than a may access the node through a share or
 * ownership (for the overwrite-of-shared-file confirmation). */
int lsfs__shared_with_others(lsfs_db *db, const lsfs_actor *a, const lsfs__node *n,
                             bool *shared);

/* Per-query read filter: the set of folders whose contents the actor may read.
 * Registered as the SQL function lsfs_readable(ctx, path, owner). */
typedef struct lsfs__rctx {
    const lsfs_actor *a;
    lsfs__strset prefixes;
} lsfs__rctx;
int lsfs__rctx_init(lsfs_db *db, const lsfs_actor *a, lsfs__rctx *r);
void lsfs__rctx_free(lsfs__rctx *r);
bool lsfs__rctx_can_read(const lsfs__rctx *r, const char *path, const char *owner);
int lsfs__register_functions(sqlite3 *h);

/* ---- chunk.c ------------------------------------------------------------------------------------ */

typedef struct lsfs__chunk {
    size_t start, len;          /* byte range in the text */
    char heading[256];          /* heading trail, "" when none */
    int tokens;
} lsfs__chunk;

/* Split text into chunks by structure (headings, fenced code, paragraphs),
 * packing blocks up to max_tokens with overlap tokens carried over.
 * *out is malloc'd. */
int lsfs__chunk_split(const char *text, size_t len, int max_tokens, int overlap,
                      lsfs__chunk **out, size_t *n_out);
/* The token estimate used for chunk limits. */
int lsfs__chunk_tokens(const char *text, size_t len);
/* Whether data is UTF-8 text worth indexing (no NULs, valid UTF-8). */
bool lsfs__is_text(const void *data, size_t len);

/* ---- index.c ------------------------------------------------------------------------------------ */

/* Replace the chunks of node n by those of data (inside a transaction);
 * reuses vectors of unchanged chunks and queues the new chunk ids for
 * embedding in *pending (a JSON array of ids; may be NULL). */
int lsfs__index_node(lsfs_db *db, const lsfs__node *n, const void *data, size_t len);
/* Drop a node's chunks and vectors (inside a transaction). */
int lsfs__unindex_node(lsfs_db *db, int64_t node_id);
/* Update the title column of a node's chunks after a rename. */
int lsfs__index_retitle(lsfs_db *db, int64_t node_id, const char *name);
/* Embed chunks of node without vectors; own transaction.  Outside any
 * transaction.  No-op without an embedder. */
int lsfs__embed_node(lsfs_db *db, int64_t node_id);
/* The same, now, whatever embed_async says (fs.group needs the vectors). */
int lsfs__embed_node_now(lsfs_db *db, int64_t node_id);

/* ---- semantic.c ------------------------------------------------------------------------------- */

int lsfs__sem_open(lsfs_store *s);
void lsfs__sem_close(lsfs_store *s);
int lsfs__sem_rebuild(lsfs_db *db);
/* Embed texts; AIOS_EUNAVAIL without a model.  out has n*dim floats. */
int lsfs__sem_embed(lsfs_store *s, const char *const *texts, size_t n, float *out);
/* Add embedder and index sizes to a stats object. */
void lsfs__sem_stats(lsfs_store *s, json_t *o);
/* Apply one queued edit to the in-memory indexes. */
void lsfs__sem_apply(lsfs_store *s, const lsfs__vedit *e);
/* Top-k chunks (or notes) for a query vector, filtered by allow(node). */
int lsfs__sem_search(lsfs_store *s, bool notes, const float *q, size_t k, bool exact,
                     bool (*allow)(int64_t id, int64_t node, void *arg), void *arg,
                     int64_t *ids, float *scores, size_t *n_out);

/* ---- search.c ---------------------------------------------------------------------------------- */

typedef struct lsfs__ranked {
    int64_t key;                /* file node id (or note id) */
    int rank_a, rank_b;         /* 1-based ranks in the two lists, 0 = absent */
    double score;               /* fused score */
} lsfs__ranked;

/* Weighted reciprocal-rank fusion of two ranked key lists (best first,
 * duplicates ignored after the first): score = wa/(k+rank_a) + wb/(k+rank_b).  *out is malloc'd, sorted by fused score, ties
 * broken by best single rank then key. */
int lsfs__rrf(const int64_t *a, size_t na, const int64_t *b, size_t nb, int k, double wa,
              double wb, lsfs__ranked **out, size_t *n_out);
/* Turn free text into an FTS5 query: quoted terms joined with OR, stop
 * words dropped.  *out is malloc'd; "" when nothing is left. */
int lsfs__fts_query(const char *text, char **out);
/* The words of a query, lower case, unique, stop words dropped unless
 * nothing else is left (at most max, each under 64 bytes). */
int lsfs__query_words(const char *text, char (*words)[64], size_t max, size_t *n_out);

/* ---- watch.c ------------------------------------------------------------------------------------ */

void lsfs__watch_publish(lsfs_db *db, json_t *events);
void lsfs__watch_free_all(lsfs_store *s);

/* ---- mount.c ------------------------------------------------------------------------------------ */

int lsfs__mounts_load(lsfs_db *db);
void lsfs__mounts_free(lsfs_store *s);
/* Host I/O for rw mounts, confined below the mount root. */
int lsfs__host_write(lsfs_db *db, const char *mount, const char *rel, const void *data,
                     size_t len);
int lsfs__host_mkdir(lsfs_db *db, const char *mount, const char *rel);
int lsfs__host_unlink(lsfs_db *db, const char *mount, const char *rel, bool dir);
/* Free the libuv watcher root once no mount handle is left (store close). */
void lsfs__mwatch_free(lsfs_store *s);
/* Whether a mount is writable; AIOS_ENOENT when unknown. */
int lsfs__mount_rw(lsfs_store *s, const char *mount, bool *rw);

/* ---- text helpers (util.c) ------------------------------------------------------------------- */

/* Top keywords of a text (stop words dropped), as a JSON array of strings. */
json_t *lsfs__keywords(const char *text, size_t len, int max);
bool lsfs__stopword(const char *w, size_t len);
/* Build "<name> <snippet>" style previews: the first max bytes of s on a
 * UTF-8 and word boundary, with "..." when cut.  malloc'd. */
char *lsfs__preview(const char *s, size_t len, size_t max);
/* Parse ISO-8601 ("2024-05-01T10:00:00Z", "2024-05-01", with offsets) to ms. */
int lsfs__parse_time(const char *s, int64_t *ms);
/* Format ms since the epoch as ISO-8601 UTC with milliseconds. */
void lsfs__fmt_time(int64_t ms, char *buf, size_t len);

#endif /* LSFS_INT_H */

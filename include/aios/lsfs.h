/*
 * lsfs.h - LSFS, the SQLite-backed semantic file system.
 *
 * One SQLite database in the data folder is the store of record: a namespace
 * of folders, files and links (/home/<agent>, /shared, /mnt/<name>), a version
 * row per write pointing at a content-addressed, zstd-compressed blob, rights
 * (owner, groups, shares), chunks of every text file in an FTS5 index and
 * their sentence embeddings, summaries, mounts of host folders and agent
 * memory notes.  See docs/LSFS.md for the schema, the rights rules and the
 * ranking.
 *
 * Objects:
 *   lsfs_store  - one per data folder; shared by all threads.  Owns the
 *                 embedder, the in-memory vector indexes, watch subscribers
 *                 and the open mount roots.
 *   lsfs_db     - one SQLite connection.  Each thread uses its own: call
 *                 lsfs_db_thread() to get the calling thread's connection
 *                 (opened lazily, closed by lsfs_store_close()).  A db is
 *                 never used by two threads at once.
 *   lsfs_actor  - who is asking: principal, home folder, admin flag and the
 *                 hook that asks a person before irreversible operations.
 *
 * Conventions: functions return 0 or a negative AIOS_E* code; on failure
 * lsfs_db_errmsg()/lsfs_db_errfield() describe it.  Results are Jansson
 * objects that the caller owns (json_decref).  Every mutating function is one
 * SQLite transaction with synchronous=FULL: when it returns 0 the change is
 * on disk.
 */
#ifndef AIOS_LSFS_H
#define AIOS_LSFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

typedef struct lsfs_store lsfs_store;
typedef struct lsfs_db lsfs_db;

/* The schema version this build writes (PRAGMA user_version). */
#define LSFS_SCHEMA_VERSION 3

/* ---- store ---------------------------------------------------------------- */

typedef struct lsfs_options {
    const char *embed_model;     /* embedding model path; NULL = default
                                    location, "none" = run without embeddings */
    int chunk_tokens;            /* target tokens per chunk (0 = 200) */
    int chunk_overlap;           /* tokens of overlap between chunks (0 = 32) */
    int64_t max_file_bytes;      /* largest file content (0 = 64 MiB) */
    int busy_timeout_ms;         /* SQLite busy timeout (0 = 10000) */
    int rrf_k;                   /* reciprocal-rank-fusion constant (0 = 60) */
    double rrf_w_keyword;        /* RRF weight of the keyword ranking (0 = 1) */
    double rrf_w_semantic;       /* RRF weight of the semantic ranking (0 = 1) */
    int64_t mount_max_file_bytes; /* larger host files are not indexed (0 = 8 MiB) */
    bool no_vindex_rebuild;      /* skip loading vectors at open (tests) */
    /* Embed new chunks later instead of inside the writing call: writes
     * return after their commit and call embed_pending(embed_pending_arg)
     * (any thread), whose job is to run lsfs_embed_backfill() soon.  Keyword
     * search sees a write at once, semantic search once it is embedded. */
    bool embed_async;
    void (*embed_pending)(void *arg);
    void *embed_pending_arg;
} lsfs_options;

/*
 * Open (creating if needed) <data_dir>/lsfs.db, run migrations, load the
 * embedding model when present and rebuild the vector indexes from SQLite.
 * opt may be NULL for defaults.  Any thread; once.
 */
int lsfs_store_open(const char *data_dir, const lsfs_options *opt, lsfs_store **out);

/* Close every connection opened through the store and free it.  No other
 * thread may be using the store.  Accepts NULL. */
void lsfs_store_close(lsfs_store *s);

/* Path of the database file (borrowed). */
const char *lsfs_store_db_path(const lsfs_store *s);

/* Whether an embedding model is loaded (semantic search available). */
bool lsfs_store_has_embedder(const lsfs_store *s);

/* In-memory counters for sys.stats: mounts, embedder, index sizes (new ref). */
json_t *lsfs_store_stats(lsfs_store *s);

/* The calling thread's connection to s, opened on first use (any thread).
 * Returns NULL when the database cannot be opened. */
lsfs_db *lsfs_db_thread(lsfs_store *s);

/* A private connection (tests, tools); close with lsfs_db_close(). */
int lsfs_db_open(lsfs_store *s, lsfs_db **out);
void lsfs_db_close(lsfs_db *db);

/* The raw SQLite handle (tests and integrity checks). */
struct sqlite3 *lsfs_db_handle(lsfs_db *db);

/* Last error's message and offending parameter (NULL when none). */
const char *lsfs_db_errmsg(const lsfs_db *db);
const char *lsfs_db_errfield(const lsfs_db *db);

/* Run PRAGMA integrity_check; 0 when "ok", AIOS_ECORRUPT otherwise. */
int lsfs_db_integrity_check(lsfs_db *db);

/* ---- who is asking ------------------------------------------------------- */

/*
 * A bound agent <name> is principal "agent:<name>" with home /home/<name>;
 * a plain user connection of uid n is "uid:<n>" with home /home/uid-<n>.
 * Admins (root, the daemon's uid) may read and write everything.
 * confirm, when set, is called before irreversible operations with the
 * action name ("fs.purge", "fs.rollback", "fs.overwrite_shared") and a
 * one-line summary; a negative return aborts the operation with that code.
 */
typedef struct lsfs_actor {
    char principal[80];
    char home[96];
    unsigned uid;               /* the connection's uid (mount checks) */
    bool admin;
    int64_t proc_id;
    int (*confirm)(void *arg, const char *action, const char *summary);
    void *confirm_arg;
} lsfs_actor;

/* Fill a for an agent (agent != "" ) or a plain uid connection. */
void lsfs_actor_init(lsfs_actor *a, const char *agent, unsigned uid, bool admin);

/* ---- files ------------------------------------------------------------------ */

enum { LSFS_WRITE_REPLACE = 0, LSFS_WRITE_APPEND = 1, LSFS_WRITE_RANGE = 2 };

typedef struct lsfs_write_req {
    const void *data;
    size_t len;
    int mode;                   /* LSFS_WRITE_* */
    int64_t offset;             /* for LSFS_WRITE_RANGE */
    bool create;                /* create the file when missing */
    bool exclusive;             /* fail with AIOS_EEXIST when it exists */
    int64_t expect_version;     /* >0: AIOS_ECONFLICT unless head == this */
    const char *sources;        /* JSON array recorded as the file's sources (fs.join) */
} lsfs_write_req;

/*
 * Paths are absolute ("/home/a/notes.md"), "~/..." (the actor's home) or
 * relative to the actor's home.  Results describe the node as fs.stat does.
 */
int lsfs_create(lsfs_db *db, const lsfs_actor *a, const char *path, const void *data,
                size_t len, json_t **out);
int lsfs_write(lsfs_db *db, const lsfs_actor *a, const char *path,
               const lsfs_write_req *req, json_t **out);

/* Read version (0 = current) bytes [offset, offset+length) (length < 0 =
 * to the end).  *data is malloc'd (caller frees), NUL-terminated past *len.
 * meta (optional) gets {path, version, size, offset, length}. */
int lsfs_read(lsfs_db *db, const lsfs_actor *a, const char *path, int64_t version,
              int64_t offset, int64_t length, char **data, size_t *len, json_t **meta);

int lsfs_mkdir(lsfs_db *db, const lsfs_actor *a, const char *path, bool parents,
               json_t **out);
/* Delete into the trash (recoverable with lsfs_restore until purged). */
int lsfs_delete(lsfs_db *db, const lsfs_actor *a, const char *path, bool recursive,
                json_t **out);
/* Bring back the most recently deleted node at path (and its subtree). */
int lsfs_restore(lsfs_db *db, const lsfs_actor *a, const char *path, json_t **out);
/* Remove for good (live or trashed): versions, chunks, vectors, unused blobs. */
int lsfs_purge(lsfs_db *db, const lsfs_actor *a, const char *path, json_t **out);

typedef struct lsfs_list_req {
    const char *path;
    bool recursive;
    bool deleted;               /* list the trash under path instead */
    const char *type;           /* "file" | "dir" | "link" | mime ("text/", "text/markdown") | ext ("md") */
    const char *owner;          /* principal */
    const char *pattern;        /* glob on the name */
    int64_t modified_after_ms;  /* 0 = any */
    int limit;                  /* 0 = 1000 */
} lsfs_list_req;
int lsfs_list(lsfs_db *db, const lsfs_actor *a, const lsfs_list_req *req, json_t **out);

int lsfs_stat(lsfs_db *db, const lsfs_actor *a, const char *path, json_t **out);
int lsfs_move(lsfs_db *db, const lsfs_actor *a, const char *from, const char *to,
              json_t **out);
/* A named link at path that reads through to target (followed by id, so it
 * survives moves of the target).  Rights are checked on both. */
int lsfs_link(lsfs_db *db, const lsfs_actor *a, const char *path, const char *target,
              json_t **out);

enum { LSFS_PERM_NONE = 0, LSFS_PERM_READ = 1, LSFS_PERM_WRITE = 2, LSFS_PERM_RW = 3 };
/* Grant (or with perm NONE revoke) rights on path and everything below it to
 * grantee: "agent:<name>", "uid:<n>", "group:<name>" or "*" (everyone).
 * Only the owner (of the node or a folder above it) or an admin may share. */
int lsfs_share(lsfs_db *db, const lsfs_actor *a, const char *path, const char *grantee,
               int perm, json_t **out);

/* Effective rights of the actor on path (LSFS_PERM_* bits) in *perm. */
int lsfs_access(lsfs_db *db, const lsfs_actor *a, const char *path, int *perm);

/* ---- versions ------------------------------------------------------------------ */

int lsfs_history(lsfs_db *db, const lsfs_actor *a, const char *path, json_t **out);
/*
 * Make version `version` (or, when version <= 0, the version current at
 * at_ms) the head.  By default this writes a new version with that content;
 * drop_newer instead deletes the newer versions (irreversible: asks confirm).
 */
int lsfs_rollback(lsfs_db *db, const lsfs_actor *a, const char *path, int64_t version,
                  int64_t at_ms, bool drop_newer, json_t **out);
/* Unified diff from version v1 to v2 (0 = head), context lines ctx (<0: 3).
 * *text is malloc'd. */
int lsfs_diff(lsfs_db *db, const lsfs_actor *a, const char *path, int64_t v1, int64_t v2,
              int ctx, char **text);

/* ---- groups (acl.*) ------------------------------------------------------------- */

int lsfs_group_create(lsfs_db *db, const lsfs_actor *a, const char *name, json_t **out);
int lsfs_group_delete(lsfs_db *db, const lsfs_actor *a, const char *name);
int lsfs_group_add(lsfs_db *db, const lsfs_actor *a, const char *name, const char *member);
int lsfs_group_remove(lsfs_db *db, const lsfs_actor *a, const char *name,
                      const char *member);
/* Groups the actor owns or belongs to (all for admins), with members. */
int lsfs_group_list(lsfs_db *db, const lsfs_actor *a, json_t **out);

/* ---- search --------------------------------------------------------------------- */

enum { LSFS_SEARCH_KEYWORD = 0, LSFS_SEARCH_SEMANTIC = 1, LSFS_SEARCH_HYBRID = 2 };

typedef struct lsfs_search_req {
    const char *query;
    int mode;                   /* LSFS_SEARCH_* */
    int k;                      /* files to return (0 = 10) */
    const char *path_prefix;    /* filters, NULL/0 = none */
    const char *type;
    const char *owner;
    int64_t modified_after_ms;
    bool exact;                 /* force the exact vector scan */
    int chunks_per_file;        /* chunks listed per file (0 = 3) */
    double w_keyword, w_semantic; /* RRF weights (0 = the store's) */
} lsfs_search_req;

/*
 * {"mode": used, "results": [{path, score, keyword_rank, keyword_score,
 *  semantic_rank, semantic_score, snippet, chunks: [{id, seq, start, length,
 *  heading, snippet, score}]}], "took_ms"}.  Only files the actor may read.
 * Semantic without an embedder: AIOS_EUNAVAIL.  Hybrid without an embedder
 * falls back to keyword and says so ("mode": "keyword", "fallback": ...).
 */
int lsfs_search(lsfs_db *db, const lsfs_actor *a, const lsfs_search_req *req, json_t **out);

/* ---- mounts ------------------------------------------------------------------ */

/* Index host folder host_path as /mnt/<name> (mode "ro" or "rw").  Only an
 * admin or the owner of the host folder may mount it. */
int lsfs_mount(lsfs_db *db, const lsfs_actor *a, const char *host_path, const char *name,
               const char *mode, json_t **out);
int lsfs_unmount(lsfs_db *db, const lsfs_actor *a, const char *name, json_t **out);
int lsfs_mount_list(lsfs_db *db, const lsfs_actor *a, json_t **out);
/* Re-read rel (a file or folder relative to the mount root; "" = all) from
 * the host and bring the index up to date.  *dirs_out (optional) receives
 * the folders now present (added) and gone (removed) below rel, as
 * {"added": [rel...], "removed": [rel...]}, for the watcher. */
int lsfs_mount_sync(lsfs_db *db, const char *name, const char *rel, json_t **dirs_out);

/* Watch the host folders of every mount with libuv on loop (its thread
 * only), debounced; re-index on the loop's worker pool.  Mounts added later
 * are watched after lsfs_mounts_watch_name() on the loop thread. */
struct uv_loop_s;
int lsfs_mounts_watch_start(lsfs_store *s, struct uv_loop_s *loop);
int lsfs_mounts_watch_name(lsfs_store *s, const char *name);
void lsfs_mounts_watch_unname(lsfs_store *s, const char *name);
/* Stop all watchers; closes handles and runs the loop until they are gone
 * only if run_loop is true. */
void lsfs_mounts_watch_stop(lsfs_store *s);

/* ---- change events --------------------------------------------------------- */

/*
 * Subscribe to changes at or below path.  fn runs on the thread that made
 * the change, after its commit, with an event object (borrowed):
 * {"event": "create"|"write"|"delete"|"restore"|"purge"|"move"|"mkdir"|
 *  "link"|"share"|"rollback", "path", "version"?, "from"?, "time"}.
 * Events are only delivered for paths the subscriber may read.  fn must be
 * quick and must not call back into the store.
 */
typedef void (*lsfs_watch_fn)(const json_t *event, void *arg);
int lsfs_watch_add(lsfs_db *db, const lsfs_actor *a, const char *path, bool recursive,
                   lsfs_watch_fn fn, void *arg, uint64_t *id_out);
void lsfs_watch_remove(lsfs_store *s, uint64_t id);

/* ---- LLM-powered operations ------------------------------------------------- */

/*
 * Summaries, groups and joins.  They call llm_service_chat(); without a
 * model AIOS_EUNAVAIL ("no language model is loaded").  lsfs_group_files
 * works without a model (names from top keywords, "named_by": "keywords").
 */
int lsfs_summarize(lsfs_db *db, const lsfs_actor *a, const json_t *params, json_t **out);
int lsfs_group_files(lsfs_db *db, const lsfs_actor *a, const json_t *params, json_t **out);
int lsfs_join(lsfs_db *db, const lsfs_actor *a, const json_t *params, json_t **out);

/* Re-make summaries that exist for an older version of a file (background). */
int lsfs_summaries_refresh(lsfs_db *db, int max_files);

/* Embed chunks that have no vector for the loaded model (start-up backfill).
 * Returns the number embedded, or a negative code. */
int lsfs_embed_backfill(lsfs_db *db, int max_chunks);

/* ---- agent memory (mem.*) ------------------------------------------------------ */

int lsfs_mem_add(lsfs_db *db, const lsfs_actor *a, const json_t *params, json_t **out);
int lsfs_mem_get(lsfs_db *db, const lsfs_actor *a, int64_t id, json_t **out);
int lsfs_mem_update(lsfs_db *db, const lsfs_actor *a, const json_t *params, json_t **out);
int lsfs_mem_delete(lsfs_db *db, const lsfs_actor *a, int64_t id, json_t **out);
int lsfs_mem_search(lsfs_db *db, const lsfs_actor *a, const json_t *params, json_t **out);

/* ---- the kernel subsystem ------------------------------------------------------- */

/* The store opened by kern_subsys_lsfs (NULL before init / after fini). */
lsfs_store *lsfs_global(void);

#endif /* AIOS_LSFS_H */

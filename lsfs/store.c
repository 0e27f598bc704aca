/*
 * store.c - the LSFS store object, its SQLite connections and transactions.
 *
 * Owns: the lsfs_store (paths, options, the list of every connection), the
 * per-thread connection cache, the prepared-statement cache of each
 * connection, error recording and the transaction wrapper that publishes
 * change events and applies vector-index edits only once SQLite has
 * committed.
 *
 * Threads: lsfs_store_open/close on any one thread; lsfs_db_thread() from any
 * thread (each gets its own connection); a connection is used by one thread
 * at a time.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "aios/log.h"
#include "lsfs/lsfs_int.h"

static atomic_uint_fast64_t store_gen = 1;

/* The calling thread's connection, valid while its store generation is. */
static __thread struct {
    lsfs_store *s;
    uint64_t gen;
    lsfs_db *db;
} tls_conn;

int64_t lsfs__now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- errors ---------------------------------------------------------------- */

void lsfs__clear_err(lsfs_db *db)
{
    db->errmsg[0] = 0;
    db->errfield[0] = 0;
    db->has_errfield = false;
}

int lsfs__err(lsfs_db *db, int code, const char *field, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(db->errmsg, sizeof db->errmsg, fmt, ap);
    va_end(ap);
    db->has_errfield = field != NULL;
    snprintf(db->errfield, sizeof db->errfield, "%s", field ? field : "");
    return code;
}

/* SQLite primary result codes -> AIOS_E*, a table not a ladder. */
static const struct {
    int sqlite;
    int code;
} sqlite_codes[] = {
    {SQLITE_BUSY, AIOS_EBUSY},       {SQLITE_LOCKED, AIOS_EBUSY},
    {SQLITE_NOMEM, AIOS_ENOMEM},     {SQLITE_READONLY, AIOS_EPERM},
    {SQLITE_IOERR, AIOS_EIO},        {SQLITE_CORRUPT, AIOS_ECORRUPT},
    {SQLITE_NOTADB, AIOS_ECORRUPT},  {SQLITE_FULL, AIOS_ENOSPC},
    {SQLITE_CANTOPEN, AIOS_EIO},     {SQLITE_CONSTRAINT, AIOS_ECONFLICT},
    {SQLITE_TOOBIG, AIOS_ETOOBIG},   {SQLITE_INTERRUPT, AIOS_ECANCELED},
};

int lsfs__sqlerr(lsfs_db *db, int rc, const char *what)
{
    int code = AIOS_EIO;

    for (size_t i = 0; i < sizeof sqlite_codes / sizeof sqlite_codes[0]; i++)
        if ((rc & 0xff) == sqlite_codes[i].sqlite)
            code = sqlite_codes[i].code;
    lsfs__err(db, code, NULL, "%s: %s", what,
              db->h ? sqlite3_errmsg(db->h) : sqlite3_errstr(rc));
    aios_log(AIOS_LOG_DEBUG, "lsfs", "sqlite error in %s: %s", what, db->errmsg);
    return code;
}

const char *lsfs_db_errmsg(const lsfs_db *db)
{
    return db && db->errmsg[0] ? db->errmsg : NULL;
}

const char *lsfs_db_errfield(const lsfs_db *db)
{
    return db && db->has_errfield ? db->errfield : NULL;
}

struct sqlite3 *lsfs_db_handle(lsfs_db *db)
{
    return db->h;
}

/* ---- statements ---------------------------------------------------------------- */

/* Statements are cached by the address of their SQL literal. */
sqlite3_stmt *lsfs__stmt(lsfs_db *db, const char *sql)
{
    size_t h = ((uintptr_t)sql >> 3) % LSFS_STMT_SLOTS;
    int rc;

    for (size_t i = 0; i < LSFS_STMT_SLOTS; i++) {
        size_t k = (h + i) % LSFS_STMT_SLOTS;
        if (db->stmts[k].sql == sql) {
            sqlite3_reset(db->stmts[k].st);
            sqlite3_clear_bindings(db->stmts[k].st);
            return db->stmts[k].st;
        }
        if (!db->stmts[k].sql) {
            sqlite3_stmt *st = NULL;
            rc = sqlite3_prepare_v3(db->h, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
            if (rc != SQLITE_OK) {
                lsfs__sqlerr(db, rc, "prepare");
                aios_log(AIOS_LOG_ERROR, "lsfs", "cannot prepare '%.60s': %s", sql,
                         sqlite3_errmsg(db->h));
                return NULL;
            }
            db->stmts[k].sql = sql;
            db->stmts[k].st = st;
            return st;
        }
    }
    lsfs__err(db, AIOS_ELIMIT, NULL, "statement cache full");
    return NULL;
}

int lsfs__exec(lsfs_db *db, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db->h, sql, NULL, NULL, &msg);

    if (rc != SQLITE_OK) {
        int code = lsfs__sqlerr(db, rc, "exec");
        if (msg)
            snprintf(db->errmsg, sizeof db->errmsg, "%s", msg);
        sqlite3_free(msg);
        return code;
    }
    return 0;
}

/* ---- transactions --------------------------------------------------------------- */

static void vedits_clear(lsfs_db *db)
{
    for (size_t i = 0; i < db->n_vedits; i++)
        free(db->vedits[i].vec);
    db->n_vedits = 0;
}

int lsfs__begin(lsfs_db *db)
{
    sqlite3_stmt *st = lsfs__stmt(db, "BEGIN IMMEDIATE");
    int rc;

    if (!st)
        return AIOS_EIO;
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return lsfs__sqlerr(db, rc, "begin");
    db->in_txn = true;
    json_array_clear(db->events);
    vedits_clear(db);
    return 0;
}

/*
 * Commit when rc >= 0, else roll back.  Vector-index edits are applied just
 * before COMMIT while this connection still holds SQLite's write lock, so
 * the in-memory index changes in the same order as the database; a failed
 * COMMIT undoes them by rebuilding nothing (the edits are reverted below).
 */
int lsfs__end(lsfs_db *db, int rc)
{
    sqlite3_stmt *st;
    int src;

    if (!db->in_txn)
        return rc;
    if (rc >= 0) {
        for (size_t i = 0; i < db->n_vedits; i++)
            lsfs__sem_apply(db->s, &db->vedits[i]);
        st = lsfs__stmt(db, "COMMIT");
        src = st ? sqlite3_step(st) : SQLITE_ERROR;
        if (st)
            sqlite3_reset(st);
        if (src == SQLITE_DONE) {
            db->in_txn = false;
            vedits_clear(db);
            if (json_array_size(db->events) > 0) {
                json_t *ev = db->events;
                db->events = json_array();
                lsfs__watch_publish(db, ev);
                json_decref(ev);
            }
            return rc;
        }
        rc = lsfs__sqlerr(db, src, "commit");
        /* Revert the index edits: removals come back from SQLite's
         * unchanged rows at the next start; additions are taken out now. */
        for (size_t i = 0; i < db->n_vedits; i++) {
            lsfs__vedit undo = db->vedits[i];
            if (undo.vec) {
                undo.vec = NULL;
                lsfs__sem_apply(db->s, &undo);
            }
        }
    }
    st = lsfs__stmt(db, "ROLLBACK");
    if (st) {
        sqlite3_step(st);
        sqlite3_reset(st);
    }
    db->in_txn = false;
    json_array_clear(db->events);
    vedits_clear(db);
    return rc;
}

void lsfs__event(lsfs_db *db, const char *kind, const char *path, json_t *extra)
{
    json_t *ev = extra ? extra : json_object();

    json_object_set_new(ev, "event", json_string(kind));
    json_object_set_new(ev, "path", json_string(path));
    json_object_set_new(ev, "time_ms", json_integer(lsfs__now_ms()));
    json_array_append_new(db->events, ev);
}

int lsfs__vedit_queue(lsfs_db *db, bool note, int64_t id, int64_t node, const float *vec, int dim)
{
    lsfs__vedit *e;

    if (db->n_vedits == db->cap_vedits) {
        size_t cap = db->cap_vedits ? db->cap_vedits * 2 : 64;
        lsfs__vedit *nv = realloc(db->vedits, cap * sizeof *nv);
        if (!nv)
            return lsfs__err(db, AIOS_ENOMEM, NULL, "out of memory");
        db->vedits = nv;
        db->cap_vedits = cap;
    }
    e = &db->vedits[db->n_vedits];
    e->id = id;
    e->node = node;
    e->note = note;
    e->vec = NULL;
    if (vec) {
        e->vec = malloc((size_t)dim * sizeof(float));
        if (!e->vec)
            return lsfs__err(db, AIOS_ENOMEM, NULL, "out of memory");
        memcpy(e->vec, vec, (size_t)dim * sizeof(float));
    }
    db->n_vedits++;
    return 0;
}

/* ---- connections ------------------------------------------------------------------- */

/* Open a connection with the pragmas every connection needs. */
static int db_open_raw(lsfs_store *s, lsfs_db **out)
{
    lsfs_db *db;
    int rc;

    *out = NULL;
    db = calloc(1, sizeof *db);
    if (!db)
        return AIOS_ENOMEM;
    db->s = s;
    db->events = json_array();
    rc = sqlite3_open_v2(s->db_path, &db->h,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                         NULL);
    if (rc != SQLITE_OK) {
        aios_log(AIOS_LOG_ERROR, "lsfs", "cannot open '%s': %s", s->db_path,
                 db->h ? sqlite3_errmsg(db->h) : sqlite3_errstr(rc));
        rc = AIOS_EIO;
        goto out_close;
    }
    sqlite3_extended_result_codes(db->h, 1);
    sqlite3_busy_timeout(db->h, s->opt.busy_timeout_ms);
    rc = lsfs__exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                        "PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY;"
                        "PRAGMA cache_size=-32768; PRAGMA mmap_size=1073741824;");
    if (rc < 0) {
        aios_log(AIOS_LOG_ERROR, "lsfs", "cannot set up '%s': %s", s->db_path, db->errmsg);
        goto out_close;
    }
    rc = lsfs__register_functions(db->h);
    if (rc < 0)
        goto out_close;
    *out = db;
    return 0;

out_close:
    sqlite3_close_v2(db->h);
    json_decref(db->events);
    free(db);
    return rc;
}

static void db_free(lsfs_db *db)
{
    for (size_t i = 0; i < LSFS_STMT_SLOTS; i++)
        if (db->stmts[i].st)
            sqlite3_finalize(db->stmts[i].st);
    vedits_clear(db);
    free(db->vedits);
    sqlite3_close_v2(db->h);
    json_decref(db->events);
    free(db);
}

int lsfs_db_open(lsfs_store *s, lsfs_db **out)
{
    int rc = db_open_raw(s, out);

    if (rc < 0)
        return rc;
    pthread_mutex_lock(&s->dbs_lock);
    (*out)->next = s->dbs;
    s->dbs = *out;
    pthread_mutex_unlock(&s->dbs_lock);
    return 0;
}

void lsfs_db_close(lsfs_db *db)
{
    lsfs_store *s;
    lsfs_db **pp;

    if (!db)
        return;
    s = db->s;
    pthread_mutex_lock(&s->dbs_lock);
    for (pp = &s->dbs; *pp; pp = &(*pp)->next)
        if (*pp == db) {
            *pp = db->next;
            break;
        }
    pthread_mutex_unlock(&s->dbs_lock);
    if (tls_conn.db == db)
        tls_conn.db = NULL;
    db_free(db);
}

lsfs_db *lsfs_db_thread(lsfs_store *s)
{
    lsfs_db *db;

    if (!s)
        return NULL;
    if (tls_conn.s == s && tls_conn.gen == s->gen && tls_conn.db)
        return tls_conn.db;
    if (lsfs_db_open(s, &db) < 0)
        return NULL;
    tls_conn.s = s;
    tls_conn.gen = s->gen;
    tls_conn.db = db;
    return db;
}

int lsfs_db_integrity_check(lsfs_db *db)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db->h, "PRAGMA integrity_check", -1, &st, NULL);
    const char *res;

    if (rc != SQLITE_OK)
        return lsfs__sqlerr(db, rc, "integrity_check");
    rc = sqlite3_step(st);
    res = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
    if (!res || strcmp(res, "ok") != 0) {
        lsfs__err(db, AIOS_ECORRUPT, NULL, "integrity check: %s", res ? res : "no answer");
        sqlite3_finalize(st);
        return AIOS_ECORRUPT;
    }
    sqlite3_finalize(st);
    return 0;
}

/* ---- the store ------------------------------------------------------------------------ */

const char *lsfs_store_db_path(const lsfs_store *s)
{
    return s->db_path;
}

bool lsfs_store_has_embedder(const lsfs_store *s)
{
    return s && s->sem.emb != NULL;
}

int lsfs_store_open(const char *data_dir, const lsfs_options *opt, lsfs_store **out)
{
    lsfs_store *s;
    lsfs_db *db = NULL;
    int rc;

    *out = NULL;
    if (!data_dir || !*data_dir)
        return AIOS_EINVAL;
    if (mkdir(data_dir, 0700) < 0 && errno != EEXIST)
        return aios_from_errno(errno);
    s = calloc(1, sizeof *s);
    if (!s)
        return AIOS_ENOMEM;
    if (opt)
        s->opt = *opt;
    if (s->opt.chunk_tokens <= 0)
        s->opt.chunk_tokens = 200;
    if (s->opt.chunk_overlap <= 0)
        s->opt.chunk_overlap = 32;
    if (s->opt.chunk_overlap >= s->opt.chunk_tokens)
        s->opt.chunk_overlap = s->opt.chunk_tokens / 4;
    if (s->opt.max_file_bytes <= 0)
        s->opt.max_file_bytes = 64ll << 20;
    if (s->opt.busy_timeout_ms <= 0)
        s->opt.busy_timeout_ms = 10000;
    if (s->opt.rrf_k <= 0)
        s->opt.rrf_k = 60;
    if (s->opt.rrf_w_keyword <= 0)
        s->opt.rrf_w_keyword = 1.0;
    if (s->opt.rrf_w_semantic <= 0)
        s->opt.rrf_w_semantic = 1.0;
    if (s->opt.mount_max_file_bytes <= 0)
        s->opt.mount_max_file_bytes = 8ll << 20;
    s->gen = atomic_fetch_add(&store_gen, 1);
    pthread_mutex_init(&s->dbs_lock, NULL);
    pthread_mutex_init(&s->watch_lock, NULL);
    pthread_mutex_init(&s->mnt_lock, NULL);
    pthread_rwlock_init(&s->sem.map_lock, NULL);
    s->watch_next = 1;
    s->data_dir = strdup(data_dir);
    if (!s->data_dir || asprintf(&s->db_path, "%s/lsfs.db", data_dir) < 0) {
        s->db_path = NULL;
        rc = AIOS_ENOMEM;
        goto out_free;
    }
    if (opt && opt->embed_model) {
        /* copied below by lsfs__sem_open; keep our own string */
        s->opt.embed_model = strdup(opt->embed_model);
    }
    rc = db_open_raw(s, &db);
    if (rc < 0)
        goto out_free;
    rc = lsfs__migrate(db);
    if (rc < 0) {
        aios_log(AIOS_LOG_ERROR, "lsfs", "cannot migrate '%s': %s", s->db_path, db->errmsg);
        goto out_free;
    }
    db->next = s->dbs;
    s->dbs = db;
    rc = lsfs__sem_open(s);
    if (rc < 0)
        goto out_free;
    if (!s->opt.no_vindex_rebuild) {
        rc = lsfs__sem_rebuild(db);
        if (rc < 0)
            goto out_free;
    }
    rc = lsfs__mounts_load(db);
    if (rc < 0)
        goto out_free;
    *out = s;
    return 0;

out_free:
    if (db && s->dbs != db)
        db_free(db);
    lsfs_store_close(s);
    return rc;
}

void lsfs_store_close(lsfs_store *s)
{
    lsfs_db *db, *next;

    if (!s)
        return;
    lsfs__watch_free_all(s);
    lsfs__mwatch_free(s);
    lsfs__mounts_free(s);
    for (db = s->dbs; db; db = next) {
        next = db->next;
        db_free(db);
    }
    s->dbs = NULL;
    lsfs__sem_close(s);
    pthread_rwlock_destroy(&s->sem.map_lock);
    pthread_mutex_destroy(&s->mnt_lock);
    pthread_mutex_destroy(&s->watch_lock);
    pthread_mutex_destroy(&s->dbs_lock);
    free((char *)s->opt.embed_model);
    free(s->db_path);
    free(s->data_dir);
    free(s);
}

/* In-memory numbers only: sys.stats runs on the loop thread, which must
 * not wait for SQLite. */
json_t *lsfs_store_stats(lsfs_store *s)
{
    json_t *o = json_object();
    size_t mounts = 0;

    pthread_mutex_lock(&s->mnt_lock);
    for (lsfs__mount *m = s->mounts; m; m = m->next)
        mounts++;
    pthread_mutex_unlock(&s->mnt_lock);
    json_object_set_new(o, "db", json_string(s->db_path));
    json_object_set_new(o, "mounts", json_integer((json_int_t)mounts));
    lsfs__sem_stats(s, o);
    return o;
}

/*
 * semantic.c - the store's side of embeddings: loading the encoder,
 * rebuilding the in-memory vector indexes from SQLite, applying committed
 * vector edits, and filtered top-k search.
 *
 * The encoder and the index are the embeddings module's (include/aios/
 * embed.h); this file owns the two index instances (file chunks and memory
 * notes) and the chunk -> file map used by search filters: the vector index
 * knows chunk ids only, filters are per file, so a filter callback maps the
 * chunk to its file and asks the caller's predicate.
 *
 * Without a model (none configured, or the files are missing) the store
 * runs with keyword search only; semantic calls answer AIOS_EUNAVAIL.
 *
 * Threads: open/close/rebuild on the opening thread; everything else from
 * any thread (the indexes and the map have their own locks).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aios/embed.h"
#include "aios/log.h"
#include "lsfs/lsfs_int.h"

/* ---- int64 -> int64 map ------------------------------------------------------- */

static size_t mix(int64_t k)
{
    uint64_t x = (uint64_t)k;

    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (size_t)x;
}

static int map_grow(lsfs__i64map *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 1024;
    int64_t *nk = calloc(ncap, sizeof *nk), *nv = calloc(ncap, sizeof *nv);

    if (!nk || !nv) {
        free(nk);
        free(nv);
        return AIOS_ENOMEM;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (m->keys[i] <= 0)
            continue;
        size_t h = mix(m->keys[i]) & (ncap - 1);
        while (nk[h])
            h = (h + 1) & (ncap - 1);
        nk[h] = m->keys[i];
        nv[h] = m->vals[i];
    }
    free(m->keys);
    free(m->vals);
    m->keys = nk;
    m->vals = nv;
    m->cap = ncap;
    m->used = m->live;
    return 0;
}

int lsfs__i64map_put(lsfs__i64map *m, int64_t key, int64_t val)
{
    size_t h, tomb = (size_t)-1;

    if (key <= 0)
        return AIOS_EINVAL;
    if ((m->used + 1) * 4 > m->cap * 3 && map_grow(m) < 0)
        return AIOS_ENOMEM;
    h = mix(key) & (m->cap - 1);
    while (m->keys[h]) {
        if (m->keys[h] == key) {
            m->vals[h] = val;
            return 0;
        }
        if (m->keys[h] < 0 && tomb == (size_t)-1)
            tomb = h;
        h = (h + 1) & (m->cap - 1);
    }
    if (tomb != (size_t)-1)
        h = tomb;
    else
        m->used++;
    m->keys[h] = key;
    m->vals[h] = val;
    m->live++;
    return 0;
}

bool lsfs__i64map_get(const lsfs__i64map *m, int64_t key, int64_t *val)
{
    size_t h;

    if (!m->cap)
        return false;
    h = mix(key) & (m->cap - 1);
    while (m->keys[h]) {
        if (m->keys[h] == key) {
            *val = m->vals[h];
            return true;
        }
        h = (h + 1) & (m->cap - 1);
    }
    return false;
}

void lsfs__i64map_del(lsfs__i64map *m, int64_t key)
{
    size_t h;

    if (!m->cap)
        return;
    h = mix(key) & (m->cap - 1);
    while (m->keys[h]) {
        if (m->keys[h] == key) {
            m->keys[h] = -1;
            m->live--;
            return;
        }
        h = (h + 1) & (m->cap - 1);
    }
}

void lsfs__i64map_free(lsfs__i64map *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

/* ---- encoder and indexes ------------------------------------------------------------ */

int lsfs__sem_open(lsfs_store *s)
{
    char buf[4096];
    const char *path = s->opt.embed_model;
    int rc;

    if (path && strcmp(path, "none") == 0) {
        aios_log(AIOS_LOG_DEBUG, "lsfs", "embeddings disabled; keyword search only");
        return 0;
    }
    if (!path || !*path)
        path = lsfs_embed_default_path(s->data_dir, buf, sizeof buf);
    if (!path)
        return AIOS_ETOOBIG;
    rc = lsfs_embed_open(path, &s->sem.emb);
    if (rc < 0) {
        s->sem.emb = NULL;
        /* a missing model is a supported configuration; a broken one too,
         * but worth a louder line */
        aios_log(rc == AIOS_ENOENT ? AIOS_LOG_INFO : AIOS_LOG_WARN, "lsfs",
                 "no embedding model at '%s' (%s); keyword search only", path,
                 aios_strerror(rc));
        return 0;
    }
    s->sem.dim = lsfs_embed_dim(s->sem.emb);
    snprintf(s->sem.model, sizeof s->sem.model, "%s", lsfs_embed_model_name(s->sem.emb));
    if ((rc = lsfs_vindex_new(s->sem.dim, &s->sem.chunks)) < 0 ||
        (rc = lsfs_vindex_new(s->sem.dim, &s->sem.notes)) < 0) {
        lsfs__sem_close(s);
        return rc;
    }
    aios_log(AIOS_LOG_INFO, "lsfs", "embedding model '%s' (%d dimensions) loaded from '%s'",
             s->sem.model, s->sem.dim, path);
    return 0;
}

void lsfs__sem_close(lsfs_store *s)
{
    lsfs_vindex_free(s->sem.chunks);
    lsfs_vindex_free(s->sem.notes);
    lsfs_embed_close(s->sem.emb);
    s->sem.chunks = s->sem.notes = NULL;
    s->sem.emb = NULL;
    lsfs__i64map_free(&s->sem.chunk_node);
}

/* Load every stored vector of the current model into the indexes. */
int lsfs__sem_rebuild(lsfs_db *db)
{
    lsfs_store *s = db->s;
    sqlite3_stmt *st;
    size_t n = 0, bad = 0;
    int rc;

    if (!s->sem.emb)
        return 0;
    st = lsfs__stmt(db, "SELECT v.chunk, c.node, v.vec FROM vectors v JOIN chunks c"
                        " ON c.id=v.chunk WHERE v.model=?1");
    if (!st)
        return AIOS_EIO;
    sqlite3_bind_text(st, 1, s->sem.model, -1, SQLITE_STATIC);
    /* vectors go into the index in large batches: one lock and one
     * approximate-index build per batch instead of one per growth step */
    enum { REBUILD_BATCH = 8192 };
    int64_t *ids = malloc(REBUILD_BATCH * sizeof(*ids));
    float *vecs = malloc((size_t)REBUILD_BATCH * (size_t)s->sem.dim * sizeof(float));
    size_t nb = 0;
    if (!ids || !vecs) {
        free(ids);
        free(vecs);
        sqlite3_reset(st);
        return AIOS_ENOMEM;
    }
    pthread_rwlock_wrlock(&s->sem.map_lock);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (sqlite3_column_bytes(st, 2) != s->sem.dim * (int)sizeof(float)) {
            bad++;
            continue;
        }
        ids[nb] = sqlite3_column_int64(st, 0);
        memcpy(vecs + nb * (size_t)s->sem.dim, sqlite3_column_blob(st, 2), (size_t)s->sem.dim * sizeof(float));
        if (lsfs__i64map_put(&s->sem.chunk_node, ids[nb], sqlite3_column_int64(st, 1)) < 0) {
            rc = SQLITE_NOMEM;
            break;
        }
        if (++nb == REBUILD_BATCH) {
            if (lsfs_vindex_add_batch(s->sem.chunks, ids, vecs, nb) < 0) {
                rc = SQLITE_NOMEM;
                break;
            }
            n += nb;
            nb = 0;
        }
    }
    if (rc == SQLITE_DONE && nb) {
        if (lsfs_vindex_add_batch(s->sem.chunks, ids, vecs, nb) < 0)
            rc = SQLITE_NOMEM;
        else
            n += nb;
    }
    pthread_rwlock_unlock(&s->sem.map_lock);
    free(ids);
    free(vecs);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return lsfs__sqlerr(db, rc, "vector rebuild");
    st = lsfs__stmt(db, "SELECT id, vec FROM mem_notes WHERE model=?1 AND vec IS NOT NULL");
    if (!st)
        return AIOS_EIO;
    sqlite3_bind_text(st, 1, s->sem.model, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (sqlite3_column_bytes(st, 1) == s->sem.dim * (int)sizeof(float))
            lsfs_vindex_add(s->sem.notes, sqlite3_column_int64(st, 0), sqlite3_column_blob(st, 1));
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return lsfs__sqlerr(db, rc, "note vector rebuild");
    aios_log(AIOS_LOG_INFO, "lsfs", "vector index rebuilt: %zu chunk vectors, %zu notes%s", n,
             lsfs_vindex_size(s->sem.notes), bad ? " (some vectors had a wrong size)" : "");
    return 0;
}

int lsfs__sem_embed(lsfs_store *s, const char *const *texts, size_t n, float *out)
{
    if (!s->sem.emb)
        return AIOS_EUNAVAIL;
    return lsfs_embed_texts(s->sem.emb, texts, n, out);
}

void lsfs__sem_apply(lsfs_store *s, const lsfs__vedit *e)
{
    lsfs_vindex *v = e->note ? s->sem.notes : s->sem.chunks;

    if (!v)
        return;
    if (e->note) {
        if (e->vec)
            lsfs_vindex_add(v, e->id, e->vec);
        else
            lsfs_vindex_remove(v, e->id);
        return;
    }
    pthread_rwlock_wrlock(&s->sem.map_lock);
    if (e->vec) {
        if (lsfs_vindex_add(v, e->id, e->vec) == 0)
            lsfs__i64map_put(&s->sem.chunk_node, e->id, e->node);
    } else {
        lsfs_vindex_remove(v, e->id);
        lsfs__i64map_del(&s->sem.chunk_node, e->id);
    }
    pthread_rwlock_unlock(&s->sem.map_lock);
}

typedef struct {
    lsfs_store *s;
    bool (*allow)(int64_t id, int64_t node, void *arg);
    void *arg;
} filt;

/* Called under the map's read lock (taken around the search). */
static bool chunk_filter(int64_t id, void *arg)
{
    filt *f = arg;
    int64_t node = 0;

    if (!lsfs__i64map_get(&f->s->sem.chunk_node, id, &node))
        return false;
    return f->allow(id, node, f->arg);
}

static bool note_filter(int64_t id, void *arg)
{
    filt *f = arg;

    return f->allow(id, 0, f->arg);
}

int lsfs__sem_search(lsfs_store *s, bool notes, const float *q, size_t k, bool exact,
                     bool (*allow)(int64_t id, int64_t node, void *arg), void *arg,
                     int64_t *ids, float *scores, size_t *n_out)
{
    filt f = {s, allow, arg};
    int rc;

    *n_out = 0;
    if (!s->sem.emb)
        return AIOS_EUNAVAIL;
    if (notes)
        return lsfs_vindex_search(s->sem.notes, q, k, exact, allow ? note_filter : NULL, &f,
                                  ids, scores, n_out);
    pthread_rwlock_rdlock(&s->sem.map_lock);
    rc = lsfs_vindex_search(s->sem.chunks, q, k, exact, allow ? chunk_filter : NULL, &f, ids,
                            scores, n_out);
    pthread_rwlock_unlock(&s->sem.map_lock);
    return rc;
}

void lsfs__sem_stats(lsfs_store *s, json_t *o)
{
    json_object_set_new(o, "embedder", json_boolean(s->sem.emb != NULL));
    if (!s->sem.emb)
        return;
    json_object_set_new(o, "embed_model", json_string(s->sem.model));
    json_object_set_new(o, "chunk_vectors", json_integer((json_int_t)lsfs_vindex_size(s->sem.chunks)));
    json_object_set_new(o, "note_vectors", json_integer((json_int_t)lsfs_vindex_size(s->sem.notes)));
}

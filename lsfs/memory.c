/*
 * memory.c - agent memory notes (mem.*): add, get, update, delete, search.
 *
 * A note has content, keywords (given, or the most frequent content words),
 * tags, links to other notes and an optional sentence vector.  Notes live
 * in LSFS tables (mem_notes, mem_tags, mem_shares, the mem_fts keyword
 * index) and are private to their owner unless shared with principals,
 * groups or everyone ("*").  Search combines FTS5 BM25 and vector
 * similarity with the same reciprocal-rank fusion as fs.search, and can
 * require tags.
 *
 * Threads: any, on the caller's connection.  The encoder runs before the
 * write transaction opens.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aios/log.h"
#include "lsfs/lsfs_int.h"

#define READABLE_NOTE                                                                     \
    "(n.owner=:me OR :admin=1 OR EXISTS(SELECT 1 FROM mem_shares s WHERE s.note=n.id AND" \
    " (s.grantee=:me OR s.grantee='*' OR s.grantee IN"                                   \
    "  (SELECT 'group:'||grp FROM group_members WHERE member=:me))))"

static void bind_who(sqlite3_stmt *st, const lsfs_actor *a)
{
    int i;

    if ((i = sqlite3_bind_parameter_index(st, ":me")))
        sqlite3_bind_text(st, i, a->principal, -1, SQLITE_STATIC);
    if ((i = sqlite3_bind_parameter_index(st, ":admin")))
        sqlite3_bind_int(st, i, a->admin);
}

/* A JSON array of strings from params[key], or NULL when absent. */
static int str_array(lsfs_db *db, const json_t *params, const char *key, json_t **out)
{
    json_t *v = json_object_get(params, key);
    size_t i;
    json_t *e;

    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_array(v))
        return lsfs__err(db, AIOS_EINVAL, key, "%s must be an array of strings", key);
    json_array_foreach(v, i, e)
        if (!json_is_string(e) || json_string_length(e) == 0 || json_string_length(e) > 128)
            return lsfs__err(db, AIOS_EINVAL, key, "%s must hold strings of 1 to 128 bytes",
                             key);
    *out = json_deep_copy(v);
    return 0;
}

static int embed_note(lsfs_db *db, const char *content, json_t *tags, float **vec)
{
    char *text = NULL;
    const char *t[1];
    int rc;

    *vec = NULL;
    if (!db->s->sem.emb)
        return 0;
    if (json_array_size(tags)) {
        char *tj = json_dumps(tags, JSON_COMPACT);
        if (asprintf(&text, "%s %s", content, tj ? tj : "") < 0)
            text = NULL;
        free(tj);
    } else {
        text = strdup(content);
    }
    if (!text)
        return lsfs__err(db, AIOS_ENOMEM, NULL, "out of memory");
    *vec = malloc((size_t)db->s->sem.dim * sizeof(float));
    if (!*vec) {
        free(text);
        return lsfs__err(db, AIOS_ENOMEM, NULL, "out of memory");
    }
    t[0] = text;
    rc = lsfs__sem_embed(db->s, t, 1, *vec);
    free(text);
    if (rc < 0) {
        free(*vec);
        *vec = NULL;
        return lsfs__err(db, rc, "content", "cannot embed the note: %s", aios_strerror(rc));
    }
    return 0;
}

static int set_tags(lsfs_db *db, int64_t id, json_t *tags)
{
    sqlite3_stmt *st = lsfs__stmt(db, "DELETE FROM mem_tags WHERE note=?1");
    size_t i;
    json_t *t;
    int rc;

    if (!st)
        return AIOS_EIO;
    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return lsfs__sqlerr(db, rc, "tags");
    json_array_foreach(tags, i, t) {
        st = lsfs__stmt(db, "INSERT OR IGNORE INTO mem_tags(note,tag) VALUES(?1,?2)");
        if (!st)
            return AIOS_EIO;
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_text(st, 2, json_string_value(t), -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
            return lsfs__sqlerr(db, rc, "tags");
    }
    return 0;
}

static int set_shares(lsfs_db *db, int64_t id, json_t *share)
{
    sqlite3_stmt *st = lsfs__stmt(db, "DELETE FROM mem_shares WHERE note=?1");
    size_t i;
    json_t *g;
    int rc;

    if (!st)
        return AIOS_EIO;
    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return lsfs__sqlerr(db, rc, "shares");
    json_array_foreach(share, i, g) {
        const char *s = json_string_value(g);
        char buf[96];
        if (strcmp(s, "*") != 0 && !strchr(s, ':'))
            snprintf(buf, sizeof buf, "agent:%s", s);
        else
            snprintf(buf, sizeof buf, "%s", s);
        if (strcmp(buf, "*") != 0 && strncmp(buf, "agent:", 6) != 0 &&
            strncmp(buf, "uid:", 4) != 0 && strncmp(buf, "group:", 6) != 0)
            return lsfs__err(db, AIOS_EINVAL, "share",
                             "share with agent:<name>, uid:<n>, group:<name> or *");
        st = lsfs__stmt(db, "INSERT OR IGNORE INTO mem_shares(note,grantee) VALUES(?1,?2)");
        if (!st)
            return AIOS_EIO;
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_text(st, 2, buf, -1, SQLITE_TRANSIENT);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
            return lsfs__sqlerr(db, rc, "shares");
    }
    return 0;
}

/* The JSON of note id if the actor may read it; AIOS_ENOENT/EPERM else. */
static int note_json(lsfs_db *db, const lsfs_actor *a, int64_t id, json_t **out)
{
    sqlite3_stmt *st = lsfs__stmt(db, "SELECT n.owner, n.content, n.keywords, n.tags, n.links,"
                                      " n.ctime, n.mtime, " READABLE_NOTE
                                      " FROM mem_notes n WHERE n.id=:id");
    char ct[40], mt[40];
    int rc;

    *out = NULL;
    if (!st)
        return AIOS_EIO;
    bind_who(st, a);
    sqlite3_bind_int64(st, sqlite3_bind_parameter_index(st, ":id"), id);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        if (rc == SQLITE_DONE)
            return lsfs__err(db, AIOS_ENOENT, "id", "no memory note %lld", (long long)id);
        return lsfs__sqlerr(db, rc, "note");
    }
    if (!sqlite3_column_int(st, 7)) {
        sqlite3_reset(st);
        /* do not reveal that someone else's note exists */
        return lsfs__err(db, AIOS_ENOENT, "id", "no memory note %lld", (long long)id);
    }
    lsfs__fmt_time(sqlite3_column_int64(st, 5), ct, sizeof ct);
    lsfs__fmt_time(sqlite3_column_int64(st, 6), mt, sizeof mt);
    *out = json_pack("{s:I,s:s,s:s,s:o,s:o,s:o,s:s,s:s}", "id", (json_int_t)id, "owner",
                     (const char *)sqlite3_column_text(st, 0), "content",
                     (const char *)sqlite3_column_text(st, 1), "keywords",
                     json_loads((const char *)sqlite3_column_text(st, 2), 0, NULL), "tags",
                     json_loads((const char *)sqlite3_column_text(st, 3), 0, NULL), "links",
                     json_loads((const char *)sqlite3_column_text(st, 4), 0, NULL), "created",
                     ct, "updated", mt);
    sqlite3_reset(st);
    st = lsfs__stmt(db, "SELECT grantee FROM mem_shares WHERE note=?1 ORDER BY grantee");
    if (st && *out) {
        json_t *sh = json_array();
        sqlite3_bind_int64(st, 1, id);
        while (sqlite3_step(st) == SQLITE_ROW)
            json_array_append_new(sh, json_string((const char *)sqlite3_column_text(st, 0)));
        sqlite3_reset(st);
        json_object_set_new(*out, "shared_with", sh);
    }
    return *out ? 0 : lsfs__err(db, AIOS_ECORRUPT, "id", "note %lld is malformed", (long long)id);
}

static int write_vec(lsfs_db *db, int64_t id, const float *vec)
{
    sqlite3_stmt *st = lsfs__stmt(db, "UPDATE mem_notes SET model=?2, vec=?3 WHERE id=?1");
    int rc;

    if (!st)
        return AIOS_EIO;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, db->s->sem.model, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 3, vec, db->s->sem.dim * (int)sizeof(float), SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return lsfs__sqlerr(db, rc, "note vector");
    return lsfs__vedit_queue(db, true, id, 0, vec, db->s->sem.dim);
}

int lsfs_mem_add(lsfs_db *db, const lsfs_actor *a, const json_t *params, json_t **out)
{
    const char *content = json_string_value(json_object_get(params, "content"));
    json_t *tags = NULL, *kw = NULL, *share = NULL, *links = json_object_get(params, "links");
    char *tj = NULL, *kj = NULL, *lj = NULL;
    float *vec = NULL;
    sqlite3_stmt *st;
    int64_t id = 0, now = lsfs__now_ms();
    int rc;

    lsfs__clear_err(db);
    *out = NULL;
    if (!content || !*content)
        return lsfs__err(db, AIOS_EINVAL, "content", "a note needs content");
    if ((rc = str_array(db, params, "tags", &tags)) < 0 ||
        (rc = str_array(db, params, "keywords", &kw)) < 0 ||
        (rc = str_array(db, params, "share", &share)) < 0)
        goto out;
    if (links && !json_is_array(links)) {
        rc = lsfs__err(db, AIOS_EINVAL, "links", "links is an array of note ids");
        goto out;
    }
    if (!tags)
        tags = json_array();
    if (!kw)
        kw = lsfs__keywords(content, strlen(content), 8);
    tj = json_dumps(tags, JSON_COMPACT);
    kj = json_dumps(kw, JSON_COMPACT);
    lj = links ? json_dumps(links, JSON_COMPACT) : strdup("[]");
    if (!tj || !kj || !lj) {
        rc = lsfs__err(db, AIOS_ENOMEM, NULL, "out of memory");
        goto out;
    }
    if ((rc = embed_note(db, content, tags, &vec)) < 0)
        goto out;
    if ((rc = lsfs__begin(db)) < 0)
        goto out;
    st = lsfs__stmt(db, "INSERT INTO mem_notes(owner,content,keywords,tags,links,ctime,mtime)"
                        " VALUES(?1,?2,?3,?4,?5,?6,?6)");
    if (!st) {
        rc = AIOS_EIO;
        goto out_txn;
    }
    sqlite3_bind_text(st, 1, a->principal, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, content, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, kj, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, tj, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, lj, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, now);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        rc = lsfs__sqlerr(db, rc, "add note");
        goto out_txn;
    }
    id = sqlite3_last_insert_rowid(db->h);
    rc = set_tags(db, id, tags);
    if (rc == 0 && share)
        rc = set_shares(db, id, share);
    if (rc == 0 && vec)
        rc = write_vec(db, id, vec);
out_txn:
    rc = lsfs__end(db, rc);
    if (rc == 0)
        rc = note_json(db, a, id, out);
out:
    json_decref(tags);
    json_decref(kw);
    json_decref(share);
    free(tj);
    free(kj);
    free(lj);
    free(vec);
    return rc;
}

int lsfs_mem_get(lsfs_db *db, const lsfs_actor *a, int64_t id, json_t **out)
{
    lsfs__clear_err(db);
    return note_json(db, a, id, out);
}

/* Load the owner of note id; AIOS_ENOENT when missing. */
static int note_owner(lsfs_db *db, int64_t id, char *owner, size_t len)
{
    sqlite3_stmt *st = lsfs__stmt(db, "SELECT owner FROM mem_notes WHERE id=?1");
    int rc;

    if (!st)
        return AIOS_EIO;
    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        snprintf(owner, len, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return lsfs__err(db, AIOS_ENOENT, "id", "no memory note %lld", (long long)id);
    return rc == SQLITE_ROW ? 0 : lsfs__sqlerr(db, rc, "note");
}

int lsfs_mem_update(lsfs_db *db, const lsfs_actor *a, const json_t *params, json_t **out)
{
    int64_t id = json_integer_value(json_object_get(params, "id"));
    const char *content = json_string_value(json_object_get(params, "content"));
    json_t *tags = NULL, *kw = NULL, *share = NULL, *links = json_object_get(params, "links");
    char owner[80], *tj = NULL, *kj = NULL, *lj = NULL;
    float *vec = NULL;
    sqlite3_stmt *st;
    int rc;

    lsfs__clear_err(db);
    *out = NULL;
    if (content && !*content)
        return lsfs__err(db, AIOS_EINVAL, "content", "a note needs content");
    if ((rc = str_array(db, params, "tags", &tags)) < 0 ||
        (rc = str_array(db, params, "keywords", &kw)) < 0 ||
        (rc = str_array(db, params, "share", &share)) < 0)
        goto out;
    if (links && !json_is_array(links)) {
        rc = lsfs__err(db, AIOS_EINVAL, "links", "links is an array of note ids");
        goto out;
    }
    if ((rc = note_owner(db, id, owner, sizeof owner)) < 0)
        goto out;
    if (!a->admin && strcmp(owner, a->principal) != 0) {
        json_t *tmp = NULL;
        /* readable but not ours: permission denied; unreadable: not found */
        rc = note_json(db, a, id, &tmp);
        json_decref(tmp);
        if (rc == 0)
            rc = lsfs__err(db, AIOS_EPERM, "id", "only %s may change note %lld", owner,
                           (long long)id);
        goto out;
    }
    if (content || tags) {
        json_t *cur = NULL;
        if ((rc = note_json(db, a, id, &cur)) < 0)
            goto out;
        rc = embed_note(db, content ? content : json_string_value(json_object_get(cur, "content")),
                        tags ? tags : json_object_get(cur, "tags"), &vec);
        json_decref(cur);
        if (rc < 0)
            goto out;
    }
    if (content && !kw)
        kw = lsfs__keywords(content, strlen(content), 8);
    if ((rc = lsfs__begin(db)) < 0)
        goto out;
    st = lsfs__stmt(db, "UPDATE mem_notes SET content=coalesce(?2,content),"
                        " keywords=coalesce(?3,keywords), tags=coalesce(?4,tags),"
                        " links=coalesce(?5,links), mtime=?6 WHERE id=?1");
    if (!st) {
        rc = AIOS_EIO;
        goto out_txn;
    }
    tj = tags ? json_dumps(tags, JSON_COMPACT) : NULL;
    kj = kw ? json_dumps(kw, JSON_COMPACT) : NULL;
    lj = links ? json_dumps(links, JSON_COMPACT) : NULL;
    sqlite3_bind_int64(st, 1, id);
    if (content)
        sqlite3_bind_text(st, 2, content, -1, SQLITE_STATIC);
    if (kj)
        sqlite3_bind_text(st, 3, kj, -1, SQLITE_STATIC);
    if (tj)
        sqlite3_bind_text(st, 4, tj, -1, SQLITE_STATIC);
    if (lj)
        sqlite3_bind_text(st, 5, lj, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, lsfs__now_ms());
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        rc = lsfs__sqlerr(db, rc, "update note");
        goto out_txn;
    }
    rc = 0;
    if (tags)
        rc = set_tags(db, id, tags);
    if (rc == 0 && share)
        rc = set_shares(db, id, share);
    if (rc == 0 && vec)
        rc = write_vec(db, id, vec);
out_txn:
    rc = lsfs__end(db, rc);
    if (rc == 0)
        rc = note_json(db, a, id, out);
out:
    json_decref(tags);
    json_decref(kw);
    json_decref(share);
    free(tj);
    free(kj);
    free(lj);
    free(vec);
    return rc;
}

int lsfs_mem_delete(lsfs_db *db, const lsfs_actor *a, int64_t id, json_t **out)
{
    char owner[80];
    sqlite3_stmt *st;
    int rc;

    lsfs__clear_err(db);
    *out = NULL;
    if ((rc = lsfs__begin(db)) < 0)
        return rc;
    if ((rc = note_owner(db, id, owner, sizeof owner)) < 0)
        goto out;
    if (!a->admin && strcmp(owner, a->principal) != 0) {
        json_t *tmp = NULL;
        rc = note_json(db, a, id, &tmp);
        json_decref(tmp);
        if (rc == 0)
            rc = lsfs__err(db, AIOS_EPERM, "id", "only %s may delete note %lld", owner,
                           (long long)id);
        goto out;
    }
    st = lsfs__stmt(db, "DELETE FROM mem_notes WHERE id=?1");
    if (!st) {
        rc = AIOS_EIO;
        goto out;
    }
    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        rc = lsfs__sqlerr(db, rc, "delete note");
        goto out;
    }
    rc = lsfs__vedit_queue(db, true, id, 0, NULL, 0);
    *out = json_pack("{s:I,s:b}", "id", (json_int_t)id, "deleted", 1);
out:
    rc = lsfs__end(db, rc);
    if (rc < 0) {
        json_decref(*out);
        *out = NULL;
    }
    return rc;
}

/* ---- search ------------------------------------------------------------------------- */

static bool allow_note(int64_t id, int64_t node, void *arg)
{
    int64_t v;

    (void)node;
    return lsfs__i64map_get(arg, id, &v);
}

/* The tag condition: every requested tag is on the note. */
#define TAGS_OK                                                                           \
    " (json_array_length(:tags)=0 OR (SELECT count(*) FROM mem_tags t WHERE t.note=n.id"  \
    "   AND t.tag IN (SELECT value FROM json_each(:tags)))=json_array_length(:tags))"

int lsfs_mem_search(lsfs_db *db, const lsfs_actor *a, const json_t *params, json_t **out)
{
    const char *query = json_string_value(json_object_get(params, "query"));
    const char *mode_s = json_string_value(json_object_get(params, "mode"));
    json_int_t k = json_integer_value(json_object_get(params, "k"));
    json_t *tags = NULL, *results = NULL;
    char *tj = NULL, *fts = NULL;
    int64_t kw_ids[200], sem_ids[200];
    float sem_sc[200];
    double kw_sc[200];
    size_t nkw = 0, nsem = 0, nr = 0;
    lsfs__ranked *ranked = NULL;
    lsfs__i64map allowed = {0};
    const char *fallback = NULL;
    float *qv = NULL;
    sqlite3_stmt *st;
    int mode, rc, depth;

    lsfs__clear_err(db);
    *out = NULL;
    if (!query || !*query)
        return lsfs__err(db, AIOS_EINVAL, "query", "the query is empty");
    if (k <= 0)
        k = 5;
    if (k > 100)
        k = 100;
    depth = k * 4 < 40 ? 40 : (int)k * 4;
    if (depth > 200)
        depth = 200;
    mode = !mode_s || strcmp(mode_s, "hybrid") == 0 ? LSFS_SEARCH_HYBRID
           : strcmp(mode_s, "keyword") == 0         ? LSFS_SEARCH_KEYWORD
           : strcmp(mode_s, "semantic") == 0        ? LSFS_SEARCH_SEMANTIC
                                                    : -1;
    if (mode < 0)
        return lsfs__err(db, AIOS_EINVAL, "mode", "mode is keyword, semantic or hybrid");
    if (!db->s->sem.emb && mode == LSFS_SEARCH_SEMANTIC)
        return lsfs__err(db, AIOS_EUNAVAIL, "mode",
                         "semantic search is unavailable: no embedding model is loaded");
    if (!db->s->sem.emb && mode == LSFS_SEARCH_HYBRID) {
        mode = LSFS_SEARCH_KEYWORD;
        fallback = "no embedding model is loaded; keyword results only";
    }
    if ((rc = str_array(db, params, "tags", &tags)) < 0)
        return rc;
    if (!tags)
        tags = json_array();
    tj = json_dumps(tags, JSON_COMPACT);
    if (mode != LSFS_SEARCH_KEYWORD) {
        const char *t[1] = {query};
        qv = malloc((size_t)db->s->sem.dim * sizeof *qv);
        if (!qv || (rc = lsfs__sem_embed(db->s, t, 1, qv)) < 0) {
            rc = lsfs__err(db, qv ? rc : AIOS_ENOMEM, "query", "cannot embed the query");
            goto out;
        }
    }
    if ((rc = lsfs__exec(db, "BEGIN")) < 0)
        goto out;
    if (mode != LSFS_SEARCH_SEMANTIC) {
        if ((rc = lsfs__fts_query(query, &fts)) < 0)
            goto out_read;
        st = lsfs__stmt(db, "SELECT n.id, bm25(mem_fts, 1.0, 2.0, 2.0) AS s FROM mem_fts"
                            " JOIN mem_notes n ON n.id=mem_fts.rowid"
                            " WHERE mem_fts MATCH :q AND " READABLE_NOTE " AND" TAGS_OK
                            " ORDER BY s LIMIT :limit");
        if (!st) {
            rc = AIOS_EIO;
            goto out_read;
        }
        if (*fts) {
            bind_who(st, a);
            sqlite3_bind_text(st, sqlite3_bind_parameter_index(st, ":q"), fts, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, sqlite3_bind_parameter_index(st, ":tags"), tj, -1,
                              SQLITE_STATIC);
            sqlite3_bind_int(st, sqlite3_bind_parameter_index(st, ":limit"), depth);
            while (sqlite3_step(st) == SQLITE_ROW && nkw < (size_t)depth) {
                kw_ids[nkw] = sqlite3_column_int64(st, 0);
                kw_sc[nkw++] = -sqlite3_column_double(st, 1);
            }
            sqlite3_reset(st);
        }
    }
    if (mode != LSFS_SEARCH_KEYWORD) {
        st = lsfs__stmt(db, "SELECT n.id FROM mem_notes n WHERE " READABLE_NOTE " AND" TAGS_OK);
        if (!st) {
            rc = AIOS_EIO;
            goto out_read;
        }
        bind_who(st, a);
        sqlite3_bind_text(st, sqlite3_bind_parameter_index(st, ":tags"), tj, -1, SQLITE_STATIC);
        while (sqlite3_step(st) == SQLITE_ROW)
            lsfs__i64map_put(&allowed, sqlite3_column_int64(st, 0), 1);
        sqlite3_reset(st);
        if (allowed.live > 0 &&
            (rc = lsfs__sem_search(db->s, true, qv, (size_t)depth, false, allow_note, &allowed,
                                   sem_ids, sem_sc, &nsem)) < 0) {
            lsfs__err(db, rc, NULL, "vector search failed");
            goto out_read;
        }
    }
    if ((rc = lsfs__rrf(kw_ids, nkw, sem_ids, nsem, db->s->opt.rrf_k, db->s->opt.rrf_w_keyword,
                        db->s->opt.rrf_w_semantic, &ranked, &nr)) < 0)
        goto out_read;
    results = json_array();
    for (size_t i = 0; i < nr && (json_int_t)json_array_size(results) < k; i++) {
        json_t *note = NULL;
        if (note_json(db, a, ranked[i].key, &note) < 0) {
            lsfs__clear_err(db);
            continue;
        }
        if (ranked[i].rank_a) {
            json_object_set_new(note, "keyword_rank", json_integer(ranked[i].rank_a));
            json_object_set_new(note, "keyword_score", json_real(kw_sc[ranked[i].rank_a - 1]));
        }
        if (ranked[i].rank_b) {
            json_object_set_new(note, "semantic_rank", json_integer(ranked[i].rank_b));
            json_object_set_new(note, "semantic_score", json_real(sem_sc[ranked[i].rank_b - 1]));
        }
        if (mode == LSFS_SEARCH_HYBRID)
            json_object_set_new(note, "score", json_real(ranked[i].score));
        else
            json_object_set(note, "score",
                            json_object_get(note, mode == LSFS_SEARCH_KEYWORD ? "keyword_score"
                                                                              : "semantic_score"));
        json_array_append_new(results, note);
    }
    *out = json_pack("{s:s,s:s,s:o}", "query", query, "mode",
                     mode == LSFS_SEARCH_HYBRID ? "hybrid"
                     : mode == LSFS_SEARCH_KEYWORD ? "keyword" : "semantic",
                     "results", results);
    if (fallback)
        json_object_set_new(*out, "fallback", json_string(fallback));
    rc = 0;
out_read:
    lsfs__exec(db, rc < 0 ? "ROLLBACK" : "COMMIT");
out:
    lsfs__i64map_free(&allowed);
    free(ranked);
    free(fts);
    free(tj);
    free(qv);
    json_decref(tags);
    return rc;
}

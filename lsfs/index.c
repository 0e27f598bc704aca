/*
 * index.c - keeps the chunks, the FTS5 keyword index and the vectors of a
 * file in step with its current version.
 *
 * Inside the writer's transaction: the old chunks are deleted (triggers
 * keep chunks_fts in step, vectors go by foreign-key cascade), the new
 * content is chunked and inserted, and vectors of chunks whose text did not
 * change (same XXH3-128 of heading and body) are carried over, so editing
 * one paragraph of a long file re-embeds one chunk.  After the commit,
 * lsfs__embed_node() embeds the remaining chunks in a second, short
 * transaction; a crash in between leaves chunks without vectors, which the
 * start-up backfill embeds.
 *
 * Threads: any, on the caller's connection.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "aios/log.h"
#include "lsfs/lsfs_int.h"

#define EMBED_BATCH 16

typedef struct {
    XXH128_hash_t h;
    void *vec;
    int bytes;
} reuse;

/* Text given to the encoder for a chunk: "heading: body" or the body. */
static char *embed_text(const char *heading, const char *body)
{
    char *s = NULL;

    if (heading && *heading) {
        if (asprintf(&s, "%s: %s", heading, body) < 0)
            return NULL;
        return s;
    }
    return strdup(body);
}

/* Hash of a chunk's heading and body (the heading seeds the body's hash). */
static XXH128_hash_t chunk_hash(const char *heading, const char *body, size_t blen)
{
    return XXH3_128bits_withSeed(body, blen, XXH3_64bits(heading, strlen(heading)));
}

/* Queue removal of the node's vectors from the in-memory index. */
static int unqueue_vectors(lsfs_db *db, int64_t node_id)
{
    sqlite3_stmt *st;
    int rc;

    if (!db->s->sem.chunks)
        return 0;
    st = lsfs__stmt(db, "SELECT v.chunk FROM vectors v JOIN chunks c ON c.id=v.chunk"
                        " WHERE c.node=?1");
    if (!st)
        return AIOS_EIO;
    sqlite3_bind_int64(st, 1, node_id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (lsfs__vedit_queue(db, false, sqlite3_column_int64(st, 0), node_id, NULL, 0) < 0) {
            sqlite3_reset(st);
            return AIOS_ENOMEM;
        }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : lsfs__sqlerr(db, rc, "vectors");
}

int lsfs__unindex_node(lsfs_db *db, int64_t node_id)
{
    sqlite3_stmt *st;
    int rc;

    if ((rc = unqueue_vectors(db, node_id)) < 0)
        return rc;
    st = lsfs__stmt(db, "DELETE FROM chunks WHERE node=?1");
    if (!st)
        return AIOS_EIO;
    sqlite3_bind_int64(st, 1, node_id);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : lsfs__sqlerr(db, rc, "unindex");
}

int lsfs__index_node(lsfs_db *db, const lsfs__node *n, const void *data, size_t len)
{
    const char *name = lsfs__path_name(n->path);
    lsfs__chunk *ch = NULL;
    size_t nch = 0, nre = 0;
    reuse *re = NULL;
    sqlite3_stmt *st;
    char *title = NULL, *body = NULL;
    int rc;

    /* vectors worth keeping, by chunk text hash */
    if (db->s->sem.emb) {
        size_t cap = 0;
        st = lsfs__stmt(db, "SELECT c.thash, v.vec FROM chunks c JOIN vectors v ON v.chunk=c.id"
                            " WHERE c.node=?1 AND v.model=?2");
        if (!st)
            return AIOS_EIO;
        sqlite3_bind_int64(st, 1, n->id);
        sqlite3_bind_text(st, 2, db->s->sem.model, -1, SQLITE_STATIC);
        while (sqlite3_step(st) == SQLITE_ROW) {
            if (sqlite3_column_bytes(st, 0) != (int)sizeof(XXH128_hash_t))
                continue;
            if (nre == cap) {
                cap = cap ? cap * 2 : 16;
                reuse *nr = realloc(re, cap * sizeof *nr);
                if (!nr)
                    break;
                re = nr;
            }
            memcpy(&re[nre].h, sqlite3_column_blob(st, 0), sizeof(XXH128_hash_t));
            re[nre].bytes = sqlite3_column_bytes(st, 1);
            re[nre].vec = malloc((size_t)re[nre].bytes);
            if (!re[nre].vec)
                break;
            memcpy(re[nre].vec, sqlite3_column_blob(st, 1), (size_t)re[nre].bytes);
            nre++;
        }
        sqlite3_reset(st);
    }
    if ((rc = lsfs__unindex_node(db, n->id)) < 0)
        goto out;
    if (len == 0 || !lsfs__is_text(data, len))
        goto out;
    if ((rc = lsfs__chunk_split(data, len, db->s->opt.chunk_tokens, db->s->opt.chunk_overlap,
                                &ch, &nch)) < 0) {
        rc = lsfs__err(db, rc, NULL, "cannot chunk '%s'", n->path);
        goto out;
    }
    for (size_t i = 0; i < nch; i++) {
        const char *b = (const char *)data + ch[i].start;
        XXH128_hash_t h = chunk_hash(ch[i].heading, b, ch[i].len);
        int64_t cid;

        free(title);
        title = NULL;
        if (asprintf(&title, "%s%s%s", name, ch[i].heading[0] ? " > " : "", ch[i].heading) < 0) {
            title = NULL;
            rc = lsfs__err(db, AIOS_ENOMEM, NULL, "out of memory");
            goto out;
        }
        st = lsfs__stmt(db, "INSERT INTO chunks(node,ver,seq,start,len,heading,title,body,thash)"
                            " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9)");
        if (!st) {
            rc = AIOS_EIO;
            goto out;
        }
        sqlite3_bind_int64(st, 1, n->id);
        sqlite3_bind_int64(st, 2, n->head);
        sqlite3_bind_int(st, 3, (int)i);
        sqlite3_bind_int64(st, 4, (sqlite3_int64)ch[i].start);
        sqlite3_bind_int64(st, 5, (sqlite3_int64)ch[i].len);
        sqlite3_bind_text(st, 6, ch[i].heading, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 7, title, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 8, b, (int)ch[i].len, SQLITE_STATIC);
        sqlite3_bind_blob(st, 9, &h, sizeof h, SQLITE_STATIC);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) {
            rc = lsfs__sqlerr(db, rc, "insert chunk");
            goto out;
        }
        rc = 0;
        cid = sqlite3_last_insert_rowid(db->h);
        for (size_t k = 0; k < nre; k++) {
            if (!re[k].vec || !XXH128_isEqual(re[k].h, h) ||
                re[k].bytes != db->s->sem.dim * (int)sizeof(float))
                continue;
            st = lsfs__stmt(db, "INSERT INTO vectors(chunk,model,vec) VALUES(?1,?2,?3)");
            if (!st) {
                rc = AIOS_EIO;
                goto out;
            }
            sqlite3_bind_int64(st, 1, cid);
            sqlite3_bind_text(st, 2, db->s->sem.model, -1, SQLITE_STATIC);
            sqlite3_bind_blob(st, 3, re[k].vec, re[k].bytes, SQLITE_STATIC);
            rc = sqlite3_step(st);
            sqlite3_reset(st);
            if (rc != SQLITE_DONE) {
                rc = lsfs__sqlerr(db, rc, "insert vector");
                goto out;
            }
            if ((rc = lsfs__vedit_queue(db, false, cid, n->id, re[k].vec, db->s->sem.dim)) < 0)
                goto out;
            /* each old vector is used once */
            free(re[k].vec);
            re[k].vec = NULL;
            break;
        }
    }
out:
    for (size_t k = 0; k < nre; k++)
        free(re[k].vec);
    free(re);
    free(title);
    free(body);
    free(ch);
    return rc;
}

int lsfs__index_retitle(lsfs_db *db, int64_t node_id, const char *name)
{
    sqlite3_stmt *st = lsfs__stmt(db, "UPDATE chunks SET title=?2||CASE WHEN heading<>''"
                                      " THEN ' > '||heading ELSE '' END WHERE node=?1");
    int rc;

    if (!st)
        return AIOS_EIO;
    sqlite3_bind_int64(st, 1, node_id);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : lsfs__sqlerr(db, rc, "retitle");
}

/* Select one page of chunks without a vector: rows (id, node, heading, body). */
static const char sql_page_node[] =
    "SELECT c.id, c.node, c.heading, c.body FROM chunks c"
    " LEFT JOIN vectors v ON v.chunk=c.id AND v.model=?2"
    " WHERE c.node=?1 AND v.chunk IS NULL AND c.id>?3 ORDER BY c.id LIMIT ?4";
static const char sql_page_all[] =
    "SELECT c.id, c.node, c.heading, c.body FROM chunks c"
    " LEFT JOIN vectors v ON v.chunk=c.id AND v.model=?2"
    " WHERE ?1=0 AND v.chunk IS NULL AND c.id>?3 ORDER BY c.id LIMIT ?4";

/*
 * Embed chunks without a vector (of one node, or of all when node_id is 0)
 * page by page: read a page, close the statement, run the encoder with no
 * transaction open, then store the vectors in one short transaction.
 * Returns the number of vectors stored.
 */
static int embed_pages(lsfs_db *db, int64_t node_id, int max)
{
    lsfs_store *s = db->s;
    int64_t ids[EMBED_BATCH], nodes[EMBED_BATCH], last = 0;
    char *texts[EMBED_BATCH];
    float *vecs;
    int done = 0, rc = 0;

    vecs = malloc((size_t)EMBED_BATCH * (size_t)s->sem.dim * sizeof(float));
    if (!vecs)
        return lsfs__err(db, AIOS_ENOMEM, NULL, "out of memory");
    while (done < max) {
        sqlite3_stmt *sel = lsfs__stmt(db, node_id ? sql_page_node : sql_page_all);
        size_t n = 0;
        int src;

        if (!sel) {
            rc = AIOS_EIO;
            break;
        }
        sqlite3_bind_int64(sel, 1, node_id);
        sqlite3_bind_text(sel, 2, s->sem.model, -1, SQLITE_STATIC);
        sqlite3_bind_int64(sel, 3, last);
        sqlite3_bind_int(sel, 4, max - done < EMBED_BATCH ? max - done : EMBED_BATCH);
        while ((src = sqlite3_step(sel)) == SQLITE_ROW && n < EMBED_BATCH) {
            ids[n] = sqlite3_column_int64(sel, 0);
            nodes[n] = sqlite3_column_int64(sel, 1);
            texts[n] = embed_text((const char *)sqlite3_column_text(sel, 2),
                                  (const char *)sqlite3_column_text(sel, 3));
            if (!texts[n]) {
                rc = AIOS_ENOMEM;
                break;
            }
            last = ids[n];
            n++;
        }
        sqlite3_reset(sel);
        if (rc == 0 && src != SQLITE_ROW && src != SQLITE_DONE)
            rc = lsfs__sqlerr(db, src, "embed select");
        if (n == 0 || rc < 0) {
            for (size_t i = 0; i < n; i++)
                free(texts[i]);
            break;
        }
        rc = lsfs__sem_embed(s, (const char *const *)texts, n, vecs);
        for (size_t i = 0; i < n; i++)
            free(texts[i]);
        if (rc < 0) {
            lsfs__err(db, rc, NULL, "embedding failed: %s", aios_strerror(rc));
            break;
        }
        if ((rc = lsfs__begin(db)) < 0)
            break;
        for (size_t i = 0; i < n && rc >= 0; i++) {
            sqlite3_stmt *st = lsfs__stmt(db,
                "INSERT OR REPLACE INTO vectors(chunk,model,vec)"
                " SELECT ?1,?2,?3 WHERE EXISTS(SELECT 1 FROM chunks WHERE id=?1)");
            if (!st) {
                rc = AIOS_EIO;
                break;
            }
            sqlite3_bind_int64(st, 1, ids[i]);
            sqlite3_bind_text(st, 2, s->sem.model, -1, SQLITE_STATIC);
            sqlite3_bind_blob(st, 3, vecs + i * (size_t)s->sem.dim,
                              s->sem.dim * (int)sizeof(float), SQLITE_STATIC);
            src = sqlite3_step(st);
            sqlite3_reset(st);
            if (src != SQLITE_DONE) {
                rc = lsfs__sqlerr(db, src, "insert vector");
                break;
            }
            if (sqlite3_changes(db->h) > 0) {
                rc = lsfs__vedit_queue(db, false, ids[i], nodes[i], vecs + i * (size_t)s->sem.dim,
                                 s->sem.dim);
                done++;
            }
        }
        rc = lsfs__end(db, rc);
        if (rc < 0 || n < EMBED_BATCH)
            break;
    }
    free(vecs);
    return rc < 0 ? rc : done;
}

int lsfs__embed_node_now(lsfs_db *db, int64_t node_id)
{
    if (!db->s->sem.emb)
        return 0;
    return embed_pages(db, node_id, 1 << 30);
}

int lsfs__embed_node(lsfs_db *db, int64_t node_id)
{
    lsfs_store *s = db->s;

    if (!s->sem.emb)
        return 0;
    if (s->opt.embed_async && s->opt.embed_pending) {
        s->opt.embed_pending(s->opt.embed_pending_arg);
        return 0;
    }
    return embed_pages(db, node_id, 1 << 30);
}

int lsfs_embed_backfill(lsfs_db *db, int max_chunks)
{
    lsfs__clear_err(db);
    if (!db->s->sem.emb)
        return 0;
    return embed_pages(db, 0, max_chunks > 0 ? max_chunks : 1 << 30);
}

/*
 * node.c - rows of the namespace: load, insert, describe, and the one place
 * that turns new file content into a version (blob, version row, head,
 * chunks and keyword index).
 *
 * Threads: any, on the caller's connection; mutating helpers run inside the
 * caller's transaction.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lsfs/lsfs_int.h"

#define NODE_COLS "id, path, kind, owner, head, size, blob, target, ctime, mtime, deleted," \
                  " mount, mime"

static void node_from_row(sqlite3_stmt *st, lsfs__node *n)
{
    const char *s;

    memset(n, 0, sizeof *n);
    n->id = sqlite3_column_int64(st, 0);
    snprintf(n->path, sizeof n->path, "%s", (const char *)sqlite3_column_text(st, 1));
    n->kind = sqlite3_column_int(st, 2);
    snprintf(n->owner, sizeof n->owner, "%s", (const char *)sqlite3_column_text(st, 3));
    n->head = sqlite3_column_int64(st, 4);
    n->size = sqlite3_column_int64(st, 5);
    n->blob = sqlite3_column_int64(st, 6);
    n->target = sqlite3_column_int64(st, 7);
    n->ctime = sqlite3_column_int64(st, 8);
    n->mtime = sqlite3_column_int64(st, 9);
    n->deleted = sqlite3_column_int64(st, 10);
    s = (const char *)sqlite3_column_text(st, 11);
    snprintf(n->mount, sizeof n->mount, "%s", s ? s : "");
    s = (const char *)sqlite3_column_text(st, 12);
    snprintf(n->mime, sizeof n->mime, "%s", s ? s : "");
}

static int node_query(lsfs_db *db, sqlite3_stmt *st, lsfs__node *n, const char *what)
{
    int rc = sqlite3_step(st);

    if (rc == SQLITE_ROW)
        node_from_row(st, n);
    sqlite3_reset(st);
    if (rc == SQLITE_ROW)
        return 0;
    if (rc == SQLITE_DONE)
        return lsfs__err(db, AIOS_ENOENT, "path", "no such file or folder: '%s'", what);
    return lsfs__sqlerr(db, rc, "node");
}

int lsfs__node_get(lsfs_db *db, const char *path, lsfs__node *n)
{
    sqlite3_stmt *st = lsfs__stmt(db, "SELECT " NODE_COLS " FROM nodes"
                                      " WHERE path=?1 AND deleted IS NULL");

    if (!st)
        return AIOS_EIO;
    sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);
    return node_query(db, st, n, path);
}

int lsfs__node_by_id(lsfs_db *db, int64_t id, lsfs__node *n)
{
    sqlite3_stmt *st = lsfs__stmt(db, "SELECT " NODE_COLS " FROM nodes WHERE id=?1");
    char what[32];

    if (!st)
        return AIOS_EIO;
    sqlite3_bind_int64(st, 1, id);
    snprintf(what, sizeof what, "#%lld", (long long)id);
    return node_query(db, st, n, what);
}

int lsfs__node_follow(lsfs_db *db, lsfs__node *n)
{
    char link[LSFS_PATH_MAX];
    int rc;

    if (n->kind != LSFS_KIND_LINK)
        return 0;
    snprintf(link, sizeof link, "%s", n->path);
    rc = lsfs__node_by_id(db, n->target, n);
    if (rc == AIOS_ENOENT || (rc == 0 && n->deleted))
        return lsfs__err(db, AIOS_ENOENT, "path", "link '%s' points at a file that is gone",
                         link);
    return rc;
}

json_t *lsfs__node_json(lsfs_db *db, const lsfs__node *n)
{
    static const char *const kinds[] = {"?", "dir", "file", "link"};
    char ct[40], mt[40];
    json_t *o;
    sqlite3_stmt *st;

    lsfs__fmt_time(n->ctime, ct, sizeof ct);
    lsfs__fmt_time(n->mtime, mt, sizeof mt);
    o = json_pack("{s:s,s:s,s:s,s:I,s:s,s:s,s:I}", "path", n->path, "name",
                  lsfs__path_name(n->path), "type", kinds[n->kind < 4 ? n->kind : 0],
                  "id", (json_int_t)n->id, "owner", n->owner, "modified", mt,
                  "modified_ms", (json_int_t)n->mtime);
    json_object_set_new(o, "created", json_string(ct));
    if (n->kind == LSFS_KIND_FILE) {
        json_object_set_new(o, "size", json_integer(n->size));
        json_object_set_new(o, "version", json_integer(n->head));
        json_object_set_new(o, "mime", json_string(n->mime));
    }
    if (n->deleted) {
        char dt[40];
        lsfs__fmt_time(n->deleted, dt, sizeof dt);
        json_object_set_new(o, "deleted", json_string(dt));
    }
    if (n->mount[0])
        json_object_set_new(o, "mount", json_string(n->mount));
    if (n->kind == LSFS_KIND_LINK) {
        lsfs__node t;
        st = lsfs__stmt(db, "SELECT path, deleted FROM nodes WHERE id=?1");
        json_object_set_new(o, "target_id", json_integer(n->target));
        if (st) {
            sqlite3_bind_int64(st, 1, n->target);
            if (sqlite3_step(st) == SQLITE_ROW) {
                json_object_set_new(o, "target",
                                    json_string((const char *)sqlite3_column_text(st, 0)));
                if (sqlite3_column_type(st, 1) != SQLITE_NULL)
                    json_object_set_new(o, "dangling", json_true());
            } else {
                json_object_set_new(o, "dangling", json_true());
            }
            sqlite3_reset(st);
        }
        (void)t;
    }
    /* shares on this node, and the sources of a joined file */
    st = lsfs__stmt(db, "SELECT grantee, perm FROM shares WHERE node=?1 ORDER BY grantee");
    if (st) {
        json_t *sh = json_array();
        sqlite3_bind_int64(st, 1, n->id);
        while (sqlite3_step(st) == SQLITE_ROW)
            json_array_append_new(sh, json_pack("{s:s,s:s}", "with",
                                                (const char *)sqlite3_column_text(st, 0),
                                                "access",
                                                sqlite3_column_int(st, 1) == 3 ? "rw" : "r"));
        sqlite3_reset(st);
        if (json_array_size(sh))
            json_object_set_new(o, "shares", sh);
        else
            json_decref(sh);
    }
    st = lsfs__stmt(db, "SELECT sources FROM nodes WHERE id=?1 AND sources IS NOT NULL");
    if (st) {
        sqlite3_bind_int64(st, 1, n->id);
        if (sqlite3_step(st) == SQLITE_ROW) {
            json_t *src = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
            if (src)
                json_object_set_new(o, "sources", src);
        }
        sqlite3_reset(st);
    }
    return o;
}

int lsfs__node_insert(lsfs_db *db, const char *path, int kind, const char *owner,
                      const char *mount, int64_t *id_out)
{
    char dir[LSFS_PATH_MAX];
    const char *name = lsfs__path_name(path), *ext = "", *mime = "";
    sqlite3_stmt *st;
    int64_t now = lsfs__now_ms();
    int rc;

    lsfs__path_parent(path, dir, sizeof dir);
    if (kind == LSFS_KIND_FILE)
        mime = lsfs__mime_of(name, &ext);
    st = lsfs__stmt(db, "INSERT INTO nodes(path,dir,name,kind,owner,mime,ext,ctime,mtime,mount)"
                        " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?8,?9)");
    if (!st)
        return AIOS_EIO;
    sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, dir, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, kind);
    sqlite3_bind_text(st, 5, owner, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, mime, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, ext, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 8, now);
    if (mount && *mount)
        sqlite3_bind_text(st, 9, mount, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if ((rc & 0xff) == SQLITE_CONSTRAINT)
        return lsfs__err(db, AIOS_EEXIST, "path", "'%s' already exists", path);
    if (rc != SQLITE_DONE)
        return lsfs__sqlerr(db, rc, "insert node");
    if (id_out)
        *id_out = sqlite3_last_insert_rowid(db->h);
    return 0;
}

int lsfs__ensure_home(lsfs_db *db, const lsfs_actor *a)
{
    lsfs__node n;
    int rc;

    if (!a->home[0])
        return 0;
    rc = lsfs__node_get(db, a->home, &n);
    if (rc != AIOS_ENOENT)
        return rc;
    lsfs__clear_err(db);
    rc = lsfs__node_insert(db, a->home, LSFS_KIND_DIR, a->principal, NULL, NULL);
    if (rc == 0)
        lsfs__event(db, "mkdir", a->home, NULL);
    return rc;
}

int lsfs__file_set(lsfs_db *db, lsfs__node *n, const void *data, size_t len,
                   const char *author, const char *op)
{
    sqlite3_stmt *st;
    int64_t blob, now = lsfs__now_ms(), ver = n->head + 1;
    int rc;

    if ((int64_t)len > db->s->opt.max_file_bytes)
        return lsfs__err(db, AIOS_ETOOBIG, "content", "%zu bytes is more than the %lld allowed",
                         len, (long long)db->s->opt.max_file_bytes);
    if ((rc = lsfs__blob_put(db, data, len, &blob)) < 0)
        return rc;
    st = lsfs__stmt(db, "INSERT INTO versions(node,ver,blob,size,time,author,op)"
                        " VALUES(?1,?2,?3,?4,?5,?6,?7)");
    if (!st)
        return AIOS_EIO;
    sqlite3_bind_int64(st, 1, n->id);
    sqlite3_bind_int64(st, 2, ver);
    sqlite3_bind_int64(st, 3, blob);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)len);
    sqlite3_bind_int64(st, 5, now);
    sqlite3_bind_text(st, 6, author, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, op, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return lsfs__sqlerr(db, rc, "insert version");
    /* text in a file with an unknown extension is still text */
    if (strcmp(n->mime, "application/octet-stream") == 0 && len > 0 && lsfs__is_text(data, len))
        snprintf(n->mime, sizeof n->mime, "text/plain");
    st = lsfs__stmt(db, "UPDATE nodes SET head=?2, size=?3, blob=?4, mtime=?5, mime=?6"
                        " WHERE id=?1");
    if (!st)
        return AIOS_EIO;
    sqlite3_bind_int64(st, 1, n->id);
    sqlite3_bind_int64(st, 2, ver);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)len);
    sqlite3_bind_int64(st, 4, blob);
    sqlite3_bind_int64(st, 5, now);
    sqlite3_bind_text(st, 6, n->mime, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return lsfs__sqlerr(db, rc, "update node");
    n->head = ver;
    n->size = (int64_t)len;
    n->blob = blob;
    n->mtime = now;
    return lsfs__index_node(db, n, data, len);
}

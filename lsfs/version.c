/*
 * version.c - file history, rollback (by version number or point in time)
 * and unified diffs between versions.
 *
 * A rollback normally writes a new version whose content is the old one, so
 * nothing is lost; with drop_newer it instead deletes the newer versions and
 * moves the head back, which is irreversible and asks the actor's
 * confirmation hook ("fs.rollback") first.
 *
 * Threads: any, on the caller's connection.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aios/log.h"
#include "lsfs/lsfs_int.h"

int lsfs__diff_unified(const char *a, size_t alen, const char *b, size_t blen,
                       const char *name_a, const char *name_b, int ctx, char **out);

/* Resolve path to a readable (or writable) file node, following links. */
static int file_node(lsfs_db *db, const lsfs_actor *a, const char *path, int want,
                     lsfs__node *n)
{
    char p[LSFS_PATH_MAX];
    int rc;

    if ((rc = lsfs__path_norm(db, a, path, "path", p, sizeof p)) < 0)
        return rc;
    if ((rc = lsfs__node_get(db, p, n)) < 0 || (rc = lsfs__node_follow(db, n)) < 0)
        return rc;
    if (n->kind != LSFS_KIND_FILE)
        return lsfs__err(db, AIOS_EISDIR, "path", "'%s' is a folder", n->path);
    return lsfs__need(db, a, n, want, "path");
}

int lsfs_history(lsfs_db *db, const lsfs_actor *a, const char *path, json_t **out)
{
    sqlite3_stmt *st;
    lsfs__node n;
    json_t *arr;
    int rc;

    lsfs__clear_err(db);
    *out = NULL;
    if ((rc = file_node(db, a, path, LSFS_PERM_READ, &n)) < 0)
        return rc;
    st = lsfs__stmt(db, "SELECT v.ver, v.size, v.time, v.author, v.op, hex(b.hash)"
                        " FROM versions v JOIN blobs b ON b.id=v.blob"
                        " WHERE v.node=?1 ORDER BY v.ver");
    if (!st)
        return AIOS_EIO;
    sqlite3_bind_int64(st, 1, n.id);
    arr = json_array();
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        char t[40];
        lsfs__fmt_time(sqlite3_column_int64(st, 2), t, sizeof t);
        json_array_append_new(
            arr, json_pack("{s:I,s:I,s:s,s:I,s:s,s:s,s:s}", "version",
                           (json_int_t)sqlite3_column_int64(st, 0), "size",
                           (json_int_t)sqlite3_column_int64(st, 1), "time", t, "time_ms",
                           (json_int_t)sqlite3_column_int64(st, 2), "author",
                           (const char *)sqlite3_column_text(st, 3), "op",
                           (const char *)sqlite3_column_text(st, 4), "sha256",
                           (const char *)sqlite3_column_text(st, 5)));
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        json_decref(arr);
        return lsfs__sqlerr(db, rc, "history");
    }
    *out = json_pack("{s:s,s:I,s:o}", "path", n.path, "version", (json_int_t)n.head,
                     "versions", arr);
    return 0;
}

/* The blob and size of version ver of node id. */
static int version_row(lsfs_db *db, const lsfs__node *n, int64_t ver, int64_t *blob,
                       const char *field)
{
    sqlite3_stmt *st = lsfs__stmt(db, "SELECT blob FROM versions WHERE node=?1 AND ver=?2");
    int rc;

    if (!st)
        return AIOS_EIO;
    sqlite3_bind_int64(st, 1, n->id);
    sqlite3_bind_int64(st, 2, ver);
    rc = sqlite3_step(st);
    *blob = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return lsfs__err(db, AIOS_ENOENT, field, "'%s' has no version %lld", n->path,
                         (long long)ver);
    return rc == SQLITE_ROW ? 0 : lsfs__sqlerr(db, rc, "version");
}

int lsfs_rollback(lsfs_db *db, const lsfs_actor *a, const char *path, int64_t version,
                  int64_t at_ms, bool drop_newer, json_t **out)
{
    char mname[LSFS_NAME_MAX + 1];
    const char *rel = NULL;
    char *data = NULL;
    size_t len = 0;
    sqlite3_stmt *st;
    int64_t target = version, blob, from;
    lsfs__node n;
    bool in_mount;
    int rc;

    lsfs__clear_err(db);
    *out = NULL;
    if ((rc = lsfs__begin(db)) < 0)
        return rc;
    if ((rc = file_node(db, a, path, LSFS_PERM_WRITE, &n)) < 0)
        goto out;
    from = n.head;
    if (target <= 0) {
        char t[40];
        st = lsfs__stmt(db, "SELECT max(ver) FROM versions WHERE node=?1 AND time<=?2");
        if (!st) {
            rc = AIOS_EIO;
            goto out;
        }
        sqlite3_bind_int64(st, 1, n.id);
        sqlite3_bind_int64(st, 2, at_ms);
        rc = sqlite3_step(st);
        target = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
        sqlite3_reset(st);
        if (target <= 0) {
            lsfs__fmt_time(at_ms, t, sizeof t);
            rc = lsfs__err(db, AIOS_ENOENT, "time", "'%s' has no version at or before %s",
                           n.path, t);
            goto out;
        }
    }
    if ((rc = version_row(db, &n, target, &blob, "version")) < 0)
        goto out;
    if (target == n.head) {
        *out = lsfs__node_json(db, &n);
        json_object_set_new(*out, "unchanged", json_true());
        rc = 0;
        goto out;
    }
    if ((rc = lsfs__blob_get(db, blob, &data, &len)) < 0)
        goto out;
    in_mount = lsfs__path_mount(n.path, mname, sizeof mname, &rel);
    if (in_mount) {
        bool rw = false;
        lsfs__mount_rw(db->s, mname, &rw);
        if (!rw) {
            rc = lsfs__err(db, AIOS_EPERM, "path", "mount '%s' is read-only", mname);
            goto out;
        }
    }
    if (drop_newer) {
        if (a->confirm) {
            char summary[1400];
            snprintf(summary, sizeof summary,
                     "roll '%s' back to version %lld and delete versions %lld..%lld for good",
                     n.path, (long long)target, (long long)target + 1, (long long)n.head);
            rc = a->confirm(a->confirm_arg, "fs.rollback", summary);
            if (rc < 0) {
                rc = lsfs__err(db, rc, "drop_newer", "fs.rollback needs a person's "
                               "confirmation: %s", summary);
                goto out;
            }
        }
        if (in_mount && (rc = lsfs__host_write(db, mname, rel, data, len)) < 0)
            goto out;
        st = lsfs__stmt(db, "DELETE FROM versions WHERE node=?1 AND ver>?2");
        if (!st) {
            rc = AIOS_EIO;
            goto out;
        }
        sqlite3_bind_int64(st, 1, n.id);
        sqlite3_bind_int64(st, 2, target);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) {
            rc = lsfs__sqlerr(db, rc, "rollback");
            goto out;
        }
        st = lsfs__stmt(db, "DELETE FROM summaries WHERE node=?1 AND ver>?2");
        if (st) {
            sqlite3_bind_int64(st, 1, n.id);
            sqlite3_bind_int64(st, 2, target);
            sqlite3_step(st);
            sqlite3_reset(st);
        }
        st = lsfs__stmt(db, "UPDATE nodes SET head=?2, blob=?3, size=?4, mtime=?5 WHERE id=?1");
        if (!st) {
            rc = AIOS_EIO;
            goto out;
        }
        n.mtime = lsfs__now_ms();
        sqlite3_bind_int64(st, 1, n.id);
        sqlite3_bind_int64(st, 2, target);
        sqlite3_bind_int64(st, 3, blob);
        sqlite3_bind_int64(st, 4, (sqlite3_int64)len);
        sqlite3_bind_int64(st, 5, n.mtime);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) {
            rc = lsfs__sqlerr(db, rc, "rollback");
            goto out;
        }
        n.head = target;
        n.blob = blob;
        n.size = (int64_t)len;
        if ((rc = lsfs__index_node(db, &n, data, len)) < 0 || (rc = lsfs__blob_gc(db)) < 0)
            goto out;
    } else {
        if (in_mount && (rc = lsfs__host_write(db, mname, rel, data, len)) < 0)
            goto out;
        if ((rc = lsfs__file_set(db, &n, data, len, a->principal, "rollback")) < 0)
            goto out;
    }
    rc = 0;
    lsfs__event(db, "rollback", n.path,
                json_pack("{s:I,s:I,s:I}", "version", (json_int_t)n.head, "to",
                          (json_int_t)target, "from", (json_int_t)from));
    *out = lsfs__node_json(db, &n);
    json_object_set_new(*out, "rolled_back_to", json_integer(target));
    json_object_set_new(*out, "dropped", json_integer(drop_newer ? from - target : 0));
out:
    free(data);
    rc = lsfs__end(db, rc);
    if (rc < 0) {
        json_decref(*out);
        *out = NULL;
        return rc;
    }
    if (db->s->sem.emb && !json_object_get(*out, "unchanged"))
        lsfs__embed_node(db, n.id);
    return rc;
}

int lsfs_diff(lsfs_db *db, const lsfs_actor *a, const char *path, int64_t v1, int64_t v2,
              int ctx, char **text)
{
    char *d1 = NULL, *d2 = NULL, n1[LSFS_PATH_MAX + 32], n2[LSFS_PATH_MAX + 32];
    size_t l1 = 0, l2 = 0;
    int64_t b1, b2;
    lsfs__node n;
    int rc;

    lsfs__clear_err(db);
    *text = NULL;
    if ((rc = lsfs__exec(db, "BEGIN")) < 0)
        return rc;
    if ((rc = file_node(db, a, path, LSFS_PERM_READ, &n)) < 0)
        goto out;
    if (v1 <= 0)
        v1 = n.head > 1 ? n.head - 1 : n.head;
    if (v2 <= 0)
        v2 = n.head;
    if ((rc = version_row(db, &n, v1, &b1, "from")) < 0 ||
        (rc = version_row(db, &n, v2, &b2, "to")) < 0)
        goto out;
    if ((rc = lsfs__blob_get(db, b1, &d1, &l1)) < 0 || (rc = lsfs__blob_get(db, b2, &d2, &l2)) < 0)
        goto out;
    snprintf(n1, sizeof n1, "%s@%lld", n.path, (long long)v1);
    snprintf(n2, sizeof n2, "%s@%lld", n.path, (long long)v2);
    if ((l1 && !lsfs__is_text(d1, l1)) || (l2 && !lsfs__is_text(d2, l2))) {
        if (asprintf(text, "Binary files %s and %s %s\n", n1, n2,
                     l1 == l2 && memcmp(d1, d2, l1) == 0 ? "are identical" : "differ") < 0) {
            *text = NULL;
            rc = AIOS_ENOMEM;
        }
        goto out;
    }
    rc = lsfs__diff_unified(d1, l1, d2, l2, n1, n2, ctx, text);
    if (rc < 0)
        lsfs__err(db, rc, NULL, "cannot diff: %s", aios_strerror(rc));
out:
    free(d1);
    free(d2);
    lsfs__exec(db, rc < 0 ? "ROLLBACK" : "COMMIT");
    return rc;
}

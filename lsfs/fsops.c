/*
 * fsops.c - the file operations: create, write, read, mkdir, delete (to the
 * trash), restore, purge, list, stat, move and link.
 *
 * Each mutating operation is one IMMEDIATE transaction on the caller's
 * connection: rights are checked, the namespace rows, versions, chunks and
 * keyword index change together, and change events go out after COMMIT.
 * Writes into a rw mount go to the host file first (confined below the
 * mount root), then into the index.  Sentence embeddings of new chunks are
 * computed after the commit, in a second short transaction, so that the
 * write lock is never held while the encoder runs.
 *
 * Threads: any, on the caller's connection.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aios/log.h"
#include "lsfs/lsfs_int.h"

void lsfs_actor_init(lsfs_actor *a, const char *agent, unsigned uid, bool admin)
{
    memset(a, 0, sizeof *a);
    if (agent && *agent) {
        snprintf(a->principal, sizeof a->principal, "agent:%s", agent);
        snprintf(a->home, sizeof a->home, "/home/%s", agent);
    } else {
        snprintf(a->principal, sizeof a->principal, "uid:%u", uid);
        snprintf(a->home, sizeof a->home, "/home/uid-%u", uid);
    }
    a->uid = uid;
    a->admin = admin;
}

/* Folders that only the system manages: the top levels, homes and mount roots. */
static bool protected_path(const char *p)
{
    const char *rest;

    if (strcmp(p, "/") == 0 || strcmp(p, "/home") == 0 || strcmp(p, "/shared") == 0 ||
        strcmp(p, "/mnt") == 0)
        return true;
    if (strncmp(p, "/home/", 6) == 0 || strncmp(p, "/mnt/", 5) == 0) {
        rest = p + (p[1] == 'h' ? 6 : 5);
        return strchr(rest, '/') == NULL;
    }
    return false;
}

/* For a path inside a mount: fail on ro mounts, give the mount name and the
 * host-relative path. */
static int mount_target(lsfs_db *db, const char *path, const char *field, char *name,
                        size_t nlen, const char **rel, bool *in_mount)
{
    bool rw = false;
    int rc;

    *in_mount = lsfs__path_mount(path, name, nlen, rel);
    if (!*in_mount)
        return 0;
    rc = lsfs__mount_rw(db->s, name, &rw);
    if (rc == AIOS_ENOENT)
        return lsfs__err(db, AIOS_ENOENT, field, "no mount named '%s'", name);
    if (!rw)
        return lsfs__err(db, AIOS_EPERM, field, "mount '%s' is read-only", name);
    return 0;
}

/*
 * Make sure folder dir exists, creating missing folders (owned by the actor)
 * below the deepest existing one, and that the actor may write into it.
 */
static int make_parents(lsfs_db *db, const lsfs_actor *a, const char *dir, const char *field)
{
    char parent[LSFS_PATH_MAX], mname[LSFS_NAME_MAX + 1];
    const char *rel;
    lsfs__node n;
    bool in_mount;
    int rc;

    rc = lsfs__node_get(db, dir, &n);
    if (rc == 0) {
        if (n.kind != LSFS_KIND_DIR)
            return lsfs__err(db, AIOS_ENOTDIR, field, "'%s' is not a folder", dir);
        return lsfs__need(db, a, &n, LSFS_PERM_WRITE, field);
    }
    if (rc != AIOS_ENOENT)
        return rc;
    if (strcmp(dir, a->home) == 0) {
        lsfs__clear_err(db);
        return lsfs__ensure_home(db, a);
    }
    if (protected_path(dir) && !a->admin)
        return lsfs__err(db, AIOS_ENOENT, field, "no such folder: '%s'", dir);
    lsfs__path_parent(dir, parent, sizeof parent);
    if ((rc = make_parents(db, a, parent, field)) < 0)
        return rc;
    if ((rc = mount_target(db, dir, field, mname, sizeof mname, &rel, &in_mount)) < 0)
        return rc;
    if (in_mount && (rc = lsfs__host_mkdir(db, mname, rel)) < 0)
        return rc;
    lsfs__clear_err(db);
    rc = lsfs__node_insert(db, dir, LSFS_KIND_DIR, a->principal, in_mount ? mname : NULL, NULL);
    if (rc == 0)
        lsfs__event(db, "mkdir", dir, NULL);
    return rc;
}

/* Ask the actor's confirmation hook, if any. */
static int confirm(lsfs_db *db, const lsfs_actor *a, const char *action, const char *field,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int confirm(lsfs_db *db, const lsfs_actor *a, const char *action, const char *field,
                   const char *fmt, ...)
{
    char summary[600];
    va_list ap;
    int rc;

    if (!a->confirm)
        return 0;
    va_start(ap, fmt);
    vsnprintf(summary, sizeof summary, fmt, ap);
    va_end(ap);
    rc = a->confirm(a->confirm_arg, action, summary);
    if (rc < 0)
        return lsfs__err(db, rc, field, "%s needs a person's confirmation: %s", action, summary);
    return 0;
}

/* Current content of a file node. */
static int file_content(lsfs_db *db, const lsfs__node *n, char **data, size_t *len)
{
    if (n->head == 0 || n->blob == 0) {
        *data = calloc(1, 1);
        *len = 0;
        return *data ? 0 : AIOS_ENOMEM;
    }
    return lsfs__blob_get(db, n->blob, data, len);
}

/* Embed the new chunks of a node after its commit; failures only log (the
 * start-up backfill picks the chunks up again). */
static void embed_after(lsfs_db *db, int64_t node_id)
{
    int rc;

    if (!db->s->sem.emb)
        return;
    rc = lsfs__embed_node(db, node_id);
    if (rc < 0)
        aios_log(AIOS_LOG_WARN, "lsfs", "cannot embed node %lld: %s", (long long)node_id,
                 lsfs_db_errmsg(db) ? lsfs_db_errmsg(db) : aios_strerror(rc));
}

int lsfs_write(lsfs_db *db, const lsfs_actor *a, const char *path, const lsfs_write_req *req,
               json_t **out)
{
    char p[LSFS_PATH_MAX], parent[LSFS_PATH_MAX], mname[LSFS_NAME_MAX + 1];
    char *old = NULL, *buf = NULL;
    size_t oldlen = 0, newlen = 0;
    const char *rel, *op;
    const void *newdata;
    bool existed = true, in_mount = false;
    lsfs__node n;
    int rc;

    lsfs__clear_err(db);
    *out = NULL;
    if ((rc = lsfs__path_norm(db, a, path, "path", p, sizeof p)) < 0)
        return rc;
    if (req->mode == LSFS_WRITE_RANGE && req->offset < 0)
        return lsfs__err(db, AIOS_ERANGE, "offset", "offset must be >= 0");
    if ((rc = lsfs__begin(db)) < 0)
        return rc;
    rc = lsfs__node_get(db, p, &n);
    if (rc == AIOS_ENOENT) {
        if (!req->create)
            goto out;
        lsfs__clear_err(db);
        existed = false;
        if (protected_path(p)) {
            rc = lsfs__err(db, AIOS_EPERM, "path", "'%s' is reserved", p);
            goto out;
        }
        lsfs__path_parent(p, parent, sizeof parent);
        if ((rc = make_parents(db, a, parent, "path")) < 0)
            goto out;
        if ((rc = mount_target(db, p, "path", mname, sizeof mname, &rel, &in_mount)) < 0)
            goto out;
        if ((rc = lsfs__node_insert(db, p, LSFS_KIND_FILE, a->principal,
                                    in_mount ? mname : NULL, NULL)) < 0)
            goto out;
        if ((rc = lsfs__node_get(db, p, &n)) < 0)
            goto out;
    } else if (rc < 0) {
        goto out;
    } else {
        if (req->exclusive) {
            rc = lsfs__err(db, AIOS_EEXIST, "path", "'%s' already exists", p);
            goto out;
        }
        if ((rc = lsfs__node_follow(db, &n)) < 0)
            goto out;
        if (n.kind == LSFS_KIND_DIR) {
            rc = lsfs__err(db, AIOS_EISDIR, "path", "'%s' is a folder", n.path);
            goto out;
        }
        if ((rc = lsfs__need(db, a, &n, LSFS_PERM_WRITE, "path")) < 0)
            goto out;
        if ((rc = mount_target(db, n.path, "path", mname, sizeof mname, &rel, &in_mount)) < 0)
            goto out;
    }
    if (req->expect_version > 0 && n.head != req->expect_version) {
        rc = lsfs__err(db, AIOS_ECONFLICT, "expect_version",
                       "'%s' is at version %lld, not %lld", n.path, (long long)n.head,
                       (long long)req->expect_version);
        goto out;
    }
    newdata = req->data;
    newlen = req->len;
    op = existed ? "write" : "create";
    if (req->mode != LSFS_WRITE_REPLACE) {
        if ((rc = file_content(db, &n, &old, &oldlen)) < 0)
            goto out;
        size_t start = req->mode == LSFS_WRITE_APPEND ? oldlen : (size_t)req->offset;
        if (req->mode == LSFS_WRITE_RANGE && start > oldlen) {
            rc = lsfs__err(db, AIOS_ERANGE, "offset", "offset %zu is past the end (%zu bytes)",
                           start, oldlen);
            goto out;
        }
        newlen = start + req->len;
        if (newlen < oldlen)
            newlen = oldlen;
        if ((int64_t)newlen > db->s->opt.max_file_bytes) {
            rc = lsfs__err(db, AIOS_ETOOBIG, "content", "the file would grow past %lld bytes",
                           (long long)db->s->opt.max_file_bytes);
            goto out;
        }
        buf = malloc(newlen + 1);
        if (!buf) {
            rc = lsfs__err(db, AIOS_ENOMEM, NULL, "out of memory");
            goto out;
        }
        memcpy(buf, old, oldlen);
        memcpy(buf + start, req->data, req->len);
        newdata = buf;
        op = req->mode == LSFS_WRITE_APPEND ? "append" : "range";
    }
    if (existed && n.head > 0) {
        if (!old && (rc = file_content(db, &n, &old, &oldlen)) < 0)
            goto out;
        if (oldlen == newlen && memcmp(old, newdata, newlen) == 0) {
            /* nothing changes: no new version */
            *out = lsfs__node_json(db, &n);
            json_object_set_new(*out, "unchanged", json_true());
            rc = 0;
            goto out;
        }
        if (req->mode != LSFS_WRITE_APPEND) {
            bool shared;
            if ((rc = lsfs__shared_with_others(db, a, &n, &shared)) < 0)
                goto out;
            if (shared && (rc = confirm(db, a, "fs.overwrite_shared", "path",
                                        "overwrite '%s' (version %lld, %lld bytes), which "
                                        "others can access, with %zu bytes", n.path,
                                        (long long)n.head, (long long)n.size, newlen)) < 0)
                goto out;
        }
    }
    if (in_mount && (rc = lsfs__host_write(db, mname, rel, newdata, newlen)) < 0)
        goto out;
    if ((rc = lsfs__file_set(db, &n, newdata, newlen, a->principal, op)) < 0)
        goto out;
    if (req->sources) {
        sqlite3_stmt *st = lsfs__stmt(db, "UPDATE nodes SET sources=?2 WHERE id=?1");
        if (!st) {
            rc = AIOS_EIO;
            goto out;
        }
        sqlite3_bind_int64(st, 1, n.id);
        sqlite3_bind_text(st, 2, req->sources, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) {
            rc = lsfs__sqlerr(db, rc, "sources");
            goto out;
        }
        rc = 0;
    }
    lsfs__event(db, existed ? "write" : "create", n.path,
                json_pack("{s:I,s:I}", "version", (json_int_t)n.head, "size",
                          (json_int_t)n.size));
    *out = lsfs__node_json(db, &n);
out:
    free(old);
    free(buf);
    rc = lsfs__end(db, rc);
    if (rc < 0) {
        json_decref(*out);
        *out = NULL;
        return rc;
    }
    if (!json_object_get(*out, "unchanged"))
        embed_after(db, n.id);
    return rc;
}

int lsfs_create(lsfs_db *db, const lsfs_actor *a, const char *path, const void *data,
                size_t len, json_t **out)
{
    lsfs_write_req req = {.data = data ? data : "", .len = data ? len : 0,
                          .mode = LSFS_WRITE_REPLACE, .create = true, .exclusive = true};

    return lsfs_write(db, a, path, &req, out);
}

int lsfs_read(lsfs_db *db, const lsfs_actor *a, const char *path, int64_t version,
              int64_t offset, int64_t length, char **data, size_t *len, json_t **meta)
{
    char p[LSFS_PATH_MAX];
    char *all = NULL;
    size_t alllen = 0;
    int64_t blob, ver;
    sqlite3_stmt *st;
    lsfs__node n;
    int rc;

    lsfs__clear_err(db);
    *data = NULL;
    *len = 0;
    if (meta)
        *meta = NULL;
    if ((rc = lsfs__path_norm(db, a, path, "path", p, sizeof p)) < 0)
        return rc;
    if (offset < 0)
        return lsfs__err(db, AIOS_ERANGE, "offset", "offset must be >= 0");
    /* one read transaction so the node row and its blob agree */
    if ((rc = lsfs__exec(db, "BEGIN")) < 0)
        return rc;
    if ((rc = lsfs__node_get(db, p, &n)) < 0 || (rc = lsfs__node_follow(db, &n)) < 0)
        goto out;
    if (n.kind == LSFS_KIND_DIR) {
        rc = lsfs__err(db, AIOS_EISDIR, "path", "'%s' is a folder", n.path);
        goto out;
    }
    if ((rc = lsfs__need(db, a, &n, LSFS_PERM_READ, "path")) < 0)
        goto out;
    blob = n.blob;
    ver = n.head;
    if (version > 0 && version != n.head) {
        st = lsfs__stmt(db, "SELECT blob FROM versions WHERE node=?1 AND ver=?2");
        if (!st) {
            rc = AIOS_EIO;
            goto out;
        }
        sqlite3_bind_int64(st, 1, n.id);
        sqlite3_bind_int64(st, 2, version);
        rc = sqlite3_step(st);
        blob = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
        sqlite3_reset(st);
        if (rc == SQLITE_DONE) {
            rc = lsfs__err(db, AIOS_ENOENT, "version", "'%s' has no version %lld", n.path,
                           (long long)version);
            goto out;
        }
        if (rc != SQLITE_ROW) {
            rc = lsfs__sqlerr(db, rc, "version");
            goto out;
        }
        ver = version;
    }
    if (blob) {
        if ((rc = lsfs__blob_get(db, blob, &all, &alllen)) < 0)
            goto out;
    } else if (!(all = calloc(1, 1))) {
        rc = AIOS_ENOMEM;
        goto out;
    }
    rc = 0;
    if ((size_t)offset >= alllen) {
        all[0] = 0;
        alllen = 0;
    } else {
        size_t n_bytes = alllen - (size_t)offset;
        if (length >= 0 && (size_t)length < n_bytes)
            n_bytes = (size_t)length;
        memmove(all, all + offset, n_bytes);
        all[n_bytes] = 0;
        alllen = n_bytes;
    }
    *data = all;
    *len = alllen;
    all = NULL;
    if (meta)
        *meta = json_pack("{s:s,s:I,s:I,s:I,s:I,s:s}", "path", n.path, "version",
                          (json_int_t)ver, "size", (json_int_t)n.size, "offset",
                          (json_int_t)offset, "length", (json_int_t)*len, "mime", n.mime);
out:
    free(all);
    lsfs__exec(db, rc < 0 ? "ROLLBACK" : "COMMIT");
    return rc;
}

int lsfs_mkdir(lsfs_db *db, const lsfs_actor *a, const char *path, bool parents, json_t **out)
{
    char p[LSFS_PATH_MAX], parent[LSFS_PATH_MAX];
    lsfs__node n;
    int rc;

    lsfs__clear_err(db);
    *out = NULL;
    if ((rc = lsfs__path_norm(db, a, path, "path", p, sizeof p)) < 0)
        return rc;
    if (protected_path(p) && !a->admin && strcmp(p, a->home) != 0)
        return lsfs__err(db, AIOS_EPERM, "path", "'%s' is reserved", p);
    if ((rc = lsfs__begin(db)) < 0)
        return rc;
    if ((rc = lsfs__ensure_home(db, a)) < 0)
        goto out;
    rc = lsfs__node_get(db, p, &n);
    if (rc == 0) {
        if (parents && n.kind == LSFS_KIND_DIR) {
            if ((rc = lsfs__need(db, a, &n, LSFS_PERM_READ, "path")) == 0)
                *out = lsfs__node_json(db, &n);
        } else {
            rc = lsfs__err(db, AIOS_EEXIST, "path", "'%s' already exists", p);
        }
        goto out;
    }
    if (rc != AIOS_ENOENT)
        goto out;
    lsfs__clear_err(db);
    if (parents) {
        rc = make_parents(db, a, p, "path");
    } else {
        lsfs__path_parent(p, parent, sizeof parent);
        rc = lsfs__node_get(db, parent, &n);
        if (rc == AIOS_ENOENT)
            rc = lsfs__err(db, AIOS_ENOENT, "path", "no folder '%s' (use parents to create it)",
                           parent);
        if (rc == 0 && n.kind != LSFS_KIND_DIR)
            rc = lsfs__err(db, AIOS_ENOTDIR, "path", "'%s' is not a folder", parent);
        /* make_parents on an existing parent checks rights and creates p */
        if (rc == 0)
            rc = make_parents(db, a, p, "path");
    }
    if (rc == 0 && (rc = lsfs__node_get(db, p, &n)) == 0)
        *out = lsfs__node_json(db, &n);
out:
    rc = lsfs__end(db, rc);
    if (rc < 0) {
        json_decref(*out);
        *out = NULL;
    }
    return rc;
}

/* Mark the subtree at n deleted as one trash batch; unindex its files. */
static int trash_subtree(lsfs_db *db, const lsfs__node *n, int64_t now, int *count)
{
    sqlite3_stmt *st;
    int64_t *ids = NULL;
    size_t nids = 0, cap = 0;
    int rc;

    st = lsfs__stmt(db, "SELECT id FROM nodes WHERE deleted IS NULL AND kind=2 AND"
                        " (id=?1 OR (path>?2||'/' AND path<?2||'0'))");
    if (!st)
        return AIOS_EIO;
    sqlite3_bind_int64(st, 1, n->id);
    sqlite3_bind_text(st, 2, n->path, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (nids == cap) {
            cap = cap ? cap * 2 : 32;
            int64_t *ni = realloc(ids, cap * sizeof *ni);
            if (!ni) {
                sqlite3_reset(st);
                free(ids);
                return lsfs__err(db, AIOS_ENOMEM, NULL, "out of memory");
            }
            ids = ni;
        }
        ids[nids++] = sqlite3_column_int64(st, 0);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        free(ids);
        return lsfs__sqlerr(db, rc, "trash");
    }
    for (size_t i = 0; i < nids; i++)
        if ((rc = lsfs__unindex_node(db, ids[i])) < 0) {
            free(ids);
            return rc;
        }
    free(ids);
    st = lsfs__stmt(db, "UPDATE nodes SET deleted=?3, trash=?1 WHERE deleted IS NULL AND"
                        " (id=?1 OR (path>?2||'/' AND path<?2||'0'))");
    if (!st)
        return AIOS_EIO;
    sqlite3_bind_int64(st, 1, n->id);
    sqlite3_bind_text(st, 2, n->path, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, now);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return lsfs__sqlerr(db, rc, "trash");
    *count = sqlite3_changes(db->h);
    return 0;
}

/* Remove the host side of a subtree in a rw mount (deepest first). */
static int host_remove_subtree(lsfs_db *db, const lsfs__node *n)
{
    char mname[LSFS_NAME_MAX + 1], mn2[LSFS_NAME_MAX + 1];
    const char *rel, *r2;
    sqlite3_stmt *st;
    json_t *rows = json_array();
    bool in_mount;
    size_t i;
    int rc;

    if ((rc = mount_target(db, n->path, "path", mname, sizeof mname, &rel, &in_mount)) < 0 ||
        !in_mount) {
        json_decref(rows);
        return rc;
    }
    st = lsfs__stmt(db, "SELECT path, kind FROM nodes WHERE deleted IS NULL AND"
                        " (id=?1 OR (path>?2||'/' AND path<?2||'0')) ORDER BY path DESC");
    if (!st) {
        json_decref(rows);
        return AIOS_EIO;
    }
    sqlite3_bind_int64(st, 1, n->id);
    sqlite3_bind_text(st, 2, n->path, -1, SQLITE_STATIC);
    while (sqlite3_step(st) == SQLITE_ROW)
        json_array_append_new(rows, json_pack("[s,i]", (const char *)sqlite3_column_text(st, 0),
                                              sqlite3_column_int(st, 1)));
    sqlite3_reset(st);
    for (i = 0; i < json_array_size(rows); i++) {
        json_t *row = json_array_get(rows, i);
        const char *rp = json_string_value(json_array_get(row, 0));
        if (!lsfs__path_mount(rp, mn2, sizeof mn2, &r2))
            continue;
        rc = lsfs__host_unlink(db, mname, r2,
                               json_integer_value(json_array_get(row, 1)) == LSFS_KIND_DIR);
        if (rc < 0 && rc != AIOS_ENOENT)
            break;
        rc = 0;
    }
    json_decref(rows);
    return rc;
}

int lsfs_delete(lsfs_db *db, const lsfs_actor *a, const char *path, bool recursive,
                json_t **out)
{
    char p[LSFS_PATH_MAX];
    sqlite3_stmt *st;
    lsfs__node n;
    int count = 0, rc;

    lsfs__clear_err(db);
    *out = NULL;
    if ((rc = lsfs__path_norm(db, a, path, "path", p, sizeof p)) < 0)
        return rc;
    if (protected_path(p))
        return lsfs__err(db, AIOS_EPERM, "path", "'%s' cannot be deleted%s", p,
                         strncmp(p, "/mnt/", 5) == 0 ? " (use fs.unmount)" : "");
    if ((rc = lsfs__begin(db)) < 0)
        return rc;
    if ((rc = lsfs__node_get(db, p, &n)) < 0)
        goto out;
    if ((rc = lsfs__need(db, a, &n, LSFS_PERM_WRITE, "path")) < 0)
        goto out;
    if (n.kind == LSFS_KIND_DIR && !recursive) {
        st = lsfs__stmt(db, "SELECT 1 FROM nodes WHERE dir=?1 AND deleted IS NULL LIMIT 1");
        if (!st) {
            rc = AIOS_EIO;
            goto out;
        }
        sqlite3_bind_text(st, 1, n.path, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc == SQLITE_ROW) {
            rc = lsfs__err(db, AIOS_ENOTEMPTY, "path",
                           "folder '%s' is not empty (use recursive)", n.path);
            goto out;
        }
    }
    if ((rc = host_remove_subtree(db, &n)) < 0)
        goto out;
    if ((rc = trash_subtree(db, &n, lsfs__now_ms(), &count)) < 0)
        goto out;
    lsfs__event(db, "delete", n.path, json_pack("{s:i}", "nodes", count));
    *out = json_pack("{s:s,s:i,s:I,s:b}", "path", n.path, "deleted", count, "trash",
                     (json_int_t)n.id, "recoverable", 1);
out:
    rc = lsfs__end(db, rc);
    if (rc < 0) {
        json_decref(*out);
        *out = NULL;
    }
    return rc;
}

int lsfs_restore(lsfs_db *db, const lsfs_actor *a, const char *path, json_t **out)
{
    char p[LSFS_PATH_MAX], parent[LSFS_PATH_MAX], mname[LSFS_NAME_MAX + 1];
    const char *rel;
    sqlite3_stmt *st;
    lsfs__node n, par;
    json_t *rows = NULL;
    bool in_mount;
    int64_t batch;
    int count = 0, rc;

    lsfs__clear_err(db);
    *out = NULL;
    if ((rc = lsfs__path_norm(db, a, path, "path", p, sizeof p)) < 0)
        return rc;
    if ((rc = lsfs__begin(db)) < 0)
        return rc;
    rc = lsfs__node_get(db, p, &n);
    if (rc == 0) {
        rc = lsfs__err(db, AIOS_EEXIST, "path", "'%s' exists; move it away to restore", p);
        goto out;
    }
    lsfs__clear_err(db);
    st = lsfs__stmt(db, "SELECT id, trash FROM nodes WHERE path=?1 AND deleted IS NOT NULL"
                        " ORDER BY deleted DESC, id DESC LIMIT 1");
    if (!st) {
        rc = AIOS_EIO;
        goto out;
    }
    sqlite3_bind_text(st, 1, p, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    n.id = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    batch = rc == SQLITE_ROW ? sqlite3_column_int64(st, 1) : 0;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW) {
        rc = rc == SQLITE_DONE ? lsfs__err(db, AIOS_ENOENT, "path", "nothing named '%s' in the trash", p)
                               : lsfs__sqlerr(db, rc, "trash");
        goto out;
    }
    lsfs__path_parent(p, parent, sizeof parent);
    rc = lsfs__node_get(db, parent, &par);
    if (rc == AIOS_ENOENT) {
        rc = lsfs__err(db, AIOS_ENOENT, "path", "folder '%s' is gone; restore it first", parent);
        goto out;
    }
    if (rc < 0 || (rc = lsfs__need(db, a, &par, LSFS_PERM_WRITE, "path")) < 0)
        goto out;
    if ((rc = mount_target(db, p, "path", mname, sizeof mname, &rel, &in_mount)) < 0)
        goto out;
    /* the whole batch under p, shallowest first, skipping paths now taken */
    st = lsfs__stmt(db, "SELECT id FROM nodes WHERE trash=?1 AND deleted IS NOT NULL"
                        " AND (id=?2 OR (path>?3||'/' AND path<?3||'0'))"
                        " AND path NOT IN (SELECT path FROM nodes WHERE deleted IS NULL)"
                        " ORDER BY length(path)");
    if (!st) {
        rc = AIOS_EIO;
        goto out;
    }
    rows = json_array();
    sqlite3_bind_int64(st, 1, batch);
    sqlite3_bind_int64(st, 2, n.id);
    sqlite3_bind_text(st, 3, p, -1, SQLITE_STATIC);
    while (sqlite3_step(st) == SQLITE_ROW)
        json_array_append_new(rows, json_integer(sqlite3_column_int64(st, 0)));
    sqlite3_reset(st);
    for (size_t i = 0; i < json_array_size(rows); i++) {
        lsfs__node r;
        int64_t id = json_integer_value(json_array_get(rows, i));
        if ((rc = lsfs__node_by_id(db, id, &r)) < 0)
            goto out;
        st = lsfs__stmt(db, "UPDATE nodes SET deleted=NULL, trash=NULL WHERE id=?1");
        if (!st) {
            rc = AIOS_EIO;
            goto out;
        }
        sqlite3_bind_int64(st, 1, id);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) {
            rc = lsfs__sqlerr(db, rc, "restore");
            goto out;
        }
        r.deleted = 0;
        if (r.kind == LSFS_KIND_FILE) {
            char *data = NULL;
            size_t len = 0;
            if ((rc = file_content(db, &r, &data, &len)) < 0)
                goto out;
            if (in_mount) {
                const char *rr;
                char mn[LSFS_NAME_MAX + 1];
                if (lsfs__path_mount(r.path, mn, sizeof mn, &rr))
                    rc = lsfs__host_write(db, mname, rr, data, len);
            }
            if (rc >= 0)
                rc = lsfs__index_node(db, &r, data, len);
            free(data);
            if (rc < 0)
                goto out;
        } else if (r.kind == LSFS_KIND_DIR && in_mount) {
            const char *rr;
            char mn[LSFS_NAME_MAX + 1];
            if (lsfs__path_mount(r.path, mn, sizeof mn, &rr) &&
                (rc = lsfs__host_mkdir(db, mname, rr)) < 0 && rc != AIOS_EEXIST)
                goto out;
        }
        count++;
    }
    rc = 0;
    lsfs__event(db, "restore", p, json_pack("{s:i}", "nodes", count));
    if ((rc = lsfs__node_get(db, p, &n)) == 0) {
        *out = lsfs__node_json(db, &n);
        json_object_set_new(*out, "restored", json_integer(count));
    }
out:
    json_decref(rows);
    rc = lsfs__end(db, rc);
    if (rc < 0) {
        json_decref(*out);
        *out = NULL;
        return rc;
    }
    /* re-embed restored files whose vectors were dropped at delete */
    if (db->s->sem.emb) {
        st = lsfs__stmt(db, "SELECT id FROM nodes WHERE deleted IS NULL AND kind=2 AND"
                            " (path=?1 OR (path>?1||'/' AND path<?1||'0'))");
        json_t *ids = json_array();
        if (st) {
            sqlite3_bind_text(st, 1, p, -1, SQLITE_STATIC);
            while (sqlite3_step(st) == SQLITE_ROW)
                json_array_append_new(ids, json_integer(sqlite3_column_int64(st, 0)));
            sqlite3_reset(st);
        }
        for (size_t i = 0; i < json_array_size(ids); i++)
            embed_after(db, json_integer_value(json_array_get(ids, i)));
        json_decref(ids);
    }
    return rc;
}

/* Permanently delete node id and everything that hangs off it. */
static int purge_node(lsfs_db *db, int64_t id)
{
    sqlite3_stmt *st;
    int rc;

    if ((rc = lsfs__unindex_node(db, id)) < 0)
        return rc;
    st = lsfs__stmt(db, "DELETE FROM nodes WHERE id=?1");
    if (!st)
        return AIOS_EIO;
    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : lsfs__sqlerr(db, rc, "purge");
}

int lsfs_purge(lsfs_db *db, const lsfs_actor *a, const char *path, json_t **out)
{
    char p[LSFS_PATH_MAX], parent[LSFS_PATH_MAX];
    sqlite3_stmt *st;
    lsfs__node n, par;
    json_t *ids = json_array();
    bool live;
    int rc;

    lsfs__clear_err(db);
    *out = NULL;
    if ((rc = lsfs__path_norm(db, a, path, "path", p, sizeof p)) < 0)
        goto out_free;
    if (protected_path(p)) {
        rc = lsfs__err(db, AIOS_EPERM, "path", "'%s' cannot be purged", p);
        goto out_free;
    }
    if ((rc = lsfs__begin(db)) < 0)
        goto out_free;
    rc = lsfs__node_get(db, p, &n);
    live = rc == 0;
    if (rc < 0 && rc != AIOS_ENOENT)
        goto out;
    lsfs__clear_err(db);
    if (live) {
        rc = lsfs__need(db, a, &n, LSFS_PERM_WRITE, "path");
    } else {
        lsfs__path_parent(p, parent, sizeof parent);
        rc = lsfs__node_get(db, parent, &par);
        if (rc == 0)
            rc = lsfs__need(db, a, &par, LSFS_PERM_WRITE, "path");
    }
    if (rc < 0)
        goto out;
    /* the live subtree and everything in the trash at or below p */
    st = lsfs__stmt(db, "SELECT id FROM nodes WHERE path=?1 OR (path>?1||'/' AND path<?1||'0')"
                        " ORDER BY length(path) DESC");
    if (!st) {
        rc = AIOS_EIO;
        goto out;
    }
    sqlite3_bind_text(st, 1, p, -1, SQLITE_STATIC);
    while (sqlite3_step(st) == SQLITE_ROW)
        json_array_append_new(ids, json_integer(sqlite3_column_int64(st, 0)));
    sqlite3_reset(st);
    if (json_array_size(ids) == 0) {
        rc = lsfs__err(db, AIOS_ENOENT, "path", "nothing named '%s' to purge", p);
        goto out;
    }
    if ((rc = confirm(db, a, "fs.purge", "path",
                      "permanently remove '%s' (%zu entries, with all versions)", p,
                      json_array_size(ids))) < 0)
        goto out;
    if (live && (rc = host_remove_subtree(db, &n)) < 0)
        goto out;
    for (size_t i = 0; i < json_array_size(ids); i++)
        if ((rc = purge_node(db, json_integer_value(json_array_get(ids, i)))) < 0)
            goto out;
    if ((rc = lsfs__blob_gc(db)) < 0)
        goto out;
    lsfs__event(db, "purge", p, json_pack("{s:i}", "nodes", (int)json_array_size(ids)));
    *out = json_pack("{s:s,s:i}", "path", p, "purged", (int)json_array_size(ids));
out:
    rc = lsfs__end(db, rc);
    if (rc < 0) {
        json_decref(*out);
        *out = NULL;
    }
out_free:
    json_decref(ids);
    return rc;
}

int lsfs_stat(lsfs_db *db, const lsfs_actor *a, const char *path, json_t **out)
{
    char p[LSFS_PATH_MAX];
    lsfs__node n;
    int perm, rc;

    lsfs__clear_err(db);
    *out = NULL;
    if ((rc = lsfs__path_norm(db, a, path, "path", p, sizeof p)) < 0)
        return rc;
    if ((rc = lsfs__node_get(db, p, &n)) < 0)
        return rc;
    if ((rc = lsfs__perm(db, a, n.path, n.owner, &perm)) < 0)
        return rc;
    if (!(perm & LSFS_PERM_READ))
        return lsfs__err(db, AIOS_EPERM, "path", "%s may not read '%s'", a->principal, n.path);
    *out = lsfs__node_json(db, &n);
    json_object_set_new(*out, "access", json_string(perm & LSFS_PERM_WRITE ? "rw" : "r"));
    {
        sqlite3_stmt *st = lsfs__stmt(db, "SELECT count(*) FROM chunks WHERE node=?1");
        if (st) {
            sqlite3_bind_int64(st, 1, n.id);
            if (sqlite3_step(st) == SQLITE_ROW)
                json_object_set_new(*out, "chunks", json_integer(sqlite3_column_int64(st, 0)));
            sqlite3_reset(st);
        }
        st = lsfs__stmt(db, "SELECT 1 FROM summaries WHERE node=?1 AND ver=?2");
        if (st && n.kind == LSFS_KIND_FILE) {
            sqlite3_bind_int64(st, 1, n.id);
            sqlite3_bind_int64(st, 2, n.head);
            json_object_set_new(*out, "summary_ready",
                                json_boolean(sqlite3_step(st) == SQLITE_ROW));
            sqlite3_reset(st);
        }
    }
    return 0;
}

int lsfs_list(lsfs_db *db, const lsfs_actor *a, const lsfs_list_req *req, json_t **out)
{
    char p[LSFS_PATH_MAX];
    sqlite3_stmt *st;
    lsfs__node n;
    lsfs__rctx r;
    json_t *arr;
    int rc, limit = req->limit > 0 ? req->limit : 1000;
    bool truncated = false;

    lsfs__clear_err(db);
    *out = NULL;
    if ((rc = lsfs__path_norm(db, a, req->path ? req->path : "/", "path", p, sizeof p)) < 0)
        return rc;
    if ((rc = lsfs__exec(db, "BEGIN")) < 0)
        return rc;
    rc = lsfs__node_get(db, p, &n);
    if (rc == AIOS_ENOENT && strcmp(p, a->home) == 0) {
        /* a home that was never written to lists as empty */
        lsfs__clear_err(db);
        lsfs__exec(db, "COMMIT");
        *out = json_pack("{s:s,s:[],s:b}", "path", p, "entries", "truncated", 0);
        return 0;
    }
    if (rc < 0)
        goto out;
    if (n.kind != LSFS_KIND_DIR) {
        rc = lsfs__err(db, AIOS_ENOTDIR, "path", "'%s' is not a folder", n.path);
        goto out;
    }
    if ((rc = lsfs__need(db, a, &n, LSFS_PERM_READ, "path")) < 0)
        goto out;
    if ((rc = lsfs__rctx_init(db, a, &r)) < 0)
        goto out;
    st = lsfs__stmt(db,
        "SELECT id, path, kind, owner, head, size, blob, target, ctime, mtime, deleted,"
        "       mount, mime FROM nodes"
        " WHERE ((?2=0 AND dir=?1) OR (?2=1 AND (?1='/' OR (path>?1||'/' AND path<?1||'0'))))"
        "   AND path<>'/'"
        "   AND ((?3=0 AND deleted IS NULL) OR (?3=1 AND deleted IS NOT NULL))"
        "   AND (?4 IS NULL OR (?4='file' AND kind=2) OR (?4='dir' AND kind=1)"
        "        OR (?4='link' AND kind=3) OR mime=?4"
        "        OR (substr(?4,-1)='/' AND substr(mime,1,length(?4))=?4)"
        "        OR (kind=2 AND ext=ltrim(?4,'.') COLLATE NOCASE))"
        "   AND (?5 IS NULL OR owner=?5)"
        "   AND (?6 IS NULL OR lsfs_glob(?6, name))"
        "   AND mtime>?7"
        "   AND lsfs_readable(?8, path, owner)"
        " ORDER BY path LIMIT ?9");
    if (!st) {
        lsfs__rctx_free(&r);
        rc = AIOS_EIO;
        goto out;
    }
    sqlite3_bind_text(st, 1, n.path, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, req->recursive);
    sqlite3_bind_int(st, 3, req->deleted);
    if (req->type && *req->type)
        sqlite3_bind_text(st, 4, req->type, -1, SQLITE_STATIC);
    if (req->owner && *req->owner)
        sqlite3_bind_text(st, 5, req->owner, -1, SQLITE_STATIC);
    if (req->pattern && *req->pattern)
        sqlite3_bind_text(st, 6, req->pattern, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 7, req->modified_after_ms);
    sqlite3_bind_pointer(st, 8, &r, "lsfs_rctx", NULL);
    sqlite3_bind_int(st, 9, limit + 1);
    arr = json_array();
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        lsfs__node e;
        const char *s;
        if ((int)json_array_size(arr) >= limit) {
            truncated = true;
            break;
        }
        memset(&e, 0, sizeof e);
        e.id = sqlite3_column_int64(st, 0);
        snprintf(e.path, sizeof e.path, "%s", (const char *)sqlite3_column_text(st, 1));
        e.kind = sqlite3_column_int(st, 2);
        snprintf(e.owner, sizeof e.owner, "%s", (const char *)sqlite3_column_text(st, 3));
        e.head = sqlite3_column_int64(st, 4);
        e.size = sqlite3_column_int64(st, 5);
        e.blob = sqlite3_column_int64(st, 6);
        e.target = sqlite3_column_int64(st, 7);
        e.ctime = sqlite3_column_int64(st, 8);
        e.mtime = sqlite3_column_int64(st, 9);
        e.deleted = sqlite3_column_int64(st, 10);
        s = (const char *)sqlite3_column_text(st, 11);
        snprintf(e.mount, sizeof e.mount, "%s", s ? s : "");
        s = (const char *)sqlite3_column_text(st, 12);
        snprintf(e.mime, sizeof e.mime, "%s", s ? s : "");
        json_array_append_new(arr, lsfs__node_json(db, &e));
    }
    sqlite3_reset(st);
    lsfs__rctx_free(&r);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        json_decref(arr);
        rc = lsfs__sqlerr(db, rc, "list");
        goto out;
    }
    rc = 0;
    *out = json_pack("{s:s,s:o,s:b}", "path", n.path, "entries", arr, "truncated", truncated);
out:
    lsfs__exec(db, rc < 0 ? "ROLLBACK" : "COMMIT");
    return rc;
}

int lsfs_move(lsfs_db *db, const lsfs_actor *a, const char *from, const char *to, json_t **out)
{
    char f[LSFS_PATH_MAX], t[LSFS_PATH_MAX], tparent[LSFS_PATH_MAX], mn[LSFS_NAME_MAX + 1];
    const char *ext = "", *mime = "";
    sqlite3_stmt *st;
    lsfs__node n;
    int rc;

    lsfs__clear_err(db);
    *out = NULL;
    if ((rc = lsfs__path_norm(db, a, from, "from", f, sizeof f)) < 0 ||
        (rc = lsfs__path_norm(db, a, to, "to", t, sizeof t)) < 0)
        return rc;
    if (protected_path(f))
        return lsfs__err(db, AIOS_EPERM, "from", "'%s' cannot be moved", f);
    if (protected_path(t))
        return lsfs__err(db, AIOS_EPERM, "to", "'%s' is reserved", t);
    if (lsfs__path_mount(f, mn, sizeof mn, NULL) || lsfs__path_mount(t, mn, sizeof mn, NULL))
        return lsfs__err(db, AIOS_ENOTSUP, lsfs__path_mount(f, mn, sizeof mn, NULL) ? "from" : "to",
                         "moving files in or out of mounted folders is not supported; "
                         "copy with read and write");
    if (lsfs__path_under(t, f))
        return lsfs__err(db, AIOS_EINVAL, "to", "cannot move '%s' inside itself", f);
    if ((rc = lsfs__begin(db)) < 0)
        return rc;
    if ((rc = lsfs__ensure_home(db, a)) < 0)
        goto out;
    if ((rc = lsfs__node_get(db, f, &n)) < 0)
        goto out;
    if ((rc = lsfs__need(db, a, &n, LSFS_PERM_WRITE, "from")) < 0)
        goto out;
    {
        lsfs__node x;
        rc = lsfs__node_get(db, t, &x);
        if (rc == 0) {
            rc = lsfs__err(db, AIOS_EEXIST, "to", "'%s' already exists", t);
            goto out;
        }
        if (rc != AIOS_ENOENT)
            goto out;
        lsfs__clear_err(db);
    }
    lsfs__path_parent(t, tparent, sizeof tparent);
    if ((rc = make_parents(db, a, tparent, "to")) < 0)
        goto out;
    if (n.kind == LSFS_KIND_FILE)
        mime = lsfs__mime_of(lsfs__path_name(t), &ext);
    st = lsfs__stmt(db, "UPDATE nodes SET path=?2, dir=?3, name=?4, mtime=?5,"
                        " mime=CASE WHEN kind=2 THEN ?6 ELSE mime END,"
                        " ext=CASE WHEN kind=2 THEN ?7 ELSE ext END WHERE id=?1");
    if (!st) {
        rc = AIOS_EIO;
        goto out;
    }
    sqlite3_bind_int64(st, 1, n.id);
    sqlite3_bind_text(st, 2, t, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, tparent, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, lsfs__path_name(t), -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, lsfs__now_ms());
    /* keep a sniffed text/plain for unknown extensions */
    sqlite3_bind_text(st, 6, strcmp(mime, "application/octet-stream") == 0 &&
                              strcmp(n.mime, "text/plain") == 0 ? n.mime : mime, -1,
                      SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 7, ext, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        rc = lsfs__sqlerr(db, rc, "move");
        goto out;
    }
    if (n.kind == LSFS_KIND_DIR) {
        st = lsfs__stmt(db, "UPDATE nodes SET path=?2||substr(path,length(?1)+1),"
                            " dir=?2||substr(dir,length(?1)+1)"
                            " WHERE deleted IS NULL AND path>?1||'/' AND path<?1||'0'");
        if (!st) {
            rc = AIOS_EIO;
            goto out;
        }
        sqlite3_bind_text(st, 1, f, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, t, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) {
            rc = lsfs__sqlerr(db, rc, "move");
            goto out;
        }
    } else if (n.kind == LSFS_KIND_FILE &&
               strcmp(lsfs__path_name(f), lsfs__path_name(t)) != 0 &&
               (rc = lsfs__index_retitle(db, n.id, lsfs__path_name(t))) < 0) {
        goto out;
    }
    rc = 0;
    lsfs__event(db, "move", t, json_pack("{s:s}", "from", f));
    if ((rc = lsfs__node_get(db, t, &n)) == 0)
        *out = lsfs__node_json(db, &n);
out:
    rc = lsfs__end(db, rc);
    if (rc < 0) {
        json_decref(*out);
        *out = NULL;
    }
    return rc;
}

int lsfs_link(lsfs_db *db, const lsfs_actor *a, const char *path, const char *target,
              json_t **out)
{
    char p[LSFS_PATH_MAX], t[LSFS_PATH_MAX], parent[LSFS_PATH_MAX];
    sqlite3_stmt *st;
    lsfs__node tn, ln;
    int64_t id;
    int rc;

    lsfs__clear_err(db);
    *out = NULL;
    if ((rc = lsfs__path_norm(db, a, path, "path", p, sizeof p)) < 0 ||
        (rc = lsfs__path_norm(db, a, target, "target", t, sizeof t)) < 0)
        return rc;
    if (protected_path(p))
        return lsfs__err(db, AIOS_EPERM, "path", "'%s' is reserved", p);
    if (lsfs__path_mount(p, parent, sizeof parent, NULL))
        return lsfs__err(db, AIOS_ENOTSUP, "path", "links cannot be made inside mounted folders");
    if ((rc = lsfs__begin(db)) < 0)
        return rc;
    if ((rc = lsfs__ensure_home(db, a)) < 0)
        goto out;
    rc = lsfs__node_get(db, t, &tn);
    if (rc == AIOS_ENOENT)
        snprintf(db->errfield, sizeof db->errfield, "target");
    if (rc < 0 || (rc = lsfs__node_follow(db, &tn)) < 0)
        goto out;
    if ((rc = lsfs__need(db, a, &tn, LSFS_PERM_READ, "target")) < 0)
        goto out;
    lsfs__path_parent(p, parent, sizeof parent);
    if ((rc = make_parents(db, a, parent, "path")) < 0)
        goto out;
    if ((rc = lsfs__node_insert(db, p, LSFS_KIND_LINK, a->principal, NULL, &id)) < 0)
        goto out;
    st = lsfs__stmt(db, "UPDATE nodes SET target=?2 WHERE id=?1");
    if (!st) {
        rc = AIOS_EIO;
        goto out;
    }
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, tn.id);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        rc = lsfs__sqlerr(db, rc, "link");
        goto out;
    }
    rc = 0;
    lsfs__event(db, "link", p, json_pack("{s:s}", "target", tn.path));
    if ((rc = lsfs__node_get(db, p, &ln)) == 0)
        *out = lsfs__node_json(db, &ln);
out:
    rc = lsfs__end(db, rc);
    if (rc < 0) {
        json_decref(*out);
        *out = NULL;
    }
    return rc;
}

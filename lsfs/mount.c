/*
 * mount.c - host folders mounted as /mnt/<name>: the mount table, confined
 * host I/O, and bringing the index up to date with the host.
 *
 * A mount keeps an O_PATH descriptor on its host folder.  Every host path is
 * opened relative to it with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
 * RESOLVE_NO_MAGICLINKS): ".." cannot climb out and no symbolic link is
 * followed, so neither a request nor a planted link can reach outside the
 * folder.  Symbolic links and special files inside a mount are not indexed.
 * Writes to rw mounts go to a temporary file in the same folder, are synced
 * and renamed over the target, then the folder is synced.
 *
 * Synchronisation compares the host with the index: files whose size and
 * mtime (nodes.hstat) are unchanged are skipped; changed files get a new
 * version (author "host"); files gone from the host leave the index (their
 * nodes move to the trash with their history).  Work is committed in
 * batches, then new chunks are embedded outside the transaction.
 *
 * Threads: any, on the caller's connection; the mount list has its own lock.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "aios/log.h"
#include "lsfs/lsfs_int.h"

#define SYNC_BATCH 128
#define WALK_MAX_DEPTH 64
#define WALK_MAX_ENTRIES 500000
#define TMP_MARK ".lsfs-tmp-"

/* ---- the run-time mount list ---------------------------------------------------- */

/* Copy of a mount's fields; rootfd is dup'ed (caller closes). */
typedef struct {
    char name[LSFS_NAME_MAX + 1];
    char owner[80];
    bool rw;
    int rootfd;
} mref;

static int mount_ref(lsfs_store *s, const char *name, mref *out)
{
    lsfs__mount *m;
    int rc = AIOS_ENOENT;

    out->rootfd = -1;
    pthread_mutex_lock(&s->mnt_lock);
    for (m = s->mounts; m; m = m->next)
        if (strcmp(m->name, name) == 0) {
            snprintf(out->name, sizeof out->name, "%s", m->name);
            snprintf(out->owner, sizeof out->owner, "%s", m->owner);
            out->rw = m->rw;
            out->rootfd = m->rootfd >= 0 ? fcntl(m->rootfd, F_DUPFD_CLOEXEC, 0) : -1;
            rc = out->rootfd >= 0 ? 0 : AIOS_EUNAVAIL;
            break;
        }
    pthread_mutex_unlock(&s->mnt_lock);
    return rc;
}

int lsfs__mount_rw(lsfs_store *s, const char *mount, bool *rw)
{
    lsfs__mount *m;
    int rc = AIOS_ENOENT;

    *rw = false;
    pthread_mutex_lock(&s->mnt_lock);
    for (m = s->mounts; m; m = m->next)
        if (strcmp(m->name, mount) == 0) {
            *rw = m->rw;
            rc = 0;
            break;
        }
    pthread_mutex_unlock(&s->mnt_lock);
    return rc;
}

static int mount_add_runtime(lsfs_store *s, const char *name, const char *host, bool rw,
                             const char *owner)
{
    lsfs__mount *m = calloc(1, sizeof *m);

    if (!m)
        return AIOS_ENOMEM;
    snprintf(m->name, sizeof m->name, "%s", name);
    snprintf(m->host, sizeof m->host, "%s", host);
    snprintf(m->owner, sizeof m->owner, "%s", owner);
    m->rw = rw;
    m->rootfd = open(host, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (m->rootfd < 0)
        aios_log(AIOS_LOG_WARN, "lsfs", "mount '%s': cannot open '%s': %s", name, host,
                 strerror(errno));
    pthread_mutex_lock(&s->mnt_lock);
    m->next = s->mounts;
    s->mounts = m;
    pthread_mutex_unlock(&s->mnt_lock);
    return 0;
}

static void mount_del_runtime(lsfs_store *s, const char *name)
{
    lsfs__mount **pp, *m;

    pthread_mutex_lock(&s->mnt_lock);
    for (pp = &s->mounts; (m = *pp); pp = &m->next)
        if (strcmp(m->name, name) == 0) {
            *pp = m->next;
            if (m->rootfd >= 0)
                close(m->rootfd);
            free(m);
            break;
        }
    pthread_mutex_unlock(&s->mnt_lock);
}

int lsfs__mounts_load(lsfs_db *db)
{
    sqlite3_stmt *st = lsfs__stmt(db, "SELECT name, host_path, mode, owner FROM mounts");
    int rc;

    if (!st)
        return AIOS_EIO;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        mount_add_runtime(db->s, (const char *)sqlite3_column_text(st, 0),
                          (const char *)sqlite3_column_text(st, 1),
                          strcmp((const char *)sqlite3_column_text(st, 2), "rw") == 0,
                          (const char *)sqlite3_column_text(st, 3));
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : lsfs__sqlerr(db, rc, "mounts");
}

void lsfs__mounts_free(lsfs_store *s)
{
    lsfs__mount *m, *next;

    pthread_mutex_lock(&s->mnt_lock);
    for (m = s->mounts; m; m = next) {
        next = m->next;
        if (m->rootfd >= 0)
            close(m->rootfd);
        free(m);
    }
    s->mounts = NULL;
    pthread_mutex_unlock(&s->mnt_lock);
}

/* ---- confined host I/O ------------------------------------------------------------- */

static int open_beneath(int rootfd, const char *rel, int flags, mode_t mode)
{
    struct open_how how = {
        .flags = (uint64_t)(flags | O_CLOEXEC),
        .mode = mode,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
    };
    long fd;

    if (!*rel)
        rel = ".";
    fd = syscall(SYS_openat2, rootfd, rel, &how, sizeof how);
    return fd < 0 ? -1 : (int)fd;
}

/* Open the folder holding rel (O_RDONLY|O_DIRECTORY) and point *base at
 * rel's last component. */
static int open_parent(int rootfd, const char *rel, const char **base)
{
    const char *slash = strrchr(rel, '/');
    char dir[LSFS_PATH_MAX];

    if (!slash) {
        *base = rel;
        return open_beneath(rootfd, "", O_RDONLY | O_DIRECTORY, 0);
    }
    if ((size_t)(slash - rel) >= sizeof dir) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(dir, rel, (size_t)(slash - rel));
    dir[slash - rel] = 0;
    *base = slash + 1;
    return open_beneath(rootfd, dir, O_RDONLY | O_DIRECTORY, 0);
}

static int host_err(lsfs_db *db, const char *what, const char *mount, const char *rel)
{
    int e = errno;

    if (e == ENOSYS)
        return lsfs__err(db, AIOS_ENOTSUP, "path",
                         "this kernel lacks openat2(); mounted folders are read-only");
    if (e == EXDEV || e == ELOOP)
        return lsfs__err(db, AIOS_EPERM, "path",
                         "'%s' in mount '%s' leaves the folder or crosses a symbolic link", rel,
                         mount);
    return lsfs__err(db, aios_from_errno(e), "path", "cannot %s '%s' in mount '%s': %s", what,
                     rel, mount, strerror(e));
}

int lsfs__host_write(lsfs_db *db, const char *mount, const char *rel, const void *data,
                     size_t len)
{
    char tmp[LSFS_NAME_MAX + 64];
    const char *base;
    mref m;
    struct stat sb;
    mode_t mode = 0644;
    int dfd = -1, fd = -1, rc;
    size_t off = 0;

    if ((rc = mount_ref(db->s, mount, &m)) < 0)
        return lsfs__err(db, rc, "path", "mount '%s' is not available", mount);
    if (!m.rw) {
        rc = lsfs__err(db, AIOS_EPERM, "path", "mount '%s' is read-only", mount);
        goto out;
    }
    if ((dfd = open_parent(m.rootfd, rel, &base)) < 0) {
        rc = host_err(db, "open the folder of", mount, rel);
        goto out;
    }
    if (fstatat(dfd, base, &sb, AT_SYMLINK_NOFOLLOW) == 0) {
        if (!S_ISREG(sb.st_mode)) {
            rc = lsfs__err(db, AIOS_EPERM, "path", "'%s' in mount '%s' is not a regular file",
                           rel, mount);
            goto out;
        }
        mode = sb.st_mode & 07777;
    }
    snprintf(tmp, sizeof tmp, "%s%s%d", TMP_MARK, base, (int)getpid());
    fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0) {
        rc = host_err(db, "create", mount, rel);
        goto out;
    }
    while (off < len) {
        ssize_t w = write(fd, (const char *)data + off, len - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            rc = host_err(db, "write", mount, rel);
            goto out_unlink;
        }
        off += (size_t)w;
    }
    if (fsync(fd) < 0) {
        rc = host_err(db, "sync", mount, rel);
        goto out_unlink;
    }
    close(fd);
    fd = -1;
    if (renameat(dfd, tmp, dfd, base) < 0) {
        rc = host_err(db, "replace", mount, rel);
        goto out_unlink;
    }
    fsync(dfd);
    rc = 0;
    goto out;
out_unlink:
    unlinkat(dfd, tmp, 0);
out:
    if (fd >= 0)
        close(fd);
    if (dfd >= 0)
        close(dfd);
    close(m.rootfd);
    return rc;
}

int lsfs__host_mkdir(lsfs_db *db, const char *mount, const char *rel)
{
    const char *base;
    mref m;
    int dfd, rc = 0;

    if ((rc = mount_ref(db->s, mount, &m)) < 0)
        return lsfs__err(db, rc, "path", "mount '%s' is not available", mount);
    if (!m.rw) {
        close(m.rootfd);
        return lsfs__err(db, AIOS_EPERM, "path", "mount '%s' is read-only", mount);
    }
    if ((dfd = open_parent(m.rootfd, rel, &base)) < 0) {
        rc = host_err(db, "open the folder of", mount, rel);
    } else {
        if (mkdirat(dfd, base, 0755) < 0 && errno != EEXIST)
            rc = host_err(db, "create folder", mount, rel);
        close(dfd);
    }
    close(m.rootfd);
    return rc;
}

int lsfs__host_unlink(lsfs_db *db, const char *mount, const char *rel, bool dir)
{
    const char *base;
    mref m;
    int dfd, rc = 0;

    if ((rc = mount_ref(db->s, mount, &m)) < 0)
        return lsfs__err(db, rc, "path", "mount '%s' is not available", mount);
    if (!m.rw) {
        close(m.rootfd);
        return lsfs__err(db, AIOS_EPERM, "path", "mount '%s' is read-only", mount);
    }
    if ((dfd = open_parent(m.rootfd, rel, &base)) < 0) {
        rc = errno == ENOENT ? AIOS_ENOENT : host_err(db, "open the folder of", mount, rel);
    } else {
        if (unlinkat(dfd, base, dir ? AT_REMOVEDIR : 0) < 0)
            rc = errno == ENOENT ? AIOS_ENOENT : host_err(db, "remove", mount, rel);
        close(dfd);
    }
    close(m.rootfd);
    return rc;
}

/* ---- walking the host ----------------------------------------------------------------- */

typedef struct {
    char *rel;
    int kind;                   /* LSFS_KIND_DIR / LSFS_KIND_FILE */
    char hstat[64];
} hentry;

typedef struct {
    hentry *e;
    size_t n, cap;
    bool truncated;
} hlist;

static int hl_push(hlist *l, const char *rel, int kind, const struct stat *sb)
{
    if (l->n >= WALK_MAX_ENTRIES) {
        l->truncated = true;
        return 0;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        hentry *ne = realloc(l->e, cap * sizeof *ne);
        if (!ne)
            return AIOS_ENOMEM;
        l->e = ne;
        l->cap = cap;
    }
    l->e[l->n].rel = strdup(rel);
    if (!l->e[l->n].rel)
        return AIOS_ENOMEM;
    l->e[l->n].kind = kind;
    snprintf(l->e[l->n].hstat, sizeof l->e[l->n].hstat, "%lld:%lld.%09ld",
             (long long)sb->st_size, (long long)sb->st_mtim.tv_sec, sb->st_mtim.tv_nsec);
    l->n++;
    return 0;
}

static void hl_free(hlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->e[i].rel);
    free(l->e);
}

static bool skip_name(const char *name)
{
    return strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
           strncmp(name, TMP_MARK, strlen(TMP_MARK)) == 0 || strlen(name) > LSFS_NAME_MAX;
}

/* Collect folders and regular files below dfd (rel is its path). */
static int walk(int dfd, const char *rel, int depth, hlist *l)
{
    DIR *d;
    struct dirent *de;
    int fd2, rc = 0;

    if (depth > WALK_MAX_DEPTH)
        return 0;
    fd2 = fcntl(dfd, F_DUPFD_CLOEXEC, 0);
    if (fd2 < 0 || !(d = fdopendir(fd2))) {
        if (fd2 >= 0)
            close(fd2);
        return 0;
    }
    while ((de = readdir(d)) && rc == 0) {
        char child[LSFS_PATH_MAX];
        struct stat sb;
        if (skip_name(de->d_name))
            continue;
        if (snprintf(child, sizeof child, "%s%s%s", rel, *rel ? "/" : "", de->d_name) >=
            (int)sizeof child - 64)
            continue;
        if (fstatat(dfd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        if (S_ISDIR(sb.st_mode)) {
            int cfd = openat(dfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (cfd < 0)
                continue;
            rc = hl_push(l, child, LSFS_KIND_DIR, &sb);
            if (rc == 0)
                rc = walk(cfd, child, depth + 1, l);
            close(cfd);
        } else if (S_ISREG(sb.st_mode)) {
            rc = hl_push(l, child, LSFS_KIND_FILE, &sb);
        }
    }
    closedir(d);
    return rc;
}

/* ---- synchronising ----------------------------------------------------------------------- */

typedef struct {
    lsfs_db *db;
    mref m;
    int in_batch;
    json_t *touched;            /* node ids to embed after commit */
    json_t *dirs_added, *dirs_removed;
    int files_changed, files_removed;
} syncer;

static int batch_step(syncer *y)
{
    int rc;

    if (y->in_batch == 0 && (rc = lsfs__begin(y->db)) < 0)
        return rc;
    if (++y->in_batch >= SYNC_BATCH) {
        y->in_batch = 0;
        return lsfs__end(y->db, 0);
    }
    return 0;
}

static int batch_end(syncer *y, int rc)
{
    if (y->in_batch) {
        y->in_batch = 0;
        rc = lsfs__end(y->db, rc);
    }
    return rc;
}

/* Make sure the folder nodes down to rel's parent exist (owned by the
 * mount's owner). */
static int ensure_dirs(syncer *y, const char *path)
{
    char parent[LSFS_PATH_MAX];
    lsfs__node n;
    int rc = lsfs__node_get(y->db, path, &n);

    if (rc == 0)
        return n.kind == LSFS_KIND_DIR ? 0 : AIOS_ENOTDIR;
    if (rc != AIOS_ENOENT)
        return rc;
    lsfs__clear_err(y->db);
    lsfs__path_parent(path, parent, sizeof parent);
    if ((rc = ensure_dirs(y, parent)) < 0)
        return rc;
    rc = lsfs__node_insert(y->db, path, LSFS_KIND_DIR, y->m.owner, y->m.name, NULL);
    if (rc == 0)
        lsfs__event(y->db, "mkdir", path, json_pack("{s:b}", "host", 1));
    return rc;
}

static int set_hstat(lsfs_db *db, int64_t id, const char *hstat)
{
    sqlite3_stmt *st = lsfs__stmt(db, "UPDATE nodes SET hstat=?2 WHERE id=?1");
    int rc;

    if (!st)
        return AIOS_EIO;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, hstat, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : lsfs__sqlerr(db, rc, "hstat");
}

/* Remove the live subtree at path from the index (to the trash). */
static int drop_subtree(syncer *y, const char *path)
{
    sqlite3_stmt *st;
    json_t *ids = json_array();
    int64_t now = lsfs__now_ms(), batch = 0;
    int rc = 0;

    st = lsfs__stmt(y->db, "SELECT id, kind, path FROM nodes WHERE deleted IS NULL AND"
                           " (path=?1 OR (path>?1||'/' AND path<?1||'0'))");
    if (!st) {
        json_decref(ids);
        return AIOS_EIO;
    }
    sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);
    while (sqlite3_step(st) == SQLITE_ROW) {
        json_array_append_new(ids, json_integer(sqlite3_column_int64(st, 0)));
        if (!batch)
            batch = sqlite3_column_int64(st, 0);
        if (sqlite3_column_int(st, 1) == LSFS_KIND_DIR) {
            const char *p = (const char *)sqlite3_column_text(st, 2), *rel;
            char mn[LSFS_NAME_MAX + 1];
            if (lsfs__path_mount(p, mn, sizeof mn, &rel) && *rel)
                json_array_append_new(y->dirs_removed, json_string(rel));
        } else {
            y->files_removed++;
        }
    }
    sqlite3_reset(st);
    for (size_t i = 0; i < json_array_size(ids) && rc == 0; i++) {
        int64_t id = json_integer_value(json_array_get(ids, i));
        rc = lsfs__unindex_node(y->db, id);
        if (rc == 0) {
            st = lsfs__stmt(y->db, "UPDATE nodes SET deleted=?2, trash=?3 WHERE id=?1");
            if (!st) {
                rc = AIOS_EIO;
                break;
            }
            sqlite3_bind_int64(st, 1, id);
            sqlite3_bind_int64(st, 2, now);
            sqlite3_bind_int64(st, 3, batch);
            rc = sqlite3_step(st) == SQLITE_DONE ? 0 : lsfs__sqlerr(y->db, SQLITE_ERROR, "drop");
            sqlite3_reset(st);
        }
    }
    if (json_array_size(ids) && rc == 0)
        lsfs__event(y->db, "delete", path, json_pack("{s:b,s:i}", "host", 1, "nodes",
                                                     (int)json_array_size(ids)));
    json_decref(ids);
    return rc;
}

/* Bring one host file into the index (inside a batch). */
static int sync_file(syncer *y, const char *rel, const char *hstat)
{
    char path[LSFS_PATH_MAX + LSFS_NAME_MAX + 8], parent[LSFS_PATH_MAX];
    char *buf = NULL;
    size_t len = 0;
    struct stat sb;
    lsfs__node n;
    bool exists;
    int fd, rc;

    if (snprintf(path, sizeof path, "/mnt/%s/%s", y->m.name, rel) >= LSFS_PATH_MAX)
        return 0;
    rc = lsfs__node_get(y->db, path, &n);
    exists = rc == 0;
    if (rc < 0 && rc != AIOS_ENOENT)
        return rc;
    lsfs__clear_err(y->db);
    if (exists && n.kind != LSFS_KIND_FILE) {
        if ((rc = drop_subtree(y, path)) < 0)
            return rc;
        exists = false;
    }
    if (exists && hstat) {
        sqlite3_stmt *st = lsfs__stmt(y->db, "SELECT hstat FROM nodes WHERE id=?1");
        bool same = false;
        if (!st)
            return AIOS_EIO;
        sqlite3_bind_int64(st, 1, n.id);
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
            same = strcmp((const char *)sqlite3_column_text(st, 0), hstat) == 0;
        sqlite3_reset(st);
        if (same)
            return 0;
    }
    fd = open_beneath(y->m.rootfd, rel, O_RDONLY | O_NOFOLLOW | O_NONBLOCK, 0);
    if (fd < 0) {
        /* gone (or now a link) since the walk */
        return exists ? drop_subtree(y, path) : 0;
    }
    if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return exists ? drop_subtree(y, path) : 0;
    }
    if (sb.st_size > y->db->s->opt.mount_max_file_bytes) {
        close(fd);
        aios_log(AIOS_LOG_DEBUG, "lsfs", "mount '%s': '%s' is too large to index", y->m.name,
                 rel);
        return exists ? drop_subtree(y, path) : 0;
    }
    buf = malloc((size_t)sb.st_size + 1);
    if (!buf) {
        close(fd);
        return lsfs__err(y->db, AIOS_ENOMEM, NULL, "out of memory");
    }
    while (len < (size_t)sb.st_size) {
        ssize_t r = read(fd, buf + len, (size_t)sb.st_size - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    {
        char hs[64];
        snprintf(hs, sizeof hs, "%lld:%lld.%09ld", (long long)sb.st_size,
                 (long long)sb.st_mtim.tv_sec, sb.st_mtim.tv_nsec);
        if (!exists) {
            lsfs__path_parent(path, parent, sizeof parent);
            if ((rc = ensure_dirs(y, parent)) < 0)
                goto out;
            if ((rc = lsfs__node_insert(y->db, path, LSFS_KIND_FILE, y->m.owner, y->m.name,
                                        NULL)) < 0 ||
                (rc = lsfs__node_get(y->db, path, &n)) < 0)
                goto out;
        } else if (n.blob) {
            unsigned char h1[32];
            sqlite3_stmt *st = lsfs__stmt(y->db, "SELECT hash FROM blobs WHERE id=?1");
            bool same = false;
            lsfs__sha256(buf, len, h1);
            if (st) {
                sqlite3_bind_int64(st, 1, n.blob);
                if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_bytes(st, 0) == 32)
                    same = memcmp(sqlite3_column_blob(st, 0), h1, 32) == 0;
                sqlite3_reset(st);
            }
            if (same) {
                rc = set_hstat(y->db, n.id, hs);
                goto out;
            }
        }
        if ((rc = lsfs__file_set(y->db, &n, buf, len, "host", exists ? "host" : "host-create")) < 0)
            goto out;
        rc = set_hstat(y->db, n.id, hs);
        lsfs__event(y->db, exists ? "write" : "create", path,
                    json_pack("{s:I,s:b}", "version", (json_int_t)n.head, "host", 1));
        json_array_append_new(y->touched, json_integer(n.id));
        y->files_changed++;
    }
out:
    free(buf);
    return rc;
}

/* Reconcile the subtree at rel (a folder; "" = the mount root) with the host. */
static int sync_dir(syncer *y, const char *rel)
{
    char base[LSFS_PATH_MAX + LSFS_NAME_MAX + 8];
    lsfs__strset seen = {0};
    hlist l = {0};
    sqlite3_stmt *st;
    json_t *gone = json_array();
    int dfd, rc = 0;

    snprintf(base, sizeof base, "/mnt/%s%s%s", y->m.name, *rel ? "/" : "", rel);
    dfd = open_beneath(y->m.rootfd, rel, O_RDONLY | O_DIRECTORY, 0);
    if (dfd < 0) {
        json_decref(gone);
        if ((rc = batch_step(y)) < 0)
            return rc;
        return *rel ? drop_subtree(y, base) : 0;
    }
    rc = walk(dfd, rel, 0, &l);
    close(dfd);
    if (rc < 0)
        goto out;
    if (l.truncated)
        aios_log(AIOS_LOG_WARN, "lsfs", "mount '%s': more than %d entries; the rest is not indexed",
                 y->m.name, WALK_MAX_ENTRIES);
    if (*rel)
        json_array_append_new(y->dirs_added, json_string(rel));
    for (size_t i = 0; i < l.n && rc == 0; i++) {
        char path[LSFS_PATH_MAX + LSFS_NAME_MAX + 8];
        snprintf(path, sizeof path, "/mnt/%s/%s", y->m.name, l.e[i].rel);
        lsfs__strset_add(&seen, path, strlen(path));
        if ((rc = batch_step(y)) < 0)
            break;
        if (l.e[i].kind == LSFS_KIND_DIR) {
            lsfs__node n;
            json_array_append_new(y->dirs_added, json_string(l.e[i].rel));
            rc = lsfs__node_get(y->db, path, &n);
            if (rc == 0 && n.kind != LSFS_KIND_DIR)
                rc = drop_subtree(y, path);
            else if (rc == AIOS_ENOENT)
                rc = 0;
            if (rc == 0)
                rc = ensure_dirs(y, path);
        } else {
            rc = sync_file(y, l.e[i].rel, l.e[i].hstat);
        }
    }
    if (rc < 0)
        goto out;
    /* index entries the host no longer has */
    st = lsfs__stmt(y->db, "SELECT path FROM nodes WHERE deleted IS NULL AND"
                           " path>?1||'/' AND path<?1||'0' ORDER BY path");
    if (!st) {
        rc = AIOS_EIO;
        goto out;
    }
    sqlite3_bind_text(st, 1, base, -1, SQLITE_STATIC);
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *p = (const char *)sqlite3_column_text(st, 0);
        if (!lsfs__strset_has(&seen, p, strlen(p)))
            json_array_append_new(gone, json_string(p));
    }
    sqlite3_reset(st);
    for (size_t i = 0; i < json_array_size(gone) && rc == 0; i++) {
        lsfs__node n;
        const char *p = json_string_value(json_array_get(gone, i));
        if (lsfs__node_get(y->db, p, &n) < 0) {
            lsfs__clear_err(y->db);
            continue; /* inside a folder dropped already */
        }
        if ((rc = batch_step(y)) == 0)
            rc = drop_subtree(y, p);
    }
out:
    json_decref(gone);
    lsfs__strset_free(&seen);
    hl_free(&l);
    return rc;
}

int lsfs_mount_sync(lsfs_db *db, const char *name, const char *rel, json_t **dirs_out)
{
    syncer y = {.db = db};
    struct stat sb;
    const char *base;
    int rc, dfd;

    lsfs__clear_err(db);
    if (dirs_out)
        *dirs_out = NULL;
    if ((rc = mount_ref(db->s, name, &y.m)) < 0)
        return lsfs__err(db, rc, "name", "mount '%s' is not available", name);
    for (const char *c = rel; *c;) {
        const char *e = strchr(c, '/');
        size_t n = e ? (size_t)(e - c) : strlen(c);
        if (n == 2 && c[0] == '.' && c[1] == '.') {
            close(y.m.rootfd);
            return lsfs__err(db, AIOS_EINVAL, "path", "'..' is not allowed");
        }
        c += n + (e ? 1 : 0);
    }
    y.touched = json_array();
    y.dirs_added = json_array();
    y.dirs_removed = json_array();
    if (!*rel) {
        rc = sync_dir(&y, "");
    } else if ((dfd = open_parent(y.m.rootfd, rel, &base)) >= 0 &&
               fstatat(dfd, base, &sb, AT_SYMLINK_NOFOLLOW) == 0) {
        close(dfd);
        if (S_ISDIR(sb.st_mode)) {
            rc = sync_dir(&y, rel);
        } else if (S_ISREG(sb.st_mode) && !skip_name(base)) {
            char hs[64];
            snprintf(hs, sizeof hs, "%lld:%lld.%09ld", (long long)sb.st_size,
                     (long long)sb.st_mtim.tv_sec, sb.st_mtim.tv_nsec);
            if ((rc = batch_step(&y)) == 0)
                rc = sync_file(&y, rel, hs);
        } else {
            char path[LSFS_PATH_MAX + LSFS_NAME_MAX + 8];
            snprintf(path, sizeof path, "/mnt/%s/%s", name, rel);
            if ((rc = batch_step(&y)) == 0)
                rc = drop_subtree(&y, path);
        }
    } else {
        char path[LSFS_PATH_MAX + LSFS_NAME_MAX + 8];
        if (dfd >= 0)
            close(dfd);
        if (skip_name(lsfs__path_name(rel))) {
            rc = 0;
        } else {
            snprintf(path, sizeof path, "/mnt/%s/%s", name, rel);
            if ((rc = batch_step(&y)) == 0)
                rc = drop_subtree(&y, path);
        }
    }
    rc = batch_end(&y, rc);
    close(y.m.rootfd);
    if (rc >= 0 && db->s->sem.emb)
        for (size_t i = 0; i < json_array_size(y.touched); i++)
            lsfs__embed_node(db, json_integer_value(json_array_get(y.touched, i)));
    if (rc >= 0 && dirs_out)
        *dirs_out = json_pack("{s:O,s:O,s:i,s:i}", "added", y.dirs_added, "removed",
                              y.dirs_removed, "changed", y.files_changed, "removed_files",
                              y.files_removed);
    json_decref(y.touched);
    json_decref(y.dirs_added);
    json_decref(y.dirs_removed);
    return rc;
}

/* ---- fs.mount / fs.unmount ----------------------------------------------------------------- */

static int name_ok(lsfs_db *db, const char *name)
{
    size_t n = strlen(name);

    if (n == 0 || n > 64 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return lsfs__err(db, AIOS_EINVAL, "name", "a mount name has 1 to 64 characters");
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return lsfs__err(db, AIOS_EINVAL, "name",
                             "mount names use letters, digits, '-', '_' and '.'");
    }
    return 0;
}

int lsfs_mount(lsfs_db *db, const lsfs_actor *a, const char *host_path, const char *name,
               const char *mode, json_t **out)
{
    char real[4096], data_real[4096], path[LSFS_PATH_MAX];
    struct stat sb;
    sqlite3_stmt *st;
    json_t *res = NULL;
    bool rw;
    int64_t t0 = lsfs__now_ms();
    int rc;

    lsfs__clear_err(db);
    *out = NULL;
    if ((rc = name_ok(db, name)) < 0)
        return rc;
    if (!mode || !*mode)
        mode = "ro";
    if (strcmp(mode, "ro") != 0 && strcmp(mode, "rw") != 0)
        return lsfs__err(db, AIOS_EINVAL, "mode", "mode is 'ro' or 'rw'");
    rw = strcmp(mode, "rw") == 0;
    if (!host_path || host_path[0] != '/')
        return lsfs__err(db, AIOS_EINVAL, "host_path", "host_path must be absolute");
    if (!realpath(host_path, real))
        return lsfs__err(db, aios_from_errno(errno), "host_path", "cannot resolve '%s': %s",
                         host_path, strerror(errno));
    if (stat(real, &sb) < 0 || !S_ISDIR(sb.st_mode))
        return lsfs__err(db, AIOS_ENOTDIR, "host_path", "'%s' is not a folder", real);
    if (!a->admin && sb.st_uid != a->uid)
        return lsfs__err(db, AIOS_EPERM, "host_path",
                         "only the owner of '%s' (uid %u) or an admin may mount it", real,
                         (unsigned)sb.st_uid);
    if (realpath(db->s->data_dir, data_real) &&
        (lsfs__path_under(data_real, real) || lsfs__path_under(real, data_real)))
        return lsfs__err(db, AIOS_EPERM, "host_path",
                         "'%s' overlaps the daemon's data folder", real);
    snprintf(path, sizeof path, "/mnt/%s", name);
    if ((rc = lsfs__begin(db)) < 0)
        return rc;
    st = lsfs__stmt(db, "INSERT INTO mounts(name,host_path,mode,owner,ctime) VALUES(?1,?2,?3,?4,?5)");
    if (!st) {
        rc = AIOS_EIO;
        goto out_txn;
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, real, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, mode, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, a->principal, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, t0);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if ((rc & 0xff) == SQLITE_CONSTRAINT) {
        rc = lsfs__err(db, AIOS_EEXIST, "name", "a mount named '%s' exists", name);
        goto out_txn;
    }
    if (rc != SQLITE_DONE) {
        rc = lsfs__sqlerr(db, rc, "mount");
        goto out_txn;
    }
    {
        lsfs__node n;
        rc = lsfs__node_get(db, path, &n);
        if (rc == 0) {
            rc = lsfs__err(db, AIOS_EEXIST, "name", "'%s' exists", path);
            goto out_txn;
        }
        lsfs__clear_err(db);
    }
    if ((rc = lsfs__node_insert(db, path, LSFS_KIND_DIR, a->principal, name, NULL)) < 0)
        goto out_txn;
    lsfs__event(db, "mount", path, json_pack("{s:s,s:s}", "host_path", real, "mode", mode));
out_txn:
    rc = lsfs__end(db, rc);
    if (rc < 0)
        return rc;
    if ((rc = mount_add_runtime(db->s, name, real, rw, a->principal)) < 0)
        return lsfs__err(db, rc, NULL, "out of memory");
    rc = lsfs_mount_sync(db, name, "", &res);
    if (rc < 0) {
        aios_log(AIOS_LOG_WARN, "lsfs", "mount '%s': first index failed: %s", name,
                 lsfs_db_errmsg(db));
        return rc;
    }
    *out = json_pack("{s:s,s:s,s:s,s:s,s:I,s:I}", "name", name, "path", path, "host_path",
                     real, "mode", mode, "files",
                     (json_int_t)json_integer_value(json_object_get(res, "changed")), "took_ms",
                     (json_int_t)(lsfs__now_ms() - t0));
    json_decref(res);
    return 0;
}

int lsfs_unmount(lsfs_db *db, const lsfs_actor *a, const char *name, json_t **out)
{
    char path[LSFS_PATH_MAX], owner[80] = "";
    sqlite3_stmt *st;
    json_t *ids = json_array();
    int rc;

    lsfs__clear_err(db);
    *out = NULL;
    snprintf(path, sizeof path, "/mnt/%s", name);
    if ((rc = lsfs__begin(db)) < 0)
        goto out_free;
    st = lsfs__stmt(db, "SELECT owner FROM mounts WHERE name=?1");
    if (!st) {
        rc = AIOS_EIO;
        goto out;
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        snprintf(owner, sizeof owner, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_reset(st);
    if (rc != SQLITE_ROW) {
        rc = lsfs__err(db, AIOS_ENOENT, "name", "no mount named '%s'", name);
        goto out;
    }
    if (!a->admin && strcmp(owner, a->principal) != 0) {
        rc = lsfs__err(db, AIOS_EPERM, "name", "only %s may unmount '%s'", owner, name);
        goto out;
    }
    st = lsfs__stmt(db, "SELECT id FROM nodes WHERE path=?1 OR (path>?1||'/' AND path<?1||'0')");
    if (!st) {
        rc = AIOS_EIO;
        goto out;
    }
    sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);
    while (sqlite3_step(st) == SQLITE_ROW)
        json_array_append_new(ids, json_integer(sqlite3_column_int64(st, 0)));
    sqlite3_reset(st);
    rc = 0;
    for (size_t i = 0; i < json_array_size(ids) && rc == 0; i++) {
        int64_t id = json_integer_value(json_array_get(ids, i));
        if ((rc = lsfs__unindex_node(db, id)) < 0)
            break;
        st = lsfs__stmt(db, "DELETE FROM nodes WHERE id=?1");
        if (!st) {
            rc = AIOS_EIO;
            break;
        }
        sqlite3_bind_int64(st, 1, id);
        rc = sqlite3_step(st) == SQLITE_DONE ? 0 : lsfs__sqlerr(db, SQLITE_ERROR, "unmount");
        sqlite3_reset(st);
    }
    if (rc < 0)
        goto out;
    st = lsfs__stmt(db, "DELETE FROM mounts WHERE name=?1");
    if (!st) {
        rc = AIOS_EIO;
        goto out;
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    rc = sqlite3_step(st) == SQLITE_DONE ? 0 : lsfs__sqlerr(db, SQLITE_ERROR, "unmount");
    sqlite3_reset(st);
    if (rc == 0)
        rc = lsfs__blob_gc(db);
    if (rc == 0) {
        lsfs__event(db, "unmount", path, NULL);
        *out = json_pack("{s:s,s:i}", "name", name, "removed", (int)json_array_size(ids));
    }
out:
    rc = lsfs__end(db, rc);
    if (rc == 0)
        mount_del_runtime(db->s, name);
    else {
        json_decref(*out);
        *out = NULL;
    }
out_free:
    json_decref(ids);
    return rc;
}

int lsfs_mount_list(lsfs_db *db, const lsfs_actor *a, json_t **out)
{
    sqlite3_stmt *st = lsfs__stmt(db, "SELECT m.name, m.host_path, m.mode, m.owner, m.ctime,"
                                      " (SELECT count(*) FROM nodes n WHERE n.mount=m.name AND"
                                      "  n.kind=2 AND n.deleted IS NULL)"
                                      " FROM mounts m ORDER BY m.name");
    json_t *arr;
    int rc;

    lsfs__clear_err(db);
    *out = NULL;
    if (!st)
        return AIOS_EIO;
    arr = json_array();
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *owner = (const char *)sqlite3_column_text(st, 3);
        char path[LSFS_PATH_MAX];
        int perm = 0;
        snprintf(path, sizeof path, "/mnt/%s", (const char *)sqlite3_column_text(st, 0));
        if (!a->admin && strcmp(owner, a->principal) != 0 &&
            (lsfs__perm(db, a, path, owner, &perm) < 0 || !(perm & LSFS_PERM_READ)))
            continue;
        json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:I}", "name",
                              (const char *)sqlite3_column_text(st, 0), "path", path, "mode",
                              (const char *)sqlite3_column_text(st, 2), "owner", owner, "files",
                              (json_int_t)sqlite3_column_int64(st, 5));
        /* the host path is only shown to those who could mount it */
        if (a->admin || strcmp(owner, a->principal) == 0)
            json_object_set_new(o, "host_path",
                                json_string((const char *)sqlite3_column_text(st, 1)));
        json_array_append_new(arr, o);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        json_decref(arr);
        return lsfs__sqlerr(db, rc, "mounts");
    }
    *out = json_pack("{s:o}", "mounts", arr);
    return 0;
}

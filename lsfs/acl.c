/*
 * acl.c - who may read and write what: owners, groups and shares.
 *
 * Rules (docs/LSFS.md has the long form):
 *  - admins may do anything;
 *  - the owner of a node, or of any folder above it, may read and write it
 *    (so an agent owns everything in its home, whoever created it);
 *  - a share on a node grants read or read+write on it and everything below
 *    it to a principal, a group ("group:<name>") or everyone ("*");
 *    /shared carries a read+write share to everyone;
 *  - the fixed system folders (/, /home, /mnt) can be listed by anyone.
 * Groups live in LSFS tables; a group's owner adds and removes members.
 *
 * For queries over many rows (list, search) lsfs__rctx precomputes the set
 * of folders the actor may read, and the SQL function
 * lsfs_readable(ctx, path, owner) tests a row against it in O(depth).
 *
 * Threads: any, on the caller's connection.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "lsfs/lsfs_int.h"

/* ---- string set (open addressing) --------------------------------------------- */

static size_t str_hash(const char *s, size_t len)
{
    return (size_t)XXH3_64bits(s, len);
}

static int strset_grow(lsfs__strset *s)
{
    size_t ncap = s->cap ? s->cap * 2 : 64;
    char **ns = calloc(ncap, sizeof *ns);

    if (!ns)
        return AIOS_ENOMEM;
    for (size_t i = 0; i < s->cap; i++) {
        char *k = s->slots[i];
        if (!k)
            continue;
        size_t h = str_hash(k, strlen(k)) & (ncap - 1);
        while (ns[h])
            h = (h + 1) & (ncap - 1);
        ns[h] = k;
    }
    free(s->slots);
    s->slots = ns;
    s->cap = ncap;
    return 0;
}

int lsfs__strset_add(lsfs__strset *s, const char *str, size_t len)
{
    size_t h;

    if (lsfs__strset_has(s, str, len))
        return 0;
    if ((s->n + 1) * 2 > s->cap && strset_grow(s) < 0)
        return AIOS_ENOMEM;
    h = str_hash(str, len) & (s->cap - 1);
    while (s->slots[h])
        h = (h + 1) & (s->cap - 1);
    s->slots[h] = strndup(str, len);
    if (!s->slots[h])
        return AIOS_ENOMEM;
    s->n++;
    return 0;
}

bool lsfs__strset_has(const lsfs__strset *s, const char *str, size_t len)
{
    size_t h;

    if (!s->cap)
        return false;
    h = str_hash(str, len) & (s->cap - 1);
    while (s->slots[h]) {
        if (strlen(s->slots[h]) == len && memcmp(s->slots[h], str, len) == 0)
            return true;
        h = (h + 1) & (s->cap - 1);
    }
    return false;
}

void lsfs__strset_free(lsfs__strset *s)
{
    for (size_t i = 0; i < s->cap; i++)
        free(s->slots[i]);
    free(s->slots);
    s->slots = NULL;
    s->cap = s->n = 0;
}

/* ---- rights of one node ---------------------------------------------------------- */

/* JSON array of path and all its ancestors (for "IN (SELECT value FROM json_each)"). */
static char *ancestors_json(const char *path)
{
    json_t *arr = json_array();
    char cur[LSFS_PATH_MAX];
    char *txt;

    snprintf(cur, sizeof cur, "%s", path);
    for (;;) {
        json_array_append_new(arr, json_string(cur));
        if (strcmp(cur, "/") == 0)
            break;
        char *slash = strrchr(cur, '/');
        if (slash == cur)
            cur[1] = 0;
        else
            *slash = 0;
    }
    txt = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    return txt;
}

int lsfs__perm(lsfs_db *db, const lsfs_actor *a, const char *path, const char *owner,
               int *perm)
{
    sqlite3_stmt *st;
    char *anc;
    int p = 0, rc;

    *perm = 0;
    if (a->admin || strcmp(owner, a->principal) == 0) {
        *perm = LSFS_PERM_RW;
        return 0;
    }
    anc = ancestors_json(path);
    if (!anc)
        return lsfs__err(db, AIOS_ENOMEM, NULL, "out of memory");
    st = lsfs__stmt(db,
        "SELECT 3 FROM nodes WHERE deleted IS NULL AND owner=?2"
        "   AND path IN (SELECT value FROM json_each(?1))"
        " UNION ALL "
        "SELECT s.perm FROM shares s JOIN nodes n ON n.id=s.node"
        " WHERE n.deleted IS NULL AND n.path IN (SELECT value FROM json_each(?1))"
        "   AND (s.grantee=?2 OR s.grantee='*' OR s.grantee IN"
        "        (SELECT 'group:'||grp FROM group_members WHERE member=?2))");
    if (!st) {
        free(anc);
        return AIOS_EIO;
    }
    sqlite3_bind_text(st, 1, anc, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, a->principal, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        p |= sqlite3_column_int(st, 0);
    sqlite3_reset(st);
    free(anc);
    if (rc != SQLITE_DONE)
        return lsfs__sqlerr(db, rc, "rights");
    /* the fixed system folders can be listed by everyone */
    if (strcmp(owner, LSFS_SYSTEM_OWNER) == 0)
        p |= LSFS_PERM_READ;
    *perm = p & LSFS_PERM_RW;
    return 0;
}

int lsfs__need(lsfs_db *db, const lsfs_actor *a, const lsfs__node *n, int want,
               const char *field)
{
    int perm, rc = lsfs__perm(db, a, n->path, n->owner, &perm);

    if (rc < 0)
        return rc;
    if ((perm & want) == want)
        return 0;
    return lsfs__err(db, AIOS_EPERM, field, "%s may not %s '%s'", a->principal,
                     want & LSFS_PERM_WRITE ? "write" : "read", n->path);
}

int lsfs__shared_with_others(lsfs_db *db, const lsfs_actor *a, const lsfs__node *n,
                             bool *shared)
{
    sqlite3_stmt *st;
    char *anc;
    int rc;

    *shared = strcmp(n->owner, a->principal) != 0;
    if (*shared)
        return 0;
    anc = ancestors_json(n->path);
    if (!anc)
        return lsfs__err(db, AIOS_ENOMEM, NULL, "out of memory");
    st = lsfs__stmt(db,
        "SELECT 1 FROM shares s JOIN nodes n ON n.id=s.node"
        " WHERE n.deleted IS NULL AND n.path IN (SELECT value FROM json_each(?1))"
        "   AND s.grantee<>?2 LIMIT 1");
    if (!st) {
        free(anc);
        return AIOS_EIO;
    }
    sqlite3_bind_text(st, 1, anc, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, a->principal, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    *shared = rc == SQLITE_ROW;
    sqlite3_reset(st);
    free(anc);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return lsfs__sqlerr(db, rc, "shares");
    return 0;
}

/* ---- the read filter for many rows ------------------------------------------------ */

int lsfs__rctx_init(lsfs_db *db, const lsfs_actor *a, lsfs__rctx *r)
{
    sqlite3_stmt *st;
    int rc;

    memset(r, 0, sizeof *r);
    r->a = a;
    if (a->admin)
        return 0;
    st = lsfs__stmt(db,
        "SELECT path FROM nodes WHERE deleted IS NULL AND kind=1 AND owner=?1"
        " UNION "
        "SELECT n.path FROM shares s JOIN nodes n ON n.id=s.node"
        " WHERE n.deleted IS NULL AND (s.perm & 1)"
        "   AND (s.grantee=?1 OR s.grantee='*' OR s.grantee IN"
        "        (SELECT 'group:'||grp FROM group_members WHERE member=?1))");
    if (!st)
        return AIOS_EIO;
    sqlite3_bind_text(st, 1, a->principal, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *p = (const char *)sqlite3_column_text(st, 0);
        if (lsfs__strset_add(&r->prefixes, p, strlen(p)) < 0) {
            sqlite3_reset(st);
            lsfs__rctx_free(r);
            return lsfs__err(db, AIOS_ENOMEM, NULL, "out of memory");
        }
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        lsfs__rctx_free(r);
        return lsfs__sqlerr(db, rc, "read filter");
    }
    return 0;
}

void lsfs__rctx_free(lsfs__rctx *r)
{
    lsfs__strset_free(&r->prefixes);
}

bool lsfs__rctx_can_read(const lsfs__rctx *r, const char *path, const char *owner)
{
    size_t len;

    if (r->a->admin || strcmp(owner, r->a->principal) == 0 ||
        strcmp(owner, LSFS_SYSTEM_OWNER) == 0)
        return true;
    /* path itself, then each ancestor */
    for (len = strlen(path); len > 0;) {
        if (lsfs__strset_has(&r->prefixes, path, len))
            return true;
        while (len > 0 && path[len - 1] != '/')
            len--;
        if (len > 1)
            len--; /* drop the slash */
        else if (len == 1) {
            return lsfs__strset_has(&r->prefixes, "/", 1);
        }
    }
    return false;
}

/* lsfs_readable(ctx_pointer, path, owner) for WHERE clauses. */
static void sql_readable(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    const lsfs__rctx *r = sqlite3_value_pointer(argv[0], "lsfs_rctx");
    const char *path = (const char *)sqlite3_value_text(argv[1]);
    const char *owner = (const char *)sqlite3_value_text(argv[2]);

    (void)argc;
    if (!r || !path || !owner) {
        sqlite3_result_int(ctx, 0);
        return;
    }
    sqlite3_result_int(ctx, lsfs__rctx_can_read(r, path, owner));
}

/* lsfs_under(path, prefix): path equals prefix or lies below it. */
static void sql_under(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    const char *path = (const char *)sqlite3_value_text(argv[0]);
    const char *prefix = (const char *)sqlite3_value_text(argv[1]);

    (void)argc;
    sqlite3_result_int(ctx, path && prefix && lsfs__path_under(path, prefix));
}

/* lsfs_glob(pattern, name) with fnmatch rules. */
static void sql_glob(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    const char *pat = (const char *)sqlite3_value_text(argv[0]);
    const char *name = (const char *)sqlite3_value_text(argv[1]);

    (void)argc;
    sqlite3_result_int(ctx, pat && name && lsfs__glob(pat, name));
}

int lsfs__register_functions(sqlite3 *h)
{
    int flags = SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS;

    if (sqlite3_create_function(h, "lsfs_readable", 3, SQLITE_UTF8, NULL, sql_readable, NULL,
                                NULL) != SQLITE_OK ||
        sqlite3_create_function(h, "lsfs_under", 2, flags, NULL, sql_under, NULL, NULL) !=
            SQLITE_OK ||
        sqlite3_create_function(h, "lsfs_glob", 2, flags, NULL, sql_glob, NULL, NULL) !=
            SQLITE_OK)
        return AIOS_EINTERNAL;
    return 0;
}

/* ---- public: access, share ---------------------------------------------------------- */

int lsfs_access(lsfs_db *db, const lsfs_actor *a, const char *path, int *perm)
{
    char p[LSFS_PATH_MAX];
    lsfs__node n;
    int rc;

    lsfs__clear_err(db);
    *perm = 0;
    if ((rc = lsfs__path_norm(db, a, path, "path", p, sizeof p)) < 0)
        return rc;
    if ((rc = lsfs__node_get(db, p, &n)) < 0)
        return rc;
    return lsfs__perm(db, a, n.path, n.owner, perm);
}

/* A grantee is "*", agent:<name>, uid:<n> or group:<name>; a bare name means
 * an agent. */
static int grantee_norm(lsfs_db *db, const char *g, char *out, size_t len)
{
    const char *colon = strchr(g, ':');

    if (!*g || strlen(g) > 72)
        return lsfs__err(db, AIOS_EINVAL, "with", "the grantee is empty or too long");
    if (strcmp(g, "*") == 0 || (colon && (strncmp(g, "agent:", 6) == 0 ||
                                          strncmp(g, "uid:", 4) == 0 ||
                                          strncmp(g, "group:", 6) == 0) && colon[1])) {
        snprintf(out, len, "%s", g);
        return 0;
    }
    if (colon)
        return lsfs__err(db, AIOS_EINVAL, "with",
                         "grantee '%s' must be agent:<name>, uid:<n>, group:<name> or *", g);
    snprintf(out, len, "agent:%s", g);
    return 0;
}

/* Whether the actor owns path or a folder above it (the right to share). */
static int owns(lsfs_db *db, const lsfs_actor *a, const char *path, bool *yes)
{
    sqlite3_stmt *st;
    char *anc;
    int rc;

    *yes = a->admin;
    if (*yes)
        return 0;
    anc = ancestors_json(path);
    if (!anc)
        return lsfs__err(db, AIOS_ENOMEM, NULL, "out of memory");
    st = lsfs__stmt(db, "SELECT 1 FROM nodes WHERE deleted IS NULL AND owner=?2"
                        " AND path IN (SELECT value FROM json_each(?1)) LIMIT 1");
    if (!st) {
        free(anc);
        return AIOS_EIO;
    }
    sqlite3_bind_text(st, 1, anc, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, a->principal, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    *yes = rc == SQLITE_ROW;
    sqlite3_reset(st);
    free(anc);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : lsfs__sqlerr(db, rc, "owner");
}

int lsfs_share(lsfs_db *db, const lsfs_actor *a, const char *path, const char *grantee,
               int perm, json_t **out)
{
    char p[LSFS_PATH_MAX], g[80];
    sqlite3_stmt *st;
    lsfs__node n;
    bool is_owner;
    int rc;

    lsfs__clear_err(db);
    *out = NULL;
    if ((rc = lsfs__path_norm(db, a, path, "path", p, sizeof p)) < 0)
        return rc;
    if ((rc = grantee_norm(db, grantee, g, sizeof g)) < 0)
        return rc;
    if (perm & LSFS_PERM_WRITE)
        perm |= LSFS_PERM_READ;
    if ((rc = lsfs__begin(db)) < 0)
        return rc;
    if ((rc = lsfs__node_get(db, p, &n)) < 0)
        goto out;
    if ((rc = owns(db, a, n.path, &is_owner)) < 0)
        goto out;
    if (!is_owner) {
        rc = lsfs__err(db, AIOS_EPERM, "path", "only the owner of '%s' may share it", n.path);
        goto out;
    }
    if (strcmp(g, a->principal) == 0 && !a->admin) {
        rc = lsfs__err(db, AIOS_EINVAL, "with", "'%s' already owns '%s'", g, n.path);
        goto out;
    }
    if (perm == LSFS_PERM_NONE) {
        st = lsfs__stmt(db, "DELETE FROM shares WHERE node=?1 AND grantee=?2");
    } else {
        st = lsfs__stmt(db, "INSERT INTO shares(node,grantee,perm,granted_by,time)"
                            " VALUES(?1,?2,?3,?4,?5) ON CONFLICT(node,grantee)"
                            " DO UPDATE SET perm=excluded.perm, granted_by=excluded.granted_by,"
                            " time=excluded.time");
    }
    if (!st) {
        rc = AIOS_EIO;
        goto out;
    }
    sqlite3_bind_int64(st, 1, n.id);
    sqlite3_bind_text(st, 2, g, -1, SQLITE_STATIC);
    if (perm != LSFS_PERM_NONE) {
        sqlite3_bind_int(st, 3, perm);
        sqlite3_bind_text(st, 4, a->principal, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, lsfs__now_ms());
    }
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        rc = lsfs__sqlerr(db, rc, "share");
        goto out;
    }
    rc = 0;
    lsfs__event(db, "share", n.path,
                json_pack("{s:s,s:s}", "with", g,
                          "access", perm == LSFS_PERM_NONE ? "none" :
                                    perm == LSFS_PERM_READ ? "r" : "rw"));
    *out = json_pack("{s:s,s:s,s:s}", "path", n.path, "with", g, "access",
                     perm == LSFS_PERM_NONE ? "none" : perm == LSFS_PERM_READ ? "r" : "rw");
out:
    return lsfs__end(db, rc);
}

/* ---- groups ------------------------------------------------------------------------------ */

static int group_name_ok(lsfs_db *db, const char *name)
{
    size_t n = strlen(name);

    if (n == 0 || n > 64)
        return lsfs__err(db, AIOS_EINVAL, "group", "a group name has 1 to 64 characters");
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
              c == '.'))
            return lsfs__err(db, AIOS_EINVAL, "group",
                             "group names use a-z, 0-9, '-', '_' and '.' ('%s')", name);
    }
    return 0;
}

/* Load the owner of group name into owner; AIOS_ENOENT when missing. */
static int group_owner(lsfs_db *db, const char *name, char *owner, size_t len)
{
    sqlite3_stmt *st = lsfs__stmt(db, "SELECT owner FROM groups WHERE name=?1");
    int rc;

    if (!st)
        return AIOS_EIO;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        snprintf(owner, len, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return lsfs__err(db, AIOS_ENOENT, "group", "no group '%s'", name);
    return rc == SQLITE_ROW ? 0 : lsfs__sqlerr(db, rc, "group");
}

int lsfs_group_create(lsfs_db *db, const lsfs_actor *a, const char *name, json_t **out)
{
    sqlite3_stmt *st;
    int rc;

    lsfs__clear_err(db);
    *out = NULL;
    if ((rc = group_name_ok(db, name)) < 0)
        return rc;
    if ((rc = lsfs__begin(db)) < 0)
        return rc;
    st = lsfs__stmt(db, "INSERT INTO groups(name,owner,ctime) VALUES(?1,?2,?3)");
    if (!st) {
        rc = AIOS_EIO;
        goto out;
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, a->principal, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, lsfs__now_ms());
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || (rc & 0xff) == SQLITE_CONSTRAINT) {
        rc = lsfs__err(db, AIOS_EEXIST, "group", "group '%s' already exists", name);
        goto out;
    }
    if (rc != SQLITE_DONE) {
        rc = lsfs__sqlerr(db, rc, "group create");
        goto out;
    }
    /* the creator is a member */
    st = lsfs__stmt(db, "INSERT INTO group_members(grp,member) VALUES(?1,?2)");
    if (!st) {
        rc = AIOS_EIO;
        goto out;
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, a->principal, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    rc = rc == SQLITE_DONE ? 0 : lsfs__sqlerr(db, rc, "group member");
    if (rc == 0)
        *out = json_pack("{s:s,s:s,s:[s]}", "group", name, "owner", a->principal, "members",
                         a->principal);
out:
    return lsfs__end(db, rc);
}

int lsfs_group_delete(lsfs_db *db, const lsfs_actor *a, const char *name)
{
    char owner[80];
    sqlite3_stmt *st;
    int rc;

    lsfs__clear_err(db);
    if ((rc = lsfs__begin(db)) < 0)
        return rc;
    if ((rc = group_owner(db, name, owner, sizeof owner)) < 0)
        goto out;
    if (!a->admin && strcmp(owner, a->principal) != 0) {
        rc = lsfs__err(db, AIOS_EPERM, "group", "only %s may delete group '%s'", owner, name);
        goto out;
    }
    st = lsfs__stmt(db, "DELETE FROM groups WHERE name=?1");
    if (!st) {
        rc = AIOS_EIO;
        goto out;
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    rc = rc == SQLITE_DONE ? 0 : lsfs__sqlerr(db, rc, "group delete");
out:
    return lsfs__end(db, rc);
}

/* Shared body of add/remove: only the group's owner (or an admin) edits it. */
static int group_edit(lsfs_db *db, const lsfs_actor *a, const char *name, const char *member,
                      bool add)
{
    char owner[80], m[80];
    sqlite3_stmt *st;
    int rc;

    lsfs__clear_err(db);
    if ((rc = grantee_norm(db, member, m, sizeof m)) < 0) {
        snprintf(db->errfield, sizeof db->errfield, "member");
        return rc;
    }
    if (strncmp(m, "group:", 6) == 0 || strcmp(m, "*") == 0)
        return lsfs__err(db, AIOS_EINVAL, "member",
                         "members are agents (agent:<name>) or users (uid:<n>)");
    if ((rc = lsfs__begin(db)) < 0)
        return rc;
    if ((rc = group_owner(db, name, owner, sizeof owner)) < 0)
        goto out;
    if (!a->admin && strcmp(owner, a->principal) != 0) {
        rc = lsfs__err(db, AIOS_EPERM, "group", "only %s may change group '%s'", owner, name);
        goto out;
    }
    st = lsfs__stmt(db, add ? "INSERT OR IGNORE INTO group_members(grp,member) VALUES(?1,?2)"
                            : "DELETE FROM group_members WHERE grp=?1 AND member=?2");
    if (!st) {
        rc = AIOS_EIO;
        goto out;
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, m, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        rc = lsfs__sqlerr(db, rc, "group member");
        goto out;
    }
    rc = 0;
    if (!add && sqlite3_changes(db->h) == 0)
        rc = lsfs__err(db, AIOS_ENOENT, "member", "'%s' is not in group '%s'", m, name);
out:
    return lsfs__end(db, rc);
}

int lsfs_group_add(lsfs_db *db, const lsfs_actor *a, const char *name, const char *member)
{
    return group_edit(db, a, name, member, true);
}

int lsfs_group_remove(lsfs_db *db, const lsfs_actor *a, const char *name, const char *member)
{
    return group_edit(db, a, name, member, false);
}

int lsfs_group_list(lsfs_db *db, const lsfs_actor *a, json_t **out)
{
    sqlite3_stmt *st;
    json_t *arr = json_array(), *cur = NULL;
    const char *curname = NULL;
    int rc;

    lsfs__clear_err(db);
    *out = NULL;
    st = lsfs__stmt(db,
        "SELECT g.name, g.owner, m.member FROM groups g"
        " LEFT JOIN group_members m ON m.grp=g.name"
        " WHERE ?2 OR g.owner=?1 OR g.name IN (SELECT grp FROM group_members WHERE member=?1)"
        " ORDER BY g.name, m.member");
    if (!st) {
        json_decref(arr);
        return AIOS_EIO;
    }
    sqlite3_bind_text(st, 1, a->principal, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, a->admin);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        if (!cur || strcmp(curname, name) != 0) {
            cur = json_pack("{s:s,s:s,s:[]}", "group", name, "owner",
                            (const char *)sqlite3_column_text(st, 1), "members");
            json_array_append_new(arr, cur);
            curname = json_string_value(json_object_get(cur, "group"));
        }
        if (sqlite3_column_type(st, 2) != SQLITE_NULL)
            json_array_append_new(json_object_get(cur, "members"),
                                  json_string((const char *)sqlite3_column_text(st, 2)));
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        json_decref(arr);
        return lsfs__sqlerr(db, rc, "groups");
    }
    *out = json_pack("{s:o}", "groups", arr);
    return 0;
}

/*
 * fs.c - the fs.* syscall family: LSFS files, versions, rights, search,
 * mounts, watching and the LLM-powered operations.
 *
 * Every row runs on the worker pool (SYS_F_WORKER) with the worker's own
 * SQLite connection; handlers turn the caller's kernel identity into an
 * lsfs_actor (agent <name> -> "agent:<name>" with home /home/<name>; a plain
 * connection of uid n -> "uid:<n>" with home /home/uid-<n>; plain
 * connections of root and of the daemon's uid are admins, agents never
 * are), call the library and translate its error
 * (message and offending field) into the call's error.  Irreversible
 * operations ask kern_confirm_check() through the actor's hook, by policy
 * confirm.fs.purge / confirm.fs.rollback / confirm.fs.overwrite_shared.
 * fs.watch is a streaming call that lives until cancelled.
 *
 * Threads: worker threads; the watch's cancel hook on the loop thread.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "aios/kernel.h"
#include "aios/log.h"
#include "aios/lsfs.h"
#include "syscalls/lsfs_sys_int.h"

/* ---- shared with mem.c and acl.c ---------------------------------------------- */

static int confirm_hook(void *arg, const char *action, const char *summary)
{
    return kern_confirm_check(arg, action, summary);
}

int sys__lsfs_begin(kern_call *c, lsfs_actor *a, lsfs_db **db)
{
    const kern_identity *id = kern_call_identity(c);
    lsfs_store *s = lsfs_global();

    if (!s)
        return kern_call_set_error(c, AIOS_EUNAVAIL, NULL, "the file system is not available");
    *db = lsfs_db_thread(s);
    if (!*db)
        return kern_call_set_error(c, AIOS_EIO, NULL, "cannot open the file system database");
    /* agents are confined to their rights even when their uid is an
     * admin's: only a person's plain connection bypasses them */
    lsfs_actor_init(a, id->agent, (unsigned)id->uid, id->admin && !id->agent[0]);
    a->proc_id = id->proc_id;
    a->confirm = confirm_hook;
    a->confirm_arg = c;
    return 0;
}

int sys__lsfs_fail(kern_call *c, lsfs_db *db, int rc)
{
    const char *msg = lsfs_db_errmsg(db);

    return kern_call_set_error(c, rc, lsfs_db_errfield(db), "%s", msg ? msg : aios_strerror(rc));
}

int sys__lsfs_time(kern_call *c, const json_t *v, const char *field, int64_t *ms)
{
    int lsfs__parse_time(const char *s, int64_t *out);

    *ms = 0;
    if (!v || json_is_null(v))
        return 0;
    if (json_is_number(v)) {
        *ms = (int64_t)(json_number_value(v) * 1000.0);
        return 0;
    }
    if (json_is_string(v) && lsfs__parse_time(json_string_value(v), ms) == 0)
        return 0;
    return kern_call_set_error(c, AIOS_EINVAL, field,
                               "%s is a time: ISO-8601 (2024-05-01T10:00:00Z) or seconds since "
                               "1970", field);
}

/* ---- content encoding --------------------------------------------------------------- */

/* content (UTF-8 text) or content_b64 (bytes) -> buffer (malloc'd). */
static int get_content(kern_call *c, json_t *params, bool required, char **buf, size_t *len)
{
    json_t *t = json_object_get(params, "content"), *b = json_object_get(params, "content_b64");

    *buf = NULL;
    *len = 0;
    if (t && b)
        return kern_call_set_error(c, AIOS_EINVAL, "content", "give content or content_b64, not both");
    if (t) {
        *len = json_string_length(t);
        *buf = malloc(*len + 1);
        if (!*buf)
            return AIOS_ENOMEM;
        memcpy(*buf, json_string_value(t), *len + 1);
        return 0;
    }
    if (b) {
        const char *s = json_string_value(b);
        size_t n = json_string_length(b), pad = 0;
        int out;
        if (n % 4)
            return kern_call_set_error(c, AIOS_EINVAL, "content_b64", "content_b64 is not base64");
        *buf = malloc(n / 4 * 3 + 1);
        if (!*buf)
            return AIOS_ENOMEM;
        out = n ? EVP_DecodeBlock((unsigned char *)*buf, (const unsigned char *)s, (int)n) : 0;
        if (out < 0) {
            free(*buf);
            *buf = NULL;
            return kern_call_set_error(c, AIOS_EINVAL, "content_b64", "content_b64 is not base64");
        }
        while (pad < 2 && n > pad && s[n - 1 - pad] == '=')
            pad++;
        *len = (size_t)out - pad;
        return 0;
    }
    if (required)
        return kern_call_set_error(c, AIOS_EINVAL, "content", "give content (text) or content_b64");
    *buf = calloc(1, 1);
    return *buf ? 0 : AIOS_ENOMEM;
}

/* Text when it is valid UTF-8 without NULs, base64 otherwise. */
static void put_content(json_t *o, const char *data, size_t len)
{
    bool lsfs__is_text(const void *data, size_t len);

    if (lsfs__is_text(data, len)) {
        json_object_set_new(o, "content", json_stringn(data, len));
        return;
    }
    char *b = malloc(4 * ((len + 2) / 3) + 1);
    if (!b)
        return;
    EVP_EncodeBlock((unsigned char *)b, (const unsigned char *)data, (int)len);
    json_object_set_new(o, "content_b64", json_string(b));
    free(b);
}

#define BEGIN                                                                             \
    lsfs_actor a;                                                                         \
    lsfs_db *db;                                                                          \
    int rc;                                                                               \
    if ((rc = sys__lsfs_begin(c, &a, &db)) < 0)                                           \
        return rc

#define STR(k) json_string_value(json_object_get(params, k))
#define INT(k) json_integer_value(json_object_get(params, k))
#define BOOL(k) json_is_true(json_object_get(params, k))

/* ---- handlers ----------------------------------------------------------------------- */

static int fs_create(kern_call *c, json_t *params, json_t **result)
{
    char *buf;
    size_t len;
    BEGIN;
    if ((rc = get_content(c, params, false, &buf, &len)) < 0)
        return rc;
    rc = lsfs_create(db, &a, STR("path"), buf, len, result);
    free(buf);
    return rc < 0 ? sys__lsfs_fail(c, db, rc) : 0;
}

static int fs_write(kern_call *c, json_t *params, json_t **result)
{
    static const char *const modes[] = {"replace", "append", "range"};
    const char *mode = STR("mode");
    lsfs_write_req r = {0};
    char *buf;
    size_t len;
    BEGIN;
    if ((rc = get_content(c, params, true, &buf, &len)) < 0)
        return rc;
    for (int i = 0; i < 3; i++)
        if (mode && strcmp(mode, modes[i]) == 0)
            r.mode = i;
    if (r.mode == LSFS_WRITE_RANGE && !json_object_get(params, "offset")) {
        free(buf);
        return kern_call_set_error(c, AIOS_EINVAL, "offset", "mode range needs an offset");
    }
    r.data = buf;
    r.len = len;
    r.offset = INT("offset");
    r.create = BOOL("create");
    r.expect_version = INT("expect_version");
    rc = lsfs_write(db, &a, STR("path"), &r, result);
    free(buf);
    return rc < 0 ? sys__lsfs_fail(c, db, rc) : 0;
}

static int fs_read(kern_call *c, json_t *params, json_t **result)
{
    json_t *len_v = json_object_get(params, "length");
    char *data = NULL;
    size_t len = 0;
    BEGIN;
    rc = lsfs_read(db, &a, STR("path"), INT("version"), INT("offset"),
                   len_v ? json_integer_value(len_v) : -1, &data, &len, result);
    if (rc < 0)
        return sys__lsfs_fail(c, db, rc);
    put_content(*result, data, len);
    free(data);
    return 0;
}

static int fs_mkdir(kern_call *c, json_t *params, json_t **result)
{
    BEGIN;
    rc = lsfs_mkdir(db, &a, STR("path"), BOOL("parents"), result);
    return rc < 0 ? sys__lsfs_fail(c, db, rc) : 0;
}

static int fs_delete(kern_call *c, json_t *params, json_t **result)
{
    BEGIN;
    rc = lsfs_delete(db, &a, STR("path"), BOOL("recursive"), result);
    return rc < 0 ? sys__lsfs_fail(c, db, rc) : 0;
}

static int fs_restore(kern_call *c, json_t *params, json_t **result)
{
    BEGIN;
    rc = lsfs_restore(db, &a, STR("path"), result);
    return rc < 0 ? sys__lsfs_fail(c, db, rc) : 0;
}

static int fs_purge(kern_call *c, json_t *params, json_t **result)
{
    BEGIN;
    rc = lsfs_purge(db, &a, STR("path"), result);
    return rc < 0 ? sys__lsfs_fail(c, db, rc) : 0;
}

static int fs_list(kern_call *c, json_t *params, json_t **result)
{
    lsfs_list_req r = {0};
    BEGIN;
    if ((rc = sys__lsfs_time(c, json_object_get(params, "modified_after"), "modified_after",
                             &r.modified_after_ms)) < 0)
        return rc;
    r.path = STR("path");
    r.recursive = BOOL("recursive");
    r.deleted = BOOL("deleted");
    r.type = STR("type");
    r.owner = STR("owner");
    r.pattern = STR("pattern");
    r.limit = (int)INT("limit");
    rc = lsfs_list(db, &a, &r, result);
    return rc < 0 ? sys__lsfs_fail(c, db, rc) : 0;
}

static int fs_stat(kern_call *c, json_t *params, json_t **result)
{
    BEGIN;
    rc = lsfs_stat(db, &a, STR("path"), result);
    return rc < 0 ? sys__lsfs_fail(c, db, rc) : 0;
}

static int fs_move(kern_call *c, json_t *params, json_t **result)
{
    BEGIN;
    rc = lsfs_move(db, &a, STR("from"), STR("to"), result);
    return rc < 0 ? sys__lsfs_fail(c, db, rc) : 0;
}

static int fs_link(kern_call *c, json_t *params, json_t **result)
{
    BEGIN;
    rc = lsfs_link(db, &a, STR("path"), STR("target"), result);
    return rc < 0 ? sys__lsfs_fail(c, db, rc) : 0;
}

static int fs_share(kern_call *c, json_t *params, json_t **result)
{
    const char *acc = STR("access");
    int perm = strcmp(acc, "rw") == 0 ? LSFS_PERM_RW : strcmp(acc, "r") == 0 ? LSFS_PERM_READ
                                                                             : LSFS_PERM_NONE;
    BEGIN;
    rc = lsfs_share(db, &a, STR("path"), STR("with"), perm, result);
    return rc < 0 ? sys__lsfs_fail(c, db, rc) : 0;
}

static int fs_history(kern_call *c, json_t *params, json_t **result)
{
    BEGIN;
    rc = lsfs_history(db, &a, STR("path"), result);
    return rc < 0 ? sys__lsfs_fail(c, db, rc) : 0;
}

static int fs_rollback(kern_call *c, json_t *params, json_t **result)
{
    json_t *t = json_object_get(params, "time");
    int64_t at = 0;
    BEGIN;
    if (!!t == !!json_object_get(params, "version"))
        return kern_call_set_error(c, AIOS_EINVAL, "version", "give a version or a time");
    if ((rc = sys__lsfs_time(c, t, "time", &at)) < 0)
        return rc;
    rc = lsfs_rollback(db, &a, STR("path"), INT("version"), at, BOOL("drop_newer"), result);
    return rc < 0 ? sys__lsfs_fail(c, db, rc) : 0;
}

static int fs_diff(kern_call *c, json_t *params, json_t **result)
{
    json_t *ctx = json_object_get(params, "context");
    char *text = NULL;
    BEGIN;
    rc = lsfs_diff(db, &a, STR("path"), INT("from"), INT("to"), ctx ? (int)json_integer_value(ctx) : 3,
                   &text);
    if (rc < 0)
        return sys__lsfs_fail(c, db, rc);
    *result = json_pack("{s:s,s:s}", "path", STR("path"), "diff", text);
    free(text);
    return 0;
}

static int fs_search(kern_call *c, json_t *params, json_t **result)
{
    static const char *const modes[] = {"keyword", "semantic", "hybrid"};
    json_t *f = json_object_get(params, "filters");
    lsfs_search_req r = {0};
    const char *mode = STR("mode");
    BEGIN;
    r.query = STR("query");
    r.mode = LSFS_SEARCH_HYBRID;
    for (int i = 0; i < 3; i++)
        if (mode && strcmp(mode, modes[i]) == 0)
            r.mode = i;
    r.k = (int)INT("k");
    r.exact = BOOL("exact");
    r.chunks_per_file = (int)INT("chunks_per_file");
    {
        json_t *w = json_object_get(params, "weights");
        r.w_keyword = json_number_value(json_object_get(w, "keyword"));
        r.w_semantic = json_number_value(json_object_get(w, "semantic"));
    }
    if (f) {
        r.path_prefix = json_string_value(json_object_get(f, "path"));
        r.type = json_string_value(json_object_get(f, "type"));
        r.owner = json_string_value(json_object_get(f, "owner"));
        if ((rc = sys__lsfs_time(c, json_object_get(f, "modified_after"), "filters.modified_after",
                                 &r.modified_after_ms)) < 0)
            return rc;
    }
    rc = lsfs_search(db, &a, &r, result);
    return rc < 0 ? sys__lsfs_fail(c, db, rc) : 0;
}

/* Watching starts and stops on the loop thread. */
static void watch_name_cb(void *arg)
{
    if (lsfs_global())
        lsfs_mounts_watch_name(lsfs_global(), arg);
    free(arg);
}

static void unwatch_name_cb(void *arg)
{
    if (lsfs_global())
        lsfs_mounts_watch_unname(lsfs_global(), arg);
    free(arg);
}

static int fs_mount(kern_call *c, json_t *params, json_t **result)
{
    BEGIN;
    rc = lsfs_mount(db, &a, STR("host_path"), STR("name"), STR("mode"), result);
    if (rc < 0)
        return sys__lsfs_fail(c, db, rc);
    kern_post(watch_name_cb, strdup(STR("name")));
    return 0;
}

static int fs_unmount(kern_call *c, json_t *params, json_t **result)
{
    BEGIN;
    rc = lsfs_unmount(db, &a, STR("name"), result);
    if (rc < 0)
        return sys__lsfs_fail(c, db, rc);
    kern_post(unwatch_name_cb, strdup(STR("name")));
    return 0;
}

static int fs_mounts(kern_call *c, json_t *params, json_t **result)
{
    BEGIN;
    (void)params;
    rc = lsfs_mount_list(db, &a, result);
    return rc < 0 ? sys__lsfs_fail(c, db, rc) : 0;
}

static int fs_summarize(kern_call *c, json_t *params, json_t **result)
{
    BEGIN;
    rc = lsfs_summarize(db, &a, params, result);
    return rc < 0 ? sys__lsfs_fail(c, db, rc) : 0;
}

static int fs_group(kern_call *c, json_t *params, json_t **result)
{
    BEGIN;
    rc = lsfs_group_files(db, &a, params, result);
    return rc < 0 ? sys__lsfs_fail(c, db, rc) : 0;
}

static int fs_join(kern_call *c, json_t *params, json_t **result)
{
    BEGIN;
    rc = lsfs_join(db, &a, params, result);
    return rc < 0 ? sys__lsfs_fail(c, db, rc) : 0;
}

/* ---- fs.watch ------------------------------------------------------------------------ */

typedef struct {
    kern_call *c;
    uint64_t id;
    atomic_bool ended;
} watch_state;

/* Runs on the writer's thread, with the subscriber list locked. */
static void on_change(const json_t *ev, void *arg)
{
    watch_state *w = arg;

    kern_call_stream(w->c, json_deep_copy(ev));
}

static void on_watch_cancel(kern_call *c, void *arg)
{
    watch_state *w = arg;

    if (atomic_exchange(&w->ended, true))
        return;
    if (lsfs_global())
        lsfs_watch_remove(lsfs_global(), w->id);
    kern_call_fail(c, AIOS_ECANCELED);
    free(w);
}

static int fs_watch(kern_call *c, json_t *params, json_t **result)
{
    watch_state *w;
    BEGIN;
    (void)result;
    w = calloc(1, sizeof *w);
    if (!w)
        return AIOS_ENOMEM;
    w->c = c;
    atomic_init(&w->ended, false);
    rc = lsfs_watch_add(db, &a, STR("path") ? STR("path") : "~", BOOL("recursive"), on_change, w,
                        &w->id);
    if (rc < 0) {
        free(w);
        return sys__lsfs_fail(c, db, rc);
    }
    kern_call_stream(c, json_pack("{s:s,s:s,s:b}", "event", "watching", "path",
                                  STR("path") ? STR("path") : "~", "recursive", BOOL("recursive")));
    /* the handler's reference (KERN_ASYNC) is released by kern_call_fail in
     * on_watch_cancel, which runs at once if the call is already cancelled */
    kern_call_on_cancel(c, on_watch_cancel, w);
    return KERN_ASYNC;
}

/* ---- the table ------------------------------------------------------------------------- */

#define OBJ "{\"type\":\"object\",\"additionalProperties\":false,"
#define PATH_P "\"path\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":1023," \
               "\"description\":\"/home/<agent>/..., /shared/..., /mnt/<name>/..., ~/... or relative to your home\"}"
#define CONFIRM_P "\"confirm\":{\"type\":\"integer\",\"minimum\":1," \
                  "\"description\":\"id of a confirmation a person approved (see sys.confirm_wait)\"}"
#define CONTENT_P "\"content\":{\"type\":\"string\",\"description\":\"UTF-8 text\"}," \
                  "\"content_b64\":{\"type\":\"string\",\"description\":\"bytes, base64\"}"
#define TIME_T "{\"type\":[\"string\",\"number\"],\"description\":\"ISO-8601 or seconds since 1970\"}"
#define STAT_R "{path, name, type, id, owner, size, version, mime, created, modified, shares?, sources?}"
#define W (SYS_F_WORKER)
#define WM (SYS_F_WORKER | SYS_F_MUTATES)

const sys_method sys_fs_methods[] = {
    {"fs.create", fs_create, WM,
     OBJ "\"required\":[\"path\"],\"properties\":{" PATH_P "," CONTENT_P "}}",
     STAT_R, "EEXIST EPERM ENOENT EINVAL ETOOBIG",
     "create a file (with its folders); fails if it exists"},
    {"fs.write", fs_write, WM,
     OBJ "\"required\":[\"path\"],\"properties\":{" PATH_P "," CONTENT_P ","
     "\"mode\":{\"enum\":[\"replace\",\"append\",\"range\"],\"default\":\"replace\"},"
     "\"offset\":{\"type\":\"integer\",\"minimum\":0,\"description\":\"byte offset for mode range\"},"
     "\"create\":{\"type\":\"boolean\",\"default\":true,\"description\":\"create the file if missing\"},"
     "\"expect_version\":{\"type\":\"integer\",\"minimum\":1,\"description\":\"fail with ECONFLICT unless the file is at this version\"},"
     CONFIRM_P "}}",
     STAT_R " (+ unchanged when the content was the same)",
     "ENOENT EPERM EISDIR ECONFLICT ERANGE ETOOBIG ECONFIRM EDENIED",
     "write a file: replace, append or overwrite a byte range; each write is a new version"},
    {"fs.read", fs_read, W,
     OBJ "\"required\":[\"path\"],\"properties\":{" PATH_P ","
     "\"version\":{\"type\":\"integer\",\"minimum\":1,\"description\":\"an older version (default: current)\"},"
     "\"offset\":{\"type\":\"integer\",\"minimum\":0,\"default\":0},"
     "\"length\":{\"type\":\"integer\",\"minimum\":0,\"description\":\"bytes to read (default: to the end)\"}}}",
     "{path, version, size, offset, length, mime, content | content_b64}", "ENOENT EPERM EISDIR",
     "read a file (or a byte range of it, or an older version)"},
    {"fs.mkdir", fs_mkdir, WM,
     OBJ "\"required\":[\"path\"],\"properties\":{" PATH_P ","
     "\"parents\":{\"type\":\"boolean\",\"default\":false,\"description\":\"create missing parents; no error if it exists\"}}}",
     STAT_R, "EEXIST ENOENT EPERM ENOTDIR", "create a folder"},
    {"fs.delete", fs_delete, WM,
     OBJ "\"required\":[\"path\"],\"properties\":{" PATH_P ","
     "\"recursive\":{\"type\":\"boolean\",\"default\":false}}}",
     "{path, deleted, trash, recoverable}", "ENOENT EPERM ENOTEMPTY",
     "move a file or folder to the trash (fs.restore brings it back until fs.purge)"},
    {"fs.restore", fs_restore, WM,
     OBJ "\"required\":[\"path\"],\"properties\":{" PATH_P "}}",
     STAT_R " + restored", "ENOENT EEXIST EPERM", "bring the most recently deleted file or folder at path back"},
    {"fs.purge", fs_purge, WM,
     OBJ "\"required\":[\"path\"],\"properties\":{" PATH_P "," CONFIRM_P "}}",
     "{path, purged}", "ENOENT EPERM ECONFIRM EDENIED",
     "remove a file or folder (live or in the trash) for good, with all versions"},
    {"fs.list", fs_list, W,
     OBJ "\"properties\":{" PATH_P ","
     "\"recursive\":{\"type\":\"boolean\",\"default\":false},"
     "\"deleted\":{\"type\":\"boolean\",\"default\":false,\"description\":\"list the trash instead\"},"
     "\"type\":{\"type\":\"string\",\"description\":\"file, dir, link, a mime type or prefix (text/), or an extension (md)\"},"
     "\"owner\":{\"type\":\"string\",\"description\":\"agent:<name> or uid:<n>\"},"
     "\"pattern\":{\"type\":\"string\",\"description\":\"glob on the name, e.g. *.md\"},"
     "\"modified_after\":" TIME_T ","
     "\"limit\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":100000,\"default\":1000}}}",
     "{path, entries: [stat], truncated}", "ENOENT EPERM ENOTDIR",
     "list a folder (only what you may read), with filters"},
    {"fs.stat", fs_stat, W, OBJ "\"required\":[\"path\"],\"properties\":{" PATH_P "}}",
     STAT_R " + access, chunks, summary_ready", "ENOENT EPERM", "describe a file, folder or link"},
    {"fs.move", fs_move, WM,
     OBJ "\"required\":[\"from\",\"to\"],\"properties\":{"
     "\"from\":{\"type\":\"string\",\"minLength\":1},\"to\":{\"type\":\"string\",\"minLength\":1}}}",
     STAT_R, "ENOENT EEXIST EPERM EINVAL ENOTSUP", "move or rename a file or folder (history stays)"},
    {"fs.link", fs_link, WM,
     OBJ "\"required\":[\"path\",\"target\"],\"properties\":{" PATH_P ","
     "\"target\":{\"type\":\"string\",\"minLength\":1,\"description\":\"the file the link reads through to\"}}}",
     STAT_R " + target", "ENOENT EEXIST EPERM", "make a named link to another file (follows it across moves)"},
    {"fs.share", fs_share, WM,
     OBJ "\"required\":[\"path\",\"with\",\"access\"],\"properties\":{" PATH_P ","
     "\"with\":{\"type\":\"string\",\"minLength\":1,\"description\":\"agent:<name> (or just <name>), uid:<n>, group:<name> or *\"},"
     "\"access\":{\"enum\":[\"r\",\"rw\",\"none\"],\"description\":\"none revokes\"}}}",
     "{path, with, access}", "ENOENT EPERM EINVAL",
     "grant read or read+write on a file or folder (and what is below it), or revoke"},
    {"fs.history", fs_history, W, OBJ "\"required\":[\"path\"],\"properties\":{" PATH_P "}}",
     "{path, version, versions: [{version, size, time, author, op, sha256}]}", "ENOENT EPERM",
     "the versions of a file"},
    {"fs.rollback", fs_rollback, WM,
     OBJ "\"required\":[\"path\"],\"properties\":{" PATH_P ","
     "\"version\":{\"type\":\"integer\",\"minimum\":1},"
     "\"time\":" TIME_T ","
     "\"drop_newer\":{\"type\":\"boolean\",\"default\":false,"
     "  \"description\":\"delete the newer versions instead of writing a new one (irreversible)\"},"
     CONFIRM_P "}}",
     STAT_R " + rolled_back_to, dropped", "ENOENT EPERM EINVAL ECONFIRM EDENIED",
     "bring back a version (by number or as of a time)"},
    {"fs.diff", fs_diff, W,
     OBJ "\"required\":[\"path\"],\"properties\":{" PATH_P ","
     "\"from\":{\"type\":\"integer\",\"minimum\":1,\"description\":\"default: the version before to\"},"
     "\"to\":{\"type\":\"integer\",\"minimum\":1,\"description\":\"default: current\"},"
     "\"context\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":1000,\"default\":3}}}",
     "{path, diff}", "ENOENT EPERM", "unified diff between two versions of a file"},
    {"fs.watch", fs_watch, SYS_F_WORKER | SYS_F_STREAM | SYS_F_CANCEL,
     OBJ "\"properties\":{" PATH_P ","
     "\"recursive\":{\"type\":\"boolean\",\"default\":true},"
     "\"stream\":{\"type\":\"boolean\",\"default\":true}}}",
     "streams {event, path, version?, from?, time_ms} until cancelled", "ENOENT EPERM ECANCELED",
     "stream changes at or below a path (first event: watching)"},
    {"fs.search", fs_search, W,
     OBJ "\"required\":[\"query\"],\"properties\":{"
     "\"query\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":4096},"
     "\"mode\":{\"enum\":[\"keyword\",\"semantic\",\"hybrid\"],\"default\":\"hybrid\"},"
     "\"k\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":1000,\"default\":10},"
     "\"filters\":{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{"
     "  \"path\":{\"type\":\"string\",\"description\":\"path prefix\"},"
     "  \"type\":{\"type\":\"string\",\"description\":\"mime type, prefix (text/) or extension\"},"
     "  \"owner\":{\"type\":\"string\"},"
     "  \"modified_after\":" TIME_T "}},"
     "\"exact\":{\"type\":\"boolean\",\"default\":false,\"description\":\"exact vector scan\"},"
     "\"chunks_per_file\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":20,\"default\":3},"
     "\"weights\":{\"type\":\"object\",\"additionalProperties\":false,"
     "  \"description\":\"hybrid: weight of each ranking in the fusion (default lsfs.rrf_w_*)\","
     "  \"properties\":{\"keyword\":{\"type\":\"number\",\"minimum\":0,\"maximum\":100},"
     "  \"semantic\":{\"type\":\"number\",\"minimum\":0,\"maximum\":100}}}}}",
     "{query, mode, results: [{path, score, keyword_rank?, semantic_rank?, snippet, chunks}], took_ms, fallback?}",
     "EINVAL EUNAVAIL",
     "find files by keywords (BM25), meaning (embeddings) or both (reciprocal-rank fusion)"},
    {"fs.mount", fs_mount, WM,
     OBJ "\"required\":[\"host_path\",\"name\"],\"properties\":{"
     "\"host_path\":{\"type\":\"string\",\"minLength\":1,\"description\":\"absolute host folder\"},"
     "\"name\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":64},"
     "\"mode\":{\"enum\":[\"ro\",\"rw\"],\"default\":\"ro\"}}}",
     "{name, path, host_path, mode, files, took_ms}", "EEXIST EPERM ENOTDIR EINVAL",
     "index a host folder as /mnt/<name> and keep it current"},
    {"fs.unmount", fs_unmount, WM,
     OBJ "\"required\":[\"name\"],\"properties\":{\"name\":{\"type\":\"string\",\"minLength\":1}}}",
     "{name, removed}", "ENOENT EPERM", "stop indexing a mounted folder (the host folder is untouched)"},
    {"fs.mounts", fs_mounts, W, OBJ "\"properties\":{}}",
     "{mounts: [{name, path, mode, owner, files, host_path?}]}", "", "the mounted folders you may read"},
    {"fs.summarize", fs_summarize, W,
     OBJ "\"properties\":{" PATH_P ","
     "\"paths\":{\"type\":\"array\",\"items\":{\"type\":\"string\"},\"minItems\":1,\"maxItems\":50},"
     "\"query\":{\"type\":\"string\",\"minLength\":1},"
     "\"k\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":10,\"default\":5},"
     "\"refresh\":{\"type\":\"boolean\",\"default\":false,\"description\":\"make a new summary even if one is stored\"}}}",
     "{path?, version?, summary, cached?, files?, results?}", "EUNAVAIL ENOENT EPERM EINVAL",
     "summarize a file (stored per version), a folder, chosen files or search results (needs a model)"},
    {"fs.group", fs_group, W,
     OBJ "\"properties\":{" PATH_P ","
     "\"paths\":{\"type\":\"array\",\"items\":{\"type\":\"string\"},\"minItems\":2,\"maxItems\":500},"
     "\"k\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":50,\"description\":\"number of groups (default: about sqrt(n/2))\"},"
     "\"into\":{\"type\":\"string\",\"description\":\"make a folder per group here, with links to the files\"}}}",
     "{groups: [{name, keywords, files, folder?}], named_by, method, files}", "EINVAL ENOENT EPERM",
     "cluster files by meaning into named groups"},
    {"fs.join", fs_join, WM,
     OBJ "\"required\":[\"paths\",\"path\"],\"properties\":{" PATH_P ","
     "\"paths\":{\"type\":\"array\",\"items\":{\"type\":\"string\"},\"minItems\":2,\"maxItems\":100},"
     "\"separator\":{\"type\":\"string\",\"default\":\"\\n\\n\"},"
     "\"mode\":{\"enum\":[\"concat\",\"llm\"],\"default\":\"concat\"},"
     "\"overwrite\":{\"type\":\"boolean\",\"default\":false}}}",
     STAT_R " + sources, joined_by", "EEXIST ENOENT EPERM EUNAVAIL",
     "merge files into a new file that records its sources (paths and versions)"},
};

const size_t sys_fs_count = sizeof(sys_fs_methods) / sizeof(sys_fs_methods[0]);

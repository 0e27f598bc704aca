/* test_files.c - LSFS file operations: CRUD, versions, rollback, diff, move,
 * link, delete/restore/purge, list filters, confirmations. */
#include <time.h>

#include "lsfs_test.h"

TestSuite(lsfs_files, .init = t_setup, .fini = t_teardown);

static int64_t head_of(const char *path)
{
    json_t *o = NULL;
    int64_t v;

    cr_assert_eq(lsfs_stat(t_db, &t_admin, path, &o), 0, "%s", lsfs_db_errmsg(t_db));
    v = json_integer_value(json_object_get(o, "version"));
    json_decref(o);
    return v;
}

Test(lsfs_files, create_read_write_stat, .timeout = 20)
{
    json_t *o = NULL;
    int rc;

    cr_assert_eq(lsfs_create(t_db, &t_a, "notes/todo.md", "# Todo\n- a\n", 11, &o), 0, "%s",
                 lsfs_db_errmsg(t_db));
    cr_assert_str_eq(json_string_value(json_object_get(o, "path")), "/home/alice/notes/todo.md");
    cr_assert_str_eq(json_string_value(json_object_get(o, "mime")), "text/markdown");
    cr_assert_str_eq(json_string_value(json_object_get(o, "owner")), "agent:alice");
    cr_assert_eq(json_integer_value(json_object_get(o, "version")), 1);
    json_decref(o);
    /* exclusive create fails the second time */
    cr_assert_eq(lsfs_create(t_db, &t_a, "~/notes/todo.md", "x", 1, &o), AIOS_EEXIST);
    cr_assert_str_eq(lsfs_db_errfield(t_db), "path");
    char *s = t_get(&t_a, "/home/alice/notes/todo.md", &rc);
    cr_assert_str_eq(s, "# Todo\n- a\n");
    free(s);
    /* parent folder was created and is a folder */
    cr_assert_eq(lsfs_stat(t_db, &t_a, "~/notes", &o), 0);
    cr_assert_str_eq(json_string_value(json_object_get(o, "type")), "dir");
    json_decref(o);
    /* reading a folder, or something missing */
    cr_assert_null(t_get(&t_a, "~/notes", &rc));
    cr_assert_eq(rc, AIOS_EISDIR);
    cr_assert_null(t_get(&t_a, "~/nope", &rc));
    cr_assert_eq(rc, AIOS_ENOENT);
    /* outside the namespace, dot-dot */
    cr_assert_eq(t_put(&t_a, "/etc/passwd", "x"), AIOS_EINVAL);
    cr_assert_eq(t_put(&t_a, "/home/alice/../bob/x", "x"), AIOS_EINVAL);
}

Test(lsfs_files, write_modes_and_ranges, .timeout = 20)
{
    lsfs_write_req r = {.mode = LSFS_WRITE_APPEND, .create = true};
    json_t *o = NULL, *meta = NULL;
    char *d = NULL;
    size_t n;

    cr_assert_eq(t_put(&t_a, "~/log.txt", "hello"), 0);
    r.data = " world";
    r.len = 6;
    cr_assert_eq(lsfs_write(t_db, &t_a, "~/log.txt", &r, &o), 0);
    json_decref(o);
    r.mode = LSFS_WRITE_RANGE;
    r.offset = 0;
    r.data = "J";
    r.len = 1;
    cr_assert_eq(lsfs_write(t_db, &t_a, "~/log.txt", &r, &o), 0);
    json_decref(o);
    r.offset = 11;
    r.data = "!!";
    r.len = 2;
    cr_assert_eq(lsfs_write(t_db, &t_a, "~/log.txt", &r, &o), 0, "range at the end extends");
    json_decref(o);
    r.offset = 99;
    cr_assert_eq(lsfs_write(t_db, &t_a, "~/log.txt", &r, &o), AIOS_ERANGE);
    char *s = t_get(&t_a, "~/log.txt", NULL);
    cr_assert_str_eq(s, "Jello world!!");
    free(s);
    cr_assert_eq(head_of("/home/alice/log.txt"), 4);
    /* range reads */
    cr_assert_eq(lsfs_read(t_db, &t_a, "~/log.txt", 0, 6, 5, &d, &n, &meta), 0);
    cr_assert_eq(n, 5);
    cr_assert_str_eq(d, "world");
    cr_assert_eq(json_integer_value(json_object_get(meta, "version")), 4);
    free(d);
    json_decref(meta);
    cr_assert_eq(lsfs_read(t_db, &t_a, "~/log.txt", 2, 0, -1, &d, &n, NULL), 0);
    cr_assert_str_eq(d, "hello world");
    free(d);
    cr_assert_eq(lsfs_read(t_db, &t_a, "~/log.txt", 9, 0, -1, &d, &n, NULL), AIOS_ENOENT);
    /* an identical write adds no version */
    cr_assert_eq(t_put(&t_a, "~/log.txt", "Jello world!!"), 0);
    cr_assert_eq(head_of("/home/alice/log.txt"), 4);
    /* optimistic concurrency */
    lsfs_write_req c = {.data = "x", .len = 1, .expect_version = 3};
    cr_assert_eq(lsfs_write(t_db, &t_a, "~/log.txt", &c, &o), AIOS_ECONFLICT);
    c.expect_version = 4;
    cr_assert_eq(lsfs_write(t_db, &t_a, "~/log.txt", &c, &o), 0);
    json_decref(o);
    /* without create, a missing file is an error */
    lsfs_write_req nc = {.data = "x", .len = 1};
    cr_assert_eq(lsfs_write(t_db, &t_a, "~/missing.txt", &nc, &o), AIOS_ENOENT);
}

Test(lsfs_files, history_and_rollback_by_number, .timeout = 20)
{
    json_t *o = NULL;

    cr_assert_eq(t_put(&t_a, "~/doc.txt", "one\n"), 0);
    cr_assert_eq(t_put(&t_a, "~/doc.txt", "two\n"), 0);
    cr_assert_eq(t_put(&t_a, "~/doc.txt", "three\n"), 0);
    cr_assert_eq(lsfs_history(t_db, &t_a, "~/doc.txt", &o), 0);
    json_t *vs = json_object_get(o, "versions");
    cr_assert_eq(json_array_size(vs), 3);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(vs, 0), "op")), "create");
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(vs, 2), "author")),
                     "agent:alice");
    json_decref(o);
    /* keep history: rollback writes version 4 = content of 1 */
    cr_assert_eq(lsfs_rollback(t_db, &t_a, "~/doc.txt", 1, 0, false, &o), 0);
    cr_assert_eq(json_integer_value(json_object_get(o, "version")), 4);
    json_decref(o);
    char *s = t_get(&t_a, "~/doc.txt", NULL);
    cr_assert_str_eq(s, "one\n");
    free(s);
    /* old versions stay readable */
    char *d;
    size_t n;
    cr_assert_eq(lsfs_read(t_db, &t_a, "~/doc.txt", 3, 0, -1, &d, &n, NULL), 0);
    cr_assert_str_eq(d, "three\n");
    free(d);
    /* drop newer: back to 2, versions 3 and 4 gone */
    cr_assert_eq(lsfs_rollback(t_db, &t_a, "~/doc.txt", 2, 0, true, &o), 0);
    cr_assert_eq(json_integer_value(json_object_get(o, "dropped")), 2);
    json_decref(o);
    cr_assert_eq(head_of("/home/alice/doc.txt"), 2);
    cr_assert_eq(lsfs_read(t_db, &t_a, "~/doc.txt", 3, 0, -1, &d, &n, NULL), AIOS_ENOENT);
    s = t_get(&t_a, "~/doc.txt", NULL);
    cr_assert_str_eq(s, "two\n");
    free(s);
    /* the next write continues from 3 */
    cr_assert_eq(t_put(&t_a, "~/doc.txt", "after\n"), 0);
    cr_assert_eq(head_of("/home/alice/doc.txt"), 3);
    cr_assert_eq(lsfs_rollback(t_db, &t_a, "~/doc.txt", 9, 0, false, &o), AIOS_ENOENT);
}

Test(lsfs_files, rollback_by_time, .timeout = 20)
{
    struct timespec ts = {0, 30 * 1000000};
    json_t *o = NULL;
    int64_t mid;

    cr_assert_eq(t_put(&t_a, "~/t.txt", "morning\n"), 0);
    nanosleep(&ts, NULL);
    mid = lsfs__now_ms();
    nanosleep(&ts, NULL);
    cr_assert_eq(t_put(&t_a, "~/t.txt", "evening\n"), 0);
    cr_assert_eq(lsfs_rollback(t_db, &t_a, "~/t.txt", 0, mid, false, &o), 0,
                 "%s", lsfs_db_errmsg(t_db));
    cr_assert_eq(json_integer_value(json_object_get(o, "rolled_back_to")), 1);
    json_decref(o);
    char *s = t_get(&t_a, "~/t.txt", NULL);
    cr_assert_str_eq(s, "morning\n");
    free(s);
    /* before the first version there is nothing */
    cr_assert_eq(lsfs_rollback(t_db, &t_a, "~/t.txt", 0, 1000, false, &o), AIOS_ENOENT);
    cr_assert_str_eq(lsfs_db_errfield(t_db), "time");
    /* ISO-8601 parsing used by the syscall */
    int64_t ms;
    cr_assert_eq(lsfs__parse_time("2024-05-01T10:00:00Z", &ms), 0);
    cr_assert_eq(ms, 1714557600000LL);
    cr_assert_eq(lsfs__parse_time("2024-05-01T12:00:00.250+02:00", &ms), 0);
    cr_assert_eq(ms, 1714557600250LL);
    cr_assert_eq(lsfs__parse_time("2024-05-01", &ms), 0);
    cr_assert_eq(ms, 1714521600000LL);
    cr_assert_eq(lsfs__parse_time("yesterday", &ms), AIOS_EINVAL);
}

Test(lsfs_files, unified_diff_between_versions, .timeout = 20)
{
    char *text = NULL;

    cr_assert_eq(t_put(&t_a, "~/d.txt", "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n"), 0);
    cr_assert_eq(t_put(&t_a, "~/d.txt", "a\nB\nc\nd\ne\nf\ng\nh\ni\nj\nk"), 0);
    cr_assert_eq(lsfs_diff(t_db, &t_a, "~/d.txt", 1, 2, 1, &text), 0);
    cr_assert_str_eq(text,
                     "--- /home/alice/d.txt@1\n"
                     "+++ /home/alice/d.txt@2\n"
                     "@@ -1,3 +1,3 @@\n"
                     " a\n"
                     "-b\n"
                     "+B\n"
                     " c\n"
                     "@@ -10 +10,2 @@\n"
                     " j\n"
                     "+k\n"
                     "\\ No newline at end of file\n");
    free(text);
    /* default context 3 joins the hunks? no: 7 unchanged lines between */
    cr_assert_eq(lsfs_diff(t_db, &t_a, "~/d.txt", 0, 0, -1, &text), 0);
    cr_assert(strstr(text, "@@ -1,5 +1,5 @@"), "%s", text);
    cr_assert(strstr(text, "@@ -8,3 +8,4 @@"), "%s", text);
    free(text);
    cr_assert_eq(lsfs_diff(t_db, &t_a, "~/d.txt", 1, 7, 3, &text), AIOS_ENOENT);
}

Test(lsfs_files, diff_is_minimal_on_insertions, .timeout = 20)
{
    int lsfs__diff_unified(const char *a, size_t alen, const char *b, size_t blen,
                           const char *na, const char *nb, int ctx, char **out);
    const char *a = "x\ny\nz\n", *b = "w\nx\n1\n2\ny\nz\nq\n";
    char *out = NULL;

    cr_assert_eq(lsfs__diff_unified(a, strlen(a), b, strlen(b), "a", "b", 0, &out), 0);
    cr_assert_str_eq(out, "--- a\n+++ b\n@@ -0,0 +1 @@\n+w\n@@ -1,0 +3,2 @@\n+1\n+2\n"
                          "@@ -3,0 +7 @@\n+q\n");
    free(out);
    cr_assert_eq(lsfs__diff_unified(a, strlen(a), a, strlen(a), "a", "b", 3, &out), 0);
    cr_assert_str_eq(out, "--- a\n+++ b\n");
    free(out);
    cr_assert_eq(lsfs__diff_unified("", 0, "n\n", 2, "a", "b", 3, &out), 0);
    cr_assert_str_eq(out, "--- a\n+++ b\n@@ -0,0 +1 @@\n+n\n");
    free(out);
}

Test(lsfs_files, move_files_and_folders, .timeout = 20)
{
    json_t *o = NULL;

    cr_assert_eq(t_put(&t_a, "~/proj/src/main.c", "int main(void) { return 0; }\n"), 0);
    cr_assert_eq(t_put(&t_a, "~/proj/README", "read me\n"), 0);
    cr_assert_eq(lsfs_move(t_db, &t_a, "~/proj", "~/archive/proj-2024", &o), 0, "%s",
                 lsfs_db_errmsg(t_db));
    json_decref(o);
    char *s = t_get(&t_a, "~/archive/proj-2024/src/main.c", NULL);
    cr_assert_not_null(s);
    free(s);
    int rc;
    cr_assert_null(t_get(&t_a, "~/proj/src/main.c", &rc));
    cr_assert_eq(rc, AIOS_ENOENT);
    /* children's dir column followed the move: listing works */
    lsfs_list_req lr = {.path = "~/archive/proj-2024/src"};
    cr_assert_eq(lsfs_list(t_db, &t_a, &lr, &o), 0);
    cr_assert_eq(json_array_size(json_object_get(o, "entries")), 1);
    json_decref(o);
    /* rename a file: type follows the new name, history stays */
    cr_assert_eq(lsfs_move(t_db, &t_a, "~/archive/proj-2024/README", "~/archive/README.md", &o), 0);
    cr_assert_str_eq(json_string_value(json_object_get(o, "mime")), "text/markdown");
    json_decref(o);
    cr_assert_eq(lsfs_history(t_db, &t_a, "~/archive/README.md", &o), 0);
    cr_assert_eq(json_array_size(json_object_get(o, "versions")), 1);
    json_decref(o);
    /* errors */
    cr_assert_eq(lsfs_move(t_db, &t_a, "~/archive", "~/archive/inside", &o), AIOS_EINVAL);
    cr_assert_eq(t_put(&t_a, "~/other", "x"), 0);
    cr_assert_eq(lsfs_move(t_db, &t_a, "~/other", "~/archive/README.md", &o), AIOS_EEXIST);
    cr_assert_eq(lsfs_move(t_db, &t_a, "/home/alice", "/shared/alice", &o), AIOS_EPERM);
}

Test(lsfs_files, links_read_through_and_follow_moves, .timeout = 20)
{
    json_t *o = NULL;
    int rc;

    cr_assert_eq(t_put(&t_a, "~/data/report.txt", "quarterly numbers\n"), 0);
    cr_assert_eq(lsfs_link(t_db, &t_a, "~/latest", "~/data/report.txt", &o), 0, "%s",
                 lsfs_db_errmsg(t_db));
    cr_assert_str_eq(json_string_value(json_object_get(o, "type")), "link");
    cr_assert_str_eq(json_string_value(json_object_get(o, "target")), "/home/alice/data/report.txt");
    json_decref(o);
    char *s = t_get(&t_a, "~/latest", NULL);
    cr_assert_str_eq(s, "quarterly numbers\n");
    free(s);
    /* writing through the link writes the target */
    cr_assert_eq(t_put(&t_a, "~/latest", "revised numbers\n"), 0);
    s = t_get(&t_a, "~/data/report.txt", NULL);
    cr_assert_str_eq(s, "revised numbers\n");
    free(s);
    /* the link follows the target by id */
    cr_assert_eq(lsfs_move(t_db, &t_a, "~/data/report.txt", "~/data/q3.txt", &o), 0);
    json_decref(o);
    s = t_get(&t_a, "~/latest", NULL);
    cr_assert_str_eq(s, "revised numbers\n");
    free(s);
    /* deleting the target leaves a dangling link */
    cr_assert_eq(lsfs_delete(t_db, &t_a, "~/data/q3.txt", false, &o), 0);
    json_decref(o);
    cr_assert_null(t_get(&t_a, "~/latest", &rc));
    cr_assert_eq(rc, AIOS_ENOENT);
    cr_assert_eq(lsfs_stat(t_db, &t_a, "~/latest", &o), 0);
    cr_assert(json_is_true(json_object_get(o, "dangling")));
    json_decref(o);
    /* a link to something one cannot read is refused */
    cr_assert_eq(t_put(&t_b, "~/secret", "bob's\n"), 0);
    cr_assert_eq(lsfs_link(t_db, &t_a, "~/peek", "/home/bob/secret", &o), AIOS_EPERM);
    cr_assert_str_eq(lsfs_db_errfield(t_db), "target");
}

Test(lsfs_files, delete_restore_purge, .timeout = 20)
{
    json_t *o = NULL;
    int rc;
    int64_t blobs;

    cr_assert_eq(t_put(&t_a, "~/box/a.txt", "unique content alpha\n"), 0);
    cr_assert_eq(t_put(&t_a, "~/box/b.txt", "unique content beta\n"), 0);
    cr_assert_eq(lsfs_delete(t_db, &t_a, "~/box", false, &o), AIOS_ENOTEMPTY);
    cr_assert_eq(lsfs_delete(t_db, &t_a, "~/box", true, &o), 0);
    cr_assert_eq(json_integer_value(json_object_get(o, "deleted")), 3);
    json_decref(o);
    cr_assert_null(t_get(&t_a, "~/box/a.txt", &rc));
    cr_assert_eq(rc, AIOS_ENOENT);
    /* deleted files leave the keyword index */
    cr_assert_eq(t_scalar("SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH 'alpha'"), 0);
    /* the trash lists them */
    lsfs_list_req lr = {.path = "~", .recursive = true, .deleted = true};
    cr_assert_eq(lsfs_list(t_db, &t_a, &lr, &o), 0);
    cr_assert_eq(json_array_size(json_object_get(o, "entries")), 3);
    json_decref(o);
    /* restore brings the whole batch back, re-indexed */
    cr_assert_eq(lsfs_restore(t_db, &t_a, "~/box", &o), 0, "%s", lsfs_db_errmsg(t_db));
    cr_assert_eq(json_integer_value(json_object_get(o, "restored")), 3);
    json_decref(o);
    char *s = t_get(&t_a, "~/box/b.txt", NULL);
    cr_assert_str_eq(s, "unique content beta\n");
    free(s);
    cr_assert_eq(t_scalar("SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH 'alpha'"), 1);
    /* purge: everything goes, unused blobs too */
    blobs = t_scalar("SELECT count(*) FROM blobs");
    cr_assert_eq(lsfs_purge(t_db, &t_a, "~/box/a.txt", &o), 0);
    json_decref(o);
    cr_assert_eq(t_scalar("SELECT count(*) FROM blobs"), blobs - 1);
    cr_assert_eq(lsfs_restore(t_db, &t_a, "~/box/a.txt", &o), AIOS_ENOENT);
    /* purge from the trash */
    cr_assert_eq(lsfs_delete(t_db, &t_a, "~/box/b.txt", false, &o), 0);
    json_decref(o);
    cr_assert_eq(lsfs_purge(t_db, &t_a, "~/box/b.txt", &o), 0);
    json_decref(o);
    cr_assert_eq(t_scalar("SELECT count(*) FROM nodes WHERE path='/home/alice/box/b.txt'"), 0);
    cr_assert_eq(lsfs_delete(t_db, &t_a, "/home/alice", true, &o), AIOS_EPERM, "homes stay");
    cr_assert_eq(lsfs_db_integrity_check(t_db), 0);
}

/* The confirmation hook: records the action and answers with a code. */
static char hook_action[64];
static int hook_answer;
static int hook(void *arg, const char *action, const char *summary)
{
    (void)arg;
    (void)summary;
    snprintf(hook_action, sizeof hook_action, "%s", action);
    return hook_answer;
}

Test(lsfs_files, irreversible_operations_ask_for_confirmation, .timeout = 20)
{
    lsfs_actor a = t_a;
    json_t *o = NULL;

    a.confirm = hook;
    hook_answer = AIOS_ECONFIRM;
    cr_assert_eq(t_put(&a, "~/c.txt", "v1\n"), 0, "creating needs no confirmation");
    cr_assert_eq(t_put(&a, "~/c.txt", "v2\n"), 0, "a private file needs no confirmation");
    cr_assert_str_eq(hook_action, "");
    /* purge */
    cr_assert_eq(lsfs_purge(t_db, &a, "~/c.txt", &o), AIOS_ECONFIRM);
    cr_assert_str_eq(hook_action, "fs.purge");
    char *s = t_get(&a, "~/c.txt", NULL);
    cr_assert_str_eq(s, "v2\n", "nothing happened");
    free(s);
    /* rollback that drops versions */
    cr_assert_eq(lsfs_rollback(t_db, &a, "~/c.txt", 1, 0, true, &o), AIOS_ECONFIRM);
    cr_assert_str_eq(hook_action, "fs.rollback");
    cr_assert_eq(head_of("/home/alice/c.txt"), 2);
    cr_assert_eq(lsfs_rollback(t_db, &a, "~/c.txt", 1, 0, false, &o), 0, "keeping history is fine");
    json_decref(o);
    /* overwrite of a shared file */
    cr_assert_eq(lsfs_share(t_db, &a, "~/c.txt", "bob", LSFS_PERM_READ, &o), 0);
    json_decref(o);
    hook_action[0] = 0;
    cr_assert_eq(t_put(&a, "~/c.txt", "v4\n"), AIOS_ECONFIRM);
    cr_assert_str_eq(hook_action, "fs.overwrite_shared");
    lsfs_write_req ap = {.data = "more\n", .len = 5, .mode = LSFS_WRITE_APPEND};
    cr_assert_eq(lsfs_write(t_db, &a, "~/c.txt", &ap, &o), 0, "appending is not an overwrite");
    json_decref(o);
    /* an approved confirmation lets it through */
    hook_answer = 0;
    cr_assert_eq(t_put(&a, "~/c.txt", "v4\n"), 0);
    cr_assert_eq(lsfs_purge(t_db, &a, "~/c.txt", &o), 0);
    json_decref(o);
}

Test(lsfs_files, list_filters, .timeout = 20)
{
    json_t *o = NULL;
    struct timespec ts = {0, 20 * 1000000};
    int64_t mid;

    cr_assert_eq(t_put(&t_a, "~/p/a.md", "x"), 0);
    cr_assert_eq(t_put(&t_a, "~/p/b.c", "x"), 0);
    cr_assert_eq(t_put(&t_a, "~/p/sub/c.md", "x"), 0);
    nanosleep(&ts, NULL);
    mid = lsfs__now_ms();
    nanosleep(&ts, NULL);
    cr_assert_eq(t_put(&t_a, "~/p/sub/d.txt", "x"), 0);

    lsfs_list_req lr = {.path = "~/p"};
    cr_assert_eq(lsfs_list(t_db, &t_a, &lr, &o), 0);
    cr_assert_eq(json_array_size(json_object_get(o, "entries")), 3, "a.md b.c sub");
    json_decref(o);
    lr.recursive = true;
    lr.type = "md";
    cr_assert_eq(lsfs_list(t_db, &t_a, &lr, &o), 0);
    cr_assert_eq(json_array_size(json_object_get(o, "entries")), 2);
    json_decref(o);
    lr.type = "text/";
    cr_assert_eq(lsfs_list(t_db, &t_a, &lr, &o), 0);
    cr_assert_eq(json_array_size(json_object_get(o, "entries")), 4);
    json_decref(o);
    lr.type = "dir";
    cr_assert_eq(lsfs_list(t_db, &t_a, &lr, &o), 0);
    cr_assert_eq(json_array_size(json_object_get(o, "entries")), 1);
    json_decref(o);
    lr.type = NULL;
    lr.pattern = "*.md";
    cr_assert_eq(lsfs_list(t_db, &t_a, &lr, &o), 0);
    cr_assert_eq(json_array_size(json_object_get(o, "entries")), 2);
    json_decref(o);
    lr.pattern = NULL;
    lr.modified_after_ms = mid;
    cr_assert_eq(lsfs_list(t_db, &t_a, &lr, &o), 0);
    cr_assert_eq(json_array_size(json_object_get(o, "entries")), 1, "only d.txt changed after mid");
    json_decref(o);
    lr.modified_after_ms = 0;
    lr.limit = 2;
    cr_assert_eq(lsfs_list(t_db, &t_a, &lr, &o), 0);
    cr_assert_eq(json_array_size(json_object_get(o, "entries")), 2);
    cr_assert(json_is_true(json_object_get(o, "truncated")));
    json_decref(o);
}

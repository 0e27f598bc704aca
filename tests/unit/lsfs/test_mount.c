/* test_mount.c - host folders mounted into LSFS: indexing, re-sync after
 * host changes, read-only refusal, write-through, confinement. */
#include <fcntl.h>

#include "lsfs_test.h"

TestSuite(lsfs_mount, .init = t_setup, .fini = t_teardown);

static char host[320];

static void host_write(const char *rel, const char *text)
{
    char p[512];
    FILE *f;

    snprintf(p, sizeof p, "%s/%s", host, rel);
    f = fopen(p, "w");
    cr_assert_not_null(f, "%s", p);
    fputs(text, f);
    fclose(f);
}

static char *host_read(const char *rel)
{
    char p[512], *buf = calloc(1, 4096);
    FILE *f;

    snprintf(p, sizeof p, "%s/%s", host, rel);
    f = fopen(p, "r");
    if (!f) {
        free(buf);
        return NULL;
    }
    fread(buf, 1, 4095, f);
    fclose(f);
    return buf;
}

static int hits(const char *q)
{
    lsfs_search_req r = {.query = q, .mode = LSFS_SEARCH_KEYWORD, .k = 10};
    json_t *o = NULL;
    int n;

    cr_assert_eq(lsfs_search(t_db, &t_admin, &r, &o), 0);
    n = (int)json_array_size(json_object_get(o, "results"));
    json_decref(o);
    return n;
}

static void make_host(void)
{
    char p[512];

    snprintf(host, sizeof host, "%s/host", t_dir);
    mkdir(host, 0755);
    snprintf(p, sizeof p, "%s/docs", host);
    mkdir(p, 0755);
    host_write("readme.md", "# Readme\n\nThe aardvark manual.\n");
    host_write("docs/guide.txt", "A guide to the okapi.\n");
}

Test(lsfs_mount, mount_indexes_and_resyncs, .timeout = 30)
{
    json_t *o = NULL;
    int rc;

    make_host();
    cr_assert_eq(lsfs_mount(t_db, &t_admin, host, "docs", "ro", &o), 0, "%s", lsfs_db_errmsg(t_db));
    cr_assert_eq(json_integer_value(json_object_get(o, "files")), 2);
    json_decref(o);
    char *s = t_get(&t_admin, "/mnt/docs/docs/guide.txt", &rc);
    cr_assert_str_eq(s, "A guide to the okapi.\n");
    free(s);
    cr_assert_eq(hits("aardvark"), 1);
    cr_assert_eq(hits("okapi"), 1);
    /* host edits: a changed file gets a new version from the host */
    host_write("docs/guide.txt", "A guide to the pangolin.\n");
    host_write("docs/new.txt", "The narwhal appendix.\n");
    cr_assert_eq(lsfs_mount_sync(t_db, "docs", "docs", &o), 0, "%s", lsfs_db_errmsg(t_db));
    json_decref(o);
    cr_assert_eq(hits("okapi"), 0);
    cr_assert_eq(hits("pangolin"), 1);
    cr_assert_eq(hits("narwhal"), 1);
    cr_assert_eq(lsfs_history(t_db, &t_admin, "/mnt/docs/docs/guide.txt", &o), 0);
    cr_assert_eq(json_array_size(json_object_get(o, "versions")), 2);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(o, "versions"), 1),
                                                       "author")), "host");
    json_decref(o);
    /* a host deletion leaves the index */
    char p[512];
    snprintf(p, sizeof p, "%s/readme.md", host);
    unlink(p);
    cr_assert_eq(lsfs_mount_sync(t_db, "docs", "readme.md", &o), 0);
    json_decref(o);
    cr_assert_eq(hits("aardvark"), 0);
    cr_assert_null(t_get(&t_admin, "/mnt/docs/readme.md", &rc));
    cr_assert_eq(rc, AIOS_ENOENT);
    /* a whole folder going away */
    snprintf(p, sizeof p, "%s/docs/guide.txt", host);
    unlink(p);
    snprintf(p, sizeof p, "%s/docs/new.txt", host);
    unlink(p);
    snprintf(p, sizeof p, "%s/docs", host);
    rmdir(p);
    cr_assert_eq(lsfs_mount_sync(t_db, "docs", "", &o), 0);
    cr_assert_eq(json_array_size(json_object_get(o, "removed")), 1);
    json_decref(o);
    cr_assert_eq(hits("pangolin"), 0);
    cr_assert_eq(hits("narwhal"), 0);
    /* mounts survive a restart */
    t_reopen();
    cr_assert_eq(lsfs_mount_list(t_db, &t_admin, &o), 0);
    cr_assert_eq(json_array_size(json_object_get(o, "mounts")), 1);
    json_decref(o);
}

Test(lsfs_mount, read_only_refuses_writes, .timeout = 30)
{
    json_t *o = NULL;

    make_host();
    cr_assert_eq(lsfs_mount(t_db, &t_admin, host, "ro1", "ro", &o), 0);
    json_decref(o);
    cr_assert_eq(t_put(&t_admin, "/mnt/ro1/readme.md", "changed"), AIOS_EPERM);
    cr_assert(strstr(lsfs_db_errmsg(t_db), "read-only"), "%s", lsfs_db_errmsg(t_db));
    cr_assert_eq(t_put(&t_admin, "/mnt/ro1/new.md", "new"), AIOS_EPERM);
    cr_assert_eq(lsfs_delete(t_db, &t_admin, "/mnt/ro1/readme.md", false, &o), AIOS_EPERM);
    char *s = host_read("readme.md");
    cr_assert_str_eq(s, "# Readme\n\nThe aardvark manual.\n");
    free(s);
}

Test(lsfs_mount, read_write_goes_through_to_the_host, .timeout = 30)
{
    json_t *o = NULL;

    make_host();
    cr_assert_eq(lsfs_mount(t_db, &t_admin, host, "rw1", "rw", &o), 0);
    json_decref(o);
    cr_assert_eq(t_put(&t_admin, "/mnt/rw1/readme.md", "# Readme\n\nRewritten by an agent.\n"), 0);
    char *s = host_read("readme.md");
    cr_assert_str_eq(s, "# Readme\n\nRewritten by an agent.\n");
    free(s);
    cr_assert_eq(t_put(&t_admin, "/mnt/rw1/sub/deeper/made.txt", "made here\n"), 0, "%s",
                 lsfs_db_errmsg(t_db));
    s = host_read("sub/deeper/made.txt");
    cr_assert_str_eq(s, "made here\n");
    free(s);
    /* our own write does not make a second version on re-sync */
    cr_assert_eq(lsfs_mount_sync(t_db, "rw1", "", &o), 0);
    json_decref(o);
    cr_assert_eq(lsfs_history(t_db, &t_admin, "/mnt/rw1/readme.md", &o), 0);
    cr_assert_eq(json_array_size(json_object_get(o, "versions")), 2);
    json_decref(o);
    cr_assert_eq(lsfs_delete(t_db, &t_admin, "/mnt/rw1/sub", true, &o), 0, "%s",
                 lsfs_db_errmsg(t_db));
    json_decref(o);
    cr_assert_null(host_read("sub/deeper/made.txt"));
    /* rollback writes the old content back to the host */
    cr_assert_eq(lsfs_rollback(t_db, &t_admin, "/mnt/rw1/readme.md", 1, 0, false, &o), 0);
    json_decref(o);
    s = host_read("readme.md");
    cr_assert_str_eq(s, "# Readme\n\nThe aardvark manual.\n");
    free(s);
}

Test(lsfs_mount, symlinks_never_lead_outside, .timeout = 30)
{
    char p[512], outside[512];
    json_t *o = NULL;
    int rc;

    make_host();
    snprintf(outside, sizeof outside, "%s/outside.txt", t_dir);
    FILE *f = fopen(outside, "w");
    fputs("secret outside the mount\n", f);
    fclose(f);
    snprintf(p, sizeof p, "%s/escape.txt", host);
    cr_assert_eq(symlink(outside, p), 0);
    snprintf(p, sizeof p, "%s/up", host);
    cr_assert_eq(symlink(t_dir, p), 0);
    cr_assert_eq(lsfs_mount(t_db, &t_admin, host, "m", "rw", &o), 0);
    json_decref(o);
    /* links are not indexed */
    cr_assert_null(t_get(&t_admin, "/mnt/m/escape.txt", &rc));
    cr_assert_eq(rc, AIOS_ENOENT);
    cr_assert_eq(hits("secret"), 0);
    /* writing at the link's name does not write through it */
    cr_assert_eq(t_put(&t_admin, "/mnt/m/escape.txt", "overwrite?"), AIOS_EPERM);
    cr_assert_eq(t_put(&t_admin, "/mnt/m/up/outside.txt", "overwrite?"), AIOS_EPERM);
    char *s = calloc(1, 256);
    f = fopen(outside, "r");
    fread(s, 1, 255, f);
    fclose(f);
    cr_assert_str_eq(s, "secret outside the mount\n");
    free(s);
    /* the mount folder overlapping the data folder is refused */
    cr_assert_eq(lsfs_mount(t_db, &t_admin, t_dir, "data", "ro", &o), AIOS_EPERM);
    cr_assert_eq(lsfs_mount(t_db, &t_admin, t_data, "data", "ro", &o), AIOS_EPERM);
    /* a non-admin may only mount folders they own */
    cr_assert_eq(lsfs_mount(t_db, &t_c, "/etc", "etc", "ro", &o), AIOS_EPERM);
    cr_assert_eq(lsfs_mount(t_db, &t_admin, host, "m", "ro", &o), AIOS_EEXIST);
    cr_assert_eq(lsfs_mount(t_db, &t_admin, host, "../x", "ro", &o), AIOS_EINVAL);
}

Test(lsfs_mount, unmount_removes_everything, .timeout = 30)
{
    json_t *o = NULL;

    make_host();
    cr_assert_eq(lsfs_mount(t_db, &t_admin, host, "gone", "ro", &o), 0);
    json_decref(o);
    cr_assert_eq(hits("aardvark"), 1);
    cr_assert_eq(lsfs_unmount(t_db, &t_b, "gone", &o), AIOS_EPERM);
    cr_assert_eq(lsfs_unmount(t_db, &t_admin, "gone", &o), 0);
    json_decref(o);
    cr_assert_eq(hits("aardvark"), 0);
    cr_assert_eq(t_scalar("SELECT count(*) FROM nodes WHERE path LIKE '/mnt/gone%'"), 0);
    char *s = host_read("readme.md");
    cr_assert_not_null(s, "the host folder is untouched");
    free(s);
}

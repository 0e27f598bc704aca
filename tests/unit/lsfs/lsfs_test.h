/*
 * lsfs_test.h - fixtures for the LSFS unit tests: a real store in a fresh
 * temporary folder, agents, and small helpers to write and read text.
 * Every test runs in its own process (Criterion), so globals are fine.
 */
#ifndef LSFS_TEST_H
#define LSFS_TEST_H

#include <criterion/criterion.h>
#include <ftw.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aios/error.h"
#include "aios/lsfs.h"
#include "lsfs/lsfs_int.h"

static char t_dir[256];
static char t_data[300];        /* the store's data folder, inside t_dir */
static lsfs_store *t_store;
static lsfs_db *t_db;
static lsfs_actor t_a, t_b, t_c, t_admin;

static int t_rm(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static inline void t_open_opts(const lsfs_options *opt)
{
    lsfs_options o = {0};

    if (opt)
        o = *opt;
    if (!o.embed_model)
        o.embed_model = "none";
    cr_assert_eq(lsfs_store_open(t_data, &o, &t_store), 0, "store open");
    t_db = lsfs_db_thread(t_store);
    cr_assert_not_null(t_db);
}

static inline void t_setup(void)
{
    snprintf(t_dir, sizeof t_dir, "/tmp/lsfs-unit-XXXXXX");
    cr_assert_not_null(mkdtemp(t_dir));
    snprintf(t_data, sizeof t_data, "%s/data", t_dir);
    lsfs_actor_init(&t_a, "alice", 1000, false);
    lsfs_actor_init(&t_b, "bob", 1000, false);
    lsfs_actor_init(&t_c, "carol", 1001, false);
    lsfs_actor_init(&t_admin, "", 0, true);
    t_open_opts(NULL);
}

static inline void t_teardown(void)
{
    lsfs_store_close(t_store);
    t_store = NULL;
    nftw(t_dir, t_rm, 16, FTW_DEPTH | FTW_PHYS);
}

/* Reopen the store on the same folder (restart). */
static inline void t_reopen(void)
{
    lsfs_store_close(t_store);
    t_open_opts(NULL);
}

static inline int t_put(const lsfs_actor *a, const char *path, const char *text)
{
    lsfs_write_req r = {.data = text, .len = strlen(text), .mode = LSFS_WRITE_REPLACE,
                        .create = true};
    json_t *o = NULL;
    int rc = lsfs_write(t_db, a, path, &r, &o);

    json_decref(o);
    return rc;
}

/* Read the whole current content; NULL on error (rc in *rcp when given). */
static inline char *t_get(const lsfs_actor *a, const char *path, int *rcp)
{
    char *d = NULL;
    size_t n = 0;
    int rc = lsfs_read(t_db, a, path, 0, 0, -1, &d, &n, NULL);

    if (rcp)
        *rcp = rc;
    return rc == 0 ? d : NULL;
}

static inline int64_t t_scalar(const char *sql)
{
    sqlite3_stmt *st = NULL;
    int64_t v = -1;

    cr_assert_eq(sqlite3_prepare_v2(lsfs_db_handle(t_db), sql, -1, &st, NULL), SQLITE_OK, "%s",
                 sql);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* Paths of search results, comma-joined, into buf. */
static inline const char *t_paths(json_t *res, char *buf, size_t len)
{
    size_t i, o = 0;
    json_t *r;

    buf[0] = 0;
    json_array_foreach(json_object_get(res, "results"), i, r)
        o += (size_t)snprintf(buf + o, len - o, "%s%s", o ? "," : "",
                              json_string_value(json_object_get(r, "path")));
    return buf;
}

#endif

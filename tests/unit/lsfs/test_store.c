/* test_store.c - LSFS schema, migrations, pragmas and content-addressed blobs. */
#include "lsfs_test.h"

TestSuite(lsfs_store, .init = t_setup, .fini = t_teardown);

Test(lsfs_store, fresh_database_has_current_schema, .timeout = 20)
{
    cr_assert_eq(t_scalar("PRAGMA user_version"), LSFS_SCHEMA_VERSION);
    cr_assert_eq(t_scalar("SELECT count(*) FROM sqlite_master WHERE name IN"
                          " ('nodes','versions','blobs','shares','groups','chunks','chunks_fts',"
                          "  'vectors','summaries','mounts','mem_notes','mem_fts')"), 12);
    /* the fixed namespace and the world share on /shared */
    cr_assert_eq(t_scalar("SELECT count(*) FROM nodes WHERE path IN ('/','/home','/shared','/mnt')"), 4);
    cr_assert_eq(t_scalar("SELECT perm FROM shares s JOIN nodes n ON n.id=s.node"
                          " WHERE n.path='/shared' AND grantee='*'"), 3);
    cr_assert_eq(lsfs_db_integrity_check(t_db), 0);
}

Test(lsfs_store, pragmas_wal_full_foreign_keys, .timeout = 20)
{
    sqlite3_stmt *st;
    sqlite3 *h = lsfs_db_handle(t_db);

    cr_assert_eq(sqlite3_prepare_v2(h, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    cr_assert_str_eq((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    cr_assert_eq(t_scalar("PRAGMA synchronous"), 2, "synchronous=FULL");
    cr_assert_eq(t_scalar("PRAGMA foreign_keys"), 1);
}

Test(lsfs_store, reopen_keeps_data_and_version, .timeout = 20)
{
    cr_assert_eq(t_put(&t_a, "~/keep.txt", "still here"), 0);
    t_reopen();
    cr_assert_eq(t_scalar("PRAGMA user_version"), LSFS_SCHEMA_VERSION);
    char *s = t_get(&t_a, "/home/alice/keep.txt", NULL);
    cr_assert_str_eq(s, "still here");
    free(s);
}

/* A database written by schema version 1 is migrated, keeping its rows. */
Test(lsfs_store, migrates_from_version_1, .timeout = 20)
{
    char dir[300], path[340];
    sqlite3 *h;
    char *err = NULL;
    lsfs_store *s;
    lsfs_options o = {.embed_model = "none"};

    snprintf(dir, sizeof dir, "%s/old", t_dir);
    mkdir(dir, 0700);
    snprintf(path, sizeof path, "%s/lsfs.db", dir);
    cr_assert_eq(sqlite3_open(path, &h), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(h, lsfs__migration_sql(0), NULL, NULL, &err), SQLITE_OK, "%s", err);
    cr_assert_eq(sqlite3_exec(h, "PRAGMA user_version=1;"
                              "INSERT INTO nodes(path,dir,name,kind,owner,ctime,mtime)"
                              " VALUES('/home/old','/home','old',1,'agent:old',1,1);",
                              NULL, NULL, &err), SQLITE_OK, "%s", err);
    sqlite3_close(h);

    cr_assert_eq(lsfs_store_open(dir, &o, &s), 0);
    lsfs_db *db = lsfs_db_thread(s);
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_prepare_v2(lsfs_db_handle(db),
                                    "SELECT (SELECT count(*) FROM nodes WHERE path='/home/old'),"
                                    " (SELECT count(*) FROM sqlite_master WHERE name='chunks_fts'),"
                                    " (SELECT count(*) FROM sqlite_master WHERE name='mem_notes')",
                                    -1, &st, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    cr_assert_eq(sqlite3_column_int(st, 0), 1, "old rows survive");
    cr_assert_eq(sqlite3_column_int(st, 1), 1, "v2 tables added");
    cr_assert_eq(sqlite3_column_int(st, 2), 1, "v3 tables added");
    sqlite3_finalize(st);
    lsfs_actor old;
    lsfs_actor_init(&old, "old", 5, false);
    json_t *out = NULL;
    cr_assert_eq(lsfs_create(db, &old, "~/new.md", "# x", 3, &out), 0, "%s", lsfs_db_errmsg(db));
    json_decref(out);
    lsfs_store_close(s);
}

Test(lsfs_store, refuses_newer_schema, .timeout = 20)
{
    char dir[300], path[340];
    sqlite3 *h;
    lsfs_store *s = (void *)1;
    lsfs_options o = {.embed_model = "none"};

    snprintf(dir, sizeof dir, "%s/new", t_dir);
    mkdir(dir, 0700);
    snprintf(path, sizeof path, "%s/lsfs.db", dir);
    cr_assert_eq(sqlite3_open(path, &h), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(h, "PRAGMA user_version=99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(h);
    cr_assert_eq(lsfs_store_open(dir, &o, &s), AIOS_ENOTSUP);
    cr_assert_null(s);
}

Test(lsfs_store, blobs_deduplicate_across_files_and_agents, .timeout = 20)
{
    const char *text = "the same content, written three times by two agents\n";

    cr_assert_eq(t_put(&t_a, "~/one.txt", text), 0);
    cr_assert_eq(t_put(&t_a, "~/two.txt", text), 0);
    cr_assert_eq(t_put(&t_b, "~/three.txt", text), 0);
    cr_assert_eq(t_scalar("SELECT count(*) FROM versions"), 3);
    cr_assert_eq(t_scalar("SELECT count(DISTINCT blob) FROM versions"), 1);
    cr_assert_eq(t_scalar("SELECT count(*) FROM blobs"), 1);
}

Test(lsfs_store, zstd_round_trip_and_raw_fallback, .timeout = 20)
{
    size_t n = 200000;
    char *big = malloc(n + 1), *rnd = malloc(4097), *back;
    unsigned x = 12345;

    for (size_t i = 0; i < n; i++)
        big[i] = "lorem ipsum dolor sit amet\n"[i % 27];
    big[n] = 0;
    for (size_t i = 0; i < 4096; i++) {
        x = x * 1103515245u + 12345u;
        rnd[i] = (char)(1 + (x >> 16) % 255); /* no NULs, not compressible */
    }
    rnd[4096] = 0;
    cr_assert_eq(t_put(&t_a, "~/big.txt", big), 0);
    cr_assert_eq(t_put(&t_a, "~/random.bin", rnd), 0);
    cr_assert_eq(t_scalar("SELECT codec FROM blobs WHERE size=200000"), 1, "zstd");
    cr_assert_lt(t_scalar("SELECT length(data) FROM blobs WHERE size=200000"), 20000);
    cr_assert_eq(t_scalar("SELECT codec FROM blobs WHERE size=4096"), 0, "raw when zstd does not help");
    back = t_get(&t_a, "~/big.txt", NULL);
    cr_assert_not_null(back);
    cr_assert_eq(memcmp(back, big, n), 0);
    free(back);
    back = t_get(&t_a, "~/random.bin", NULL);
    cr_assert_eq(memcmp(back, rnd, 4096), 0);
    free(back);
    /* sha-256 is the key */
    unsigned char h[32];
    lsfs__sha256("abc", 3, h);
    cr_assert_eq(h[0], 0xba);
    cr_assert_eq(h[31], 0xad);
    free(big);
    free(rnd);
}

Test(lsfs_store, empty_file_round_trip, .timeout = 20)
{
    json_t *o = NULL;
    int rc;

    cr_assert_eq(lsfs_create(t_db, &t_a, "~/empty", NULL, 0, &o), 0);
    cr_assert_eq(json_integer_value(json_object_get(o, "size")), 0);
    json_decref(o);
    char *s = t_get(&t_a, "~/empty", &rc);
    cr_assert_eq(rc, 0);
    cr_assert_str_eq(s, "");
    free(s);
}

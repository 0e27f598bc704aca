/* test_rights.c - LSFS rights: owners, shares, groups, /shared, admins,
 * and that listings and searches only show what the caller may read. */
#include "lsfs_test.h"

TestSuite(lsfs_rights, .init = t_setup, .fini = t_teardown);

Test(lsfs_rights, private_home_denies_others, .timeout = 20)
{
    json_t *o = NULL;
    int rc;

    cr_assert_eq(t_put(&t_a, "~/diary.txt", "dear diary\n"), 0);
    cr_assert_null(t_get(&t_b, "/home/alice/diary.txt", &rc));
    cr_assert_eq(rc, AIOS_EPERM);
    cr_assert(strstr(lsfs_db_errmsg(t_db), "agent:bob may not read"), "%s", lsfs_db_errmsg(t_db));
    cr_assert_eq(t_put(&t_b, "/home/alice/diary.txt", "hacked"), AIOS_EPERM);
    cr_assert_eq(t_put(&t_b, "/home/alice/new.txt", "planted"), AIOS_EPERM);
    cr_assert_eq(lsfs_delete(t_db, &t_b, "/home/alice/diary.txt", false, &o), AIOS_EPERM);
    cr_assert_eq(lsfs_move(t_db, &t_b, "/home/alice/diary.txt", "/home/bob/x", &o), AIOS_EPERM);
    cr_assert_eq(lsfs_stat(t_db, &t_b, "/home/alice/diary.txt", &o), AIOS_EPERM);
    cr_assert_eq(lsfs_history(t_db, &t_b, "/home/alice/diary.txt", &o), AIOS_EPERM);
    cr_assert_eq(lsfs_rollback(t_db, &t_b, "/home/alice/diary.txt", 1, 0, false, &o), AIOS_EPERM);
    char *d = NULL;
    cr_assert_eq(lsfs_diff(t_db, &t_b, "/home/alice/diary.txt", 1, 1, 3, &d), AIOS_EPERM);
    lsfs_list_req lr = {.path = "/home/alice"};
    cr_assert_eq(lsfs_list(t_db, &t_b, &lr, &o), AIOS_EPERM);
    /* the owner and an admin can */
    char *s = t_get(&t_admin, "/home/alice/diary.txt", &rc);
    cr_assert_str_eq(s, "dear diary\n");
    free(s);
    /* a plain uid connection has its own home */
    lsfs_actor u;
    lsfs_actor_init(&u, "", 1000, false);
    cr_assert_eq(t_put(&u, "~/mine.txt", "uid file\n"), 0);
    cr_assert_eq(lsfs_stat(t_db, &u, "/home/uid-1000/mine.txt", &o), 0);
    cr_assert_str_eq(json_string_value(json_object_get(o, "owner")), "uid:1000");
    json_decref(o);
    cr_assert_null(t_get(&t_a, "/home/uid-1000/mine.txt", &rc));
    cr_assert_eq(rc, AIOS_EPERM);
}

Test(lsfs_rights, shares_grant_read_then_write_then_revoke, .timeout = 20)
{
    json_t *o = NULL;
    int rc, perm;

    cr_assert_eq(t_put(&t_a, "~/proj/plan.md", "# plan\n"), 0);
    cr_assert_eq(lsfs_share(t_db, &t_b, "/home/alice/proj", "bob", LSFS_PERM_RW, &o), AIOS_EPERM,
                 "only the owner shares");
    cr_assert_eq(lsfs_share(t_db, &t_a, "~/proj", "bob", LSFS_PERM_READ, &o), 0);
    cr_assert_str_eq(json_string_value(json_object_get(o, "with")), "agent:bob");
    json_decref(o);
    /* a share on a folder covers what is inside, including later files */
    char *s = t_get(&t_b, "/home/alice/proj/plan.md", &rc);
    cr_assert_str_eq(s, "# plan\n");
    free(s);
    cr_assert_eq(t_put(&t_a, "~/proj/later.md", "later\n"), 0);
    s = t_get(&t_b, "/home/alice/proj/later.md", &rc);
    cr_assert_not_null(s);
    free(s);
    cr_assert_eq(t_put(&t_b, "/home/alice/proj/plan.md", "bob was here\n"), AIOS_EPERM);
    cr_assert_eq(lsfs_access(t_db, &t_b, "/home/alice/proj/plan.md", &perm), 0);
    cr_assert_eq(perm, LSFS_PERM_READ);
    /* carol still sees nothing */
    cr_assert_null(t_get(&t_c, "/home/alice/proj/plan.md", &rc));
    cr_assert_eq(rc, AIOS_EPERM);
    /* upgrade to read+write */
    cr_assert_eq(lsfs_share(t_db, &t_a, "~/proj", "agent:bob", LSFS_PERM_RW, &o), 0);
    json_decref(o);
    cr_assert_eq(t_put(&t_b, "/home/alice/proj/plan.md", "bob was here\n"), 0);
    cr_assert_eq(t_put(&t_b, "/home/alice/proj/bobs.md", "new from bob\n"), 0);
    /* alice owns her folder, so she controls bob's file in it */
    s = t_get(&t_a, "~/proj/bobs.md", &rc);
    cr_assert_not_null(s);
    free(s);
    cr_assert_eq(lsfs_history(t_db, &t_a, "~/proj/plan.md", &o), 0);
    cr_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(json_object_get(o, "versions"), 1), "author")),
                     "agent:bob");
    json_decref(o);
    /* revoke */
    cr_assert_eq(lsfs_share(t_db, &t_a, "~/proj", "bob", LSFS_PERM_NONE, &o), 0);
    json_decref(o);
    cr_assert_null(t_get(&t_b, "/home/alice/proj/plan.md", &rc));
    cr_assert_eq(rc, AIOS_EPERM);
    /* bad grantees */
    cr_assert_eq(lsfs_share(t_db, &t_a, "~/proj", "robot:x", LSFS_PERM_READ, &o), AIOS_EINVAL);
}

Test(lsfs_rights, group_shares_follow_membership, .timeout = 20)
{
    json_t *o = NULL;
    int rc;

    cr_assert_eq(lsfs_group_create(t_db, &t_a, "team", &o), 0);
    json_decref(o);
    cr_assert_eq(lsfs_group_create(t_db, &t_b, "team", &o), AIOS_EEXIST);
    cr_assert_eq(lsfs_group_create(t_db, &t_a, "Bad Name", &o), AIOS_EINVAL);
    cr_assert_eq(lsfs_group_add(t_db, &t_b, "team", "carol"), AIOS_EPERM, "not bob's group");
    cr_assert_eq(lsfs_group_add(t_db, &t_a, "team", "bob"), 0);
    cr_assert_eq(t_put(&t_a, "~/team/notes.txt", "team notes\n"), 0);
    cr_assert_eq(lsfs_share(t_db, &t_a, "~/team", "group:team", LSFS_PERM_READ, &o), 0);
    json_decref(o);
    char *s = t_get(&t_b, "/home/alice/team/notes.txt", &rc);
    cr_assert_str_eq(s, "team notes\n");
    free(s);
    cr_assert_null(t_get(&t_c, "/home/alice/team/notes.txt", &rc));
    cr_assert_eq(rc, AIOS_EPERM);
    /* groups visible to members */
    cr_assert_eq(lsfs_group_list(t_db, &t_b, &o), 0);
    cr_assert_eq(json_array_size(json_object_get(o, "groups")), 1);
    cr_assert_eq(json_array_size(json_object_get(json_array_get(json_object_get(o, "groups"), 0),
                                                 "members")), 2);
    json_decref(o);
    cr_assert_eq(lsfs_group_list(t_db, &t_c, &o), 0);
    cr_assert_eq(json_array_size(json_object_get(o, "groups")), 0);
    json_decref(o);
    /* leaving the group removes access */
    cr_assert_eq(lsfs_group_remove(t_db, &t_a, "team", "agent:bob"), 0);
    cr_assert_eq(lsfs_group_remove(t_db, &t_a, "team", "agent:bob"), AIOS_ENOENT);
    cr_assert_null(t_get(&t_b, "/home/alice/team/notes.txt", &rc));
    cr_assert_eq(rc, AIOS_EPERM);
    cr_assert_eq(lsfs_group_delete(t_db, &t_b, "team"), AIOS_EPERM);
    cr_assert_eq(lsfs_group_delete(t_db, &t_a, "team"), 0);
}

Test(lsfs_rights, shared_folder_is_common_ground, .timeout = 20)
{
    json_t *o = NULL;
    int rc;

    cr_assert_eq(t_put(&t_a, "/shared/board.txt", "hello all\n"), 0);
    char *s = t_get(&t_b, "/shared/board.txt", &rc);
    cr_assert_str_eq(s, "hello all\n");
    free(s);
    cr_assert_eq(t_put(&t_b, "/shared/board.txt", "hello all, from bob\n"), 0);
    /* nobody but admins writes the top of the namespace */
    cr_assert_eq(lsfs_mkdir(t_db, &t_a, "/home/mallory", false, &o), AIOS_EPERM);
    cr_assert_eq(t_put(&t_a, "/mnt/x.txt", "x"), AIOS_EPERM);
    /* everyone may list the fixed folders, but sees only readable entries */
    cr_assert_eq(t_put(&t_b, "~/b.txt", "b\n"), 0);
    cr_assert_eq(t_put(&t_a, "~/a.txt", "a\n"), 0);
    lsfs_list_req lr = {.path = "/home"};
    cr_assert_eq(lsfs_list(t_db, &t_a, &lr, &o), 0);
    cr_assert_eq(json_array_size(json_object_get(o, "entries")), 1, "%s",
                 json_dumps(o, 0));
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(o, "entries"), 0), "path")),
                     "/home/alice");
    json_decref(o);
    cr_assert_eq(lsfs_list(t_db, &t_admin, &lr, &o), 0);
    cr_assert_eq(json_array_size(json_object_get(o, "entries")), 2);
    json_decref(o);
}

Test(lsfs_rights, search_shows_only_readable_files, .timeout = 20)
{
    json_t *o = NULL;
    char buf[512];
    lsfs_search_req q = {.query = "zebra migration", .mode = LSFS_SEARCH_KEYWORD, .k = 10};

    cr_assert_eq(t_put(&t_a, "~/zebras.md", "The zebra migration crosses the river.\n"), 0);
    cr_assert_eq(t_put(&t_b, "~/zoo.md", "Zebra migration notes from bob.\n"), 0);
    cr_assert_eq(t_put(&t_c, "/shared/safari.md", "A zebra migration safari.\n"), 0);
    cr_assert_eq(lsfs_search(t_db, &t_a, &q, &o), 0, "%s", lsfs_db_errmsg(t_db));
    t_paths(o, buf, sizeof buf);
    cr_assert(strstr(buf, "/home/alice/zebras.md"), "%s", buf);
    cr_assert(strstr(buf, "/shared/safari.md"), "%s", buf);
    cr_assert_null(strstr(buf, "/home/bob"), "%s", buf);
    json_decref(o);
    cr_assert_eq(lsfs_search(t_db, &t_admin, &q, &o), 0);
    cr_assert_eq(json_array_size(json_object_get(o, "results")), 3);
    json_decref(o);
    /* once shared, bob's file appears for alice */
    cr_assert_eq(lsfs_share(t_db, &t_b, "~/zoo.md", "alice", LSFS_PERM_READ, &o), 0);
    json_decref(o);
    cr_assert_eq(lsfs_search(t_db, &t_a, &q, &o), 0);
    cr_assert_eq(json_array_size(json_object_get(o, "results")), 3);
    json_decref(o);
}

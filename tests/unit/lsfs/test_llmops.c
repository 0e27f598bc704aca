/* test_llmops.c - summaries stored per version, grouping without a language
 * model (TF-IDF k-means, keyword names), joins that record their sources.
 * aiosd runs these with the shared model once the engine is wired; here the
 * LLM service is unavailable, which is a supported configuration. */
#include "aios/llm.h"
#include "lsfs_test.h"

TestSuite(lsfs_llmops, .init = t_setup, .fini = t_teardown);

Test(lsfs_llmops, summaries_are_per_version, .timeout = 20)
{
    json_t *p = json_pack("{s:s}", "path", "~/notes.md"), *o = NULL;

    if (llm_service_available())
        cr_skip_test("a language model is loaded: this test covers the unavailable case");
    cr_assert_eq(t_put(&t_a, "~/notes.md", "# Notes\n\nthe first version\n"), 0);
    cr_assert_eq(lsfs_summarize(t_db, &t_a, p, &o), AIOS_EUNAVAIL);
    cr_assert(strstr(lsfs_db_errmsg(t_db), "no language model is loaded"), "%s", lsfs_db_errmsg(t_db));
    /* a stored summary of the current version is served without a model */
    cr_assert_eq(lsfs__exec(t_db, "INSERT INTO summaries(node,ver,text,model,time)"
                                  " SELECT id, head, 'A short note.', 'llm', 0 FROM nodes"
                                  " WHERE path='/home/alice/notes.md'"), 0);
    cr_assert_eq(lsfs_summarize(t_db, &t_a, p, &o), 0, "%s", lsfs_db_errmsg(t_db));
    cr_assert_str_eq(json_string_value(json_object_get(o, "summary")), "A short note.");
    cr_assert(json_is_true(json_object_get(o, "cached")));
    json_decref(o);
    json_t *st = NULL;
    cr_assert_eq(lsfs_stat(t_db, &t_a, "~/notes.md", &st), 0);
    cr_assert(json_is_true(json_object_get(st, "summary_ready")));
    json_decref(st);
    /* a new version makes it stale */
    cr_assert_eq(t_put(&t_a, "~/notes.md", "# Notes\n\nthe second version\n"), 0);
    cr_assert_eq(lsfs_summarize(t_db, &t_a, p, &o), AIOS_EUNAVAIL);
    /* others may not summarize what they may not read */
    json_decref(p);
    p = json_pack("{s:s}", "path", "/home/alice/notes.md");
    cr_assert_eq(lsfs_summarize(t_db, &t_b, p, &o), AIOS_EPERM);
    json_decref(p);
}

Test(lsfs_llmops, group_by_meaning_without_models, .timeout = 20)
{
    json_t *o = NULL, *p;

    cr_assert_eq(t_put(&t_a, "~/g/pasta.md", "Boil the pasta in salted water, then add the tomato "
                                            "sauce, garlic and basil. Pasta recipes need good tomato.\n"), 0);
    cr_assert_eq(t_put(&t_a, "~/g/pizza.md", "Pizza dough with tomato sauce, basil and garlic; bake "
                                            "the pizza in a hot oven. Tomato and basil again.\n"), 0);
    cr_assert_eq(t_put(&t_a, "~/g/router.md", "Configure the router: set the network address, the "
                                             "gateway and the DNS server for the network interface.\n"), 0);
    cr_assert_eq(t_put(&t_a, "~/g/dhcp.md", "The DHCP server hands out network addresses; point the "
                                           "gateway and DNS server settings at the router.\n"), 0);
    p = json_pack("{s:s,s:i,s:s}", "path", "~/g", "k", 2, "into", "~/groups");
    cr_assert_eq(lsfs_group_files(t_db, &t_a, p, &o), 0, "%s", lsfs_db_errmsg(t_db));
    json_decref(p);
    cr_assert_str_eq(json_string_value(json_object_get(o, "method")), "kmeans-tfidf");
    cr_assert_str_eq(json_string_value(json_object_get(o, "named_by")), "keywords");
    json_t *groups = json_object_get(o, "groups");
    cr_assert_eq(json_array_size(groups), 2, "%s", json_dumps(o, 0));
    for (size_t g = 0; g < 2; g++) {
        json_t *files = json_object_get(json_array_get(groups, g), "files");
        char buf[512] = "";
        size_t i;
        json_t *f;
        cr_assert_eq(json_array_size(files), 2, "%s", json_dumps(o, 0));
        json_array_foreach(files, i, f)
            strcat(buf, json_string_value(f));
        bool food = strstr(buf, "pasta") && strstr(buf, "pizza");
        bool net = strstr(buf, "router") && strstr(buf, "dhcp");
        cr_assert(food || net, "mixed group: %s", buf);
    }
    /* the "into" folders hold links that read through */
    const char *name = json_string_value(json_object_get(json_array_get(groups, 0), "name"));
    const char *first = json_string_value(json_array_get(json_object_get(json_array_get(groups, 0), "files"), 0));
    char lp[512];
    snprintf(lp, sizeof lp, "~/groups/%s/%s", name, strrchr(first, '/') + 1);
    char *s = t_get(&t_a, lp, NULL);
    cr_assert_not_null(s, "%s", lp);
    free(s);
    json_decref(o);
    /* too few files */
    p = json_pack("{s:[s]}", "paths", "~/g/pasta.md");
    cr_assert_eq(lsfs_group_files(t_db, &t_a, p, &o), AIOS_EINVAL);
    json_decref(p);
}

Test(lsfs_llmops, join_records_sources, .timeout = 20)
{
    json_t *o = NULL, *p;

    cr_assert_eq(t_put(&t_a, "~/j/a.txt", "alpha\n"), 0);
    cr_assert_eq(t_put(&t_a, "~/j/b.txt", "beta 1\n"), 0);
    cr_assert_eq(t_put(&t_a, "~/j/b.txt", "beta 2\n"), 0);
    p = json_pack("{s:[s,s],s:s,s:s}", "paths", "~/j/a.txt", "~/j/b.txt", "path", "~/j/ab.txt",
                  "separator", "--\n");
    cr_assert_eq(lsfs_join(t_db, &t_a, p, &o), 0, "%s", lsfs_db_errmsg(t_db));
    json_decref(o);
    char *s = t_get(&t_a, "~/j/ab.txt", NULL);
    cr_assert_str_eq(s, "alpha\n--\nbeta 2\n");
    free(s);
    cr_assert_eq(lsfs_stat(t_db, &t_a, "~/j/ab.txt", &o), 0);
    json_t *src = json_object_get(o, "sources");
    cr_assert_eq(json_array_size(src), 2);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(src, 1), "path")), "/home/alice/j/b.txt");
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(src, 1), "version")), 2);
    json_decref(o);
    /* exists -> EEXIST unless overwrite; unreadable source -> EPERM */
    cr_assert_eq(lsfs_join(t_db, &t_a, p, &o), AIOS_EEXIST);
    json_decref(p);
    cr_assert_eq(t_put(&t_b, "~/secret.txt", "bob\n"), 0);
    p = json_pack("{s:[s,s],s:s}", "paths", "~/j/a.txt", "/home/bob/secret.txt", "path", "~/j/x.txt");
    cr_assert_eq(lsfs_join(t_db, &t_a, p, &o), AIOS_EPERM);
    cr_assert_str_eq(lsfs_db_errfield(t_db), "paths");
    json_decref(p);
    p = json_pack("{s:[s,s],s:s,s:s}", "paths", "~/j/a.txt", "~/j/b.txt", "path", "~/j/y.txt", "mode", "llm");
    cr_assert_eq(lsfs_join(t_db, &t_a, p, &o), llm_service_available() ? 0 : AIOS_EUNAVAIL);
    json_decref(p);
}

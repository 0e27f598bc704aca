/* test_memory.c - agent memory notes (mem.*) and change events (fs.watch). */
#include "lsfs_test.h"

TestSuite(lsfs_memory, .init = t_setup, .fini = t_teardown);

static int64_t add(const lsfs_actor *a, const char *json)
{
    json_t *p = json_loads(json, 0, NULL), *o = NULL;
    int64_t id;

    cr_assert_not_null(p, "%s", json);
    cr_assert_eq(lsfs_mem_add(t_db, a, p, &o), 0, "%s", lsfs_db_errmsg(t_db));
    id = json_integer_value(json_object_get(o, "id"));
    json_decref(o);
    json_decref(p);
    return id;
}

static json_t *msearch(const lsfs_actor *a, const char *json)
{
    json_t *p = json_loads(json, 0, NULL), *o = NULL;

    cr_assert_eq(lsfs_mem_search(t_db, a, p, &o), 0, "%s", lsfs_db_errmsg(t_db));
    json_decref(p);
    return o;
}

Test(lsfs_memory, add_get_update_delete, .timeout = 20)
{
    json_t *o = NULL, *p;
    int64_t id = add(&t_a, "{\"content\":\"The build server restarts every Sunday at 03:00; "
                           "restarts interrupt long builds.\",\"tags\":[\"ops\",\"builds\"]}");

    cr_assert_eq(lsfs_mem_get(t_db, &t_a, id, &o), 0);
    cr_assert_str_eq(json_string_value(json_object_get(o, "owner")), "agent:alice");
    cr_assert_eq(json_array_size(json_object_get(o, "tags")), 2);
    /* keywords were extracted: "restarts" appears twice */
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(o, "keywords"), 0)),
                     "restarts");
    json_decref(o);
    p = json_pack("{s:I,s:s,s:[s],s:[I]}", "id", (json_int_t)id, "content",
                  "The build server restarts on Mondays now.", "tags", "ops", "links",
                  (json_int_t)id);
    cr_assert_eq(lsfs_mem_update(t_db, &t_a, p, &o), 0, "%s", lsfs_db_errmsg(t_db));
    cr_assert_eq(json_array_size(json_object_get(o, "tags")), 1);
    cr_assert_eq(json_array_size(json_object_get(o, "links")), 1);
    json_decref(o);
    /* others cannot see, change or delete it */
    cr_assert_eq(lsfs_mem_get(t_db, &t_b, id, &o), AIOS_ENOENT);
    cr_assert_eq(lsfs_mem_update(t_db, &t_b, p, &o), AIOS_ENOENT);
    cr_assert_eq(lsfs_mem_delete(t_db, &t_b, id, &o), AIOS_ENOENT);
    json_decref(p);
    cr_assert_eq(lsfs_mem_delete(t_db, &t_a, id, &o), 0);
    json_decref(o);
    cr_assert_eq(lsfs_mem_get(t_db, &t_a, id, &o), AIOS_ENOENT);
}

Test(lsfs_memory, sharing_makes_notes_visible_read_only, .timeout = 20)
{
    json_t *o = NULL, *p;
    int64_t id = add(&t_a, "{\"content\":\"Deploy keys live in the vault.\",\"share\":[\"bob\"]}");

    cr_assert_eq(lsfs_mem_get(t_db, &t_b, id, &o), 0);
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(o, "shared_with"), 0)),
                     "agent:bob");
    json_decref(o);
    cr_assert_eq(lsfs_mem_get(t_db, &t_c, id, &o), AIOS_ENOENT);
    p = json_pack("{s:I,s:s}", "id", (json_int_t)id, "content", "changed by bob");
    cr_assert_eq(lsfs_mem_update(t_db, &t_b, p, &o), AIOS_EPERM);
    json_decref(p);
    o = msearch(&t_b, "{\"query\":\"vault keys\"}");
    cr_assert_eq(json_array_size(json_object_get(o, "results")), 1);
    json_decref(o);
    o = msearch(&t_c, "{\"query\":\"vault keys\"}");
    cr_assert_eq(json_array_size(json_object_get(o, "results")), 0);
    json_decref(o);
}

Test(lsfs_memory, keyword_search_ranks_and_filters_by_tags, .timeout = 20)
{
    json_t *o;

    add(&t_a, "{\"content\":\"Bob prefers tea in the morning.\",\"tags\":[\"people\"]}");
    int64_t coffee = add(&t_a, "{\"content\":\"Carol drinks coffee; coffee beans and coffee filters are in the "
                               "left cupboard.\",\"tags\":[\"people\",\"kitchen\"]}");
    add(&t_a, "{\"content\":\"The coffee machine needs descaling monthly.\",\"tags\":[\"kitchen\"]}");
    o = msearch(&t_a, "{\"query\":\"coffee\",\"k\":5}");
    cr_assert_str_eq(json_string_value(json_object_get(o, "mode")), "keyword", "no embedder");
    cr_assert_eq(json_array_size(json_object_get(o, "results")), 2);
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(json_object_get(o, "results"), 0), "id")),
                 coffee, "three mentions rank first");
    json_decref(o);
    o = msearch(&t_a, "{\"query\":\"coffee\",\"tags\":[\"people\",\"kitchen\"]}");
    cr_assert_eq(json_array_size(json_object_get(o, "results")), 1);
    json_decref(o);
    o = msearch(&t_a, "{\"query\":\"coffee\",\"tags\":[\"garden\"]}");
    cr_assert_eq(json_array_size(json_object_get(o, "results")), 0);
    json_decref(o);
    json_t *p = json_loads("{\"query\":\"coffee\",\"mode\":\"semantic\"}", 0, NULL);
    cr_assert_eq(lsfs_mem_search(t_db, &t_a, p, &o), AIOS_EUNAVAIL);
    json_decref(p);
}

/* ---- watch ---------------------------------------------------------------------- */

static json_t *seen;
static void on_ev(const json_t *ev, void *arg)
{
    (void)arg;
    json_array_append(seen, (json_t *)ev);
}

Test(lsfs_memory, watch_streams_readable_events, .timeout = 20)
{
    uint64_t w1, w2;
    json_t *o = NULL;

    seen = json_array();
    cr_assert_eq(t_put(&t_a, "~/first.txt", "0"), 0);
    cr_assert_eq(lsfs_watch_add(t_db, &t_a, "~", true, on_ev, NULL, &w1), 0);
    cr_assert_eq(lsfs_watch_add(t_db, &t_b, "/home/alice", true, on_ev, NULL, &w2), AIOS_EPERM);
    cr_assert_eq(t_put(&t_a, "~/w/one.txt", "1"), 0);
    cr_assert_eq(t_put(&t_a, "~/w/one.txt", "2"), 0);
    cr_assert_eq(lsfs_move(t_db, &t_a, "~/w/one.txt", "~/w/two.txt", &o), 0);
    json_decref(o);
    cr_assert_eq(lsfs_delete(t_db, &t_a, "~/w/two.txt", false, &o), 0);
    json_decref(o);
    cr_assert_eq(t_put(&t_b, "~/elsewhere.txt", "x"), 0);
    /* mkdir ~/w, create, write, move, delete; nothing from bob's home */
    const char *want[] = {"mkdir", "create", "write", "move", "delete"};
    cr_assert_eq(json_array_size(seen), 5, "%s", json_dumps(seen, 0));
    for (size_t i = 0; i < 5; i++)
        cr_assert_str_eq(json_string_value(json_object_get(json_array_get(seen, i), "event")),
                         want[i]);
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(seen, 2), "version")), 2);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(seen, 3), "from")),
                     "/home/alice/w/one.txt");
    /* a failed (rolled back) write sends nothing; removal stops delivery */
    lsfs_write_req c = {.data = "x", .len = 1, .expect_version = 99};
    cr_assert_eq(lsfs_write(t_db, &t_a, "~/w/three.txt", &c, &o), AIOS_ENOENT);
    lsfs_watch_remove(t_store, w1);
    cr_assert_eq(t_put(&t_a, "~/w/four.txt", "4"), 0);
    cr_assert_eq(json_array_size(seen), 5);
    json_decref(seen);
}

static int hits_count;
static void on_count(const json_t *ev, void *arg)
{
    (void)ev;
    (void)arg;
    hits_count++;
}

Test(lsfs_memory, many_watchers_all_get_the_event, .timeout = 20)
{
    uint64_t ids[150];

    cr_assert_eq(t_put(&t_a, "/shared/w.txt", "0"), 0);
    for (int i = 0; i < 150; i++)
        cr_assert_eq(lsfs_watch_add(t_db, i % 2 ? &t_b : &t_c, "/shared", true, on_count, NULL, &ids[i]), 0);
    hits_count = 0;
    cr_assert_eq(t_put(&t_a, "/shared/w.txt", "1"), 0);
    cr_assert_eq(hits_count, 150);
    for (int i = 0; i < 150; i++)
        lsfs_watch_remove(t_store, ids[i]);
    cr_assert_eq(t_put(&t_a, "/shared/w.txt", "2"), 0);
    cr_assert_eq(hits_count, 150);
}

/* test_search.c - FTS5 BM25 ranking on a crafted corpus, snippets, filters
 * inside retrieval, reciprocal-rank fusion, and the no-embedder behaviour. */
#include <time.h>

#include "lsfs_test.h"

TestSuite(lsfs_search, .init = t_setup, .fini = t_teardown);

static json_t *kw(const lsfs_actor *a, const char *q, const char *prefix, const char *type)
{
    lsfs_search_req r = {.query = q, .mode = LSFS_SEARCH_KEYWORD, .k = 10, .path_prefix = prefix,
                         .type = type};
    json_t *o = NULL;

    cr_assert_eq(lsfs_search(t_db, a, &r, &o), 0, "%s", lsfs_db_errmsg(t_db));
    return o;
}

static void corpus(void)
{
    /* term frequency, document length and field weight all differ */
    cr_assert_eq(t_put(&t_a, "~/sched/deep.md",
                       "# CPU time\n\nThe scheduler picks the next task. A fair scheduler "
                       "keeps virtual runtime per task; the scheduler preempts long tasks.\n"), 0);
    cr_assert_eq(t_put(&t_a, "~/sched/mention.md",
                       "# Notes\n\nMemory pages, disks, caches and file systems are covered here "
                       "at length, and the scheduler is mentioned once among many other words "
                       "about storage devices, block layers, queues and drivers.\n"), 0);
    cr_assert_eq(t_put(&t_a, "~/sched/none.md", "# Cooking\n\nBoil water, add pasta.\n"), 0);
    cr_assert_eq(t_put(&t_a, "~/other/scheduler.txt", "short file about timers\n"), 0);
}

Test(lsfs_search, bm25_orders_by_relevance, .timeout = 20)
{
    char buf[1024];
    json_t *o;

    corpus();
    o = kw(&t_a, "scheduler", NULL, NULL);
    t_paths(o, buf, sizeof buf);
    /* the file named after the term (title weight 2), then the dense one,
     * then the long one with a single mention; never the cooking notes */
    cr_assert_str_eq(buf, "/home/alice/other/scheduler.txt,/home/alice/sched/deep.md,"
                          "/home/alice/sched/mention.md");
    json_t *first = json_array_get(json_object_get(o, "results"), 0);
    json_t *second = json_array_get(json_object_get(o, "results"), 1);
    json_t *third = json_array_get(json_object_get(o, "results"), 2);
    cr_assert_gt(json_real_value(json_object_get(second, "score")),
                 json_real_value(json_object_get(third, "score")), "scores decrease");
    cr_assert_eq(json_integer_value(json_object_get(first, "keyword_rank")), 1);
    /* snippets mark the match */
    const char *snip = json_string_value(json_object_get(second, "snippet"));
    cr_assert(strstr(snip, "**scheduler**"), "%s", snip);
    cr_assert_eq(json_array_size(json_object_get(second, "chunks")), 1);
    json_decref(o);
}

Test(lsfs_search, stemming_and_stop_words, .timeout = 20)
{
    char buf[1024];
    json_t *o;

    corpus();
    /* porter: "scheduling" and "schedulers" meet "scheduler"; "the"/"of" are dropped */
    o = kw(&t_a, "the schedulers of", NULL, NULL);
    t_paths(o, buf, sizeof buf);
    cr_assert(strstr(buf, "deep.md") && strstr(buf, "mention.md"), "%s", buf);
    json_decref(o);
    char *q = NULL;
    cr_assert_eq(lsfs__fts_query("How do I set up the Network?", &q), 0);
    cr_assert_str_eq(q, "\"set\" OR \"network\"");
    free(q);
    cr_assert_eq(lsfs__fts_query("the who", &q), 0);
    cr_assert_str_eq(q, "\"the\" OR \"who\"", "only stop words: keep them");
    free(q);
    cr_assert_eq(lsfs__fts_query("\"quotes\" AND (NEAR) *", &q), 0);
    cr_assert_str_eq(q, "\"quotes\" OR \"near\"", "FTS5 syntax is not passed through");
    free(q);
}

Test(lsfs_search, filters_apply_inside_retrieval, .timeout = 20)
{
    char buf[1024];
    json_t *o;
    struct timespec ts = {0, 20 * 1000000};

    corpus();
    /* many strong matches outside the prefix must not crowd out the one inside */
    for (int i = 0; i < 30; i++) {
        char p[64];
        snprintf(p, sizeof p, "~/noise/n%02d.md", i);
        cr_assert_eq(t_put(&t_a, p, "scheduler scheduler scheduler scheduler\n"), 0);
    }
    lsfs_search_req r = {.query = "scheduler", .mode = LSFS_SEARCH_KEYWORD, .k = 2,
                         .path_prefix = "~/sched"};
    cr_assert_eq(lsfs_search(t_db, &t_a, &r, &o), 0);
    t_paths(o, buf, sizeof buf);
    cr_assert_str_eq(buf, "/home/alice/sched/deep.md,/home/alice/sched/mention.md");
    json_decref(o);
    o = kw(&t_a, "scheduler", NULL, "txt");
    t_paths(o, buf, sizeof buf);
    cr_assert_str_eq(buf, "/home/alice/other/scheduler.txt");
    json_decref(o);
    o = kw(&t_a, "scheduler", "~/sched", "text/markdown");
    cr_assert_eq(json_array_size(json_object_get(o, "results")), 2);
    json_decref(o);
    /* owner and modified-after */
    nanosleep(&ts, NULL);
    int64_t mid = lsfs__now_ms();
    nanosleep(&ts, NULL);
    cr_assert_eq(t_put(&t_b, "/shared/bob-sched.md", "bob's scheduler notes\n"), 0);
    lsfs_search_req r2 = {.query = "scheduler", .mode = LSFS_SEARCH_KEYWORD, .k = 50,
                          .owner = "agent:bob"};
    cr_assert_eq(lsfs_search(t_db, &t_a, &r2, &o), 0);
    t_paths(o, buf, sizeof buf);
    cr_assert_str_eq(buf, "/shared/bob-sched.md");
    json_decref(o);
    lsfs_search_req r3 = {.query = "scheduler", .mode = LSFS_SEARCH_KEYWORD, .k = 50,
                          .modified_after_ms = mid};
    cr_assert_eq(lsfs_search(t_db, &t_a, &r3, &o), 0);
    t_paths(o, buf, sizeof buf);
    cr_assert_str_eq(buf, "/shared/bob-sched.md");
    json_decref(o);
}

Test(lsfs_search, index_follows_writes_moves_and_deletes, .timeout = 20)
{
    char buf[1024];
    json_t *o = NULL;

    cr_assert_eq(t_put(&t_a, "~/n.md", "penguins live in the south\n"), 0);
    o = kw(&t_a, "penguins", NULL, NULL);
    cr_assert_eq(json_array_size(json_object_get(o, "results")), 1);
    json_decref(o);
    cr_assert_eq(t_put(&t_a, "~/n.md", "walruses live in the north\n"), 0);
    o = kw(&t_a, "penguins", NULL, NULL);
    cr_assert_eq(json_array_size(json_object_get(o, "results")), 0, "old version left the index");
    json_decref(o);
    /* rename: the title column follows, so the new name is findable */
    cr_assert_eq(lsfs_move(t_db, &t_a, "~/n.md", "~/arctic-fauna.md", &o), 0);
    json_decref(o);
    o = kw(&t_a, "arctic", NULL, NULL);
    t_paths(o, buf, sizeof buf);
    cr_assert_str_eq(buf, "/home/alice/arctic-fauna.md");
    json_decref(o);
    cr_assert_eq(lsfs_delete(t_db, &t_a, "~/arctic-fauna.md", false, &o), 0);
    json_decref(o);
    o = kw(&t_a, "walruses", NULL, NULL);
    cr_assert_eq(json_array_size(json_object_get(o, "results")), 0);
    json_decref(o);
    /* the FTS index agrees with its content table */
    cr_assert_eq(lsfs__exec(t_db, "INSERT INTO chunks_fts(chunks_fts, rank) VALUES('integrity-check', 1)"), 0,
                 "%s", lsfs_db_errmsg(t_db));
}

Test(lsfs_search, no_embedder_semantic_unavailable_hybrid_falls_back, .timeout = 20)
{
    json_t *o = NULL;

    corpus();
    lsfs_search_req r = {.query = "scheduler", .mode = LSFS_SEARCH_SEMANTIC};
    cr_assert_eq(lsfs_search(t_db, &t_a, &r, &o), AIOS_EUNAVAIL);
    cr_assert(strstr(lsfs_db_errmsg(t_db), "no embedding model"), "%s", lsfs_db_errmsg(t_db));
    r.mode = LSFS_SEARCH_HYBRID;
    cr_assert_eq(lsfs_search(t_db, &t_a, &r, &o), 0);
    cr_assert_str_eq(json_string_value(json_object_get(o, "mode")), "keyword");
    cr_assert_not_null(json_object_get(o, "fallback"));
    cr_assert_eq(json_array_size(json_object_get(o, "results")), 3);
    json_decref(o);
}

Test(lsfs_search, reciprocal_rank_fusion, .timeout = 10)
{
    int64_t a[] = {10, 20, 30, 20};
    int64_t b[] = {30, 40, 10};
    lsfs__ranked *r;
    size_t n;

    cr_assert_eq(lsfs__rrf(a, 4, b, 3, 60, 1.0, 1.0, &r, &n), 0);
    cr_assert_eq(n, 4);
    /* 10: 1/61 + 1/63; 30: 1/63 + 1/61 (tie, broken by best single rank:
     * 10 is first in list a, 30 first in list b -> equal, then by key);
     * 20: 1/62; 40: 1/62 (tie: rank 2 both, key order) */
    cr_assert_eq(r[0].key, 10);
    cr_assert_eq(r[1].key, 30);
    cr_assert_float_eq(r[0].score, 1.0 / 61 + 1.0 / 63, 1e-12);
    cr_assert_eq(r[0].rank_a, 1);
    cr_assert_eq(r[0].rank_b, 3);
    cr_assert_eq(r[2].key, 20);
    cr_assert_eq(r[2].rank_b, 0);
    cr_assert_eq(r[3].key, 40);
    cr_assert_float_eq(r[3].score, 1.0 / 62, 1e-12);
    free(r);
    /* a small k rewards the top of each list more */
    int64_t c[] = {1, 2, 3, 4, 5, 6, 7, 8};
    int64_t d[] = {8, 7, 6, 5, 4, 3, 2, 1};
    cr_assert_eq(lsfs__rrf(c, 8, d, 1, 1, 1.0, 1.0, &r, &n), 0);
    cr_assert_eq(r[0].key, 8, "first in one list beats mediocre in both with k=1");
    free(r);
    /* weights: the second list counts twice */
    int64_t e[] = {1, 2}, g[] = {2, 1};
    cr_assert_eq(lsfs__rrf(e, 2, g, 2, 60, 1.0, 2.0, &r, &n), 0);
    cr_assert_eq(r[0].key, 2);
    cr_assert_float_eq(r[0].score, 1.0 / 62 + 2.0 / 61, 1e-12);
    free(r);
    cr_assert_eq(lsfs__rrf(NULL, 0, NULL, 0, 60, 1.0, 1.0, &r, &n), 0);
    cr_assert_eq(n, 0);
    free(r);
}

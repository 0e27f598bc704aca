/* test_semantic.c - LSFS with the real sentence-embedding model: stored
 * vectors agree with the encoder, semantic and hybrid ranking, filters and
 * rights inside the vector retriever, rebuild at start, memory notes.
 * Needs the model `make model` installs (skipped, loudly, without it). */
#include "aios/embed.h"
#include "lsfs_test.h"

static char model_path[4096];

static void sem_setup(void)
{
    const char *home = getenv("HOME");
    struct stat sb;
    char probe[4200];
    lsfs_options o = {0};

    snprintf(t_dir, sizeof t_dir, "/tmp/lsfs-unit-XXXXXX");
    cr_assert_not_null(mkdtemp(t_dir));
    snprintf(t_data, sizeof t_data, "%s/data", t_dir);
    lsfs_actor_init(&t_a, "alice", 1000, false);
    lsfs_actor_init(&t_b, "bob", 1000, false);
    lsfs_actor_init(&t_admin, "", 0, true);
    if (getenv("AIOS_EMBED_MODEL"))
        snprintf(model_path, sizeof model_path, "%s", getenv("AIOS_EMBED_MODEL"));
    else
        snprintf(model_path, sizeof model_path, "%s/.local/share/aios/models/%s",
                 home ? home : "/root", LSFS_EMBED_DEFAULT_MODEL);
    snprintf(probe, sizeof probe, "%s/model.safetensors", model_path);
    if (stat(probe, &sb) < 0) {
        t_store = NULL;
        return;
    }
    o.embed_model = model_path;
    t_open_opts(&o);
    cr_assert(lsfs_store_has_embedder(t_store));
}

static void sem_teardown(void)
{
    if (t_store)
        lsfs_store_close(t_store);
    t_store = NULL;
    nftw(t_dir, t_rm, 16, FTW_DEPTH | FTW_PHYS);
}

#define NEED_MODEL()                                                                       \
    do {                                                                                   \
        if (!t_store)                                                                      \
            cr_skip_test("no embedding model at %s (run `make model`)", model_path);        \
    } while (0)

TestSuite(lsfs_semantic, .init = sem_setup, .fini = sem_teardown);

static const char *const docs[][2] = {
    {"~/pets/adopt.md", "# Adopting a dog\n\nShelters check your home and schedule before you "
                        "take a puppy home. Walk it twice a day.\n"},
    {"~/money/stocks.md", "# Index funds\n\nBuying shares of a broad index fund spreads risk "
                          "across the market; fees matter over decades.\n"},
    {"~/kitchen/bread.md", "# Sourdough\n\nMix flour, water and starter, let the dough rise "
                           "overnight, then bake it in a hot oven until the crust is dark.\n"},
    {"~/kitchen/soup.md", "# Tomato soup\n\nSimmer tomatoes with onion and garlic, blend, and "
                          "season with salt.\n"},
};

static void load_docs(void)
{
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++)
        cr_assert_eq(t_put(&t_a, docs[i][0], docs[i][1]), 0, "%s", lsfs_db_errmsg(t_db));
}

static json_t *search(const lsfs_actor *a, const char *q, int mode, const char *prefix)
{
    lsfs_search_req r = {.query = q, .mode = mode, .k = 4, .path_prefix = prefix, .exact = true};
    json_t *o = NULL;

    cr_assert_eq(lsfs_search(t_db, a, &r, &o), 0, "%s", lsfs_db_errmsg(t_db));
    return o;
}

static const char *top(json_t *o)
{
    return json_string_value(json_object_get(json_array_get(json_object_get(o, "results"), 0), "path"));
}

Test(lsfs_semantic, stored_vectors_agree_with_the_encoder, .timeout = 60)
{
    NEED_MODEL();
    load_docs();
    cr_assert_eq(t_scalar("SELECT count(*) FROM vectors"), t_scalar("SELECT count(*) FROM chunks"));
    cr_assert_eq(t_scalar("SELECT count(*) FROM chunks"), 4);
    /* re-embed one chunk's text directly and compare with what is stored */
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_prepare_v2(lsfs_db_handle(t_db),
                                    "SELECT c.heading, c.body, v.vec, v.model FROM chunks c JOIN vectors v"
                                    " ON v.chunk=c.id JOIN nodes n ON n.id=c.node"
                                    " WHERE n.name='bread.md'", -1, &st, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    char *text = NULL;
    cr_assert_geq(asprintf(&text, "%s: %s", sqlite3_column_text(st, 0), sqlite3_column_text(st, 1)), 0);
    lsfs_embedder *e;
    cr_assert_eq(lsfs_embed_open(model_path, &e), 0);
    int dim = lsfs_embed_dim(e);
    cr_assert_eq(sqlite3_column_bytes(st, 2), dim * (int)sizeof(float));
    cr_assert_str_eq((const char *)sqlite3_column_text(st, 3), lsfs_embed_model_name(e));
    float *v = malloc((size_t)dim * sizeof(float));
    const char *t[1] = {text};
    cr_assert_eq(lsfs_embed_texts(e, t, 1, v), 0);
    const float *stored = sqlite3_column_blob(st, 2);
    double dot = 0, n1 = 0;
    for (int i = 0; i < dim; i++) {
        dot += (double)v[i] * stored[i];
        n1 += (double)stored[i] * stored[i];
    }
    cr_assert_float_eq(n1, 1.0, 1e-3, "stored vectors are normalised");
    cr_assert_gt(dot, 0.9999, "cosine %f", dot);
    sqlite3_finalize(st);
    free(v);
    free(text);
    lsfs_embed_close(e);
}

Test(lsfs_semantic, meaning_without_shared_words, .timeout = 60)
{
    NEED_MODEL();
    load_docs();
    /* no query word appears in the right file */
    json_t *o = search(&t_a, "how do I make a loaf", LSFS_SEARCH_SEMANTIC, NULL);
    cr_assert_str_eq(top(o), "/home/alice/kitchen/bread.md", "%s", json_dumps(o, 0));
    cr_assert_str_eq(json_string_value(json_object_get(o, "mode")), "semantic");
    json_decref(o);
    o = search(&t_a, "investing for retirement", LSFS_SEARCH_SEMANTIC, NULL);
    cr_assert_str_eq(top(o), "/home/alice/money/stocks.md");
    json_decref(o);
    /* keyword search finds nothing for the loaf question */
    o = search(&t_a, "how do I make a loaf", LSFS_SEARCH_KEYWORD, NULL);
    cr_assert_eq(json_array_size(json_object_get(o, "results")), 0);
    json_decref(o);
    /* hybrid: fused, with both ranks when both retrievers agree */
    o = search(&t_a, "puppy walks", LSFS_SEARCH_HYBRID, NULL);
    json_t *r0 = json_array_get(json_object_get(o, "results"), 0);
    cr_assert_str_eq(top(o), "/home/alice/pets/adopt.md");
    cr_assert_eq(json_integer_value(json_object_get(r0, "keyword_rank")), 1);
    cr_assert_eq(json_integer_value(json_object_get(r0, "semantic_rank")), 1);
    cr_assert_float_eq(json_real_value(json_object_get(r0, "score")), 2.0 / 61.0, 1e-9);
    json_decref(o);
}

Test(lsfs_semantic, filters_and_rights_inside_the_vector_retriever, .timeout = 60)
{
    NEED_MODEL();
    load_docs();
    cr_assert_eq(t_put(&t_b, "~/baking.md", "Bob bakes rye bread every weekend in a wood oven.\n"), 0);
    /* prefix filter: the bread file is outside ~/pets, yet k results stay inside */
    json_t *o = search(&t_a, "baking bread", LSFS_SEARCH_SEMANTIC, "~/pets");
    cr_assert_eq(json_array_size(json_object_get(o, "results")), 1);
    cr_assert_str_eq(top(o), "/home/alice/pets/adopt.md");
    json_decref(o);
    /* bob's file never reaches alice, but reaches bob and an admin */
    o = search(&t_a, "rye bread in a wood oven", LSFS_SEARCH_SEMANTIC, NULL);
    char buf[1024];
    t_paths(o, buf, sizeof buf);
    cr_assert_null(strstr(buf, "/home/bob"), "%s", buf);
    json_decref(o);
    o = search(&t_b, "rye bread in a wood oven", LSFS_SEARCH_SEMANTIC, NULL);
    cr_assert_str_eq(top(o), "/home/bob/baking.md");
    cr_assert_eq(json_array_size(json_object_get(o, "results")), 1);
    json_decref(o);
    o = search(&t_admin, "rye bread in a wood oven", LSFS_SEARCH_SEMANTIC, NULL);
    cr_assert_str_eq(top(o), "/home/bob/baking.md");
    json_decref(o);
}

Test(lsfs_semantic, index_follows_edits_and_survives_restart, .timeout = 60)
{
    json_t *o;

    NEED_MODEL();
    load_docs();
    /* rewriting a file drops its old vectors from the index */
    cr_assert_eq(t_put(&t_a, "~/kitchen/bread.md", "# Cars\n\nChange the engine oil every "
                                                   "ten thousand kilometres.\n"), 0);
    o = search(&t_a, "how do I make a loaf", LSFS_SEARCH_SEMANTIC, NULL);
    cr_assert_str_neq(top(o), "/home/alice/kitchen/bread.md");
    json_decref(o);
    o = search(&t_a, "car maintenance", LSFS_SEARCH_SEMANTIC, NULL);
    cr_assert_str_eq(top(o), "/home/alice/kitchen/bread.md");
    json_decref(o);
    /* unchanged chunks keep their vectors: a file with two sections, edit one */
    cr_assert_eq(t_put(&t_a, "~/two.md", "# A\n\nFirst section about rivers.\n\n# B\n\nSecond "
                                         "section about mountains.\n"), 0);
    int64_t before = t_scalar("SELECT v.rowid FROM vectors v JOIN chunks c ON c.id=v.chunk"
                              " WHERE c.heading='A'");
    cr_assert_eq(t_put(&t_a, "~/two.md", "# A\n\nFirst section about rivers.\n\n# B\n\nSecond "
                                         "section about deserts.\n"), 0);
    cr_assert_eq(t_scalar("SELECT count(*) FROM vectors v JOIN chunks c ON c.id=v.chunk"
                          " JOIN nodes n ON n.id=c.node WHERE n.name='two.md'"), 2);
    cr_assert_neq(before, t_scalar("SELECT v.rowid FROM vectors v JOIN chunks c ON c.id=v.chunk"
                                   " WHERE c.heading='A'"), "new chunk row, reused vector");
    /* restart: the index is rebuilt from SQLite */
    lsfs_store_close(t_store);
    lsfs_options opt = {.embed_model = model_path};
    t_open_opts(&opt);
    o = search(&t_a, "car maintenance", LSFS_SEARCH_SEMANTIC, NULL);
    cr_assert_str_eq(top(o), "/home/alice/kitchen/bread.md");
    json_decref(o);
    json_t *st = lsfs_store_stats(t_store);
    cr_assert_eq(json_integer_value(json_object_get(st, "chunk_vectors")),
                 t_scalar("SELECT count(*) FROM vectors"));
    json_decref(st);
    /* a crash between the content commit and the vectors: backfill */
    cr_assert_eq(lsfs__exec(t_db, "DELETE FROM vectors"), 0);
    cr_assert_eq(lsfs_embed_backfill(t_db, 0), (int)t_scalar("SELECT count(*) FROM chunks"));
    cr_assert_eq(t_scalar("SELECT count(*) FROM vectors"), t_scalar("SELECT count(*) FROM chunks"));
}

Test(lsfs_semantic, memory_notes_by_meaning, .timeout = 60)
{
    json_t *o = NULL, *p;

    NEED_MODEL();
    p = json_pack("{s:s,s:[s]}", "content", "The user is allergic to peanuts.", "tags", "health");
    cr_assert_eq(lsfs_mem_add(t_db, &t_a, p, &o), 0);
    json_decref(o);
    json_decref(p);
    p = json_pack("{s:s}", "content", "The deploy pipeline runs at midnight.");
    cr_assert_eq(lsfs_mem_add(t_db, &t_a, p, &o), 0);
    json_decref(o);
    json_decref(p);
    p = json_pack("{s:s,s:s}", "query", "what food should I avoid serving them", "mode", "semantic");
    cr_assert_eq(lsfs_mem_search(t_db, &t_a, p, &o), 0, "%s", lsfs_db_errmsg(t_db));
    cr_assert(strstr(json_string_value(json_object_get(json_array_get(json_object_get(o, "results"), 0),
                                                       "content")), "peanuts"));
    json_decref(o);
    json_decref(p);
    /* bob sees none of it */
    p = json_pack("{s:s}", "query", "peanuts allergy");
    cr_assert_eq(lsfs_mem_search(t_db, &t_b, p, &o), 0);
    cr_assert_eq(json_array_size(json_object_get(o, "results")), 0);
    json_decref(o);
    json_decref(p);
}

/*
 * test_grammar.c - JSON-schema constrained decoding on the real default
 * vocabulary: documents accepted and refused byte by byte, the mask against
 * a token-by-token brute force, liveness (no reachable state dead-ends, every
 * state can be completed into a valid document), and 200 generations under
 * adversarial random logits that must all parse and validate.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aios/error.h"
#include "grammar_fixture.h"
#include "jsonschema_check.h"

static json_t *schema_of(int i)
{
    if (gf_schema_text(i))
        return gf_json(gf_schema_text(i));
    json_t *tools = gf_tools(), *choice = json_string("required");
    char err[128];
    json_t *s = llm_grammar_tools_schema(tools, choice, false, err, sizeof(err));
    cr_assert_not_null(s, "%s", err);
    json_decref(tools);
    json_decref(choice);
    return s;
}

/* Feed a whole document; returns whether every byte was accepted and the
 * value may end there. */
static bool accepts(llm_grammar *g, const char *doc)
{
    llm_gstate *st;
    bool ok;

    cr_assert_eq(llm_gstate_new(g, &st), 0);
    ok = llm_gstate_accept_bytes(st, doc, strlen(doc)) == 0 && llm_gstate_can_end(st);
    llm_gstate_free(st);
    return ok;
}

static llm_grammar *compile(const char *schema, uint32_t ws)
{
    json_t *s = gf_json(schema);
    llm_grammar_opts o = {.ws_max = ws};
    llm_grammar *g;
    char err[256];
    int rc = llm_grammar_from_schema(gf_vocab(), s, &o, &g, err, sizeof(err));
    cr_assert_eq(rc, 0, "%s: %s", schema, err);
    json_decref(s);
    return g;
}

Test(grammar, vocab_bytes, .timeout = 30)
{
    const llm_vocab_bytes *vb = gf_vb();
    const llm_gvocab *v = gf_vocab();
    int the = -1;

    cr_assert_eq(vb->n_vocab, 49152);
    cr_assert(vb->special[0] && vb->special[1] && vb->special[2]);
    cr_assert(llm_gvocab_is_eog(v, 2), "<|im_end|> ends generation");
    cr_assert(llm_gvocab_is_eog(v, 0), "<|endoftext|> ends generation");
    cr_assert_not(llm_gvocab_is_eog(v, 1));
    /* "Ġthe" is stored in the GPT-2 alphabet and means " the" */
    for (int i = 0; i < vb->n_vocab; i++)
        if (vb->len[i] == 4 && memcmp(vb->bytes[i], " the", 4) == 0)
            the = i;
    cr_assert(the > 0);
    /* a newline byte token exists (Ċ in the alphabet) */
    int32_t ids[4];
    cr_assert_eq(llm_gvocab_greedy_tokens(v, "\n", 1, ids, 4), 1);
    cr_assert_eq(vb->len[ids[0]], 1);
    cr_assert_eq(vb->bytes[ids[0]][0], '\n');
}

Test(grammar, accepts_and_refuses, .timeout = 60)
{
    llm_grammar *g = gf_grammar(0, 0);

    cr_assert(accepts(g, "{\"name\":\"Al\",\"age\":30}"));
    cr_assert(accepts(g, "{\"name\":\"\",\"age\":0,\"tags\":[\"a\",\"ccc\"]}"));
    cr_assert(accepts(g, "{\"name\":\"\\u00e9\\n\",\"age\":150,\"email\":\"x@y\"}"));
    cr_assert_not(accepts(g, "{\"age\":30,\"name\":\"Al\"}"), "schema order");
    cr_assert_not(accepts(g, "{\"name\":\"Al\"}"), "age is required");
    cr_assert_not(accepts(g, "{\"name\":\"Al\",\"age\":151}"), "maximum");
    cr_assert_not(accepts(g, "{\"name\":\"Al\",\"age\":-1}"), "minimum");
    cr_assert_not(accepts(g, "{\"name\":\"Al\",\"age\":07}"), "leading zero");
    cr_assert_not(accepts(g, "{\"name\":\"Al\",\"age\":3.5}"), "integer");
    cr_assert_not(accepts(g, "{\"name\":\"Al\",\"age\":30,\"x\":1}"), "no extra keys");
    cr_assert_not(accepts(g, "{\"name\":\"Al\",\"age\":30,\"tags\":[\"d\"]}"), "enum");
    cr_assert_not(accepts(g, "{\"name\":\"Al\",\"age\":30,\"tags\":[\"a\",\"a\",\"a\",\"a\",\"a\"]}"),
                  "maxItems");
    cr_assert_not(accepts(g, "{\"name\":\"a\nb\",\"age\":1}"), "raw control character");
    cr_assert_not(accepts(g, "{\"name\":\"\\u0000\",\"age\":1}"), "no NUL escape");
    cr_assert_not(accepts(g, "{\"name\":\"\\ud83d\",\"age\":1}"), "no surrogate escape");
    cr_assert_not(accepts(g, "{\"name\":\"\xc3\",\"age\":1}"), "broken UTF-8");
    cr_assert_not(accepts(g, "{\"name\":\"\xed\xa0\x80\",\"age\":1}"), "encoded surrogate");
    cr_assert_not(accepts(g, "{ \"name\":\"Al\",\"age\":30}"), "compact whitespace");
    cr_assert(accepts(g, "{\"name\":\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                         "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                         "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\",\"age\":1}"),
              "maxLength counts code points");
    cr_assert_not(accepts(g, "{\"name\":\"aaaaaaaaaaaaaaaaaaaaa\",\"age\":1}"), "maxLength");
    llm_grammar_unref(g);

    g = gf_grammar(0, 4);
    cr_assert(accepts(g, "{ \"name\" : \"Al\",\n  \"age\": 30 }"));
    cr_assert_not(accepts(g, "{\"name\":      \"Al\",\"age\":30}"), "whitespace budget");
    llm_grammar_unref(g);

    g = gf_grammar(1, 0);
    cr_assert(accepts(g, "{\"id\":\"0f8fad5b-d9cb-469f-a165-70867728950e\",\"placed\":\"2024-02-29\","
                         "\"lines\":[{\"sku\":\"abc\",\"qty\":1,\"price\":9999.99}],\"paid\":false}"));
    cr_assert_not(accepts(g, "{\"id\":\"0f8fad5b-d9cb-469f-a165-70867728950e\",\"placed\":"
                             "\"2023-02-29\",\"lines\":[{\"sku\":\"abc\",\"qty\":1,\"price\":1}],"
                             "\"paid\":false}"),
                  "not a leap year");
    cr_assert_not(accepts(g, "{\"id\":\"0f8fad5b-d9cb-469f-a165-70867728950e\",\"placed\":"
                             "\"2024-04-31\",\"lines\":[{\"sku\":\"abc\",\"qty\":1,\"price\":1}],"
                             "\"paid\":false}"),
                  "april has 30 days");
    cr_assert_not(accepts(g, "{\"id\":\"0f8fad5b-d9cb-469f-a165-70867728950e\",\"placed\":"
                             "\"2024-01-01\",\"lines\":[{\"sku\":\"abc\",\"qty\":1,"
                             "\"price\":10000.5}],\"paid\":false}"),
                  "number maximum");
    cr_assert_not(accepts(g, "{\"id\":\"0f8fad5b-d9cb-469f-a165-70867728950e\",\"placed\":"
                             "\"2024-01-01\",\"lines\":[],\"paid\":false}"),
                  "minItems");
    llm_grammar_unref(g);

    g = gf_grammar(3, 0);
    cr_assert(accepts(g, "{\"status\":\"ok\",\"code\":200,\"level\":12}"));
    cr_assert(accepts(g, "{\"status\":\"okay\",\"code\":200,\"level\":{\"a\":[1,2]},\"flag\":null}"));
    cr_assert_not(accepts(g, "{\"status\":\"ok\",\"code\":201,\"level\":1}"));
    cr_assert_not(accepts(g, "{\"status\":\"ok\",\"code\":200,\"level\":123}"));
    llm_grammar_unref(g);

    g = gf_grammar(5, 0);
    cr_assert(accepts(g, "{\"id\":1,\"idx\":true,\"extra\":\"v\",\"i\":\"w\"}"));
    cr_assert(accepts(g, "{\"id\":1,\"i\":\"w\",\"idxx\":\"z\"}"));
    cr_assert_not(accepts(g, "{\"id\":1,\"id\":\"v\"}"), "a declared name is never an extra");
    cr_assert_not(accepts(g, "{\"id\":1,\"x\":\"v\",\"idx\":true}"), "declared after extras");
    cr_assert_not(accepts(g, "{\"id\":1,\"x\":\"01234567890\"}"), "extra value schema");
    llm_grammar_unref(g);

    g = gf_grammar(7, 0);
    cr_assert(accepts(g, "{\"a\":\"xy\",\"b\":\"12345\",\"key \\\"q\\\"\\n\":true}"));
    cr_assert_not(accepts(g, "{\"a\":\"x\",\"b\":\"12345\",\"key \\\"q\\\"\\n\":true}"));
    llm_grammar_unref(g);

    g = gf_grammar(8, 0);
    cr_assert(accepts(g, "[\"2024-12-31T23:59:59Z\",\"00:00:00Z\",4]"));
    cr_assert_not(accepts(g, "[\"2024-12-31T24:00:00Z\",\"00:00:00Z\",4]"));
    cr_assert_not(accepts(g, "[\"2024-12-31T23:59:59Z\",\"00:00:00Z\",5]"), "exclusiveMaximum");
    cr_assert_not(accepts(g, "[\"2024-12-31T23:59:59Z\",\"00:00:00Z\",4,1]"), "items: false");
    llm_grammar_unref(g);
}

Test(grammar, numbers, .timeout = 30)
{
    llm_grammar *g = compile("{\"type\":\"number\"}", 0);
    const char *good[] = {"0", "-0.5", "12.25", "1e5", "-3E-07", "1.5e+10", "0.0"};
    const char *bad[] = {"-", "01", "1.", ".5", "1e", "-0", "+1", "1e100", "1.2.3"};

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        cr_assert(accepts(g, good[i]), "%s", good[i]);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_not(accepts(g, bad[i]), "%s", bad[i]);
    llm_grammar_unref(g);

    g = compile("{\"type\":\"integer\",\"minimum\":-15,\"maximum\":1234}", 0);
    for (int v = -20; v <= 1300; v++) {
        char buf[16];
        snprintf(buf, sizeof(buf), "%d", v);
        cr_assert_eq(accepts(g, buf), v >= -15 && v <= 1234, "%d", v);
    }
    llm_grammar_unref(g);

    g = compile("{\"type\":\"number\",\"minimum\":-1,\"maximum\":2}", 0);
    cr_assert(accepts(g, "-0.999"));
    cr_assert(accepts(g, "1.75"));
    cr_assert(accepts(g, "2"));
    cr_assert_not(accepts(g, "2.5"));
    cr_assert_not(accepts(g, "-1.5"));
    llm_grammar_unref(g);
}

Test(grammar, compile_errors, .timeout = 30)
{
    static const struct { const char *schema; int rc; const char *needle; } cases[] = {
        {"{\"type\":\"string\",\"pattern\":\"^a\"}", AIOS_ENOTSUP, "pattern"},
        {"{\"type\":\"object\",\"properties\":{\"x\":{\"not\":{}}}}", AIOS_ENOTSUP, "/properties/x"},
        {"{\"allOf\":[{\"type\":\"string\"},{\"maxLength\":3}]}", AIOS_ENOTSUP, "allOf"},
        {"{\"$ref\":\"http://x/y\"}", AIOS_ENOTSUP, "$ref"},
        {"{\"type\":\"string\",\"minLength\":5,\"maxLength\":2}", AIOS_EINVAL, "satisfied"},
        {"{\"enum\":[]}", AIOS_EINVAL, "satisfied"},
        {"{\"type\":\"object\",\"properties\":{\"a\":false},\"required\":[\"a\"]}", AIOS_EINVAL,
         "satisfied"},
        {"{\"type\":\"wat\"}", AIOS_EINVAL, "wat"},
        {"{\"type\":\"array\",\"uniqueItems\":true}", AIOS_ENOTSUP, "uniqueItems"},
        {"{\"$defs\":{\"a\":{\"$ref\":\"#/$defs/a\"}},\"$ref\":\"#/$defs/a\"}", AIOS_EINVAL, ""},
        {"{\"type\":\"number\",\"minimum\":0.2,\"maximum\":0.8}", AIOS_ENOTSUP, "integer"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *s = gf_json(cases[i].schema);
        llm_grammar *g = NULL;
        char err[256];
        int rc = llm_grammar_from_schema(gf_vocab(), s, NULL, &g, err, sizeof(err));
        cr_assert_eq(rc, cases[i].rc, "%s: rc %d (%s)", cases[i].schema, rc, err);
        cr_assert_null(g);
        cr_assert(strstr(err, cases[i].needle), "%s: message '%s'", cases[i].schema, err);
        json_decref(s);
    }
    /* many alternatives are fine up to the configuration limit */
    {
        char big[8192];
        size_t o = (size_t)snprintf(big, sizeof(big), "{\"anyOf\":[");
        for (int i = 0; i < 64; i++)
            o += (size_t)snprintf(big + o, sizeof(big) - o, "%s{\"const\":\"v%d\"}", i ? "," : "", i);
        snprintf(big + o, sizeof(big) - o, "]}");
        llm_grammar *gb = compile(big, 0);
        cr_assert(accepts(gb, "\"v63\""));
        cr_assert_not(accepts(gb, "\"v64\""));
        llm_grammar_unref(gb);
    }
    /* infinite recursion with a way out is fine; one without is not */
    llm_grammar *g = compile("{\"type\":\"array\",\"items\":{\"$ref\":\"#\"}}", 0);
    cr_assert(accepts(g, "[[],[[]]]"));
    llm_grammar_unref(g);
}

/* Pick a random allowed token from a mask (uniform). */
static int32_t pick(const uint32_t *bits, int n_vocab, int count, uint64_t *rng)
{
    int k = (int)(gf_rand(rng) % (uint64_t)count);
    for (int w = 0; w < (n_vocab + 31) / 32; w++) {
        int c = __builtin_popcount(bits[w]);
        if (k >= c) {
            k -= c;
            continue;
        }
        for (uint32_t m = bits[w]; m; m &= m - 1)
            if (k-- == 0)
                return w * 32 + __builtin_ctz(m);
    }
    return -1;
}

Test(grammar, mask_matches_brute_force, .timeout = 120)
{
    const llm_gvocab *v = gf_vocab();
    int n = llm_gvocab_n_vocab(v);
    uint32_t *bits = malloc((size_t)(n + 31) / 32 * 4);
    uint64_t rng = 42;
    int checked = 0;

    for (int si = 0; si < GF_N_SCHEMAS; si++) {
        llm_grammar *g = gf_grammar(si, si % 3 == 0 ? 2 : 0);
        llm_gstate *st;
        cr_assert_eq(llm_gstate_new(g, &st), 0);
        for (int step = 0; step < 40; step++) {
            int count = llm_gstate_mask(st, bits);
            cr_assert_gt(count, 0, "%s: dead end at step %d", gf_schema_name(si), step);
            if (step % 13 == 5) {
                for (int t = 0; t < n; t++) {
                    bool m = (bits[t >> 5] >> (t & 31)) & 1;
                    cr_assert_eq(m, llm_gstate_allows(st, t), "%s step %d token %d",
                                 gf_schema_name(si), step, t);
                }
                checked++;
            }
            int32_t tok = pick(bits, n, count, &rng);
            if (llm_gvocab_is_eog(v, tok))
                break;
            cr_assert_eq(llm_gstate_accept(st, tok), 0);
        }
        llm_gstate_free(st);
        llm_grammar_unref(g);
    }
    cr_assert_gt(checked, 10);
    free(bits);
}

Test(grammar, no_dead_end_and_always_completable, .timeout = 120)
{
    const llm_gvocab *v = gf_vocab();
    int n = llm_gvocab_n_vocab(v);
    uint32_t *bits = malloc((size_t)(n + 31) / 32 * 4);
    char *doc = malloc(1 << 16), *comp = malloc(1 << 16);
    uint64_t rng = 7;
    int states = 0;

    for (int si = 0; si < GF_N_SCHEMAS; si++) {
        json_t *schema = schema_of(si);
        llm_grammar *g = gf_grammar(si, 0);
        for (int walk = 0; walk < 6; walk++) {
            llm_gstate *st;
            size_t len = 0;
            cr_assert_eq(llm_gstate_new(g, &st), 0);
            for (int step = 0; step < 60; step++) {
                int count = llm_gstate_mask(st, bits);
                char why[256];
                cr_assert_gt(count, 0, "%s: no allowed token after '%.*s'", gf_schema_name(si),
                             (int)len, doc);
                /* from here a completion exists and yields a valid document */
                int cn = llm_gstate_completion(st, comp, 1 << 15);
                cr_assert_geq(cn, 0);
                memcpy(doc + len, comp, (size_t)cn);
                cr_assert(gf_check(schema, doc, len + (size_t)cn, why, sizeof(why)),
                          "%s: completion of '%.*s' is '%.*s': %s", gf_schema_name(si), (int)len,
                          doc, cn, comp, why);
                /* the completion's tokens are all allowed, one by one */
                llm_gstate *probe;
                int32_t ids[512];
                int nt = llm_gvocab_greedy_tokens(v, comp, (size_t)cn, ids, 512);
                cr_assert_geq(nt, 0);
                cr_assert_eq(llm_gstate_clone(st, &probe), 0);
                for (int k = 0; k < nt && k < 512; k++)
                    cr_assert_eq(llm_gstate_accept(probe, ids[k]), 0);
                cr_assert(llm_gstate_can_end(probe));
                llm_gstate_free(probe);
                states++;
                int32_t tok = pick(bits, n, count, &rng);
                if (llm_gvocab_is_eog(v, tok)) {
                    cr_assert(gf_check(schema, doc, len, why, sizeof(why)), "%s: '%.*s': %s",
                              gf_schema_name(si), (int)len, doc, why);
                    break;
                }
                uint32_t tl;
                const char *tb = llm_gvocab_token(v, tok, &tl);
                cr_assert_eq(llm_gstate_accept(st, tok), 0);
                memcpy(doc + len, tb, tl);
                len += tl;
                if (len > 30000)
                    break;
            }
            llm_gstate_free(st);
        }
        llm_grammar_unref(g);
        json_decref(schema);
    }
    cr_assert_gt(states, 500);
    free(bits);
    free(doc);
    free(comp);
}

/* 20 generations of schema si under adversarial random logits through the
 * decode loop: every output parses and validates. */
static void random_logits_run(int si)
{
    json_t *schema = schema_of(si);
    llm_grammar *g = gf_grammar(si, si % 4 == 1 ? 3 : 0);
    int lengths = 0, stops = 0, floor_tokens;
    llm_gstate *st0;
    char comp[4096];

    /* the shortest document, in tokens: budgets below it truncate by design */
    cr_assert_eq(llm_gstate_new(g, &st0), 0);
    int cn = llm_gstate_completion(st0, comp, sizeof(comp));
    cr_assert_gt(cn, 0);
    floor_tokens = llm_gvocab_greedy_tokens(gf_vocab(), comp, (size_t)cn, NULL, 0);
    llm_gstate_free(st0);

    for (int k = 0; k < 20; k++) {
        gf_logits lg;
        llm_gen_params p;
        llm_gen *gen;
        char why[256];
        size_t len;

        gf_logits_init(&lg, (uint64_t)si * 1000 + (uint64_t)k);
        llm_gen_params_default(&p);
        p.sample.seed = (uint64_t)k;
        p.sample.has_seed = true;
        p.sample.top_k = k % 2 ? 40 : 0;
        p.sample.top_p = k % 3 ? 1.0f : 0.9f;
        p.sample.temperature = k % 5 == 4 ? 0.0f : 1.0f;
        p.max_tokens = floor_tokens + 12 * (k % 10);
        cr_assert_eq(llm_gen_new(&p, gf_vocab(), g, NULL, si == 9, &gen), 0);
        llm_gen_io io = gf_logits_io(&lg);
        cr_assert_eq(llm_gen_run(gen, &io), 0);
        const char *text = llm_gen_text(gen, &len);
        llm_finish f = llm_gen_finish_reason(gen);
        cr_assert(f == LLM_FINISH_STOP || f == LLM_FINISH_LENGTH || f == LLM_FINISH_TOOL_CALLS);
        cr_assert_leq(llm_gen_n_tokens(gen), p.max_tokens);
        cr_assert(gf_check(schema, text, len, why, sizeof(why)), "%s #%d (%s): '%s': %s",
                  gf_schema_name(si), k, llm_finish_name(f), text, why);
        if (si == 9) {
            cr_assert(f == LLM_FINISH_TOOL_CALLS || f == LLM_FINISH_LENGTH, "'%s'", text);
            cr_assert_not_null(llm_gen_tool_calls(gen), "'%s'", text);
        }
        lengths += f == LLM_FINISH_LENGTH;
        stops += f != LLM_FINISH_LENGTH;
        llm_gen_free(gen);
        gf_logits_free(&lg);
    }
    /* both endings happen: budgets force closings, random eog ends others */
    cr_assert_gt(lengths, 0, "%s: no budget closing", gf_schema_name(si));
    cr_assert_gt(stops, 0, "%s: no natural ending", gf_schema_name(si));
    llm_grammar_unref(g);
    json_decref(schema);
}

Test(grammar_random, person, .timeout = 120) { random_logits_run(0); }
Test(grammar_random, order, .timeout = 120) { random_logits_run(1); }
Test(grammar_random, mixed_array, .timeout = 120) { random_logits_run(2); }
Test(grammar_random, literals, .timeout = 120) { random_logits_run(3); }
Test(grammar_random, tree, .timeout = 120) { random_logits_run(4); }
Test(grammar_random, map, .timeout = 120) { random_logits_run(5); }
Test(grammar_random, shapes, .timeout = 120) { random_logits_run(6); }
Test(grammar_random, strings, .timeout = 120) { random_logits_run(7); }
Test(grammar_random, tuple, .timeout = 120) { random_logits_run(8); }
Test(grammar_random, tools, .timeout = 120) { random_logits_run(9); }

Test(grammar, any_json, .timeout = 60)
{
    llm_grammar *g;
    json_t *obj = gf_json("{\"type\":\"object\"}");
    json_t *any = json_true();

    cr_assert_eq(llm_grammar_any_json(gf_vocab(), true, NULL, &g), 0);
    cr_assert(accepts(g, "{\"a\":[1,{\"b\":null}],\"c\":\"d\"}"));
    cr_assert(accepts(g, "{}"));
    cr_assert_not(accepts(g, "[1]"), "json_object mode wants an object");
    for (int k = 0; k < 10; k++) {
        gf_logits lg;
        llm_gen_params p;
        llm_gen *gen;
        char why[256];
        size_t len;
        gf_logits_init(&lg, 900 + (uint64_t)k);
        llm_gen_params_default(&p);
        p.sample.seed = (uint64_t)k;
        p.sample.has_seed = true;
        p.max_tokens = 80;
        cr_assert_eq(llm_gen_new(&p, gf_vocab(), g, NULL, false, &gen), 0);
        llm_gen_io io = gf_logits_io(&lg);
        cr_assert_eq(llm_gen_run(gen, &io), 0);
        const char *text = llm_gen_text(gen, &len);
        cr_assert(gf_check(obj, text, len, why, sizeof(why)), "'%s': %s", text, why);
        llm_gen_free(gen);
        gf_logits_free(&lg);
    }
    llm_grammar_unref(g);
    cr_assert_eq(llm_grammar_any_json(gf_vocab(), false, NULL, &g), 0);
    cr_assert(accepts(g, "[1,\"x\",true]"));
    cr_assert(accepts(g, "-12.5e3"));
    cr_assert(accepts(g, "null"));
    llm_grammar_unref(g);
    json_decref(obj);
    json_decref(any);
}

Test(grammar, tool_calls, .timeout = 60)
{
    json_t *tools = gf_tools();
    json_t *calls;
    llm_grammar *g;
    char err[256];
    json_t *auto_choice = json_string("auto");
    json_t *named = gf_json("{\"type\":\"function\",\"function\":{\"name\":\"search\"}}");

    /* auto: a call or plain text that does not start with '{' */
    cr_assert_eq(llm_grammar_from_tools(gf_vocab(), tools, auto_choice, false, NULL, &g, err,
                                        sizeof(err)), 0, "%s", err);
    cr_assert(accepts(g, "{\"name\":\"search\",\"arguments\":{\"query\":\"x\",\"limit\":3}}"));
    cr_assert(accepts(g, "Hello, {world}"));
    cr_assert(accepts(g, ""));
    cr_assert_not(accepts(g, "{\"name\":\"nope\",\"arguments\":{}}"));
    cr_assert_not(accepts(g, "{\"name\":\"search\",\"arguments\":{\"query\":\"x\",\"limit\":11}}"),
                  "$ref inside a tool's parameters is followed");
    llm_grammar_unref(g);

    /* a named function only */
    cr_assert_eq(llm_grammar_from_tools(gf_vocab(), tools, named, false, NULL, &g, err,
                                        sizeof(err)), 0, "%s", err);
    cr_assert_not(accepts(g, "{\"name\":\"get_weather\",\"arguments\":{\"city\":\"x\"}}"));
    cr_assert(accepts(g, "{\"name\":\"search\",\"arguments\":{\"query\":\"x\",\"limit\":1}}"));
    llm_grammar_unref(g);

    /* parallel calls: an array */
    cr_assert_eq(llm_grammar_from_tools(gf_vocab(), tools, NULL, true, NULL, &g, err, sizeof(err)),
                 0);
    cr_assert(accepts(g, "[{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Oslo\",\"unit\":\"c\"}},"
                         "{\"name\":\"search\",\"arguments\":{\"query\":\"q\",\"limit\":10}}]"));
    llm_grammar_unref(g);

    /* none: no constraint */
    json_t *none = json_string("none");
    cr_assert_eq(llm_grammar_from_tools(gf_vocab(), tools, none, false, NULL, &g, err, sizeof(err)),
                 0);
    cr_assert_null(g);
    json_decref(none);

    /* parsing the output */
    const char *out = "[{\"name\":\"search\",\"arguments\":{\"query\":\"q\",\"limit\":2}}]";
    cr_assert_eq(llm_grammar_parse_tool_calls(out, strlen(out), &calls), 0);
    cr_assert_eq(json_array_size(calls), 1);
    json_t *c0 = json_array_get(calls, 0);
    cr_assert_str_eq(json_string_value(json_object_get(c0, "type")), "function");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(c0, "function"), "name")),
                     "search");
    cr_assert_str_eq(
        json_string_value(json_object_get(json_object_get(c0, "function"), "arguments")),
        "{\"query\":\"q\",\"limit\":2}");
    cr_assert(strncmp(json_string_value(json_object_get(c0, "id")), "call_", 5) == 0);
    json_decref(calls);
    cr_assert_eq(llm_grammar_parse_tool_calls("Sure.", 5, &calls), AIOS_ENOENT);
    cr_assert_eq(llm_grammar_parse_tool_calls("{\"name\":", 8, &calls), AIOS_EPARSE);

    /* tool names must be unique and present */
    json_t *dup = gf_json("[{\"type\":\"function\",\"function\":{\"name\":\"a\"}},"
                          "{\"type\":\"function\",\"function\":{\"name\":\"a\"}}]");
    cr_assert_eq(llm_grammar_from_tools(gf_vocab(), dup, NULL, false, NULL, &g, err, sizeof(err)),
                 AIOS_EINVAL);
    cr_assert(strstr(err, "twice"));
    json_decref(dup);
    json_decref(tools);
    json_decref(auto_choice);
    json_decref(named);
}

Test(grammar, request_keys, .timeout = 30)
{
    static const struct { const char *req; int rc; bool grammar, tools; } cases[] = {
        {"{}", 0, false, false},
        {"{\"response_format\":{\"type\":\"text\"}}", 0, false, false},
        {"{\"response_format\":{\"type\":\"json_object\"}}", 0, true, false},
        {"{\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"x\","
         "\"schema\":{\"type\":\"integer\"},\"strict\":true}}}", 0, true, false},
        {"{\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"x\"}}}",
         AIOS_EINVAL, false, false},
        {"{\"response_format\":{\"type\":\"xml\"}}", AIOS_EINVAL, false, false},
        {"{\"response_format\":{\"type\":\"json_object\",\"whitespace\":\"flexible\"}}", 0, true,
         false},
        {"{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]}", 0, true, true},
        {"{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}],"
         "\"tool_choice\":\"none\"}", 0, false, false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *req = gf_json(cases[i].req);
        llm_grammar *g = NULL;
        bool tools = false;
        char err[256];
        int rc = llm_grammar_from_request(gf_vocab(), req, &g, &tools, err, sizeof(err));
        cr_assert_eq(rc, cases[i].rc, "%s: %d %s", cases[i].req, rc, err);
        cr_assert_eq(g != NULL, cases[i].grammar, "%s", cases[i].req);
        if (rc == 0)
            cr_assert_eq(tools, cases[i].tools, "%s", cases[i].req);
        llm_grammar_unref(g);
        json_decref(req);
    }
}

Test(grammar, save_restore, .timeout = 60)
{
    const llm_gvocab *v = gf_vocab();
    int n = llm_gvocab_n_vocab(v);
    uint32_t *a = malloc((size_t)(n + 31) / 32 * 4), *b = malloc((size_t)(n + 31) / 32 * 4);
    llm_grammar *g = gf_grammar(6, 0), *other = gf_grammar(0, 0);
    llm_gstate *st, *st2, *st3;
    const char *prefix = "{\"kind\":\"rect\",\"w\":1";
    uint8_t blob[4096];

    cr_assert_eq(llm_gstate_new(g, &st), 0);
    cr_assert_eq(llm_gstate_accept_bytes(st, "{\"kind\":\"", 9), 0);
    /* both alternatives are still open here */
    size_t need = llm_gstate_save(st, NULL, 0);
    cr_assert_leq(need, sizeof(blob));
    cr_assert_eq(llm_gstate_save(st, blob, sizeof(blob)), need);
    cr_assert_eq(llm_gstate_new(g, &st2), 0);
    cr_assert_eq(llm_gstate_restore(st2, blob, need), 0);
    cr_assert_eq(llm_gstate_mask(st, a), llm_gstate_mask(st2, b));
    cr_assert(memcmp(a, b, (size_t)(n + 31) / 32 * 4) == 0);
    cr_assert_eq(llm_gstate_accept_bytes(st2, prefix + 9, strlen(prefix) - 9), 0);
    cr_assert_eq(llm_gstate_accept_bytes(st2, ",\"h\":2}", 7), 0);
    cr_assert(llm_gstate_finished(st2));
    /* a blob of another grammar or a damaged one is refused */
    cr_assert_eq(llm_gstate_new(other, &st3), 0);
    cr_assert_eq(llm_gstate_restore(st3, blob, need), AIOS_ECORRUPT);
    cr_assert_eq(llm_gstate_restore(st2, blob, need - 1), AIOS_ECORRUPT);
    llm_gstate_free(st);
    llm_gstate_free(st2);
    llm_gstate_free(st3);
    llm_grammar_unref(g);
    llm_grammar_unref(other);
    free(a);
    free(b);
}

Test(grammar, prewarm_and_shared_entries, .timeout = 60)
{
    llm_gvocab *v = (llm_gvocab *)gf_vocab();
    int n = llm_gvocab_n_vocab(v);
    uint32_t *bits = malloc((size_t)(n + 31) / 32 * 4);
    llm_grammar *g = gf_grammar(0, 0);
    llm_grammar *g2 = compile("{\"type\":\"array\",\"items\":{\"type\":\"string\"}}", 0);
    llm_grammar_stats st;
    llm_gstate *s;

    cr_assert_eq(llm_gvocab_prewarm(v), 0);
    /* inside person.email (a plain string): the vocabulary's entry is used */
    cr_assert_eq(llm_gstate_new(g, &s), 0);
    cr_assert_eq(llm_gstate_accept_bytes(s, "{\"name\":\"a\",\"age\":1,\"email\":\"x", 30), 0);
    cr_assert_gt(llm_gstate_mask(s, bits), 40000);
    llm_grammar_get_stats(g, &st);
    cr_assert_geq(st.shared_hits, 1);
    cr_assert_eq(st.entries, 0, "nothing grammar-specific was needed");
    llm_gstate_free(s);
    /* another grammar with a string of the same limits shares it too */
    cr_assert_eq(llm_gstate_new(g2, &s), 0);
    cr_assert_eq(llm_gstate_accept_bytes(s, "[\"ab", 4), 0);
    uint64_t before = st.shared_hits;
    cr_assert_gt(llm_gstate_mask(s, bits), 40000);
    llm_grammar_get_stats(g2, &st);
    cr_assert_gt(st.shared_hits, before);
    llm_gstate_free(s);
    llm_grammar_unref(g);
    llm_grammar_unref(g2);
    free(bits);
}

/* A small made-up vocabulary: the grammar does not depend on SmolLM2. */
static const char *const tiny_tokens[] = {
    "<eos>", "{", "}", "[", "]", "\"", ":", ",", "a", "b", "ab", "\"a\"", "\":", "1", "12",
    " ", "true", "false", "null", "\\", "n", "u", "-", ".", "\xc3\xa9", "\xc3", "\xa9",
    "\"b\":[", "\"]}", "x", "e",
};
#define N_TINY (int)(sizeof(tiny_tokens) / sizeof(tiny_tokens[0]))

Test(grammar, other_vocabulary, .timeout = 30)
{
    uint32_t lens[N_TINY];
    uint8_t special[N_TINY] = {1};
    int32_t eog = 0;
    llm_gvocab *v;
    llm_grammar *g;
    char err[256];
    uint32_t bits[2];
    uint64_t rng = 3;
    json_t *s = gf_json("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},"
                        "\"b\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}}},"
                        "\"required\":[\"a\"],\"additionalProperties\":false}");

    for (int i = 0; i < N_TINY; i++)
        lens[i] = (uint32_t)strlen(tiny_tokens[i]);
    cr_assert_eq(llm_gvocab_new(tiny_tokens, lens, N_TINY, special, &eog, 1, &v), 0);
    cr_assert_eq(llm_grammar_from_schema(v, s, NULL, &g, err, sizeof(err)), 0, "%s", err);
    for (int walk = 0; walk < 40; walk++) {
        llm_gstate *st;
        char doc[4096];
        size_t len = 0;
        cr_assert_eq(llm_gstate_new(g, &st), 0);
        for (int step = 0; step < 200; step++) {
            int count = llm_gstate_mask(st, bits);
            cr_assert_gt(count, 0, "dead end after '%.*s'", (int)len, doc);
            for (int t = 0; t < N_TINY; t++)
                cr_assert_eq((bits[t >> 5] >> (t & 31)) & 1, llm_gstate_allows(st, t),
                             "token '%s' after '%.*s'", tiny_tokens[t], (int)len, doc);
            int32_t tok = pick(bits, N_TINY, count, &rng);
            if (tok == eog)
                break;
            cr_assert_eq(llm_gstate_accept(st, tok), 0);
            memcpy(doc + len, tiny_tokens[tok], lens[tok]);
            len += lens[tok];
        }
        if (llm_gstate_finished(st) || llm_gstate_can_end(st)) {
            char why[256];
            cr_assert(gf_check(s, doc, len, why, sizeof(why)), "'%.*s': %s", (int)len, doc, why);
        }
        llm_gstate_free(st);
    }
    /* "0" has no token here: the forced closing cannot be spelled, the loop
     * goes on without it instead of failing */
    llm_gen_params p;
    llm_gen *gen;
    float logits[N_TINY];
    llm_gen_step step;
    llm_gen_params_default(&p);
    p.sample.temperature = 0;
    p.max_tokens = 3;
    cr_assert_eq(llm_gen_new(&p, v, g, NULL, false, &gen), 0);
    for (int i = 0; i < N_TINY; i++)
        logits[i] = i == 1 ? 5.0f : 0.0f; /* the model wants "{" and then anything */
    int steps = 0;
    do {
        cr_assert_eq(llm_gen_next(gen, logits, &step), 0);
        logits[1] = 0;
        logits[11] = 5.0f; /* "\"a\"" */
        steps++;
    } while (step.finish == LLM_FINISH_NONE && steps < 10);
    cr_assert_eq(step.finish, LLM_FINISH_LENGTH);
    llm_gen_free(gen);
    llm_grammar_unref(g);
    llm_gvocab_free(v);
    json_decref(s);
}

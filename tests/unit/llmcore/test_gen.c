/*
 * test_gen.c - the per-sequence decode loop on the real vocabulary: stop
 * strings, max_tokens, end-of-generation, budget-aware closing of
 * constrained output, tool-call finish, request parsing, logprobs and an
 * exact save/restore in the middle of a constrained, sampled generation.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "aios/error.h"
#include "grammar_fixture.h"

/* A "model" that wants to say a fixed text (then end), or keeps repeating
 * one token forever. */
typedef struct script {
    const llm_gvocab *v;
    int n;
    float *buf;
    int32_t ids[512];
    int n_ids, pos;
    int32_t forever;     /* >= 0: always push this token */
    int fed;
} script;

static void script_init(script *s, const char *text, int32_t forever)
{
    memset(s, 0, sizeof(*s));
    s->v = gf_vocab();
    s->n = llm_gvocab_n_vocab(s->v);
    s->buf = calloc((size_t)s->n, sizeof(float));
    s->forever = forever;
    if (text) {
        s->n_ids = llm_gvocab_greedy_tokens(s->v, text, strlen(text), s->ids, 512);
        cr_assert_gt(s->n_ids, 0);
    }
}

static int script_logits(void *ud, const float **out)
{
    script *s = ud;
    for (int i = 0; i < s->n; i++)
        s->buf[i] = (float)(i % 7) * 0.01f;
    if (s->forever >= 0)
        s->buf[s->forever] = 50;
    else if (s->pos < s->n_ids)
        s->buf[s->ids[s->pos]] = 50;
    else
        s->buf[gf_vb()->eog[0]] = 50;
    *out = s->buf;
    return 0;
}

static int script_feed(void *ud, int32_t tok)
{
    script *s = ud;
    if (s->forever < 0 && s->pos < s->n_ids && tok == s->ids[s->pos])
        s->pos++;
    s->fed++;
    return 0;
}

typedef struct sink {
    char text[8192];
    size_t len;
    int steps;
    llm_finish finish;
    int n_logprobs;
} sink;

static sink g_sink;

static int sink_emit(void *ud, const llm_gen_step *st)
{
    memcpy(g_sink.text + g_sink.len, st->text, st->text_len);
    g_sink.len += st->text_len;
    g_sink.text[g_sink.len] = 0;
    g_sink.steps++;
    g_sink.finish = st->finish;
    g_sink.n_logprobs += st->info.n_top > 0;
    return 0;
}

static llm_gen_io script_io(script *s)
{
    llm_gen_io io = {.ud = s, .logits = script_logits, .feed = script_feed, .emit = sink_emit};
    memset(&g_sink, 0, sizeof(g_sink));
    return io;
}

static llm_gen *mk(const char *req_text)
{
    json_t *req = gf_json(req_text);
    llm_gen *gen;
    char err[256];
    int rc = llm_gen_from_request(req, gf_vocab(), 256, &gen, err, sizeof(err));
    cr_assert_eq(rc, 0, "%s: %s", req_text, err);
    json_decref(req);
    return gen;
}

Test(gen, stop_string_ends_generation, .timeout = 30)
{
    script s;
    llm_gen *gen = mk("{\"stop\":[\"END\",\"zzz\"],\"temperature\":0}");
    llm_gen_io io;
    size_t len;

    script_init(&s, "Hello there END and more", -1);
    io = script_io(&s);
    cr_assert_eq(llm_gen_run(gen, &io), 0);
    cr_assert_str_eq(llm_gen_text(gen, &len), "Hello there ");
    cr_assert_str_eq(g_sink.text, "Hello there ", "the stream matches the result");
    cr_assert_eq(llm_gen_finish_reason(gen), LLM_FINISH_STOP);
    cr_assert_str_eq(llm_finish_name(g_sink.finish), "stop");
    llm_gen_free(gen);
    free(s.buf);
}

Test(gen, max_tokens_and_eog, .timeout = 30)
{
    script s;
    llm_gen *gen = mk("{\"max_tokens\":3,\"temperature\":0}");
    llm_gen_io io;

    script_init(&s, "one two three four five", -1);
    io = script_io(&s);
    cr_assert_eq(llm_gen_run(gen, &io), 0);
    cr_assert_eq(llm_gen_n_tokens(gen), 3);
    cr_assert_eq(llm_gen_finish_reason(gen), LLM_FINISH_LENGTH);
    cr_assert_str_eq(llm_gen_text(gen, NULL), "one two three");
    llm_gen_free(gen);
    free(s.buf);

    gen = mk("{\"temperature\":0}");
    script_init(&s, "short", -1);
    io = script_io(&s);
    cr_assert_eq(llm_gen_run(gen, &io), 0);
    cr_assert_eq(llm_gen_finish_reason(gen), LLM_FINISH_STOP);
    cr_assert_str_eq(llm_gen_text(gen, NULL), "short");
    cr_assert_eq(s.fed, llm_gen_n_tokens(gen), "the end token is not fed");
    llm_gen_free(gen);
    free(s.buf);
}

Test(gen, budget_closes_constrained_output, .timeout = 30)
{
    script s;
    int32_t a;
    llm_gen_io io;
    char why[256];
    json_t *schema = gf_json("{\"type\":\"object\",\"properties\":{\"items\":{\"type\":\"array\","
                             "\"items\":{\"type\":\"string\"}},\"n\":{\"type\":\"integer\"}},"
                             "\"required\":[\"items\",\"n\"],\"additionalProperties\":false}");
    llm_gen *gen = mk("{\"max_tokens\":20,\"temperature\":0,\"response_format\":{\"type\":"
                      "\"json_schema\",\"json_schema\":{\"name\":\"x\",\"schema\":{\"type\":"
                      "\"object\",\"properties\":{\"items\":{\"type\":\"array\",\"items\":{\"type\":"
                      "\"string\"}},\"n\":{\"type\":\"integer\"}},\"required\":[\"items\",\"n\"],"
                      "\"additionalProperties\":false}}}}");

    /* the model wants "aaaa..." forever; the loop must still close the JSON */
    cr_assert_eq(llm_gvocab_greedy_tokens(gf_vocab(), "aaaa", 4, &a, 1), 1);
    script_init(&s, NULL, a);
    io = script_io(&s);
    cr_assert_eq(llm_gen_run(gen, &io), 0);
    size_t len;
    const char *text = llm_gen_text(gen, &len);
    cr_assert_eq(llm_gen_finish_reason(gen), LLM_FINISH_LENGTH);
    cr_assert_leq(llm_gen_n_tokens(gen), 20);
    cr_assert(gf_check(schema, text, len, why, sizeof(why)), "'%s': %s", text, why);
    cr_assert(strstr(text, "aaaa"), "the model's tokens were used while they fit: '%s'", text);
    llm_gen_free(gen);
    free(s.buf);
    json_decref(schema);
}

Test(gen, tool_call_finish, .timeout = 30)
{
    script s;
    llm_gen_io io;
    llm_gen *gen = mk("{\"temperature\":0,\"tools\":[{\"type\":\"function\",\"function\":{"
                      "\"name\":\"get_time\",\"parameters\":{\"type\":\"object\",\"properties\":{"
                      "\"tz\":{\"type\":\"string\"}},\"required\":[\"tz\"]}}}]}");

    script_init(&s, "{\"name\":\"get_time\",\"arguments\":{\"tz\":\"UTC\"}} trailing", -1);
    io = script_io(&s);
    cr_assert_eq(llm_gen_run(gen, &io), 0);
    cr_assert_eq(llm_gen_finish_reason(gen), LLM_FINISH_TOOL_CALLS);
    cr_assert_str_eq(llm_gen_text(gen, NULL), "{\"name\":\"get_time\",\"arguments\":{\"tz\":\"UTC\"}}");
    const json_t *calls = llm_gen_tool_calls(gen);
    cr_assert_eq(json_array_size(calls), 1);
    cr_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(json_array_get(calls, 0), "function"), "arguments")),
                     "{\"tz\":\"UTC\"}");
    llm_gen_free(gen);
    free(s.buf);

    /* auto mode, a text answer */
    gen = mk("{\"temperature\":0,\"tools\":[{\"type\":\"function\",\"function\":{"
             "\"name\":\"get_time\"}}],\"tool_choice\":\"auto\"}");
    script_init(&s, "It is noon.", -1);
    io = script_io(&s);
    cr_assert_eq(llm_gen_run(gen, &io), 0);
    cr_assert_eq(llm_gen_finish_reason(gen), LLM_FINISH_STOP);
    cr_assert_str_eq(llm_gen_text(gen, NULL), "It is noon.");
    cr_assert_null(llm_gen_tool_calls(gen));
    llm_gen_free(gen);
    free(s.buf);
}

Test(gen, request_errors_name_the_field, .timeout = 10)
{
    static const struct { const char *req; const char *needle; } cases[] = {
        {"{\"max_tokens\":0}", "max_tokens"},
        {"{\"max_tokens\":\"x\"}", "max_tokens"},
        {"{\"stop\":5}", "stop"},
        {"{\"temperature\":-1}", "temperature"},
        {"{\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"schema\":"
         "{\"type\":\"string\",\"pattern\":\"x\"}}}}", "pattern"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *req = gf_json(cases[i].req);
        llm_gen *gen;
        char err[256];
        int rc = llm_gen_from_request(req, gf_vocab(), 64, &gen, err, sizeof(err));
        cr_assert_lt(rc, 0, "%s", cases[i].req);
        cr_assert_null(gen);
        cr_assert(strstr(err, cases[i].needle), "%s: '%s'", cases[i].req, err);
        json_decref(req);
    }
}

Test(gen, logprobs_reported, .timeout = 30)
{
    script s;
    llm_gen_io io;
    llm_gen *gen = mk("{\"temperature\":0,\"logprobs\":true,\"top_logprobs\":2}");

    script_init(&s, "ab cd", -1);
    io = script_io(&s);
    cr_assert_eq(llm_gen_run(gen, &io), 0);
    cr_assert_eq(g_sink.n_logprobs, g_sink.steps);
    llm_gen_free(gen);
    free(s.buf);
}

/* Run gen with adversarial random logits for up to `steps` steps; records
 * tokens. */
static int drive(llm_gen *gen, gf_logits *lg, int steps, int32_t *toks)
{
    int k = 0;
    while (k < steps && llm_gen_finish_reason(gen) == LLM_FINISH_NONE) {
        const float *l;
        llm_gen_step st;
        llm_gen_io io = gf_logits_io(lg);
        io.logits(io.ud, &l);
        cr_assert_eq(llm_gen_next(gen, l, &st), 0);
        toks[k++] = st.token;
    }
    return k;
}

Test(gen, save_restore_mid_stream_is_exact, .timeout = 60)
{
    const char *req = "{\"max_tokens\":60,\"seed\":11,\"temperature\":0.9,\"top_p\":0.95,"
                      "\"repeat_penalty\":1.2,\"stop\":[\"zz\"],\"response_format\":{\"type\":"
                      "\"json_schema\",\"json_schema\":{\"name\":\"a\",\"schema\":{\"type\":"
                      "\"array\",\"items\":{\"type\":\"string\",\"maxLength\":12},\"minItems\":6,"
                      "\"maxItems\":8}}}}";
    llm_gen *a = mk(req), *b = mk(req);
    gf_logits la, lb;
    int32_t ta[128], tb[128];
    uint8_t *blob;

    gf_logits_init(&la, 31337);
    int n1 = drive(a, &la, 12, ta);
    cr_assert_eq(n1, 12);
    cr_assert_eq(llm_gen_finish_reason(a), LLM_FINISH_NONE);
    size_t need = llm_gen_save(a, NULL, 0);
    blob = malloc(need);
    cr_assert_eq(llm_gen_save(a, blob, need), need);
    lb = la;            /* the same logits stream from here on */
    lb.buf = malloc((size_t)la.n * sizeof(float));
    lb.structural = malloc((size_t)la.n * sizeof(int32_t));
    memcpy(lb.structural, la.structural, (size_t)la.n_structural * sizeof(int32_t));
    int n2 = drive(a, &la, 100, ta + 12);
    cr_assert_eq(llm_gen_restore(b, blob, need), 0);
    cr_assert_eq(llm_gen_n_tokens(b), 12);
    int n3 = drive(b, &lb, 100, tb + 12);
    cr_assert_eq(n2, n3);
    for (int k = 12; k < 12 + n2; k++)
        cr_assert_eq(ta[k], tb[k], "step %d", k);
    size_t la_len, lb_len;
    cr_assert_str_eq(llm_gen_text(a, &la_len), llm_gen_text(b, &lb_len));
    cr_assert_eq(llm_gen_finish_reason(a), llm_gen_finish_reason(b));
    cr_assert_eq(llm_gen_restore(b, blob, need - 1), AIOS_ECORRUPT);
    free(blob);
    llm_gen_free(a);
    llm_gen_free(b);
    gf_logits_free(&la);
    gf_logits_free(&lb);
}

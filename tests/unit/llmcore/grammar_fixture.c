/*
 * grammar_fixture.c - see grammar_fixture.h.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar_fixture.h"
#include "jsonschema_check.h"

const char *const gf_schema_names[GF_N_SCHEMAS] = {
    "person", "order", "mixed_array", "literals", "tree", "map", "shapes", "strings", "tuple",
    "tools",
};

const char *const gf_schemas[GF_N_SCHEMAS] = {
    /* 0 person: bounded integer, optional fields, enum array */
    "{\"type\":\"object\",\"properties\":{"
    "\"name\":{\"type\":\"string\",\"maxLength\":20},"
    "\"age\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":150},"
    "\"email\":{\"type\":\"string\"},"
    "\"tags\":{\"type\":\"array\",\"items\":{\"enum\":[\"a\",\"bb\",\"ccc\"]},\"maxItems\":4}},"
    "\"required\":[\"name\",\"age\"],\"additionalProperties\":false}",
    /* 1 order: nested objects, arrays of objects, formats, number bounds */
    "{\"type\":\"object\",\"properties\":{"
    "\"id\":{\"type\":\"string\",\"format\":\"uuid\"},"
    "\"placed\":{\"type\":\"string\",\"format\":\"date\"},"
    "\"lines\":{\"type\":\"array\",\"minItems\":1,\"maxItems\":3,\"items\":{\"type\":\"object\","
    "\"properties\":{\"sku\":{\"type\":\"string\",\"minLength\":3,\"maxLength\":8},"
    "\"qty\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":99},"
    "\"price\":{\"type\":\"number\",\"minimum\":0,\"maximum\":10000}},"
    "\"required\":[\"sku\",\"qty\",\"price\"],\"additionalProperties\":false}},"
    "\"paid\":{\"type\":\"boolean\"}},"
    "\"required\":[\"id\",\"placed\",\"lines\",\"paid\"],\"additionalProperties\":false}",
    /* 2 mixed_array: anyOf of scalar types */
    "{\"type\":\"array\",\"minItems\":1,\"maxItems\":5,\"items\":{\"anyOf\":["
    "{\"type\":\"number\"},{\"type\":\"boolean\"},{\"type\":\"null\"},"
    "{\"type\":\"string\",\"maxLength\":5}]}}",
    /* 3 literals: enum / const of every kind */
    "{\"type\":\"object\",\"properties\":{"
    "\"status\":{\"enum\":[\"ok\",\"error\",\"pending\",\"okay\"]},"
    "\"code\":{\"const\":200},"
    "\"level\":{\"enum\":[1,2,12,\"x\",null,true,{\"a\":[1,2]},[3]]},"
    "\"flag\":{\"type\":[\"boolean\",\"null\"]}},"
    "\"required\":[\"status\",\"code\",\"level\"],\"additionalProperties\":false}",
    /* 4 tree: recursion through $ref */
    "{\"$defs\":{\"node\":{\"type\":\"object\",\"properties\":{"
    "\"value\":{\"type\":\"integer\",\"minimum\":-1000,\"maximum\":1000},"
    "\"children\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/$defs/node\"},\"maxItems\":3}},"
    "\"required\":[\"value\"],\"additionalProperties\":false}},"
    "\"$ref\":\"#/$defs/node\"}",
    /* 5 map: additionalProperties with a schema next to declared keys */
    "{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"integer\"},"
    "\"idx\":{\"type\":\"boolean\"}},"
    "\"required\":[\"id\"],\"additionalProperties\":{\"type\":\"string\",\"maxLength\":10}}",
    /* 6 shapes: oneOf of objects told apart by a const */
    "{\"oneOf\":[{\"type\":\"object\",\"properties\":{\"kind\":{\"const\":\"circle\"},"
    "\"r\":{\"type\":\"number\",\"minimum\":0,\"maximum\":100}},"
    "\"required\":[\"kind\",\"r\"],\"additionalProperties\":false},"
    "{\"type\":\"object\",\"properties\":{\"kind\":{\"const\":\"rect\"},"
    "\"w\":{\"type\":\"number\"},\"h\":{\"type\":\"number\"}},"
    "\"required\":[\"kind\",\"w\",\"h\"],\"additionalProperties\":false}]}",
    /* 7 strings: length limits and a key that needs escapes */
    "{\"type\":\"object\",\"properties\":{"
    "\"a\":{\"type\":\"string\",\"minLength\":2,\"maxLength\":4},"
    "\"b\":{\"type\":\"string\",\"minLength\":5},"
    "\"key \\\"q\\\"\\n\":{\"type\":\"boolean\"}},"
    "\"required\":[\"a\",\"b\",\"key \\\"q\\\"\\n\"]}",
    /* 8 tuple: prefixItems with date-time, time and exclusive bounds */
    "{\"type\":\"array\",\"prefixItems\":[{\"type\":\"string\",\"format\":\"date-time\"},"
    "{\"type\":\"string\",\"format\":\"time\"},"
    "{\"type\":\"integer\",\"exclusiveMinimum\":-5,\"exclusiveMaximum\":5}],"
    "\"items\":false,\"minItems\":3}",
    /* 9 tools: replaced by the tool-call schema built in the tests */
    NULL,
};

/* Two tools for the tool-call tests. */
static const char *const tools_json =
    "[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":\"w\","
    "\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\","
    "\"maxLength\":30},\"unit\":{\"enum\":[\"c\",\"f\"]}},\"required\":[\"city\"],"
    "\"additionalProperties\":false}}},"
    "{\"type\":\"function\",\"function\":{\"name\":\"search\",\"parameters\":{\"type\":\"object\","
    "\"$defs\":{\"lim\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":10}},"
    "\"properties\":{\"query\":{\"type\":\"string\"},\"limit\":{\"$ref\":\"#/$defs/lim\"}},"
    "\"required\":[\"query\",\"limit\"],\"additionalProperties\":false}}}]";

const char *gf_model_path(void)
{
    static char buf[1024];
    const char *p = getenv("AIOS_TEST_MODEL");

    if (p && *p)
        return p;
    snprintf(buf, sizeof(buf), "%s/.local/share/aios/models/SmolLM2-135M-Instruct.Q4_1.gguf",
             getenv("HOME") ? getenv("HOME") : "/root");
    return buf;
}

static llm_vocab_bytes *vb_once;
static llm_gvocab *gv_once;

const llm_vocab_bytes *gf_vb(void)
{
    if (!vb_once) {
        int rc = llm_vocab_bytes_load_file(gf_model_path(), &vb_once);
        cr_assert_eq(rc, 0, "load vocabulary of %s: %d", gf_model_path(), rc);
    }
    return vb_once;
}

const llm_gvocab *gf_vocab(void)
{
    if (!gv_once) {
        const llm_vocab_bytes *vb = gf_vb();
        int rc = llm_gvocab_new((const char *const *)vb->bytes, vb->len, vb->n_vocab, vb->special,
                                vb->eog, vb->n_eog, &gv_once);
        cr_assert_eq(rc, 0);
    }
    return gv_once;
}

json_t *gf_json(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    cr_assert_not_null(j, "bad test json: %s", je.text);
    return j;
}

json_t *gf_tools(void)
{
    return gf_json(tools_json);
}

llm_grammar *gf_grammar(int i, uint32_t ws_max)
{
    llm_grammar_opts o = {.ws_max = ws_max};
    llm_grammar *g = NULL;
    char err[256];
    int rc;

    if (gf_schemas[i] == NULL) {
        json_t *tools = gf_tools();
        json_t *choice = json_string("required");
        rc = llm_grammar_from_tools(gf_vocab(), tools, choice, false, &o, &g, err, sizeof(err));
        json_decref(tools);
        json_decref(choice);
    } else {
        json_t *s = gf_json(gf_schemas[i]);
        rc = llm_grammar_from_schema(gf_vocab(), s, &o, &g, err, sizeof(err));
        json_decref(s);
    }
    cr_assert_eq(rc, 0, "compile schema %s: %s", gf_schema_names[i], err);
    return g;
}

bool gf_check(const json_t *schema, const char *text, size_t len, char *why, size_t whylen)
{
    json_error_t je;
    json_t *doc = json_loadb(text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
    bool ok;

    if (!doc) {
        snprintf(why, whylen, "does not parse: %s", je.text);
        return false;
    }
    ok = tv_validate(schema, schema, doc, why, whylen);
    json_decref(doc);
    return ok;
}

uint64_t gf_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void gf_logits_init(gf_logits *lg, uint64_t seed)
{
    const llm_gvocab *v = gf_vocab();

    memset(lg, 0, sizeof(*lg));
    lg->v = v;
    lg->n = llm_gvocab_n_vocab(v);
    lg->buf = malloc((size_t)lg->n * sizeof(float));
    lg->structural = malloc((size_t)lg->n * sizeof(int32_t));
    cr_assert(lg->buf && lg->structural);
    lg->rng = seed;
    for (int t = 0; t < lg->n; t++) {
        uint32_t len;
        const char *b = llm_gvocab_token(v, t, &len);
        if (!llm_gvocab_is_special(v, t) && len && strpbrk(b, "\"{}[],:\\") &&
            memchr(b, 0, len) == NULL)
            lg->structural[lg->n_structural++] = t;
    }
}

void gf_logits_free(gf_logits *lg)
{
    free(lg->buf);
    free(lg->structural);
}

static int lg_logits(void *ud, const float **out)
{
    gf_logits *lg = ud;
    uint64_t r = gf_rand(&lg->rng);
    uint64_t x = gf_rand(&lg->rng);

    for (int i = 0; i < lg->n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        lg->buf[i] = (float)(x >> 40) * (8.0f / 16777216.0f) - 4.0f;
    }
    if (r % 10 < 3) /* try to end early */
        for (int k = 0; k < gf_vb()->n_eog; k++)
            lg->buf[gf_vb()->eog[k]] += 12.0f;
    if ((r >> 8) % 10 < 4) /* push structure: quotes, brackets, commas, escapes */
        for (int k = 0; k < lg->n_structural; k++)
            lg->buf[lg->structural[k]] += 6.0f;
    if ((r >> 16) % 10 < 2) /* one spike anywhere */
        lg->buf[(r >> 24) % (uint64_t)lg->n] += 30.0f;
    *out = lg->buf;
    return 0;
}

static int lg_feed(void *ud, int32_t tok)
{
    gf_logits *lg = ud;
    lg->fed++;
    return tok >= 0 ? 0 : -1;
}

llm_gen_io gf_logits_io(gf_logits *lg)
{
    llm_gen_io io = {.ud = lg, .logits = lg_logits, .feed = lg_feed};
    return io;
}

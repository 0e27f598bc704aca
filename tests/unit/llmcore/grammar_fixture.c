/*
 * grammar_fixture.c - see grammar_fixture.h.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aios/jschema.h"
#include "grammar_fixture.h"
#include "jsonschema_check.h"

/* The test schemas live in tests/reference/grammar/schemas.json so that
 * benches and integration tests use the same ones. */
static json_t *schemas_doc;
static char *schema_texts[GF_N_SCHEMAS];

static void load_schemas(void)
{
    char path[1024];
    json_error_t je;
    const char *src = getenv("AIOS_SRC_DIR");

    if (schemas_doc)
        return;
    snprintf(path, sizeof(path), "%s/tests/reference/grammar/schemas.json", src ? src : ".");
    schemas_doc = json_load_file(path, 0, &je);
    cr_assert_not_null(schemas_doc, "%s: %s", path, je.text);
    cr_assert_eq(json_array_size(schemas_doc), GF_N_SCHEMAS);
    for (int i = 0; i < GF_N_SCHEMAS; i++) {
        const json_t *s = json_object_get(json_array_get(schemas_doc, (size_t)i), "schema");
        schema_texts[i] = s ? json_dumps(s, JSON_COMPACT) : NULL;
    }
}

const char *gf_schema_name(int i)
{
    load_schemas();
    return json_string_value(json_object_get(json_array_get(schemas_doc, (size_t)i), "name"));
}

const char *gf_schema_text(int i)
{
    load_schemas();
    return schema_texts[i];
}

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
    load_schemas();
    return json_deep_copy(json_object_get(json_array_get(schemas_doc, GF_N_SCHEMAS - 1), "tools"));
}

llm_grammar *gf_grammar(int i, uint32_t ws_max)
{
    llm_grammar_opts o = {.ws_max = ws_max};
    llm_grammar *g = NULL;
    char err[256];
    int rc;

    if (gf_schema_text(i) == NULL) {
        json_t *tools = gf_tools();
        json_t *choice = json_string("required");
        rc = llm_grammar_from_tools(gf_vocab(), tools, choice, false, &o, &g, err, sizeof(err));
        json_decref(tools);
        json_decref(choice);
    } else {
        json_t *s = gf_json(gf_schema_text(i));
        rc = llm_grammar_from_schema(gf_vocab(), s, &o, &g, err, sizeof(err));
        json_decref(s);
    }
    cr_assert_eq(rc, 0, "compile schema %s: %s", gf_schema_name(i), err);
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
    /* and the kernel's validator, for the schemas inside its subset */
    if (ok && aios_jschema_validate_schema(schema, NULL, 0) == 0) {
        char path[128], msg[128];
        if (aios_jschema_check(schema, doc, path, sizeof(path), msg, sizeof(msg)) != 0) {
            snprintf(why, whylen, "aios_jschema_check: %s: %s", path, msg);
            ok = false;
        }
    }
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

static llm_model *model_once;
static llm_text *text_once;

static void load_model_once(void)
{
    char err[256];

    if (model_once)
        return;
    cr_assert_eq(llm_model_load(gf_model_path(), NULL, &model_once, err, sizeof(err)), 0, "%s: %s",
                 gf_model_path(), err);
    cr_assert_eq(llm_text_new(model_once, &text_once, err, sizeof(err)), 0, "%s", err);
}

llm_model *gf_model(void)
{
    load_model_once();
    return model_once;
}

llm_text *gf_text(void)
{
    load_model_once();
    return text_once;
}

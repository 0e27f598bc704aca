/*
 * test_tokenizer_ref.c - the tokenizer against llama.cpp on every committed
 * fixture string (tests/reference/tokenizer/, made by generate.sh with
 * llama-cpp-python 0.3.36): ids without and with special handling,
 * detokenized text, special ids, the end-of-generation set, every token's
 * attributes and pieces, and the UTF-8-safe stream on broken input.  One
 * test per vocabulary: the default model (SmolLM2, smollm pre-tokenizer)
 * and the llama.cpp vocab files for gpt-2, llama-bpe, qwen2, llama-spm,
 * phi-3, starcoder and mpt (fetched by `make model`).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmcore/tokenizer.h"
#include "tok_util.h"

typedef struct {
    char **s;
    size_t *len;
    const char **cat;
    size_t n;
    json_t *root;
} strings;

static void load_strings(strings *st)
{
    json_t *arr;

    st->root = tu_fixture("strings.json");
    arr = json_object_get(st->root, "strings");
    st->n = json_array_size(arr);
    cr_assert_geq(st->n, 2000, "fixture has %zu strings", st->n);
    st->s = calloc(st->n, sizeof(*st->s));
    st->len = calloc(st->n, sizeof(*st->len));
    st->cat = calloc(st->n, sizeof(*st->cat));
    for (size_t i = 0; i < st->n; i++) {
        json_t *e = json_array_get(arr, i);

        st->s[i] = tu_unhex(json_string_value(json_object_get(e, "hex")), &st->len[i]);
        st->cat[i] = json_string_value(json_object_get(e, "cat"));
    }
}

static void free_strings(strings *st)
{
    for (size_t i = 0; i < st->n; i++)
        free(st->s[i]);
    free(st->s);
    free(st->len);
    free(st->cat);
    json_decref(st->root);
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;

    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* ids of every string in mode (add_special, parse_special) against the
 * fixture map idx -> ids; returns the number compared. */
static size_t check_ids(const llm_tokenizer *t, const strings *st, json_t *map, bool add_special,
                        bool parse_special, const char *what)
{
    const char *key;
    json_t *ids_exp;
    size_t bad = 0, n = 0;

    json_object_foreach(map, key, ids_exp) {
        size_t i = strtoul(key, NULL, 10), nid;
        int32_t *ids;
        char msg[256];

        cr_assert_lt(i, st->n);
        cr_assert_eq(llm_tokenize(t, st->s[i], st->len[i], add_special, parse_special, &ids, &nid), 0);
        if (!tu_ids_equal(ids, nid, ids_exp, msg, sizeof(msg))) {
            if (bad < 5) {
                char *hex = malloc(st->len[i] * 2 + 1);

                for (size_t k = 0; k < st->len[i]; k++)
                    sprintf(hex + 2 * k, "%02x", (unsigned char)st->s[i][k]);
                cr_log_error("%s: string %zu (%s, hex %.120s): %s", what, i, st->cat[i], hex, msg);
                free(hex);
            }
            bad++;
        }
        free(ids);
        n++;
    }
    cr_expect_eq(bad, 0, "%s: %zu of %zu strings differ from llama.cpp", what, bad, n);
    return n;
}

static void check_vocab(const char *name)
{
    char fname[128];
    json_t *fx, *v, *e;
    strings st;
    llm_tokenizer *t;
    const char *key;
    size_t i, n, bad;
    uint64_t h_sp = 0xcbf29ce484222325ULL, h_pl = 0xcbf29ce484222325ULL;
    char hs[17];

    snprintf(fname, sizeof(fname), "%s.json", name);
    fx = tu_fixture(fname);
    load_strings(&st);
    if (!strcmp(name, "smollm2"))
        t = tu_default_tokenizer();
    else
        t = tu_tokenizer(json_string_value(json_object_get(fx, "file")));

    /* vocabulary facts */
    cr_assert_eq(llm_tokenizer_n_vocab(t), json_integer_value(json_object_get(fx, "n_vocab")));
    cr_expect_eq(llm_token_bos(t), json_integer_value(json_object_get(fx, "bos")), "bos");
    cr_expect_eq(llm_token_eos(t), json_integer_value(json_object_get(fx, "eos")), "eos");
    cr_expect_eq(llm_tokenizer_add_bos(t), json_is_true(json_object_get(fx, "add_bos")), "add_bos");
    cr_expect_eq(llm_tokenizer_add_eos(t), json_is_true(json_object_get(fx, "add_eos")), "add_eos");
    /* llama.cpp picks the end-of-turn id in hash order among candidates;
     * ours must be one of the end-of-generation tokens when it has one */
    if (json_integer_value(json_object_get(fx, "eot")) >= 0)
        cr_expect(llm_token_is_eog(t, llm_token_eot(t)), "eot %d is not eog", llm_token_eot(t));
    {
        const int32_t *eog = llm_token_eog_ids(t, &n);

        v = json_object_get(fx, "eog");
        cr_expect_eq(n, json_array_size(v), "eog set: %zu ids, llama.cpp has %zu", n,
                     json_array_size(v));
        for (i = 0; i < n && i < json_array_size(v); i++)
            cr_expect_eq(eog[i], json_integer_value(json_array_get(v, i)), "eog[%zu]", i);
    }

    /* attributes of every token */
    bad = 0;
    json_array_foreach(json_object_get(fx, "attr_runs"), i, e) {
        int32_t start = (int32_t)json_integer_value(json_array_get(e, 0));
        int32_t count = (int32_t)json_integer_value(json_array_get(e, 1));
        uint32_t attr = (uint32_t)json_integer_value(json_array_get(e, 2));

        for (int32_t id = start; id < start + count; id++) {
            if (llm_token_attr(t, id) != attr && bad++ < 5)
                cr_log_error("%s: token %d attr %u, llama.cpp %u", name, id, llm_token_attr(t, id), attr);
        }
    }
    cr_expect_eq(bad, 0, "%s: %zu tokens with other attributes", name, bad);

    /* pieces: checksum over all, then the samples one by one */
    for (int32_t id = 0; id < (int32_t)llm_tokenizer_n_vocab(t); id++) {
        const char *p;
        size_t pl;
        uint32_t l32;

        cr_assert_eq(llm_token_piece(t, id, true, &p, &pl), 0);
        l32 = (uint32_t)pl;
        h_sp = fnv(fnv(h_sp, &l32, 4), p, pl);
        cr_assert_eq(llm_token_piece(t, id, false, &p, &pl), 0);
        l32 = (uint32_t)pl;
        h_pl = fnv(fnv(h_pl, &l32, 4), p, pl);
    }
    bad = 0;
    json_array_foreach(json_object_get(fx, "pieces_sample"), i, e) {
        int32_t id = (int32_t)json_integer_value(json_array_get(e, 0));
        size_t l_sp, l_pl, pl;
        char *x_sp = tu_unhex(json_string_value(json_array_get(e, 1)), &l_sp);
        char *x_pl = tu_unhex(json_string_value(json_array_get(e, 2)), &l_pl);
        const char *p;

        llm_token_piece(t, id, true, &p, &pl);
        if ((pl != l_sp || memcmp(p, x_sp, pl)) && bad++ < 5)
            cr_log_error("%s: piece of %d (special) '%.*s' != '%s'", name, id, (int)pl, p, x_sp);
        llm_token_piece(t, id, false, &p, &pl);
        if ((pl != l_pl || memcmp(p, x_pl, pl)) && bad++ < 5)
            cr_log_error("%s: piece of %d '%.*s' != '%s'", name, id, (int)pl, p, x_pl);
        free(x_sp);
        free(x_pl);
    }
    cr_expect_eq(bad, 0, "%s: %zu sampled pieces differ", name, bad);
    snprintf(hs, sizeof(hs), "%016llx", (unsigned long long)h_sp);
    cr_expect_str_eq(hs, json_string_value(json_object_get(fx, "pieces_fnv_special")),
                     "%s: pieces (special) checksum", name);
    snprintf(hs, sizeof(hs), "%016llx", (unsigned long long)h_pl);
    cr_expect_str_eq(hs, json_string_value(json_object_get(fx, "pieces_fnv_plain")),
                     "%s: pieces checksum", name);

    /* ids */
    n = check_ids(t, &st, json_object_get(fx, "a"), false, false, name);
    cr_log_info("%s: %zu strings agree with llama.cpp", name, n);
    check_ids(t, &st, json_object_get(fx, "b"), true, true, name);

    /* all strings joined by newlines: one long input (word cache path) */
    {
        size_t total = 0, o = 0, nid;
        char *all;
        int32_t *ids;
        uint64_t h = 0xcbf29ce484222325ULL;
        json_t *j = json_object_get(fx, "joined");

        for (i = 0; i < st.n; i++)
            total += st.len[i] + 1;
        all = malloc(total);
        for (i = 0; i < st.n; i++) {
            if (i)
                all[o++] = '\n';
            memcpy(all + o, st.s[i], st.len[i]);
            o += st.len[i];
        }
        cr_assert_eq(llm_tokenize(t, all, o, false, false, &ids, &nid), 0);
        for (i = 0; i < nid; i++)
            h = fnv(h, &ids[i], 4);
        snprintf(hs, sizeof(hs), "%016llx", (unsigned long long)h);
        cr_expect_eq(nid, (size_t)json_integer_value(json_object_get(j, "n_ids")),
                     "%s: joined text: %zu ids", name, nid);
        cr_expect_str_eq(hs, json_string_value(json_object_get(j, "fnv")), "%s: joined text ids", name);
        free(ids);
        free(all);
    }

    /* detokenized text: the fixture's where it differs, else the input */
    {
        json_t *a = json_object_get(fx, "a"), *d = json_object_get(fx, "d");
        size_t upto = (size_t)json_integer_value(json_object_get(fx, "d_upto"));

        bad = 0;
        json_object_foreach(a, key, v) {
            size_t idx = strtoul(key, NULL, 10), nid = json_array_size(v), xl, ol;
            int32_t *ids;
            char *x, *out;
            json_t *dx = json_object_get(d, key);

            if (idx > upto || st.len[idx] > 256)
                continue;
            ids = malloc((nid + 1) * sizeof(*ids));
            for (size_t k = 0; k < nid; k++)
                ids[k] = (int32_t)json_integer_value(json_array_get(v, k));
            x = dx ? tu_unhex(json_string_value(dx), &xl) : NULL;
            if (!x) {
                x = malloc(st.len[idx] + 1);
                memcpy(x, st.s[idx], st.len[idx]);
                xl = st.len[idx];
            }
            cr_assert_eq(llm_detokenize(t, ids, nid, false, &out, &ol), 0);
            if ((ol != xl || memcmp(out, x, xl)) && bad++ < 5)
                cr_log_error("%s: detokenize %zu: got '%s', want '%.*s'", name, idx, out, (int)xl, x);
            free(out);
            free(x);
            free(ids);
        }
        cr_expect_eq(bad, 0, "%s: %zu detokenized texts differ", name, bad);
    }

    /* the stream on broken UTF-8 prints what Python's "replace" prints */
    bad = 0;
    json_object_foreach(json_object_get(fx, "stream"), key, v) {
        size_t idx = strtoul(key, NULL, 10), nid, xl, o = 0;
        int32_t *ids;
        char *x = tu_unhex(json_string_value(v), &xl), *got = malloc(xl * 2 + 64);
        llm_detok_stream *s;
        const char *p;
        size_t pl;

        cr_assert_eq(llm_tokenize(t, st.s[idx], st.len[idx], false, false, &ids, &nid), 0);
        cr_assert_eq(llm_detok_stream_new(t, false, &s), 0);
        for (size_t k = 0; k < nid; k++) {
            cr_assert_eq(llm_detok_stream_push(s, ids[k], &p, &pl), 0);
            cr_assert(o + pl <= xl * 2 + 32);
            memcpy(got + o, p, pl);
            o += pl;
        }
        llm_detok_stream_flush(s, &p, &pl);
        memcpy(got + o, p, pl);
        o += pl;
        if ((o != xl || memcmp(got, x, xl)) && bad++ < 5)
            cr_log_error("%s: stream of string %zu: '%.*s' != '%s'", name, idx, (int)o, got, x);
        llm_detok_stream_free(s);
        free(ids);
        free(x);
        free(got);
    }
    cr_expect_eq(bad, 0, "%s: %zu streams differ", name, bad);

    llm_tokenizer_free(t);
    free_strings(&st);
    json_decref(fx);
}

Test(tokenizer_ref, smollm2, .timeout = 60) { check_vocab("smollm2"); }
Test(tokenizer_ref, gpt2, .timeout = 60) { check_vocab("gpt-2"); }
Test(tokenizer_ref, llama_bpe, .timeout = 60) { check_vocab("llama-bpe"); }
Test(tokenizer_ref, qwen2, .timeout = 60) { check_vocab("qwen2"); }
Test(tokenizer_ref, llama_spm, .timeout = 60) { check_vocab("llama-spm"); }
Test(tokenizer_ref, phi3, .timeout = 60) { check_vocab("phi-3"); }
Test(tokenizer_ref, starcoder, .timeout = 60) { check_vocab("starcoder"); }
Test(tokenizer_ref, mpt, .timeout = 60) { check_vocab("mpt"); }

/*
 * test_wordpiece.c - the WordPiece tokenizer against the reference tokenizer's
 * ids on a committed fixture (tests/reference/embed/tokens.jsonl: punctuation,
 * accents, CJK, long words, white space, controls, special tokens, long
 * texts), plus invalid UTF-8, counting and a missing vocabulary.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "aios/error.h"
#include "embed_fixture.h"
#include "lsfs/embed/embed_int.h"

static lsfs__wordpiece *load_vocab(void)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/vocab.txt", embed_test_model_dir());
    lsfs__wordpiece *wp = NULL;
    int rc = lsfs__wp_load(path, &wp);
    cr_assert_eq(rc, 0, "cannot load '%s' (%s): run `make model`", path, aios_strerror(rc));
    return wp;
}

/* Reference layout: [CLS] pieces (at most 254) [SEP]. */
static size_t model_ids(const lsfs__wordpiece *wp, const char *text, int32_t *ids)
{
    size_t total;
    ids[0] = wp->id_cls;
    lsfs__wp_encode(wp, text, ids + 1, 254, &total);
    size_t n = total < 254 ? total : 254;
    ids[n + 1] = wp->id_sep;
    return n + 2;
}

Test(wordpiece, vocabulary, .timeout = 10)
{
    lsfs__wordpiece *wp = load_vocab();
    cr_assert_eq(wp->n_vocab, 30522);
    cr_assert_eq(wp->id_pad, 0);
    cr_assert_eq(wp->id_unk, 100);
    cr_assert_eq(wp->id_cls, 101);
    cr_assert_eq(wp->id_sep, 102);
    cr_assert_eq(wp->id_mask, 103);
    cr_assert_str_eq(lsfs__wp_token(wp, 7592), "hello");
    cr_assert_eq(lsfs__wp_lookup(wp, "##ing", 5), 2075);
    cr_assert_eq(lsfs__wp_lookup(wp, "no-such-token", 13), -1);
    lsfs__wp_free(wp);
}

Test(wordpiece, matches_reference_fixture, .timeout = 20)
{
    lsfs__wordpiece *wp = load_vocab();
    FILE *f = fopen(EMBED_REF_DIR "/tokens.jsonl", "r");
    cr_assert_not_null(f, "cannot open " EMBED_REF_DIR "/tokens.jsonl");
    char *line = NULL;
    size_t cap = 0, cases = 0, long_cases = 0;
    int32_t ids[300];
    while (getline(&line, &cap, f) > 0) {
        json_error_t err;
        json_t *j = json_loads(line, 0, &err);
        cr_assert_not_null(j, "tokens.jsonl: %s", err.text);
        const char *text = json_string_value(json_object_get(j, "text"));
        json_t *ref = json_object_get(j, "ids");
        size_t n = model_ids(wp, text, ids);
        cr_assert_eq(n, json_array_size(ref), "case %zu '%.60s': %zu ids, reference %zu", cases,
                     text, n, json_array_size(ref));
        for (size_t i = 0; i < n; i++)
            cr_assert_eq(ids[i], json_integer_value(json_array_get(ref, i)),
                         "case %zu '%.60s': id %zu is %d ('%s'), reference %lld ('%s')", cases,
                         text, i, ids[i], lsfs__wp_token(wp, ids[i]),
                         (long long)json_integer_value(json_array_get(ref, i)),
                         lsfs__wp_token(wp, (int32_t)json_integer_value(json_array_get(ref, i))));
        long_cases += n == 256;
        cases++;
        json_decref(j);
    }
    free(line);
    fclose(f);
    cr_assert_geq(cases, 150, "fixture too small: %zu cases", cases);
    cr_assert_geq(long_cases, 5, "fixture lacks truncated texts");
    lsfs__wp_free(wp);
}

Test(wordpiece, invalid_utf8_is_dropped, .timeout = 10)
{
    lsfs__wordpiece *wp = load_vocab();
    int32_t a[64], b[64];
    size_t na = model_ids(wp, "hello wor\xff\xfe" "ld \xc3 again \xed\xa0\x80!", a);
    size_t nb = model_ids(wp, "hello world  again !", b);
    cr_assert_eq(na, nb);
    cr_assert_arr_eq(a, b, na * sizeof a[0]);
    lsfs__wp_free(wp);
}

Test(wordpiece, long_words_and_counting, .timeout = 10)
{
    lsfs__wordpiece *wp = load_vocab();
    char word[202];
    memset(word, 'a', 101);
    word[101] = '\0';
    int32_t ids[8];
    size_t total;
    lsfs__wp_encode(wp, word, ids, 8, &total);
    cr_assert_eq(total, 1);
    cr_assert_eq(ids[0], wp->id_unk, "a word over 100 characters is [UNK]");
    /* Counting without a buffer gives the untruncated number of pieces. */
    char *text = malloc(6 * 400 + 1);
    for (int i = 0; i < 400; i++)
        memcpy(text + 6 * i, "hello ", 6);
    text[6 * 400] = '\0';
    lsfs__wp_encode(wp, text, NULL, 0, &total);
    cr_assert_eq(total, 400);
    free(text);
    lsfs__wp_free(wp);
}

Test(wordpiece, missing_vocabulary, .timeout = 10)
{
    lsfs__wordpiece *wp = (lsfs__wordpiece *)1;
    cr_assert_eq(lsfs__wp_load("/nonexistent/aios/vocab.txt", &wp), AIOS_ENOENT);
    cr_assert_null(wp);
}

Test(wordpiece, public_tokenize, .timeout = 30)
{
    lsfs_embedder *e = embed_test_open(NULL);
    int32_t ids[300];
    size_t n;
    cr_assert_eq(lsfs_embed_tokenize(e, "Hello, world!", ids, 300, &n), 0);
    int32_t want[] = {101, 7592, 1010, 2088, 999, 102};
    cr_assert_eq(n, 6);
    cr_assert_arr_eq(ids, want, sizeof want);
    cr_assert_eq(lsfs_embed_count_tokens(e, "Hello, world!"), 4);
    cr_assert_eq(lsfs_embed_max_tokens(e), 256);
    /* A small buffer gets a prefix. */
    cr_assert_eq(lsfs_embed_tokenize(e, "Hello, world!", ids, 3, &n), 0);
    cr_assert_eq(n, 3);
    cr_assert_eq(ids[2], 1010);
    lsfs_embed_close(e);
}

/*
 * test_stop.c - stop strings on the text stream: matches split across
 * tokens, hold-back of possible starts and their release, the earliest of
 * several stops, text after a stop dropped, UTF-8 characters split across
 * tokens, invalid bytes, save/restore.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "aios/error.h"
#include "llmcore/stop.h"

static llm_stop *mk(const char *a, const char *b)
{
    const char *s[2] = {a, b};
    size_t l[2] = {a ? strlen(a) : 0, b ? strlen(b) : 0};
    llm_stop *st;
    cr_assert_eq(llm_stop_new(s, l, b ? 2 : a ? 1 : 0, &st), 0);
    return st;
}

/* Feed pieces one by one; collects the released text; returns the index of
 * the piece where a stop matched (-1 if none), flushing at the end. */
static int run(llm_stop *st, const char *const *pieces, int n, char *out, const char **per_piece)
{
    size_t o = 0;
    int hit = -1;
    static char buf[16][256];

    for (int i = 0; i < n && hit < 0; i++) {
        const char *t;
        size_t len;
        int rc = llm_stop_feed(st, pieces[i], strlen(pieces[i]), &t, &len);
        cr_assert_geq(rc, 0);
        memcpy(out + o, t, len);
        o += len;
        if (per_piece) {
            memcpy(buf[i], t, len);
            buf[i][len] = 0;
            per_piece[i] = buf[i];
        }
        if (rc == 1)
            hit = i;
    }
    if (hit < 0) {
        const char *t;
        size_t len;
        llm_stop_flush(st, &t, &len);
        memcpy(out + o, t, len);
        o += len;
    }
    out[o] = 0;
    return hit;
}

Test(stop, split_across_tokens, .timeout = 10)
{
    llm_stop *st = mk("END", NULL);
    const char *p[] = {"abc E", "N", "D more", "never"};
    const char *pp[4];
    char out[256];

    cr_assert_eq(run(st, p, 4, out, pp), 2);
    cr_assert_str_eq(out, "abc ");
    cr_assert_str_eq(pp[0], "abc ", "'E' is held back");
    cr_assert_str_eq(pp[1], "");
    int which;
    cr_assert(llm_stop_matched(st, &which));
    cr_assert_eq(which, 0);
    llm_stop_free(st);
}

Test(stop, held_back_then_released, .timeout = 10)
{
    llm_stop *st = mk("###", NULL);
    const char *p[] = {"a#", "#b", "c"};
    const char *pp[3];
    char out[256];

    cr_assert_eq(run(st, p, 3, out, pp), -1);
    cr_assert_str_eq(pp[0], "a");
    cr_assert_str_eq(pp[1], "##b", "not a stop after all");
    cr_assert_str_eq(out, "a##bc");
    llm_stop_free(st);
}

Test(stop, held_text_flushed_at_end, .timeout = 10)
{
    llm_stop *st = mk("STOP", NULL);
    const char *p[] = {"x ST"};
    char out[256];

    cr_assert_eq(run(st, p, 1, out, NULL), -1);
    cr_assert_str_eq(out, "x ST");
    llm_stop_free(st);
}

Test(stop, earliest_of_several, .timeout = 10)
{
    llm_stop *st = mk("yz!", "xyz");
    const char *p[] = {"..x", "yz!"};
    char out[256];
    int which;

    cr_assert_eq(run(st, p, 2, out, NULL), 1);
    cr_assert_str_eq(out, "..");
    cr_assert(llm_stop_matched(st, &which));
    cr_assert_eq(which, 1);
    llm_stop_free(st);
}

Test(stop, inside_one_token_and_overlaps, .timeout = 10)
{
    llm_stop *st = mk("</s>", NULL);
    const char *p[] = {"foo</s>bar"};
    char out[256];

    cr_assert_eq(run(st, p, 1, out, NULL), 0);
    cr_assert_str_eq(out, "foo");
    llm_stop_free(st);

    st = mk("aab", NULL);
    const char *q[] = {"a", "a", "a", "b", "z"};
    cr_assert_eq(run(st, q, 5, out, NULL), 3);
    cr_assert_str_eq(out, "a");
    llm_stop_free(st);
}

Test(stop, utf8_split_and_invalid, .timeout = 10)
{
    llm_stop *st = mk(NULL, NULL);
    const char *p[] = {"caf\xc3", "\xa9 \xe2\x82", "\xac", "\xff!"};
    const char *pp[4];
    char out[256];

    cr_assert_eq(run(st, p, 4, out, pp), -1);
    cr_assert_str_eq(pp[0], "caf", "half of 'e-acute' is held");
    cr_assert_str_eq(pp[1], "\xc3\xa9 ");
    cr_assert_str_eq(pp[2], "\xe2\x82\xac");
    cr_assert_str_eq(pp[3], "\xef\xbf\xbd!", "an impossible byte becomes U+FFFD");
    llm_stop_free(st);

    st = mk(NULL, NULL);
    const char *q[] = {"end\xe2\x82"};
    cr_assert_eq(run(st, q, 1, out, NULL), -1);
    cr_assert_str_eq(out, "end\xef\xbf\xbd", "a truncated character is replaced at the end");
    llm_stop_free(st);
}

Test(stop, from_json, .timeout = 10)
{
    json_t *j;
    llm_stop *st;
    char err[128];

    j = json_string("\n\n");
    cr_assert_eq(llm_stop_from_json(j, &st, err, sizeof(err)), 0);
    llm_stop_free(st);
    json_decref(j);
    cr_assert_eq(llm_stop_from_json(NULL, &st, err, sizeof(err)), 0);
    llm_stop_free(st);
    j = json_pack("[s,i]", "a", 3);
    cr_assert_eq(llm_stop_from_json(j, &st, err, sizeof(err)), AIOS_EINVAL);
    cr_assert(strstr(err, "stop"));
    json_decref(j);
    j = json_array();
    for (int i = 0; i < 17; i++)
        json_array_append_new(j, json_string("x"));
    cr_assert_eq(llm_stop_from_json(j, &st, err, sizeof(err)), AIOS_EINVAL);
    json_decref(j);
    j = json_integer(4);
    cr_assert_eq(llm_stop_from_json(j, &st, err, sizeof(err)), AIOS_EINVAL);
    json_decref(j);
}

Test(stop, save_restore, .timeout = 10)
{
    llm_stop *a = mk("STOP", NULL), *b = mk("STOP", NULL);
    const char *t;
    size_t len;
    char blob[256];

    cr_assert_eq(llm_stop_feed(a, "xx ST", 5, &t, &len), 0);
    cr_assert_eq(len, 3);
    size_t need = llm_stop_save(a, blob, sizeof(blob));
    cr_assert_eq(llm_stop_restore(b, blob, need), 0);
    cr_assert_eq(llm_stop_feed(b, "OP", 2, &t, &len), 1);
    cr_assert_eq(len, 0);
    cr_assert_eq(llm_stop_restore(b, blob, need - 1), AIOS_ECORRUPT);
    llm_stop_free(a);
    llm_stop_free(b);
}

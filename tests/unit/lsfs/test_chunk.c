/* test_chunk.c - structure-aware chunking: headings, code blocks, token
 * limits and overlap. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lsfs/lsfs_int.h"

static char *sub(const char *t, const lsfs__chunk *c)
{
    return strndup(t + c->start, c->len);
}

Test(lsfs_chunk, headings_start_chunks_with_a_trail, .timeout = 10)
{
    const char *t = "# Install\n\nRun the installer.\n\n## Network\n\nSet up the interface.\n\n"
                    "## Disks\n\nPartition the disk.\n\nSecond paragraph about disks.\n\n"
                    "Other\n=====\n\nSetext heading body.\n";
    lsfs__chunk *c;
    size_t n;

    cr_assert_eq(lsfs__chunk_split(t, strlen(t), 200, 20, &c, &n), 0);
    cr_assert_eq(n, 4, "one chunk per section, got %zu", n);
    cr_assert_str_eq(c[0].heading, "Install");
    cr_assert_str_eq(c[1].heading, "Install > Network");
    cr_assert_str_eq(c[2].heading, "Install > Disks");
    cr_assert_str_eq(c[3].heading, "Other");
    char *s = sub(t, &c[2]);
    cr_assert_str_eq(s, "## Disks\n\nPartition the disk.\n\nSecond paragraph about disks.");
    free(s);
    s = sub(t, &c[3]);
    cr_assert(strstr(s, "Setext heading body."), "%s", s);
    free(s);
    free(c);
}

Test(lsfs_chunk, code_blocks_stay_whole, .timeout = 10)
{
    const char *t = "Intro text that goes on for a while so that the code block below does "
                    "not fit next to it.\n\n```c\nint main(void)\n{\n\n    return 0;\n}\n```\n\n"
                    "After.\n";
    lsfs__chunk *c;
    size_t n;

    /* the code block does not fit after the intro: it starts a chunk of its
     * own, whole, blank line inside and all */
    cr_assert_eq(lsfs__chunk_split(t, strlen(t), 28, 0, &c, &n), 0);
    cr_assert_geq(n, 2);
    bool found = false;
    for (size_t i = 0; i < n; i++) {
        char *s = sub(t, &c[i]);
        if (strstr(s, "int main")) {
            cr_assert(strstr(s, "return 0;") && strstr(s, "```c") && strstr(s, "}\n```"),
                      "code block split: %s", s);
            found = true;
        }
        free(s);
    }
    cr_assert(found);
    free(c);
}

Test(lsfs_chunk, long_text_respects_limit_with_overlap, .timeout = 10)
{
    char *t = malloc(200000);
    size_t o = 0, n;
    lsfs__chunk *c;

    for (int s = 0; s < 600; s++)
        o += (size_t)sprintf(t + o, "Sentence number %d talks about topic %d in some detail. ", s,
                             s % 17);
    cr_assert_eq(lsfs__chunk_split(t, o, 64, 12, &c, &n), 0);
    cr_assert_gt(n, 50);
    for (size_t i = 0; i < n; i++) {
        cr_assert_leq(c[i].tokens, 64, "chunk %zu has %d tokens", i, c[i].tokens);
        cr_assert_eq(c[i].tokens, lsfs__chunk_tokens(t + c[i].start, c[i].len));
        if (i > 0) {
            /* consecutive chunks overlap, and never go backwards */
            cr_assert_lt(c[i].start, c[i - 1].start + c[i - 1].len, "no overlap at %zu", i);
            cr_assert_gt(c[i].start, c[i - 1].start);
            int ov = lsfs__chunk_tokens(t + c[i].start, c[i - 1].start + c[i - 1].len - c[i].start);
            cr_assert_leq(ov, 12);
            cr_assert_geq(ov, 4, "overlap of %d tokens at %zu", ov, i);
        }
    }
    /* the whole text is covered */
    cr_assert_eq(c[0].start, 0);
    cr_assert_geq(c[n - 1].start + c[n - 1].len, o - 1);
    free(c);
    free(t);
}

Test(lsfs_chunk, one_huge_word_is_cut, .timeout = 10)
{
    size_t len = 5000, n;
    char *t = malloc(len + 1);
    lsfs__chunk *c;

    memset(t, 'x', len);
    t[len] = 0;
    cr_assert_eq(lsfs__chunk_split(t, len, 50, 5, &c, &n), 0);
    cr_assert_geq(n, 1);
    free(c);
    free(t);
}

Test(lsfs_chunk, tokens_and_text_detection, .timeout = 10)
{
    cr_assert_eq(lsfs__chunk_tokens("hello, world!", 13), 4);
    cr_assert_eq(lsfs__chunk_tokens("internationalization", 20), 3);
    cr_assert_eq(lsfs__chunk_tokens("\xe6\x97\xa5\xe6\x9c\xac", 6), 2, "two CJK characters");
    cr_assert(lsfs__is_text("plain \xc3\xa9t\xc3\xa9", 11));
    cr_assert_not(lsfs__is_text("nul\0byte", 8));
    cr_assert_not(lsfs__is_text("\xc3\x28", 2), "invalid UTF-8");
    cr_assert_not(lsfs__is_text("\xed\xa0\x80", 3), "surrogate");
    /* empty input: no chunks */
    lsfs__chunk *c;
    size_t n;
    cr_assert_eq(lsfs__chunk_split("\n\n  \n", 5, 100, 10, &c, &n), 0);
    cr_assert_eq(n, 0);
    free(c);
}

Test(lsfs_chunk, multibyte_text_with_overlap_terminates, .timeout = 10)
{
    char *t = malloc(100000);
    size_t o = 0, n;
    lsfs__chunk *c;

    for (int s = 0; s < 300; s++)
        o += (size_t)sprintf(t + o, "Caf\xc3\xa9 \xe2\x80\x94 na\xc3\xafve \xe6\x97\xa5\xe6\x9c\xac "
                                    "word%d \xe2\x80\x9c" "quoted\xe2\x80\x9d\xe2\x80\x94" "dash. ", s);
    cr_assert_eq(lsfs__chunk_split(t, o, 40, 10, &c, &n), 0);
    cr_assert_gt(n, 10);
    for (size_t i = 0; i < n; i++) {
        cr_assert_leq(c[i].tokens, 40);
        cr_assert(lsfs__is_text(t + c[i].start, c[i].len), "chunk %zu cuts a character", i);
        if (i)
            cr_assert_gt(c[i].start, c[i - 1].start);
    }
    free(c);
    free(t);
}

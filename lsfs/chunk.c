/*
 * chunk.c - split text into retrieval chunks by structure.
 *
 * The text is first cut into blocks: headings (Markdown "#" lines and
 * "===" / "---" underlined lines), fenced code blocks (``` or ~~~) and
 * paragraphs (runs of non-blank lines).  Blocks are then packed into chunks
 * of at most max_tokens: a heading always starts a new chunk and sets the
 * heading trail ("Install > Network") recorded with each chunk; a block that
 * does not fit closes the chunk; a block larger than a chunk is cut at
 * sentence ends (lines in code), and a sentence larger than a chunk at
 * words.  When a chunk is closed for size, the next one starts overlap
 * tokens earlier so that a passage cut in two is whole in one of them.
 * Chunks are byte ranges of the original text.
 *
 * Token counts are an estimate of the embedding model's WordPiece count:
 * one per word of up to 8 bytes plus one per further 8 bytes, one per
 * punctuation character and one per CJK or other 3-4 byte character.
 *
 * Threads: any; pure functions.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lsfs/lsfs_int.h"

enum { BLK_PARA, BLK_HEADING, BLK_CODE };

typedef struct {
    int type;
    int level;                  /* heading level 1..6 */
    size_t start, end;          /* byte range, end exclusive */
    size_t tstart, tend;        /* heading text range */
} block;

static bool is_word_byte(unsigned char c)
{
    return isalnum(c) || c == '_' || (c >= 0x80 && c < 0xE0);
}

/* The first byte of a character that belongs to a word: ASCII letters and
 * digits, '_' and 2-byte (Latin, Greek, Cyrillic, ...) characters; CJK and
 * other 3-4 byte characters stand alone. */
static bool word_start_char(unsigned char c)
{
    return c < 0x80 ? (isalnum(c) || c == '_') : c < 0xE0;
}

int lsfs__chunk_tokens(const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *)text;
    int tok = 0;
    size_t i = 0;

    while (i < len) {
        unsigned char c = s[i];
        if (c >= 0xE0) {
            /* a 3- or 4-byte character: one token each */
            size_t n = c >= 0xF0 ? 4 : 3;
            tok++;
            i += n;
        } else if (is_word_byte(c)) {
            size_t j = i;
            while (j < len && is_word_byte(s[j]))
                j++;
            tok += 1 + (int)((j - i - 1) / 8);
            i = j;
        } else if (isspace(c)) {
            i++;
        } else {
            tok++;
            i++;
        }
    }
    return tok;
}

bool lsfs__is_text(const void *data, size_t len)
{
    const unsigned char *s = data;
    size_t i = 0;

    while (i < len) {
        unsigned char c = s[i];
        size_t n;
        if (c == 0)
            return false;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF)
            n = 2;
        else if (c >= 0xE0 && c <= 0xEF)
            n = 3;
        else if (c >= 0xF0 && c <= 0xF4)
            n = 4;
        else
            return false;
        if (i + n > len)
            return false;
        for (size_t k = 1; k < n; k++)
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
        /* overlongs and surrogates */
        if ((c == 0xE0 && s[i + 1] < 0xA0) || (c == 0xED && s[i + 1] >= 0xA0) ||
            (c == 0xF0 && s[i + 1] < 0x90) || (c == 0xF4 && s[i + 1] >= 0x90))
            return false;
        i += n;
    }
    return true;
}

/* ---- blocks -------------------------------------------------------------------- */

typedef struct {
    block *b;
    size_t n, cap;
} blocks;

static int blk_push(blocks *bs, block b)
{
    if (bs->n == bs->cap) {
        size_t cap = bs->cap ? bs->cap * 2 : 64;
        block *nb = realloc(bs->b, cap * sizeof *nb);
        if (!nb)
            return AIOS_ENOMEM;
        bs->b = nb;
        bs->cap = cap;
    }
    bs->b[bs->n++] = b;
    return 0;
}

static size_t line_end(const char *t, size_t len, size_t i)
{
    const char *nl = memchr(t + i, '\n', len - i);

    return nl ? (size_t)(nl - t) + 1 : len;
}

static bool blank(const char *t, size_t s, size_t e)
{
    for (size_t i = s; i < e; i++)
        if (!isspace((unsigned char)t[i]))
            return false;
    return true;
}

/* A fence line: up to 3 spaces then ``` or ~~~; gives the fence char. */
static bool fence(const char *t, size_t s, size_t e, char *ch)
{
    size_t i = s;

    while (i < e && i - s < 3 && t[i] == ' ')
        i++;
    if (i + 3 <= e && (t[i] == '`' || t[i] == '~') && t[i + 1] == t[i] && t[i + 2] == t[i]) {
        *ch = t[i];
        return true;
    }
    return false;
}

/* "# Title" -> level and text range. */
static bool atx(const char *t, size_t s, size_t e, int *level, size_t *ts, size_t *te)
{
    size_t i = s;
    int l = 0;

    while (i < e && t[i] == '#' && l < 7) {
        i++;
        l++;
    }
    if (l == 0 || l > 6 || i >= e || (t[i] != ' ' && t[i] != '\t'))
        return false;
    while (i < e && isspace((unsigned char)t[i]))
        i++;
    *te = e;
    while (*te > i && (isspace((unsigned char)t[*te - 1]) || t[*te - 1] == '#'))
        (*te)--;
    *ts = i;
    *level = l;
    return true;
}

/* "=====" or "-----" (3 or more, nothing else) under a one-line paragraph. */
static int underline(const char *t, size_t s, size_t e)
{
    size_t i = s, n = 0;
    char c;

    while (i < e && t[i] == ' ')
        i++;
    if (i >= e || (t[i] != '=' && t[i] != '-'))
        return 0;
    c = t[i];
    while (i < e && t[i] == c) {
        i++;
        n++;
    }
    if (n < 3 || !blank(t, i, e))
        return 0;
    return c == '=' ? 1 : 2;
}

static int make_blocks(const char *t, size_t len, blocks *bs)
{
    size_t i = 0, para = (size_t)-1, para_lines = 0;
    int rc;

    while (i < len) {
        size_t e = line_end(t, len, i);
        char fc;
        int lvl;
        size_t ts, te;

        if (fence(t, i, e, &fc)) {
            size_t j = e;
            if (para != (size_t)-1 && (rc = blk_push(bs, (block){BLK_PARA, 0, para, i, 0, 0})) < 0)
                return rc;
            para = (size_t)-1;
            para_lines = 0;
            while (j < len) {
                size_t je = line_end(t, len, j);
                char fc2;
                bool closing = fence(t, j, je, &fc2) && fc2 == fc;
                j = je;
                if (closing)
                    break;
            }
            if ((rc = blk_push(bs, (block){BLK_CODE, 0, i, j, 0, 0})) < 0)
                return rc;
            i = j;
            continue;
        }
        if (atx(t, i, e, &lvl, &ts, &te)) {
            if (para != (size_t)-1 && (rc = blk_push(bs, (block){BLK_PARA, 0, para, i, 0, 0})) < 0)
                return rc;
            para = (size_t)-1;
            para_lines = 0;
            if ((rc = blk_push(bs, (block){BLK_HEADING, lvl, i, e, ts, te})) < 0)
                return rc;
            i = e;
            continue;
        }
        if (para != (size_t)-1 && para_lines == 1 && (lvl = underline(t, i, e)) > 0) {
            /* the one-line paragraph above is a heading */
            size_t pe = i;
            while (pe > para && isspace((unsigned char)t[pe - 1]))
                pe--;
            size_t ps = para;
            while (ps < pe && isspace((unsigned char)t[ps]))
                ps++;
            if ((rc = blk_push(bs, (block){BLK_HEADING, lvl, para, e, ps, pe})) < 0)
                return rc;
            para = (size_t)-1;
            para_lines = 0;
            i = e;
            continue;
        }
        if (blank(t, i, e)) {
            if (para != (size_t)-1 && (rc = blk_push(bs, (block){BLK_PARA, 0, para, i, 0, 0})) < 0)
                return rc;
            para = (size_t)-1;
            para_lines = 0;
        } else {
            if (para == (size_t)-1)
                para = i;
            para_lines++;
        }
        i = e;
    }
    if (para != (size_t)-1 && (rc = blk_push(bs, (block){BLK_PARA, 0, para, len, 0, 0})) < 0)
        return rc;
    return 0;
}

/* ---- packing ----------------------------------------------------------------------- */

typedef struct {
    const char *t;
    size_t len;
    int max, overlap;
    lsfs__chunk *c;
    size_t n, cap;
    /* the chunk being filled */
    size_t cs, ce;
    int ct;
    bool has_body;              /* holds more than its heading */
    char trail[256];
    char *heads[6];
} packer;

static int emit(packer *p)
{
    lsfs__chunk *c;

    if (p->ce <= p->cs || blank(p->t, p->cs, p->ce))
        return 0;
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 32;
        lsfs__chunk *nc = realloc(p->c, cap * sizeof *nc);
        if (!nc)
            return AIOS_ENOMEM;
        p->c = nc;
        p->cap = cap;
    }
    c = &p->c[p->n++];
    /* trim surrounding blank space from the range */
    while (p->cs < p->ce && isspace((unsigned char)p->t[p->cs]))
        p->cs++;
    while (p->ce > p->cs && isspace((unsigned char)p->t[p->ce - 1]))
        p->ce--;
    c->start = p->cs;
    c->len = p->ce - p->cs;
    c->tokens = lsfs__chunk_tokens(p->t + p->cs, c->len);
    snprintf(c->heading, sizeof c->heading, "%s", p->trail);
    return 0;
}

/* Start of the last `overlap` tokens of [s, e), on a word boundary. */
static size_t tail_start(const char *t, size_t s, size_t e, int overlap)
{
    size_t i = e;
    int tok = 0;

    if (overlap <= 0)
        return e;
    while (i > s) {
        size_t j = i;
        /* step back over spaces, then one word or one symbol */
        while (j > s && isspace((unsigned char)t[j - 1]))
            j--;
        if (j == s)
            break;
        size_t k = j;
        /* one code point back; a word character extends to the whole word */
        do
            k--;
        while (k > s && ((unsigned char)t[k] & 0xC0) == 0x80);
        if (word_start_char((unsigned char)t[k])) {
            while (k > s) {
                size_t m = k;
                do
                    m--;
                while (m > s && ((unsigned char)t[m] & 0xC0) == 0x80);
                if (!word_start_char((unsigned char)t[m]))
                    break;
                k = m;
            }
        }
        int wt = lsfs__chunk_tokens(t + k, j - k);
        if (tok + wt > overlap)
            break;
        tok += wt;
        i = k;
    }
    return i;
}

/* Close the current chunk for size and open the next with overlap. */
static int roll(packer *p)
{
    size_t ns;
    int rc;

    if ((rc = emit(p)) < 0)
        return rc;
    ns = tail_start(p->t, p->cs, p->ce, p->overlap);
    p->cs = ns;
    p->ce = ns < p->ce ? p->ce : ns;
    p->ct = lsfs__chunk_tokens(p->t + p->cs, p->ce - p->cs);
    p->has_body = false;
    return 0;
}

/* Add [s, e) of ut tokens to the current chunk. */
static void add(packer *p, size_t s, size_t e, int ut)
{
    if (p->ce <= p->cs) {
        p->cs = s;
        p->ct = 0;
    }
    p->ce = e;
    p->ct += ut;
    p->has_body = true;
}

/* Pack one unit (a sentence, a line, a word run) that may itself be too big. */
static int pack_unit(packer *p, size_t s, size_t e)
{
    int ut = lsfs__chunk_tokens(p->t + s, e - s);
    int rc;

    if (ut == 0) {
        if (p->ce > p->cs)
            p->ce = e;
        return 0;
    }
    if (p->ct + ut <= p->max) {
        add(p, s, e, ut);
        return 0;
    }
    if (p->has_body && (rc = roll(p)) < 0)
        return rc;
    if (p->ct + ut <= p->max) {
        add(p, s, e, ut);
        return 0;
    }
    /* still too big: cut at words */
    for (size_t i = s; i < e;) {
        size_t j = i;
        while (j < e && isspace((unsigned char)p->t[j]))
            j++;
        size_t k = j;
        if (k < e && is_word_byte((unsigned char)p->t[k]))
            while (k < e && is_word_byte((unsigned char)p->t[k]))
                k++;
        else if (k < e) {
            k++;
            while (k < e && ((unsigned char)p->t[k] & 0xC0) == 0x80)
                k++;
        }
        if (k == j)
            break;
        int wt = lsfs__chunk_tokens(p->t + j, k - j);
        if (p->ct + wt > p->max && p->has_body && (rc = roll(p)) < 0)
            return rc;
        add(p, i, k, wt);
        i = k;
    }
    return 0;
}

/* Sentence ends: ". ", "! ", "? " (or at a newline) in prose; lines in code. */
static int pack_block_split(packer *p, const block *b)
{
    size_t s = b->start, i = b->start;
    int rc;

    while (i < b->end) {
        char c = p->t[i];
        bool cut = false;
        if (c == '\n' && (b->type == BLK_CODE || (i + 1 < b->end && p->t[i + 1] == '\n')))
            cut = true;
        else if (b->type != BLK_CODE && (c == '.' || c == '!' || c == '?') &&
                 (i + 1 >= b->end || isspace((unsigned char)p->t[i + 1])))
            cut = true;
        else if (b->type != BLK_CODE && c == '\n' && i + 1 < b->end &&
                 (p->t[i + 1] == '-' || p->t[i + 1] == '*' || isdigit((unsigned char)p->t[i + 1])))
            cut = true; /* list items */
        i++;
        if (cut) {
            if ((rc = pack_unit(p, s, i)) < 0)
                return rc;
            s = i;
        }
    }
    if (s < b->end)
        return pack_unit(p, s, b->end);
    return 0;
}

static void set_trail(packer *p, const block *b)
{
    size_t o = 0;

    for (int l = b->level - 1; l < 6; l++) {
        free(p->heads[l]);
        p->heads[l] = NULL;
    }
    p->heads[b->level - 1] = strndup(p->t + b->tstart, b->tend - b->tstart);
    p->trail[0] = 0;
    for (int l = 0; l < 6; l++) {
        if (!p->heads[l])
            continue;
        int n = snprintf(p->trail + o, sizeof p->trail - o, "%s%s", o ? " > " : "", p->heads[l]);
        if (n < 0 || (size_t)n >= sizeof p->trail - o) {
            o = sizeof p->trail - 1;
            break;
        }
        o += (size_t)n;
    }
}

int lsfs__chunk_split(const char *text, size_t len, int max_tokens, int overlap,
                      lsfs__chunk **out, size_t *n_out)
{
    blocks bs = {0};
    packer p = {0};
    int rc;

    *out = NULL;
    *n_out = 0;
    if (max_tokens < 8)
        max_tokens = 8;
    if (overlap < 0 || overlap >= max_tokens)
        overlap = max_tokens / 4;
    p.t = text;
    p.len = len;
    p.max = max_tokens;
    p.overlap = overlap;
    if ((rc = make_blocks(text, len, &bs)) < 0)
        goto out;
    for (size_t i = 0; i < bs.n; i++) {
        const block *b = &bs.b[i];
        if (b->type == BLK_HEADING) {
            if ((rc = emit(&p)) < 0)
                goto out;
            set_trail(&p, b);
            p.cs = b->start;
            p.ce = b->end;
            p.ct = lsfs__chunk_tokens(text + b->start, b->end - b->start);
            p.has_body = false;
            continue;
        }
        int bt = lsfs__chunk_tokens(text + b->start, b->end - b->start);
        if (p.ct + bt <= p.max) {
            add(&p, b->start, b->end, bt);
            continue;
        }
        if (p.has_body && (rc = roll(&p)) < 0)
            goto out;
        if (p.ct + bt <= p.max) {
            add(&p, b->start, b->end, bt);
            continue;
        }
        if ((rc = pack_block_split(&p, b)) < 0)
            goto out;
    }
    if ((rc = emit(&p)) < 0)
        goto out;
    *out = p.c;
    *n_out = p.n;
    p.c = NULL;
out:
    for (int l = 0; l < 6; l++)
        free(p.heads[l]);
    free(p.c);
    free(bs.b);
    return rc;
}

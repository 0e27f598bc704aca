/*
 * wordpiece.c - the BERT uncased tokenizer: normalizer, pre-tokenizer and
 * greedy longest-match-first WordPiece, as all-MiniLM-L6-v2 expects.
 *
 * Owns the vocabulary (token strings and an open-addressing hash table),
 * immutable after lsfs__wp_load(); encoding keeps all state on the stack, so
 * any number of threads may encode with one tokenizer at once.
 *
 * The special tokens ([PAD] [UNK] [CLS] [SEP] [MASK]) are recognised verbatim
 * in the raw text first, as the reference tokenizer does.  Pipeline for each
 * other code point of the UTF-8 input (invalid bytes decode to U+FFFD, which
 * the normalizer drops):
 *   normalizer     drop NUL, U+FFFD and control/format/unassigned/private code
 *                  points (tab, LF, CR are white space); white space ends a
 *                  word; CJK ideographs stand alone; NFD, drop nonspacing
 *                  marks, lower-case (tables in unicode_tab.c);
 *   pre-tokenizer  split at white space, each punctuation character is a word;
 *   WordPiece      a word longer than 100 code points is [UNK]; otherwise
 *                  take the longest vocabulary prefix, then the longest
 *                  "##"-prefixed continuation, and so on; a word with a
 *                  remainder no token matches is one [UNK].
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aios/log.h"
#include "lsfs/embed/embed_int.h"

/* ---- Unicode classification ----------------------------------------------- */

/* Binary search of a sorted, disjoint range table. */
static bool in_ranges(const lsfs__cp_range *r, size_t n, uint32_t cp)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < r[mid].lo)
            hi = mid;
        else if (cp > r[mid].hi)
            lo = mid + 1;
        else
            return true;
    }
    return false;
}

/* Unicode White_Space (what the reference splits words at). */
static bool is_space(uint32_t cp)
{
    if (cp < 0x80)
        return cp == ' ' || (cp >= 0x09 && cp <= 0x0D);
    return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
           cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

static bool is_punct(uint32_t cp)
{
    if (cp < 0x80)   /* ASCII punctuation, symbols included ($ + < = > ^ ` | ~) */
        return (cp >= 0x21 && cp <= 0x2F) || (cp >= 0x3A && cp <= 0x40) ||
               (cp >= 0x5B && cp <= 0x60) || (cp >= 0x7B && cp <= 0x7E);
    return in_ranges(lsfs__uc_punct, lsfs__uc_punct_n, cp);
}

/* The "Chinese character" blocks the BERT normalizer isolates. */
static const lsfs__cp_range cjk_ranges[] = {
    {0x3400, 0x4DBF},   {0x4E00, 0x9FFF},   {0xF900, 0xFAFF},   {0x20000, 0x2A6DF},
    {0x2A700, 0x2B73F}, {0x2B740, 0x2B81F}, {0x2B920, 0x2CEAF}, {0x2F800, 0x2FA1F},
};

static bool is_cjk(uint32_t cp)
{
    return cp >= 0x3400 && in_ranges(cjk_ranges, sizeof cjk_ranges / sizeof cjk_ranges[0], cp);
}

static bool is_dropped(uint32_t cp)
{
    if (cp < 0x80)
        return cp < 0x20 ? !(cp == '\t' || cp == '\n' || cp == '\r') : cp == 0x7F;
    return in_ranges(lsfs__uc_drop, lsfs__uc_drop_n, cp);
}

/*
 * The normalized form of one code point (NFD, nonspacing marks dropped,
 * lower-cased) into out[4]; returns the count.  Hangul syllables decompose
 * arithmetically (Unicode 3.12), everything else through the table.
 */
static int normalize_cp(uint32_t cp, uint32_t out[4])
{
    if (cp < 0x80) {
        out[0] = (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
        return 1;
    }
    if (cp >= 0xAC00 && cp <= 0xD7A3) {
        uint32_t s = cp - 0xAC00;
        out[0] = 0x1100 + s / 588;
        out[1] = 0x1161 + (s % 588) / 28;
        if (s % 28 == 0)
            return 2;
        out[2] = 0x11A7 + s % 28;
        return 3;
    }
    size_t lo = 0, hi = lsfs__uc_map_n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < lsfs__uc_map[mid].cp) {
            hi = mid;
        } else if (cp > lsfs__uc_map[mid].cp) {
            lo = mid + 1;
        } else {
            int n = lsfs__uc_map[mid].len > 4 ? 4 : lsfs__uc_map[mid].len;
            for (int i = 0; i < n; i++)
                out[i] = lsfs__uc_map_pool[lsfs__uc_map[mid].off + i];
            return n;
        }
    }
    out[0] = cp;
    return 1;
}

/* Decode one code point at s (len bytes left, len >= 1); invalid or
 * truncated sequences give U+FFFD and consume one byte. */
static uint32_t utf8_next(const unsigned char *s, size_t len, size_t *adv)
{
    unsigned c = s[0];
    uint32_t cp, min;
    size_t n;
    if (c < 0x80) {
        *adv = 1;
        return c;
    } else if (c >= 0xC2 && c <= 0xDF) {
        n = 2, cp = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3, cp = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4, cp = c & 0x07, min = 0x10000;
    } else {
        goto bad;
    }
    if (len < n)
        goto bad;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            goto bad;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        goto bad;
    *adv = n;
    return cp;
bad:
    *adv = 1;
    return 0xFFFD;
}

static size_t utf8_put(uint32_t cp, char *o)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    } else if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    } else if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* ---- vocabulary ------------------------------------------------------------- */

static uint32_t fnv1a(const char *s, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

int32_t lsfs__wp_lookup(const lsfs__wordpiece *wp, const char *s, size_t len)
{
    for (uint32_t i = fnv1a(s, len) & wp->mask;; i = (i + 1) & wp->mask) {
        uint32_t slot = wp->slots[i];
        if (slot == 0)
            return -1;
        const char *t = wp->blob + wp->tok_off[slot - 1];
        if (strncmp(t, s, len) == 0 && t[len] == '\0')
            return (int32_t)(slot - 1);
    }
}

const char *lsfs__wp_token(const lsfs__wordpiece *wp, int32_t id)
{
    if (id < 0 || id >= wp->n_vocab)
        return NULL;
    return wp->blob + wp->tok_off[id];
}

static size_t utf8_count(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static int32_t require_token(const lsfs__wordpiece *wp, const char *name)
{
    int32_t id = lsfs__wp_lookup(wp, name, strlen(name));
    if (id < 0)
        aios_log(AIOS_LOG_ERROR, "embed", "vocabulary has no '%s' token", name);
    return id;
}

/* Read vocab.txt (one token per line, id = line number) and hash it. */
int lsfs__wp_load(const char *vocab_path, lsfs__wordpiece **out)
{
    int rc = AIOS_ENOMEM;
    lsfs__wordpiece *wp = NULL;
    FILE *f = NULL;
    *out = NULL;

    f = fopen(vocab_path, "rb");
    if (!f) {
        rc = errno == ENOENT ? AIOS_ENOENT : aios_from_errno(errno);
        aios_log(AIOS_LOG_ERROR, "embed", "cannot open '%s': %s", vocab_path, strerror(errno));
        return rc;
    }
    if (fseek(f, 0, SEEK_END) != 0)
        goto out_io;
    long size = ftell(f);
    if (size <= 0 || size > (64L << 20) || fseek(f, 0, SEEK_SET) != 0)
        goto out_io;

    wp = calloc(1, sizeof *wp);
    if (!wp)
        goto out_close;
    wp->blob = malloc((size_t)size + 1);
    if (!wp->blob)
        goto out_free;
    if (fread(wp->blob, 1, (size_t)size, f) != (size_t)size)
        goto out_io;
    wp->blob[size] = '\n';

    /* Split into lines in place; count first (a last line may lack its newline). */
    size_t n = 0;
    for (long i = 0; i < size; i++)
        n += wp->blob[i] == '\n';
    if (wp->blob[size - 1] != '\n')
        n++;
    if (n == 0 || n > (1u << 24)) {
        rc = AIOS_ECORRUPT;
        goto out_free;
    }
    wp->tok_off = malloc(n * sizeof *wp->tok_off);
    if (!wp->tok_off)
        goto out_free;
    size_t line = 0, start = 0;
    for (size_t i = 0; i <= (size_t)size && line < n; i++) {   /* blob[size] is '\n' */
        if (wp->blob[i] != '\n')
            continue;
        size_t end = i;
        while (end > start && (wp->blob[end - 1] == '\r' || wp->blob[end - 1] == ' '))
            end--;
        wp->blob[end] = '\0';
        wp->blob[i] = '\0';
        wp->tok_off[line++] = (uint32_t)start;
        start = i + 1;
    }
    wp->n_vocab = (int)line;

    uint32_t cap = 1;
    while (cap < 2 * line)
        cap <<= 1;
    wp->mask = cap - 1;
    wp->slots = calloc(cap, sizeof *wp->slots);
    if (!wp->slots)
        goto out_free;
    for (size_t id = 0; id < line; id++) {
        const char *t = wp->blob + wp->tok_off[id];
        size_t len = strlen(t);
        uint32_t i = fnv1a(t, len) & wp->mask;
        /* A repeated token keeps the later id, as the reference does. */
        while (wp->slots[i] != 0 && strcmp(wp->blob + wp->tok_off[wp->slots[i] - 1], t) != 0)
            i = (i + 1) & wp->mask;
        wp->slots[i] = (uint32_t)id + 1;
        size_t chars = utf8_count(t);
        if (len > 2 && t[0] == '#' && t[1] == '#')
            chars -= 2;
        if ((int)chars > wp->max_chars)
            wp->max_chars = (int)chars;
    }

    wp->id_unk = require_token(wp, "[UNK]");
    wp->id_cls = require_token(wp, "[CLS]");
    wp->id_sep = require_token(wp, "[SEP]");
    wp->id_pad = require_token(wp, "[PAD]");
    wp->id_mask = require_token(wp, "[MASK]");
    if (wp->id_unk < 0 || wp->id_cls < 0 || wp->id_sep < 0 || wp->id_pad < 0 ||
        wp->id_mask < 0) {
        rc = AIOS_ECORRUPT;
        goto out_free;
    }
    fclose(f);
    *out = wp;
    return 0;

out_io:
    rc = AIOS_EIO;
    aios_log(AIOS_LOG_ERROR, "embed", "cannot read '%s'", vocab_path);
out_free:
    lsfs__wp_free(wp);
out_close:
    fclose(f);
    return rc;
}

void lsfs__wp_free(lsfs__wordpiece *wp)
{
    if (!wp)
        return;
    free(wp->slots);
    free(wp->tok_off);
    free(wp->blob);
    free(wp);
}

/* ---- encoding --------------------------------------------------------------- */

/* One word being collected: its UTF-8 bytes and code point offsets, capped
 * just past the [UNK] length limit (only the count matters beyond it). */
typedef struct wp_word {
    char bytes[(LSFS_WP_MAX_WORD_CHARS + 1) * 4 + 4];
    uint16_t coff[LSFS_WP_MAX_WORD_CHARS + 2];   /* byte offset of char i; coff[n] = end */
    size_t nchars;
} wp_word;

typedef struct wp_out {
    int32_t *ids;
    size_t cap, n;
} wp_out;

static void emit(wp_out *o, int32_t id)
{
    if (o->n < o->cap)
        o->ids[o->n] = id;
    o->n++;
}

static void word_add(wp_word *w, uint32_t cp)
{
    if (w->nchars <= LSFS_WP_MAX_WORD_CHARS) {
        size_t at = w->coff[w->nchars];
        at += utf8_put(cp, w->bytes + at);
        w->coff[w->nchars + 1] = (uint16_t)at;
    }
    w->nchars++;
}

/* Greedy longest-match-first WordPiece of the collected word; resets it. */
static void word_flush(const lsfs__wordpiece *wp, wp_word *w, wp_out *o)
{
    size_t n = w->nchars;
    if (n == 0)
        return;
    w->nchars = 0;
    w->coff[0] = 0;
    if (n > LSFS_WP_MAX_WORD_CHARS) {
        emit(o, wp->id_unk);
        return;
    }
    int32_t pieces[LSFS_WP_MAX_WORD_CHARS];
    size_t np = 0, start = 0;
    char key[sizeof w->bytes + 2];
    while (start < n) {
        size_t end = start + (size_t)wp->max_chars < n ? start + (size_t)wp->max_chars : n;
        int32_t found = -1;
        for (; end > start; end--) {
            size_t klen = 0;
            if (start > 0) {
                key[0] = '#';
                key[1] = '#';
                klen = 2;
            }
            size_t blen = (size_t)(w->coff[end] - w->coff[start]);
            memcpy(key + klen, w->bytes + w->coff[start], blen);
            klen += blen;
            found = lsfs__wp_lookup(wp, key, klen);
            if (found >= 0)
                break;
        }
        if (found < 0) {
            emit(o, wp->id_unk);
            return;
        }
        pieces[np++] = found;
        start = end;
    }
    for (size_t i = 0; i < np; i++)
        emit(o, pieces[i]);
}

/* Feed one normalized code point to the pre-tokenizer. */
static void feed(const lsfs__wordpiece *wp, wp_word *w, wp_out *o, uint32_t cp)
{
    if (is_space(cp)) {
        word_flush(wp, w, o);
    } else if (is_punct(cp)) {
        word_flush(wp, w, o);
        word_add(w, cp);
        word_flush(wp, w, o);
    } else {
        word_add(w, cp);
    }
}

/* The special token spelled at s, with its length in *len, or -1. */
static int32_t special_at(const lsfs__wordpiece *wp, const char *s, size_t *len)
{
    static const char *const names[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    const int32_t ids[] = {wp->id_pad, wp->id_unk, wp->id_cls, wp->id_sep, wp->id_mask};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        size_t n = strlen(names[i]);
        if (strncmp(s, names[i], n) == 0) {
            *len = n;
            return ids[i];
        }
    }
    return -1;
}

int lsfs__wp_encode(const lsfs__wordpiece *wp, const char *text, int32_t *ids, size_t cap,
                    size_t *n_total)
{
    wp_word w;
    wp_out o = {ids, ids ? cap : 0, 0};
    const unsigned char *s = (const unsigned char *)text;
    size_t len = strlen(text);

    w.nchars = 0;
    w.coff[0] = 0;
    for (size_t i = 0; i < len;) {
        size_t adv;
        if (s[i] == '[') {
            int32_t sid = special_at(wp, text + i, &adv);
            if (sid >= 0) {
                word_flush(wp, &w, &o);
                emit(&o, sid);
                i += adv;
                continue;
            }
        }
        uint32_t cp = utf8_next(s + i, len - i, &adv);
        i += adv;
        if (is_dropped(cp))
            continue;
        if (is_space(cp)) {
            word_flush(wp, &w, &o);
            continue;
        }
        bool cjk = is_cjk(cp);
        if (cjk)
            word_flush(wp, &w, &o);
        uint32_t norm[4];
        int nn = normalize_cp(cp, norm);
        for (int j = 0; j < nn; j++)
            feed(wp, &w, &o, norm[j]);
        if (cjk)
            word_flush(wp, &w, &o);
    }
    word_flush(wp, &w, &o);
    *n_total = o.n;
    return 0;
}

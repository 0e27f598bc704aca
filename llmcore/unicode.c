/*
 * unicode.c - UTF-8 decoding and encoding, the lower-case lookup and the
 * GPT-2 byte-level mapping (see unicode.h).  Pure functions over the
 * read-only generated tables; any thread.
 */
#include <stdlib.h>
#include <string.h>

#include "aios/error.h"
#include "llmcore/unicode.h"

uint32_t llm_uc_tolower(uint32_t cp)
{
    size_t lo = 0, hi = llm__ucd_lower_n;

    if (cp < 0x80)
        return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;

        if (llm__ucd_lower[mid][0] < cp)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < llm__ucd_lower_n && llm__ucd_lower[lo][0] == cp)
        return llm__ucd_lower[lo][1];
    return cp;
}

static inline bool is_cont(unsigned char c)
{
    return (c & 0xc0) == 0x80;
}

uint32_t llm_utf8_decode_lenient(const unsigned char *s, size_t n, size_t *adv)
{
    unsigned char c = s[0];
    uint32_t cp;

    *adv = 1;
    if (c < 0x80)
        return c;
    if (!(c & 0x40))                       /* stray continuation byte */
        return LLM_UC_REPLACEMENT;
    if (!(c & 0x20)) {
        if (n < 2 || !is_cont(s[1]))
            return LLM_UC_REPLACEMENT;
        *adv = 2;
        return ((uint32_t)(c & 0x1f) << 6) | (s[1] & 0x3f);
    }
    if (!(c & 0x10)) {
        if (n < 3 || !is_cont(s[1]) || !is_cont(s[2]))
            return LLM_UC_REPLACEMENT;
        *adv = 3;
        return ((uint32_t)(c & 0x0f) << 12) | ((uint32_t)(s[1] & 0x3f) << 6) | (s[2] & 0x3f);
    }
    if (!(c & 0x08)) {
        if (n < 4 || !is_cont(s[1]) || !is_cont(s[2]) || !is_cont(s[3]))
            return LLM_UC_REPLACEMENT;
        cp = ((uint32_t)(c & 0x07) << 18) | ((uint32_t)(s[1] & 0x3f) << 12) |
             ((uint32_t)(s[2] & 0x3f) << 6) | (s[3] & 0x3f);
        if (cp >= LLM_UC_MAX_CP)           /* llama.cpp fails here; we replace */
            return LLM_UC_REPLACEMENT;
        *adv = 4;
        return cp;
    }
    return LLM_UC_REPLACEMENT;             /* F8..FF */
}

size_t llm_utf8_encode(uint32_t cp, char out[4])
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | ((cp >> 18) & 0x07));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/*
 * Well-formed sequences (Unicode table 3-7), as the allowed range of the
 * second byte per lead byte; later bytes are always 80..BF.  A row per
 * lead class keeps the rules in one place.
 */
typedef struct {
    unsigned char lo, hi;     /* lead byte range */
    unsigned char len;        /* sequence length */
    unsigned char b1lo, b1hi; /* second byte range */
} utf8_row;

static const utf8_row utf8_rows[] = {
    {0xc2, 0xdf, 2, 0x80, 0xbf},
    {0xe0, 0xe0, 3, 0xa0, 0xbf},
    {0xe1, 0xec, 3, 0x80, 0xbf},
    {0xed, 0xed, 3, 0x80, 0x9f},
    {0xee, 0xef, 3, 0x80, 0xbf},
    {0xf0, 0xf0, 4, 0x90, 0xbf},
    {0xf1, 0xf3, 4, 0x80, 0xbf},
    {0xf4, 0xf4, 4, 0x80, 0x8f},
};

llm_utf8_status llm_utf8_next_strict(const unsigned char *s, size_t n, size_t *len)
{
    const utf8_row *row = NULL;
    size_t i;

    if (s[0] < 0x80) {
        *len = 1;
        return LLM_UTF8_OK;
    }
    for (i = 0; i < sizeof(utf8_rows) / sizeof(utf8_rows[0]); i++) {
        if (s[0] >= utf8_rows[i].lo && s[0] <= utf8_rows[i].hi) {
            row = &utf8_rows[i];
            break;
        }
    }
    if (!row) {                            /* 80..C1, F5..FF */
        *len = 1;
        return LLM_UTF8_INVALID;
    }
    for (i = 1; i < row->len; i++) {
        unsigned char lo = i == 1 ? row->b1lo : 0x80, hi = i == 1 ? row->b1hi : 0xbf;

        if (i >= n) {
            *len = i;
            return LLM_UTF8_INCOMPLETE;
        }
        if (s[i] < lo || s[i] > hi) {
            *len = i;
            return LLM_UTF8_INVALID;
        }
    }
    *len = row->len;
    return LLM_UTF8_OK;
}

bool llm_utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, len;

    while (i < n) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        if (llm_utf8_next_strict(p + i, n - i, &len) != LLM_UTF8_OK)
            return false;
        i += len;
    }
    return true;
}

int llm_utf8_sanitize(const char *s, size_t n, char **out, size_t *out_len)
{
    const unsigned char *p = (const unsigned char *)s;
    /* each bad byte becomes at most 3 bytes */
    char *buf = malloc(n * 3 + 1);
    size_t i = 0, o = 0, len;

    *out = NULL;
    *out_len = 0;
    if (!buf)
        return AIOS_ENOMEM;
    while (i < n) {
        llm_utf8_status st = llm_utf8_next_strict(p + i, n - i, &len);

        if (st == LLM_UTF8_OK) {
            memcpy(buf + o, p + i, len);
            o += len;
        } else {
            o += llm_utf8_encode(LLM_UC_REPLACEMENT, buf + o);
        }
        i += len;
    }
    buf[o] = '\0';
    *out = buf;
    *out_len = o;
    return 0;
}

/* Bytes that stand for themselves in the byte-level mapping. */
static inline bool bytelevel_self(unsigned b)
{
    return (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae);
}

/* The other 68 bytes map, in byte order, to U+0100..U+0143:
 * 00..20 -> +0..32, 7F..A0 -> +33..66, AD -> +67. */
static uint32_t bytelevel_cp(unsigned char b)
{
    if (bytelevel_self(b))
        return b;
    if (b <= 0x20)
        return 0x100u + b;
    if (b >= 0x7f && b <= 0xa0)
        return 0x100u + 33 + (b - 0x7fu);
    return 0x100u + 67;                   /* 0xAD */
}

size_t llm_bytelevel_encode(unsigned char b, char out[2])
{
    char u[4];
    size_t n = llm_utf8_encode(bytelevel_cp(b), u);

    memcpy(out, u, n);
    return n;
}

int llm_bytelevel_decode(uint32_t cp)
{
    if (cp < 0x100)
        return bytelevel_self(cp) ? (int)cp : -1;
    if (cp < 0x100 + 33)
        return (int)(cp - 0x100);
    if (cp < 0x100 + 67)
        return (int)(cp - 0x100 - 33 + 0x7f);
    if (cp == 0x100 + 67)
        return 0xad;
    return -1;
}

/*
 * stop.c - stop strings and UTF-8-safe release of streamed text (see
 * stop.h).
 *
 * Owns the stop strings, the held-back bytes and the output buffer.  Any
 * stop match must start inside the held-back bytes, because everything
 * released before was checked not to be the start of one, so each feed
 * searches only a window of about the longest stop string.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aios/error.h"
#include "llmcore/stop.h"

struct llm_stop {
    int n;
    char *str[LLM_STOP_MAX];
    size_t len[LLM_STOP_MAX];
    char *hold;          /* bytes not yet released */
    size_t n_hold, cap_hold;
    char *out;           /* the text of the last feed */
    size_t n_out, cap_out;
    int matched;         /* index of the stop string that matched, -1 none */
};

static bool reserve(char **p, size_t *cap, size_t need)
{
    size_t nc;
    char *np;

    if (need <= *cap)
        return true;
    nc = *cap ? *cap : 64;
    while (nc < need)
        nc *= 2;
    np = realloc(*p, nc);
    if (!np)
        return false;
    *p = np;
    *cap = nc;
    return true;
}

int llm_stop_new(const char *const *stops, const size_t *lens, int n, llm_stop **out)
{
    llm_stop *s;

    *out = NULL;
    if (n < 0 || n > LLM_STOP_MAX)
        return AIOS_EINVAL;
    s = calloc(1, sizeof(*s));
    if (!s)
        return AIOS_ENOMEM;
    s->matched = -1;
    for (int i = 0; i < n; i++) {
        if (lens[i] == 0)
            continue;
        if (lens[i] > LLM_STOP_MAX_LEN) {
            llm_stop_free(s);
            return AIOS_EINVAL;
        }
        s->str[s->n] = malloc(lens[i]);
        if (!s->str[s->n]) {
            llm_stop_free(s);
            return AIOS_ENOMEM;
        }
        memcpy(s->str[s->n], stops[i], lens[i]);
        s->len[s->n] = lens[i];
        s->n++;
    }
    *out = s;
    return 0;
}

int llm_stop_from_json(const json_t *stop, llm_stop **out, char *err, size_t errlen)
{
    const char *strs[LLM_STOP_MAX];
    size_t lens[LLM_STOP_MAX];
    int n = 0;

    *out = NULL;
    if (json_is_string(stop)) {
        strs[0] = json_string_value(stop);
        lens[0] = json_string_length(stop);
        n = 1;
    } else if (json_is_array(stop)) {
        size_t i;
        const json_t *v;
        if (json_array_size(stop) > LLM_STOP_MAX) {
            snprintf(err, errlen, "'stop' may list at most %d strings", LLM_STOP_MAX);
            return AIOS_EINVAL;
        }
        json_array_foreach(stop, i, v) {
            if (!json_is_string(v)) {
                snprintf(err, errlen, "'stop' must list strings");
                return AIOS_EINVAL;
            }
            strs[n] = json_string_value(v);
            lens[n] = json_string_length(v);
            n++;
        }
    } else if (stop && !json_is_null(stop)) {
        snprintf(err, errlen, "'stop' must be a string or an array of strings");
        return AIOS_EINVAL;
    }
    for (int i = 0; i < n; i++) {
        if (lens[i] > LLM_STOP_MAX_LEN) {
            snprintf(err, errlen, "a stop string is longer than %d bytes", LLM_STOP_MAX_LEN);
            return AIOS_EINVAL;
        }
    }
    return llm_stop_new(strs, lens, n, out);
}

void llm_stop_free(llm_stop *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->n; i++)
        free(s->str[i]);
    free(s->hold);
    free(s->out);
    free(s);
}

/* Length of the UTF-8 sequence a lead byte starts, 0 for an invalid lead. */
static int seq_len(uint8_t b)
{
    if (b < 0x80)
        return 1;
    if (b >= 0xc2 && b <= 0xdf)
        return 2;
    if (b >= 0xe0 && b <= 0xef)
        return 3;
    if (b >= 0xf0 && b <= 0xf4)
        return 4;
    return 0;
}

/* Whether p[0..n) (n = seq_len(p[0])) is a valid UTF-8 character. */
static bool seq_ok(const uint8_t *p, int n)
{
    uint8_t lo = 0x80, hi = 0xbf;

    if (p[0] == 0xe0)
        lo = 0xa0;
    else if (p[0] == 0xed)
        hi = 0x9f;
    else if (p[0] == 0xf0)
        lo = 0x90;
    else if (p[0] == 0xf4)
        hi = 0x8f;
    for (int i = 1; i < n; i++) {
        if (p[i] < (i == 1 ? lo : 0x80) || p[i] > (i == 1 ? hi : 0xbf))
            return false;
    }
    return true;
}

/* The largest e' <= e such that p[0..e') does not end inside a character
 * that may still be completed by bytes after e. */
static size_t safe_end(const char *buf, size_t e)
{
    const uint8_t *p = (const uint8_t *)buf;

    for (size_t back = 1; back <= 4 && back <= e; back++) {
        uint8_t b = p[e - back];
        if ((b & 0xc0) == 0x80)
            continue; /* a continuation byte: keep looking for its lead */
        int n = seq_len(b);
        if (n > (int)back) {
            /* incomplete: hold it if what is there so far is a valid start */
            bool ok = true;
            uint8_t tmp[4] = {b, 0x80, 0x80, 0x80};
            for (size_t k = 1; k < back; k++)
                tmp[k] = p[e - back + k];
            ok = seq_ok(tmp, (int)back);
            return ok ? e - back : e;
        }
        return e;
    }
    return e;
}

/* Bytes of p[0..n) that begin a well-formed sequence (lead plus fitting
 * continuation bytes), at least 1: one U+FFFD replaces them (the "maximal
 * subpart" practice of Unicode). */
static size_t bad_prefix(const uint8_t *p, size_t n)
{
    int k = seq_len(p[0]);
    size_t i = 1;

    if (k <= 1)
        return 1;
    uint8_t tmp[4] = {p[0], 0x80, 0x80, 0x80};
    while (i < (size_t)k && i < n) {
        tmp[i] = p[i];
        if (!seq_ok(tmp, (int)i + 1))
            break;
        i++;
    }
    return i;
}

/* Append p[0..n) to s->out with ill-formed sequences replaced by U+FFFD. */
static bool put_clean(llm_stop *s, const char *buf, size_t n)
{
    const uint8_t *p = (const uint8_t *)buf;

    if (!reserve(&s->out, &s->cap_out, s->n_out + n * 3 + 1))
        return false;
    for (size_t i = 0; i < n;) {
        int k = seq_len(p[i]);
        if (k > 0 && i + (size_t)k <= n && seq_ok(p + i, k)) {
            memcpy(s->out + s->n_out, p + i, (size_t)k);
            s->n_out += (size_t)k;
            i += (size_t)k;
        } else {
            memcpy(s->out + s->n_out, "\xef\xbf\xbd", 3);
            s->n_out += 3;
            i += bad_prefix(p + i, n - i);
        }
    }
    return true;
}

int llm_stop_feed(llm_stop *s, const char *bytes, size_t n, const char **text, size_t *len)
{
    size_t best = SIZE_MAX, keep = 0, e;
    int which = -1;

    s->n_out = 0;
    *text = "";
    *len = 0;
    if (s->matched >= 0)
        return 1;
    if (!reserve(&s->hold, &s->cap_hold, s->n_hold + n + 1))
        return AIOS_ENOMEM;
    memcpy(s->hold + s->n_hold, bytes, n);
    s->n_hold += n;

    for (int i = 0; i < s->n; i++) {
        const char *m = memmem(s->hold, s->n_hold, s->str[i], s->len[i]);
        if (m && (size_t)(m - s->hold) < best) {
            best = (size_t)(m - s->hold);
            which = i;
        }
    }
    if (which >= 0) {
        if (!put_clean(s, s->hold, best))
            return AIOS_ENOMEM;
        s->n_hold = 0;
        s->matched = which;
        *text = s->out;
        *len = s->n_out;
        return 1;
    }
    for (int i = 0; i < s->n; i++) {
        size_t k = s->len[i] - 1 < s->n_hold ? s->len[i] - 1 : s->n_hold;
        for (; k > keep; k--) {
            if (memcmp(s->hold + s->n_hold - k, s->str[i], k) == 0) {
                keep = k;
                break;
            }
        }
    }
    e = safe_end(s->hold, s->n_hold - keep);
    if (!put_clean(s, s->hold, e))
        return AIOS_ENOMEM;
    memmove(s->hold, s->hold + e, s->n_hold - e);
    s->n_hold -= e;
    *text = s->out;
    *len = s->n_out;
    return 0;
}

void llm_stop_flush(llm_stop *s, const char **text, size_t *len)
{
    s->n_out = 0;
    if (s->matched < 0 && s->n_hold && put_clean(s, s->hold, s->n_hold))
        s->n_hold = 0;
    *text = s->out ? s->out : "";
    *len = s->n_out;
}

bool llm_stop_matched(const llm_stop *s, int *which)
{
    if (which)
        *which = s->matched;
    return s->matched >= 0;
}

#define STOP_MAGIC 0x31505453u /* "STP1" */

size_t llm_stop_save(const llm_stop *s, void *buf, size_t cap)
{
    size_t need = 4 + 4 + 8 + s->n_hold;
    uint8_t *p = buf;
    uint32_t magic = STOP_MAGIC;
    int32_t m = s->matched;
    uint64_t n = s->n_hold;

    if (!buf || cap < need)
        return need;
    memcpy(p, &magic, 4);
    memcpy(p + 4, &m, 4);
    memcpy(p + 8, &n, 8);
    if (n)
        memcpy(p + 16, s->hold, s->n_hold);
    return need;
}

int llm_stop_restore(llm_stop *s, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    uint32_t magic;
    int32_t m;
    uint64_t n;

    if (len < 16)
        return AIOS_ECORRUPT;
    memcpy(&magic, p, 4);
    memcpy(&m, p + 4, 4);
    memcpy(&n, p + 8, 8);
    if (magic != STOP_MAGIC || m < -1 || m >= s->n || n != len - 16)
        return AIOS_ECORRUPT;
    if (!reserve(&s->hold, &s->cap_hold, (size_t)n + 1))
        return AIOS_ENOMEM;
    if (n)
        memcpy(s->hold, p + 16, (size_t)n);
    s->n_hold = (size_t)n;
    s->matched = m;
    return 0;
}

/*
 * util.c - small text and time helpers for LSFS: English stop words,
 * keyword extraction, previews cut on word boundaries, ISO-8601 times.
 *
 * Threads: any; pure functions.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lsfs/lsfs_int.h"

/* Sorted, so that lookup is a binary search. */
static const char *const stopwords[] = {
    "a", "about", "above", "after", "again", "against", "all", "also", "am", "an", "and",
    "any", "are", "as", "at", "be", "because", "been", "before", "being", "below",
    "between", "both", "but", "by", "can", "could", "did", "do", "does", "doing", "down",
    "during", "each", "few", "for", "from", "further", "had", "has", "have", "having", "he",
    "her", "here", "hers", "herself", "him", "himself", "his", "how", "i", "if", "in",
    "into", "is", "it", "its", "itself", "just", "me", "more", "most", "my", "myself", "no",
    "nor", "not", "now", "of", "off", "on", "once", "only", "or", "other", "our", "ours",
    "ourselves", "out", "over", "own", "same", "she", "should", "so", "some", "such",
    "than", "that", "the", "their", "theirs", "them", "themselves", "then", "there",
    "these", "they", "this", "those", "through", "to", "too", "under", "until", "up",
    "very", "was", "we", "were", "what", "when", "where", "which", "while", "who", "whom",
    "why", "will", "with", "would", "you", "your", "yours", "yourself", "yourselves",
};

static int cmp_word(const void *key, const void *elem)
{
    return strcmp(key, *(const char *const *)elem);
}

bool lsfs__stopword(const char *w, size_t len)
{
    char buf[32];

    if (len == 0 || len >= sizeof buf)
        return false;
    for (size_t i = 0; i < len; i++)
        buf[i] = (char)tolower((unsigned char)w[i]);
    buf[len] = 0;
    return bsearch(buf, stopwords, sizeof stopwords / sizeof stopwords[0], sizeof stopwords[0],
                   cmp_word) != NULL;
}

static bool word_byte(unsigned char c)
{
    return isalnum(c) || c >= 0x80 || c == '_';
}

int lsfs__query_words(const char *text, char (*words)[64], size_t max, size_t *n_out)
{
    size_t n = 0;

    for (int pass = 0; pass < 2 && n == 0; pass++) {
        /* pass 0 drops stop words; pass 1 (only if nothing was left) keeps them */
        for (const char *s = text; *s;) {
            while (*s && !word_byte((unsigned char)*s))
                s++;
            const char *e = s;
            while (*e && word_byte((unsigned char)*e))
                e++;
            size_t len = (size_t)(e - s);
            if (len == 0)
                break;
            if ((pass == 1 || !lsfs__stopword(s, len)) && len < 64 && n < max) {
                char w[64];
                bool dup = false;
                for (size_t i = 0; i < len; i++)
                    w[i] = (char)tolower((unsigned char)s[i]);
                w[len] = 0;
                for (size_t k = 0; k < n && !dup; k++)
                    dup = strcmp(words[k], w) == 0;
                if (!dup)
                    memcpy(words[n++], w, len + 1);
            }
            s = e;
        }
    }
    *n_out = n;
    return 0;
}

int lsfs__fts_query(const char *text, char **out)
{
    char words[32][64];
    size_t n, len = 0;
    char *q;

    *out = NULL;
    lsfs__query_words(text, words, 32, &n);
    q = malloc(n * 72 + 1);
    if (!q)
        return AIOS_ENOMEM;
    q[0] = 0;
    for (size_t i = 0; i < n; i++)
        len += (size_t)sprintf(q + len, "%s\"%s\"", i ? " OR " : "", words[i]);
    *out = q;
    return 0;
}

json_t *lsfs__keywords(const char *text, size_t len, int max)
{
    json_t *counts = json_object(), *arr = json_array();
    const char *key;
    json_t *val;

    for (size_t i = 0; i < len;) {
        while (i < len && !word_byte((unsigned char)text[i]))
            i++;
        size_t s = i;
        while (i < len && word_byte((unsigned char)text[i]))
            i++;
        size_t n = i - s;
        if (n < 3 || n > 40 || lsfs__stopword(text + s, n) || isdigit((unsigned char)text[s]))
            continue;
        char w[48];
        for (size_t k = 0; k < n; k++)
            w[k] = (char)tolower((unsigned char)text[s + k]);
        w[n] = 0;
        json_t *c = json_object_get(counts, w);
        json_object_set_new(counts, w, json_integer(c ? json_integer_value(c) + 1 : 1));
    }
    /* pick the max most frequent, ties by first letter order for stability */
    for (int k = 0; k < max; k++) {
        const char *best = NULL;
        json_int_t bc = 0;
        json_object_foreach(counts, key, val) {
            json_int_t c = json_integer_value(val);
            if (c > bc || (c == bc && best && strcmp(key, best) < 0)) {
                best = key;
                bc = c;
            }
        }
        if (!best)
            break;
        json_array_append_new(arr, json_string(best));
        json_object_del(counts, best);
    }
    json_decref(counts);
    return arr;
}

char *lsfs__preview(const char *s, size_t len, size_t max)
{
    size_t n = len;
    char *out;

    while (n > 0 && isspace((unsigned char)*s)) {
        s++;
        n--;
    }
    if (n <= max)
        return strndup(s, n);
    n = max;
    /* back to a UTF-8 boundary, then to a space when one is near */
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    for (size_t k = n; k > max / 2; k--)
        if (isspace((unsigned char)s[k])) {
            n = k;
            break;
        }
    out = malloc(n + 4);
    if (!out)
        return NULL;
    memcpy(out, s, n);
    memcpy(out + n, "...", 4);
    return out;
}

void lsfs__fmt_time(int64_t ms, char *buf, size_t len)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;

    gmtime_r(&t, &tm);
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

int lsfs__parse_time(const char *s, int64_t *ms)
{
    struct tm tm = {0};
    int y, mo, d, h = 0, mi = 0, n = 0, off = 0;
    double sec = 0;
    const char *p;
    char *end;

    if (!s || !*s)
        return AIOS_EINVAL;
    /* plain number: seconds since the epoch */
    double v = strtod(s, &end);
    if (*end == 0 && end != s) {
        *ms = (int64_t)(v * 1000.0);
        return 0;
    }
    if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10)
        return AIOS_EINVAL;
    p = s + n;
    if (*p == 'T' || *p == ' ') {
        int k = 0;
        if (sscanf(p + 1, "%2d:%2d%n", &h, &mi, &k) != 2 || k != 5)
            return AIOS_EINVAL;
        p += 1 + k;
        if (*p == ':') {
            sec = strtod(p + 1, &end);
            if (end == p + 1)
                return AIOS_EINVAL;
            p = end;
        }
    }
    if (*p == 'Z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om, k = 0;
        if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &k) != 2 || k != 5)
            return AIOS_EINVAL;
        off = (oh * 60 + om) * (*p == '-' ? -1 : 1);
        p += 1 + k;
    }
    if (*p)
        return AIOS_EINVAL;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec < 0 || sec >= 61)
        return AIOS_EINVAL;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = 0;
    *ms = ((int64_t)timegm(&tm) - (int64_t)off * 60) * 1000 + (int64_t)(sec * 1000.0 + 0.5);
    return 0;
}

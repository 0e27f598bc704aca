/*
 * util.c - UTF-8 validation and repair, clocks.
 *
 * Output of programs and model text reaches clients as JSON strings, which
 * must be valid UTF-8; these helpers find the valid part of a byte stream
 * and repair the rest without ever splitting a character across chunks.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aios/util.h"

/* Length of the valid sequence starting at s (1..4), 0 if invalid, -1 if it
 * could be valid but is cut off at n. */
static int seq_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    int len;
    unsigned min;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        min = 0x10000;
    } else {
        return 0;
    }
    unsigned cp = c & (0x7f >> len);
    for (int i = 1; i < len; i++) {
        if ((size_t)i >= n)
            return -1;
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
        /* reject early what can never become valid */
        if (i == 1 && len == 3 && c == 0xe0 && s[1] < 0xa0)
            return 0;
        if (i == 1 && len == 3 && c == 0xed && s[1] >= 0xa0)
            return 0;
        if (i == 1 && len == 4 && c == 0xf0 && s[1] < 0x90)
            return 0;
        if (i == 1 && len == 4 && c == 0xf4 && s[1] >= 0x90)
            return 0;
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

size_t aios_utf8_valid_prefix(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;

    while (i < n) {
        int l = seq_len(p + i, n - i);
        if (l <= 0)
            break;
        i += (size_t)l;
    }
    return i;
}

bool aios_utf8_valid(const char *s, size_t n)
{
    return aios_utf8_valid_prefix(s, n) == n;
}

char *aios_utf8_sanitize(const char *s, size_t n, bool keep_tail, size_t *consumed, size_t *out_len)
{
    const unsigned char *p = (const unsigned char *)s;
    char *out = malloc(n * 3 + 1), *o = out;
    size_t i = 0;

    if (!out)
        return NULL;
    while (i < n) {
        int l = seq_len(p + i, n - i);
        if (l > 0) {
            memcpy(o, p + i, (size_t)l);
            o += l;
            i += (size_t)l;
        } else if (l < 0 && keep_tail) {
            break;
        } else {
            memcpy(o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        }
    }
    *o = '\0';
    if (consumed)
        *consumed = i;
    if (out_len)
        *out_len = (size_t)(o - out);
    return out;
}

double aios_wall_time(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

uint64_t aios_mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

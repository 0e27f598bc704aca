/*
 * util.h - small helpers shared by every module: UTF-8 checks, time.
 * Pure functions; any thread.
 */
#ifndef AIOS_UTIL_H
#define AIOS_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Length of the longest prefix of s[0..n) that is valid UTF-8 and does not
 * end inside a multi-byte sequence. */
size_t aios_utf8_valid_prefix(const char *s, size_t n);

/* True when s[0..n) is entirely valid UTF-8 (no overlongs, no surrogates). */
bool aios_utf8_valid(const char *s, size_t n);

/*
 * Copy s[0..n) to a malloc'd NUL-terminated string with every invalid byte
 * replaced by U+FFFD.  When keep_tail is true, an incomplete sequence at the
 * very end is not replaced but left out, and *consumed says how many input
 * bytes were used (the caller keeps the rest for the next chunk).
 * Returns NULL on allocation failure; *out_len gets the output length.
 */
char *aios_utf8_sanitize(const char *s, size_t n, bool keep_tail, size_t *consumed, size_t *out_len);

/* Wall-clock time in seconds since the epoch, as a double. */
double aios_wall_time(void);

/* Monotonic nanoseconds. */
uint64_t aios_mono_ns(void);

#endif /* AIOS_UTIL_H */

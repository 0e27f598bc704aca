/*
 * log.h - the one logging vocabulary of aios.
 *
 *   AIOS_LOG(AIOS_LOG_WARN, "lsfs", "cannot open '%s': %s", path, aios_strerror(rc));
 *
 * Messages are lower case with no trailing period.  The level is checked
 * before any formatting happens, so disabled debug lines cost one compare.
 * Thread-safe: each line is written with a single write(2).
 */
#ifndef AIOS_LOG_H
#define AIOS_LOG_H

#include <stdbool.h>

typedef enum {
    AIOS_LOG_ERROR = 0,
    AIOS_LOG_WARN = 1,
    AIOS_LOG_INFO = 2,
    AIOS_LOG_DEBUG = 3,
} aios_log_level;

extern int aios_log_level_current;

/* Parse "error" / "warn" / "info" / "debug"; returns 0 or AIOS_EINVAL. */
int aios_log_parse_level(const char *s, aios_log_level *out);
const char *aios_log_level_name(aios_log_level lvl);

/* Set the threshold; lines above it are dropped. */
void aios_log_set_level(aios_log_level lvl);

/* Send log lines to fd (default 2). */
void aios_log_set_fd(int fd);

void aios__log(aios_log_level lvl, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define AIOS_LOG(lvl, module, ...)                                             \
    do {                                                                       \
        if ((int)(lvl) <= aios_log_level_current)                              \
            aios__log((lvl), (module), __VA_ARGS__);                           \
    } while (0)

#define aios_log AIOS_LOG

#endif /* AIOS_LOG_H */

/*
 * log.c - formatted, levelled log lines to one descriptor.
 *
 * Each line carries a UTC timestamp with milliseconds, the level, the module
 * and the message, and is emitted with one write(2) so lines from different
 * threads never interleave.  Any thread may log.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "aios/error.h"
#include "aios/log.h"

int aios_log_level_current = AIOS_LOG_INFO;
static int log_fd = 2;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

int aios_log_parse_level(const char *s, aios_log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (s && strcmp(s, level_names[i]) == 0) {
            *out = (aios_log_level)i;
            return 0;
        }
    }
    return AIOS_EINVAL;
}

const char *aios_log_level_name(aios_log_level lvl)
{
    return (lvl >= 0 && lvl <= 3) ? level_names[lvl] : "?";
}

void aios_log_set_level(aios_log_level lvl)
{
    aios_log_level_current = (int)lvl;
}

void aios_log_set_fd(int fd)
{
    log_fd = fd;
}

void aios__log(aios_log_level lvl, const char *module, const char *fmt, ...)
{
    char line[2048];
    struct timespec ts;
    struct tm tm;
    size_t n;
    int w;
    va_list ap;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    w = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s %s: ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                 tm.tm_sec, ts.tv_nsec / 1000000L, aios_log_level_name(lvl),
                 module ? module : "aios");
    n = (w > 0 && (size_t)w < sizeof(line)) ? (size_t)w : 0;
    va_start(ap, fmt);
    w = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
    va_end(ap);
    if (w > 0)
        n += ((size_t)w < sizeof(line) - n - 1) ? (size_t)w : sizeof(line) - n - 2;
    line[n++] = '\n';
    if (write(log_fd, line, n) < 0) {
        /* nowhere left to report a failed log write */
    }
}

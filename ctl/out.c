/*
 * out.c - aiosctl's output for people and scripts: JSON printing, aligned
 * tables cut to the terminal's width, durations and sizes.
 * Single-threaded.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "ctl/ctl_int.h"

void ctl_print_json(ctl_ctx *x, const json_t *v)
{
    char *s = json_dumps(v, JSON_ENCODE_ANY | (x->json ? JSON_COMPACT : JSON_INDENT(2)));

    if (s) {
        fputs(s, stdout);
        fputc('\n', stdout);
        free(s);
    }
    fflush(stdout);
}

size_t ctl_width(const char *s)
{
    size_t n = 0;

    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

/* Byte length of the first `cols` display columns of s. */
static size_t prefix_bytes(const char *s, size_t cols)
{
    size_t i = 0, n = 0;

    while (s[i]) {
        if (((unsigned char)s[i] & 0xc0) != 0x80) {
            if (n == cols)
                break;
            n++;
        }
        i++;
    }
    return i;
}

struct ctl_table {
    int ncols;
    char **headers;
    char *align;
    char ***rows;
    size_t nrows, cap;
};

ctl_table *ctl_table_new(int ncols, const char *const *headers, const char *align)
{
    ctl_table *t = calloc(1, sizeof(*t));

    if (!t)
        return NULL;
    t->ncols = ncols;
    t->headers = calloc((size_t)ncols, sizeof(char *));
    t->align = strdup(align ? align : "");
    for (int i = 0; i < ncols; i++)
        t->headers[i] = strdup(headers[i]);
    return t;
}

void ctl_table_add(ctl_table *t, const char *const *cells)
{
    char **row;

    if (!t)
        return;
    if (t->nrows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char ***nr = realloc(t->rows, cap * sizeof(*nr));
        if (!nr)
            return;
        t->rows = nr;
        t->cap = cap;
    }
    row = calloc((size_t)t->ncols, sizeof(char *));
    if (!row)
        return;
    for (int i = 0; i < t->ncols; i++) {
        const char *s = cells[i] ? cells[i] : "-";
        /* one line per cell: newlines and tabs would break the columns */
        row[i] = strdup(s);
        for (char *p = row[i]; p && *p; p++)
            if (*p == '\n' || *p == '\t' || *p == '\r')
                *p = ' ';
    }
    t->rows[t->nrows++] = row;
}

size_t ctl_table_rows(const ctl_table *t)
{
    return t ? t->nrows : 0;
}

static int term_cols(FILE *f)
{
    struct winsize ws;

    if (isatty(fileno(f)) && ioctl(fileno(f), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20)
        return ws.ws_col;
    return 0;   /* not a terminal: never cut */
}

static void print_row(const ctl_table *t, char **cells, const size_t *w, int cols, FILE *f)
{
    size_t used = 0;

    for (int i = 0; i < t->ncols; i++) {
        size_t cw = ctl_width(cells[i]);
        bool last = i == t->ncols - 1;
        bool right = i < (int)strlen(t->align) && t->align[i] == 'r';

        if (last) {
            /* the last column takes what is left of the line */
            if (cols > 0 && used + cw > (size_t)cols && (size_t)cols > used + 1) {
                size_t keep = (size_t)cols - used - 1;
                fwrite(cells[i], 1, prefix_bytes(cells[i], keep), f);
                fputs("\xe2\x80\xa6", f);   /* … */
            } else if (right) {
                fprintf(f, "%*s%s", (int)(w[i] - cw), "", cells[i]);
            } else {
                fputs(cells[i], f);
            }
            break;
        }
        if (right)
            fprintf(f, "%*s%s  ", (int)(w[i] - cw), "", cells[i]);
        else
            fprintf(f, "%s%*s  ", cells[i], (int)(w[i] - cw), "");
        used += w[i] + 2;
    }
    fputc('\n', f);
}

void ctl_table_print(ctl_table *t, FILE *f)
{
    size_t *w;
    int cols = term_cols(f);

    if (!t)
        return;
    w = calloc((size_t)t->ncols, sizeof(*w));
    if (!w)
        return;
    for (int i = 0; i < t->ncols; i++) {
        w[i] = ctl_width(t->headers[i]);
        for (size_t r = 0; r < t->nrows; r++) {
            size_t cw = ctl_width(t->rows[r][i]);
            if (cw > w[i])
                w[i] = cw;
        }
    }
    print_row(t, t->headers, w, cols, f);
    for (size_t r = 0; r < t->nrows; r++)
        print_row(t, t->rows[r], w, cols, f);
    free(w);
    fflush(f);
}

void ctl_table_free(ctl_table *t)
{
    if (!t)
        return;
    for (size_t r = 0; r < t->nrows; r++) {
        for (int i = 0; i < t->ncols; i++)
            free(t->rows[r][i]);
        free(t->rows[r]);
    }
    for (int i = 0; i < t->ncols; i++)
        free(t->headers[i]);
    free(t->headers);
    free(t->rows);
    free(t->align);
    free(t);
}

void ctl_fmt_duration(double s, char *buf, size_t len)
{
    long long t = (long long)s;

    if (s < 0)
        snprintf(buf, len, "-");
    else if (s < 10)
        snprintf(buf, len, "%.2fs", s);
    else if (s < 60)
        snprintf(buf, len, "%.1fs", s);
    else if (t < 3600)
        snprintf(buf, len, "%lldm%02llds", t / 60, t % 60);
    else if (t < 86400)
        snprintf(buf, len, "%lldh%02lldm", t / 3600, (t % 3600) / 60);
    else
        snprintf(buf, len, "%lldd%02lldh", t / 86400, (t % 86400) / 3600);
}

void ctl_fmt_bytes(double b, char *buf, size_t len)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;

    while (b >= 1024 && u < 4) {
        b /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, len, "%.0f B", b);
    else
        snprintf(buf, len, b < 10 ? "%.1f %s" : "%.0f %s", b, units[u]);
}

const char *ctl_jstr(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

int ctl_usage_err(ctl_ctx *x, const char *cmd, const char *fmt, ...)
{
    const ctl_cmd *c = ctl_cmd_find(cmd);
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    ctl_errorf(x, "%s: %s", cmd, msg);
    if (c)
        fprintf(stderr, "usage: %s%s %s\n", x->interactive ? "" : "aiosctl ", c->name, c->args);
    return CTL_EUSAGE;
}

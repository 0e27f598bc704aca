/*
 * ctl_int.h - what the files of aiosctl share: the command table, the
 * context a command runs in, exit codes and output helpers.
 *
 * Commands are rows in tables, one table per file (cmds_core.c has the
 * kernel's commands); ctl/cmdsets.def lists the tables, so adding a family
 * of commands (llm, fs, tools) is a new file plus one line there.  aiosctl
 * is single-threaded; the only other actor is the SIGINT handler, which
 * sets ctl_interrupted.
 */
#ifndef CTL_INT_H
#define CTL_INT_H

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

#include "aios/client.h"

/* ---- exit codes (documented in docs/CLIENTS.md and `aiosctl help`) ----------- */

enum {
    CTL_OK = 0,           /* success */
    CTL_EFAIL = 1,        /* the daemon answered with an error */
    CTL_EUSAGE = 2,       /* bad command line */
    CTL_ENODAEMON = 3,    /* cannot reach aiosd, or the connection was lost */
    CTL_ETIMEOUT = 4,     /* --timeout passed, or the daemon reported a timeout */
    CTL_ECONFIRM = 5,     /* the call needs a person's confirmation first */
    CTL_EINTR = 130,      /* interrupted with Ctrl-C (the call was cancelled) */
};

/* ---- context ---------------------------------------------------------------------- */

typedef struct ctl_ctx {
    char socket[256];      /* --socket, or the default path */
    bool json;             /* --json: raw JSON for scripts */
    int timeout_ms;        /* --timeout, 0: none */
    bool interactive;      /* running inside the shell */
    aios_client *conn;     /* connected on first use */
    json_t *methods;       /* sys.methods cache (array), NULL until needed */
} ctl_ctx;

/* Raised by the SIGINT handler while a command runs. */
extern volatile sig_atomic_t ctl_interrupted;

/* ---- the command table --------------------------------------------------------------- */

/* What the shell completes for a command's arguments. */
typedef enum {
    CTL_COMP_NONE = 0,
    CTL_COMP_METHOD,       /* first argument: a method name; then its parameters as key= */
    CTL_COMP_TOPIC,        /* a command or a method name */
    CTL_COMP_PROC,         /* process ids */
    CTL_COMP_CONFIRM,      /* pending confirmation ids */
} ctl_comp;

enum {
    CTL_F_OFFLINE = 1u << 0,     /* works without a daemon */
    CTL_F_SHELL_ONLY = 1u << 1,  /* only inside the shell (exit, quit) */
    CTL_F_HIDDEN = 1u << 2,      /* not listed by help */
};

typedef struct ctl_cmd {
    const char *name;
    const char *args;      /* synopsis, e.g. "[-f] ID" */
    const char *help;      /* one line */
    int (*fn)(ctl_ctx *x, int argc, char **argv);   /* argv[0] is the name; returns a CTL_* code */
    ctl_comp comp;
    unsigned flags;
    const char *details;   /* more lines for `help NAME` (options), or NULL */
} ctl_cmd;

/* Find a command by name (NULL if none); iterate with ctl_cmd_at(i). */
const ctl_cmd *ctl_cmd_find(const char *name);
const ctl_cmd *ctl_cmd_at(size_t i);

/* Run one command line already split into words (argv[0] = command or a
 * method name, which means `call`).  Returns a CTL_* code. */
int ctl_run(ctl_ctx *x, int argc, char **argv);

/* ---- talking to the daemon (main.c) -------------------------------------------------- */

/* Connect if not connected.  On failure prints why; returns a CTL_* code. */
int ctl_connect(ctl_ctx *x);
void ctl_disconnect(ctl_ctx *x);

/*
 * Call method with params (borrowed, may be NULL) under --timeout.  Returns
 * CTL_OK with *result (caller frees), or prints the error (JSON with
 * --json) and returns its CTL_* code with *result = NULL.  stream_cb may be
 * NULL.
 */
int ctl_call(ctl_ctx *x, const char *method, json_t *params, json_t **result);
int ctl_call_stream(ctl_ctx *x, const char *method, json_t *params, aios_stream_cb stream_cb, void *arg,
                    json_t **result);

/* The method table (sys.methods), fetched once per connection; NULL when
 * the daemon cannot be reached (nothing printed). */
json_t *ctl_methods(ctl_ctx *x);
/* One method's row from the table, or NULL. */
json_t *ctl_method(ctl_ctx *x, const char *name);

/* Print an error a person can act on ("aiosctl: ..." or, in the shell,
 * "error: ..."). */
void ctl_errorf(ctl_ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The CTL_* exit code for an AIOS_E* error. */
int ctl_code_for(int aios_code);

/* ---- output (out.c) ----------------------------------------------------------------- */

/* Print v as JSON: compact on one line with --json, indented otherwise. */
void ctl_print_json(ctl_ctx *x, const json_t *v);

typedef struct ctl_table ctl_table;

/* A table with ncols columns; align is one char per column, 'l' or 'r'.
 * The last column is never padded and is cut to the terminal's width. */
ctl_table *ctl_table_new(int ncols, const char *const *headers, const char *align);
/* Add a row of ncols strings (copied; NULL prints as "-"). */
void ctl_table_add(ctl_table *t, const char *const *cells);
void ctl_table_print(ctl_table *t, FILE *f);
void ctl_table_free(ctl_table *t);
size_t ctl_table_rows(const ctl_table *t);

/* "1.2 s", "3m04s", "2h03m", "4d02h" for a duration in seconds. */
void ctl_fmt_duration(double s, char *buf, size_t len);
/* "812 KiB", "3.1 MiB" */
void ctl_fmt_bytes(double b, char *buf, size_t len);
/* o[key] as a C string, or NULL when missing or not a string. */
const char *ctl_jstr(const json_t *o, const char *key);
/* A bad command line: "aiosctl: CMD: message" and the command's synopsis
 * on stderr; returns CTL_EUSAGE. */
int ctl_usage_err(ctl_ctx *x, const char *cmd, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Display width of a UTF-8 string (code points; good enough for tables). */
size_t ctl_width(const char *s);

/* ---- parameters (params.c) --------------------------------------------------------- */

/*
 * Build a params object for method from command-line words: one JSON
 * object word ('{"id": 3}'), or KEY=VALUE words where VALUE is JSON when
 * it parses as JSON and the parameter's schema allows it, else a string.
 * schema (may be NULL) is the method's params schema.  On error writes a
 * message to err and returns NULL.
 */
json_t *ctl_params_from_words(const json_t *schema, int argc, char **argv, char *err, size_t errlen);

/* ---- words (shell.c) ---------------------------------------------------------------- */

/*
 * Split a line into words like a shell (spaces, '...', "...", \) with one
 * addition: a word that starts with { or [ runs to its matching bracket
 * verbatim, so JSON needs no quoting.  Returns the count, fills argv
 * (malloc'd strings, NULL-terminated, free with ctl_words_free), or -1 with
 * err set on an unterminated quote or bracket.
 */
int ctl_split_words(const char *line, char ***argv, char *err, size_t errlen);
void ctl_words_free(char **argv);

/* Interactive shell; returns the exit code. */
int ctl_shell(ctl_ctx *x);

#endif /* CTL_INT_H */

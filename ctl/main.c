/*
 * main.c - aiosctl: global options, the connection to aiosd, calls with
 * errors turned into messages and exit codes, the command dispatcher.
 *
 *   aiosctl [--socket PATH] [--json] [--timeout MS] COMMAND [ARGS...]
 *   aiosctl                      (interactive shell, see shell.c)
 *
 * Owns the SIGINT handling: while a call is in flight, Ctrl-C raises
 * ctl_interrupted, libaios sends $/cancel for the call and the command ends
 * with exit code 130.  Single-threaded.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aios/error.h"
#include "ctl/ctl_int.h"

volatile sig_atomic_t ctl_interrupted;

/* ---- the command tables -------------------------------------------------------------- */

#define CTL_CMDSET(name)                            \
    extern const ctl_cmd ctl_##name##_cmds[];       \
    extern const size_t ctl_##name##_ncmds;
#include "ctl/cmdsets.def"
#undef CTL_CMDSET

static const struct {
    const ctl_cmd *rows;
    const size_t *n;
} cmdsets[] = {
#define CTL_CMDSET(name) {ctl_##name##_cmds, &ctl_##name##_ncmds},
#include "ctl/cmdsets.def"
#undef CTL_CMDSET
};

const ctl_cmd *ctl_cmd_at(size_t i)
{
    for (size_t s = 0; s < sizeof(cmdsets) / sizeof(cmdsets[0]); s++) {
        if (i < *cmdsets[s].n)
            return &cmdsets[s].rows[i];
        i -= *cmdsets[s].n;
    }
    return NULL;
}

const ctl_cmd *ctl_cmd_find(const char *name)
{
    const ctl_cmd *c;

    for (size_t i = 0; (c = ctl_cmd_at(i)) != NULL; i++)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

/* ---- messages and codes ------------------------------------------------------------------ */

void ctl_errorf(ctl_ctx *x, const char *fmt, ...)
{
    va_list ap;

    fflush(stdout);
    fputs(x->interactive ? "error: " : "aiosctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* AIOS_E* -> exit code, a table rather than a ladder. */
static const struct {
    int code;
    int exit;
} exit_map[] = {
    {AIOS_EUNAVAIL, CTL_ENODAEMON}, {AIOS_ECLOSED, CTL_ENODAEMON}, {AIOS_ETIMEDOUT, CTL_ETIMEOUT},
    {AIOS_ECONFIRM, CTL_ECONFIRM},
};

int ctl_code_for(int code)
{
    if (code >= 0)
        return CTL_OK;
    for (size_t i = 0; i < sizeof(exit_map) / sizeof(exit_map[0]); i++)
        if (exit_map[i].code == code)
            return exit_map[i].exit;
    return CTL_EFAIL;
}

static void not_running(ctl_ctx *x, const aios_error *e)
{
    if (e->code == AIOS_EUNAVAIL)
        ctl_errorf(x, "no aiosd at %s (is it running? start it with `aiosd` or `make run`)", x->socket);
    else if (e->code == AIOS_EPERM && !e->remote)
        ctl_errorf(x, "cannot open %s: permission denied (is the socket another user's?)", x->socket);
    else
        ctl_errorf(x, "cannot talk to aiosd at %s: %s", x->socket, e->message);
}

/* Print a failed call: a message for people, the error object with --json. */
static int report(ctl_ctx *x, const char *method, const aios_error *e)
{
    /* EUNAVAIL from the daemon itself (no model, no sandbox) is an answer,
     * not an unreachable daemon */
    int code = e->remote && e->code == AIOS_EUNAVAIL ? CTL_EFAIL : ctl_code_for(e->code);

    if (e->code == AIOS_ECANCELED && ctl_interrupted)
        code = CTL_EINTR;
    if (e->code == AIOS_ECLOSED) {
        ctl_errorf(x, "lost the connection to aiosd at %s", x->socket);
        ctl_disconnect(x);
        return code;
    }
    if (x->json) {
        json_t *o = json_pack("{s:{s:i,s:s,s:s}}", "error", "code", e->rpc_code ? e->rpc_code : aios_rpc_code(e->code),
                              "name", e->name, "message", e->message);
        json_t *inner = json_object_get(o, "error");
        if (e->field[0])
            json_object_set_new(inner, "field", json_string(e->field));
        if (e->data)
            json_object_set(inner, "data", e->data);
        json_object_set_new(inner, "exit", json_integer(code));
        ctl_print_json(x, o);
        json_decref(o);
        return code;
    }
    if (code == CTL_EINTR) {
        ctl_errorf(x, "interrupted: %s was cancelled", method);
        return code;
    }
    if (e->field[0])
        ctl_errorf(x, "%s (%s, field '%s')", e->message, e->name, e->field);
    else
        ctl_errorf(x, "%s (%s)", e->message, e->name);
    if (e->code == AIOS_ECONFIRM && json_is_integer(json_object_get(e->data, "confirm"))) {
        long long id = (long long)json_integer_value(json_object_get(e->data, "confirm"));
        fprintf(stderr, "  a person must approve it first: %sconfirm %lld, then repeat the call with confirm=%lld\n",
                x->interactive ? "" : "aiosctl ", id, id);
    }
    return code;
}

/* ---- the connection ------------------------------------------------------------------------- */

int ctl_connect(ctl_ctx *x)
{
    aios_error e = {0};
    aios_client_opts o = {
        .client_name = "aiosctl",
        .interrupt = &ctl_interrupted,
        .err = &e,
        .no_env_agent = true,
    };
    int rc;

    if (x->conn && aios_client_alive(x->conn))
        return CTL_OK;
    ctl_disconnect(x);
    /* an aiosctl started by an agent acts as that agent */
    if (getenv("AIOS_AGENT_ID") && getenv("AIOS_AGENT_TOKEN"))
        o.no_env_agent = false;
    rc = aios_client_connect(x->socket, &o, &x->conn);
    if (rc < 0) {
        int code;

        if (rc == AIOS_ECANCELED && ctl_interrupted) {
            ctl_errorf(x, "interrupted");
            code = CTL_EINTR;
        } else if (e.remote) {
            /* the daemon refused the handshake, e.g. a bad agent token */
            code = report(x, "sys.hello", &e);
        } else {
            not_running(x, &e);
            code = CTL_ENODAEMON;
        }
        aios_error_clear(&e);
        return code;
    }
    return CTL_OK;
}

void ctl_disconnect(ctl_ctx *x)
{
    aios_client_close(x->conn);
    x->conn = NULL;
    json_decref(x->methods);
    x->methods = NULL;
}

int ctl_call_stream(ctl_ctx *x, const char *method, json_t *params, aios_stream_cb stream_cb, void *arg,
                    json_t **result)
{
    aios_error e = {0};
    int rc;

    *result = NULL;
    if ((rc = ctl_connect(x)) != CTL_OK)
        return rc;
    rc = aios_call_stream(x->conn, method, params, stream_cb, arg, x->timeout_ms, result, &e);
    if (rc < 0) {
        int code = report(x, method, &e);
        aios_error_clear(&e);
        return code;
    }
    return CTL_OK;
}

int ctl_call(ctl_ctx *x, const char *method, json_t *params, json_t **result)
{
    return ctl_call_stream(x, method, params, NULL, NULL, result);
}

json_t *ctl_methods(ctl_ctx *x)
{
    aios_error e = {0};
    json_t *res = NULL;

    if (x->methods && x->conn && aios_client_alive(x->conn))
        return x->methods;
    if (!x->conn || !aios_client_alive(x->conn)) {
        aios_client_opts o = {.client_name = "aiosctl", .no_env_agent = true, .err = &e};
        ctl_disconnect(x);
        if (aios_client_connect(x->socket, &o, &x->conn) < 0) {
            aios_error_clear(&e);
            return NULL;
        }
    }
    if (aios_call(x->conn, "sys.methods", NULL, 5000, &res, &e) < 0) {
        aios_error_clear(&e);
        return NULL;
    }
    x->methods = json_incref(json_object_get(res, "methods"));
    json_decref(res);
    return x->methods;
}

json_t *ctl_method(ctl_ctx *x, const char *name)
{
    json_t *all = ctl_methods(x), *m;
    size_t i;

    json_array_foreach(all, i, m) {
        if (strcmp(json_string_value(json_object_get(m, "name")) ?: "", name) == 0)
            return m;
    }
    return NULL;
}

/* ---- dispatch ------------------------------------------------------------------------------- */

int ctl_run(ctl_ctx *x, int argc, char **argv)
{
    const ctl_cmd *cmd;
    bool saved_json = x->json;
    int rc;

    /* per-line global flag in the shell: `--json ps` */
    while (argc > 0 && strcmp(argv[0], "--json") == 0) {
        x->json = true;
        argc--;
        argv++;
    }
    if (argc == 0) {
        x->json = saved_json;
        return CTL_OK;
    }
    cmd = ctl_cmd_find(argv[0]);
    if (!cmd && strchr(argv[0], '.') && (cmd = ctl_cmd_find("call")) != NULL) {
        /* a method name on its own: `sys.ping` = `call sys.ping` */
        char **v = calloc((size_t)argc + 2, sizeof(*v));
        if (!v) {
            x->json = saved_json;
            return CTL_EFAIL;
        }
        v[0] = (char *)"call";
        memcpy(v + 1, argv, (size_t)argc * sizeof(*v));
        optind = 0;
        rc = cmd->fn(x, argc + 1, v);
        free(v);
        x->json = saved_json;
        return rc;
    }
    if (!cmd || (!x->interactive && (cmd->flags & CTL_F_SHELL_ONLY))) {
        ctl_errorf(x, "unknown command '%s' (try `aiosctl help`)", argv[0]);
        x->json = saved_json;
        return CTL_EUSAGE;
    }
    optind = 0;   /* reset getopt for every command (GNU: full re-init) */
    rc = cmd->fn(x, argc, argv);
    x->json = saved_json;
    return rc;
}

static void on_sigint(int sig)
{
    (void)sig;
    ctl_interrupted = 1;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: aiosctl [--socket PATH] [--json] [--timeout MS] COMMAND [ARGS...]\n"
               "       aiosctl                 (interactive shell)\n"
               "Run `aiosctl help` for the commands and exit codes.\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"socket", required_argument, NULL, 's'}, {"json", no_argument, NULL, 'j'},
        {"timeout", required_argument, NULL, 't'}, {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},      {NULL, 0, NULL, 0},
    };
    ctl_ctx x = {0};
    struct sigaction sa = {.sa_handler = on_sigint};
    int opt, rc;

    signal(SIGPIPE, SIG_IGN);
    while ((opt = getopt_long(argc, argv, "+s:jt:hV", opts, NULL)) != -1) {
        switch (opt) {
        case 's': snprintf(x.socket, sizeof(x.socket), "%s", optarg); break;
        case 'j': x.json = true; break;
        case 't': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 0 || v > 86400000) {
                fprintf(stderr, "aiosctl: --timeout needs milliseconds, got '%s'\n", optarg);
                return CTL_EUSAGE;
            }
            x.timeout_ms = (int)v;
            break;
        }
        case 'h': usage(stdout); return CTL_OK;
        case 'V': printf("aiosctl %s (protocol %d)\n", AIOS_CLIENT_VERSION, AIOS_CLIENT_PROTOCOL); return CTL_OK;
        default: usage(stderr); return CTL_EUSAGE;
        }
    }
    if (!x.socket[0] && aios_client_default_socket(x.socket, sizeof(x.socket)) < 0) {
        fprintf(stderr, "aiosctl: the default socket path is too long; use --socket\n");
        return CTL_EUSAGE;
    }
    /* no SA_RESTART: a blocking read or poll returns at once on Ctrl-C */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    if (optind >= argc) {
        x.interactive = true;
        rc = ctl_shell(&x);
    } else {
        rc = ctl_run(&x, argc - optind, argv + optind);
    }
    ctl_disconnect(&x);
    fflush(stdout);
    return rc;
}

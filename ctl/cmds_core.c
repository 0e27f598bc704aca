/*
 * cmds_core.c - aiosctl's commands for the kernel: processes (ps, spawn,
 * kill, wait, logs), the daemon (info, stats, shutdown, ping),
 * confirmations, and the generic ones (call, methods, help).
 *
 * Each command parses its own options with getopt_long, makes its calls
 * through ctl_call() (which prints errors and picks the exit code) and
 * prints a table or a sentence for people, or the raw result with --json.
 * Single-threaded.
 */
#include <getopt.h>
#include <signal.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aios/error.h"
#include "ctl/ctl_int.h"

/* ---- small helpers ---------------------------------------------------------------- */

/* Parse a positive integer id. */
static bool parse_id(const char *s, long long *out)
{
    char *end;
    long long v;

    if (!s || !*s)
        return false;
    v = strtoll(s, &end, 10);
    if (*end || v < 1)
        return false;
    *out = v;
    return true;
}

static long long jint(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? (long long)json_integer_value(v) : (long long)json_number_value(v);
}

/* Help for a command with -h/--help. */
static int cmd_usage(ctl_ctx *x, const char *name)
{
    const ctl_cmd *c = ctl_cmd_find(name);

    printf("usage: %s%s %s\n  %s\n", x->interactive ? "" : "aiosctl ", c->name, c->args, c->help);
    if (c->details)
        printf("%s", c->details);
    return CTL_OK;
}

/* getopt_long over argv with the common -h/--help; returns the option,
 * -1 at the end, '?' for a bad option (message printed by getopt). */
#define HELP_OPT {"help", no_argument, NULL, 'h'}

/* ---- ps ---------------------------------------------------------------------------- */

static int cmd_ps(ctl_ctx *x, int argc, char **argv)
{
    static const struct option opts[] = {{"all", no_argument, NULL, 'a'}, {"state", required_argument, NULL, 's'},
                                         HELP_OPT, {NULL, 0, NULL, 0}};
    const char *state = "running";
    json_t *res, *params, *procs, *p;
    ctl_table *t;
    size_t i;
    int opt, rc;

    while ((opt = getopt_long(argc, argv, "+as:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'a': state = "all"; break;
        case 's': state = optarg; break;
        case 'h': return cmd_usage(x, "ps");
        default: return ctl_usage_err(x, "ps", "bad option");
        }
    }
    if (optind < argc)
        return ctl_usage_err(x, "ps", "unexpected argument '%s'", argv[optind]);
    params = json_pack("{s:s}", "state", state);
    rc = ctl_call(x, "proc.list", params, &res);
    json_decref(params);
    if (rc != CTL_OK)
        return rc;
    if (x->json) {
        ctl_print_json(x, res);
        json_decref(res);
        return CTL_OK;
    }
    procs = json_object_get(res, "processes");
    if (json_array_size(procs) == 0) {
        printf("no %s processes%s\n", strcmp(state, "all") ? state : "", strcmp(state, "running") == 0 ? " (ps -a lists ended ones too)" : "");
        json_decref(res);
        return CTL_OK;
    }
    t = ctl_table_new(9, (const char *const[]){"ID", "STATE", "PID", "PARENT", "PRIO", "UID", "WALL", "TOKENS", "NAME"},
                      "rlrrrrrrl");
    json_array_foreach(procs, i, p) {
        char id[24], pid[24], parent[24], prio[16], uid[16], wall[32], tok[48], st[32];
        json_t *tokens = json_object_get(p, "tokens");

        snprintf(id, sizeof(id), "%lld", jint(p, "id"));
        snprintf(pid, sizeof(pid), "%lld", jint(p, "pid"));
        snprintf(parent, sizeof(parent), "%lld", jint(p, "parent"));
        snprintf(prio, sizeof(prio), "%lld", jint(p, "priority"));
        snprintf(uid, sizeof(uid), "%lld", jint(p, "uid"));
        ctl_fmt_duration(json_number_value(json_object_get(p, "wall_s")), wall, sizeof(wall));
        snprintf(tok, sizeof(tok), "%lld/%lld", jint(tokens, "in"), jint(tokens, "out"));
        snprintf(st, sizeof(st), "%s%s", ctl_jstr(p, "state") ?: "?",
                 json_is_true(json_object_get(p, "attached")) ? "*" : "");
        ctl_table_add(t, (const char *const[]){id, st, pid, parent, prio, uid, wall, tok, ctl_jstr(p, "name")});
    }
    ctl_table_print(t, stdout);
    ctl_table_free(t);
    json_decref(res);
    return CTL_OK;
}

/* ---- info and stats ------------------------------------------------------------------ */

static int cmd_info(ctl_ctx *x, int argc, char **argv)
{
    json_t *res, *subs, *v, *id;
    const char *key;
    char up[32], line[512];
    size_t off = 0;
    int rc;

    if (argc > 1)
        return strcmp(argv[1], "-h") && strcmp(argv[1], "--help") ? ctl_usage_err(x, "info", "unexpected argument '%s'", argv[1])
                                                                  : cmd_usage(x, "info");
    if ((rc = ctl_call(x, "sys.info", NULL, &res)) != CTL_OK)
        return rc;
    if (x->json) {
        ctl_print_json(x, res);
        json_decref(res);
        return CTL_OK;
    }
    ctl_fmt_duration(json_number_value(json_object_get(res, "uptime_s")), up, sizeof(up));
    subs = json_object_get(res, "subsystems");
    line[0] = '\0';
    json_object_foreach(subs, key, v) {
        int n = snprintf(line + off, sizeof(line) - off, "%s%s %s", off ? ", " : "", key, json_string_value(v) ?: "?");
        if (n < 0 || (size_t)n >= sizeof(line) - off)
            break;
        off += (size_t)n;
    }
    id = json_object_get(res, "identity");
    printf("server      %s %s (protocol %lld)\n", ctl_jstr(res, "server") ?: "?", ctl_jstr(res, "version") ?: "?",
           jint(res, "protocol"));
    printf("pid         %lld\n", jint(res, "pid"));
    printf("socket      %s\n", ctl_jstr(res, "socket") ?: "?");
    printf("data        %s\n", ctl_jstr(res, "data") ?: "?");
    printf("uptime      %s\n", up);
    printf("host        %s (linux %s)\n", ctl_jstr(res, "host") ?: "?", ctl_jstr(res, "kernel") ?: "?");
    printf("methods     %lld\n", jint(res, "methods"));
    printf("subsystems  %s\n", line[0] ? line : "none");
    printf("you         uid %lld%s%s%s\n", jint(id, "uid"), json_is_true(json_object_get(id, "admin")) ? " (admin)" : "",
           ctl_jstr(id, "agent") && *ctl_jstr(id, "agent") ? ", agent " : "", ctl_jstr(id, "agent") ?: "");
    json_decref(res);
    return CTL_OK;
}

typedef struct {
    const char *name;
    json_t *row;
} stat_row;

static int by_calls(const void *a, const void *b)
{
    long long ca = jint(((const stat_row *)a)->row, "calls"), cb = jint(((const stat_row *)b)->row, "calls");
    if (ca != cb)
        return ca < cb ? 1 : -1;
    return strcmp(((const stat_row *)a)->name, ((const stat_row *)b)->name);
}

static void fmt_us(const json_t *row, const char *key, char *buf, size_t len)
{
    double v = json_number_value(json_object_get(row, key));
    snprintf(buf, len, v < 10 ? "%.1f" : "%.0f", v);
}

static int cmd_stats(ctl_ctx *x, int argc, char **argv)
{
    json_t *res, *calls, *v, *conns, *mem, *subs;
    const char *key;
    stat_row *rows;
    size_t n = 0;
    char up[32], rss[32];
    int rc;

    if (argc > 1)
        return strcmp(argv[1], "-h") && strcmp(argv[1], "--help") ? ctl_usage_err(x, "stats", "unexpected argument '%s'", argv[1])
                                                                  : cmd_usage(x, "stats");
    if ((rc = ctl_call(x, "sys.stats", NULL, &res)) != CTL_OK)
        return rc;
    if (x->json) {
        ctl_print_json(x, res);
        json_decref(res);
        return CTL_OK;
    }
    conns = json_object_get(res, "connections");
    mem = json_object_get(res, "memory");
    ctl_fmt_duration(json_number_value(json_object_get(res, "uptime_s")), up, sizeof(up));
    ctl_fmt_bytes((double)jint(mem, "rss_bytes"), rss, sizeof(rss));
    printf("uptime %s   connections %lld (%lld since start)   in flight %lld   memory %s resident\n\n", up,
           jint(conns, "current"), jint(conns, "total"), jint(res, "inflight"), rss);
    calls = json_object_get(res, "calls");
    rows = calloc(json_object_size(calls) + 1, sizeof(*rows));
    json_object_foreach(calls, key, v) {
        rows[n].name = key;
        rows[n].row = v;
        n++;
    }
    qsort(rows, n, sizeof(*rows), by_calls);
    ctl_table *t = ctl_table_new(7, (const char *const[]){"METHOD", "CALLS", "ERRORS", "MEAN_US", "P50_US", "P90_US", "P99_US"},
                                 "lrrrrrr");
    for (size_t i = 0; i < n; i++) {
        char c[24], e[24], mean[24], p50[24], p90[24], p99[24];
        snprintf(c, sizeof(c), "%lld", jint(rows[i].row, "calls"));
        snprintf(e, sizeof(e), "%lld", jint(rows[i].row, "errors"));
        fmt_us(rows[i].row, "mean_us", mean, sizeof(mean));
        fmt_us(rows[i].row, "p50_us", p50, sizeof(p50));
        fmt_us(rows[i].row, "p90_us", p90, sizeof(p90));
        fmt_us(rows[i].row, "p99_us", p99, sizeof(p99));
        ctl_table_add(t, (const char *const[]){rows[i].name, c, e, mean, p50, p90, p99});
    }
    ctl_table_print(t, stdout);
    ctl_table_free(t);
    free(rows);
    subs = json_object_get(res, "subsystems");
    if (json_object_size(subs)) {
        printf("\n");
        json_object_foreach(subs, key, v) {
            char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
            printf("%-10s  %s\n", key, s ? s : "?");
            free(s);
        }
    }
    json_decref(res);
    return CTL_OK;
}

/* ---- streams: logs -f, spawn -f, call ------------------------------------------------ */

typedef struct {
    ctl_ctx *x;
    bool open_line;      /* printed text without a final newline */
} stream_state;

/* A log chunk {stream, data}: to our stdout or stderr. */
static void on_log_chunk(void *arg, uint64_t id, json_t *chunk)
{
    stream_state *s = arg;
    const char *data = ctl_jstr(chunk, "data");
    bool err = ctl_jstr(chunk, "stream") && strcmp(ctl_jstr(chunk, "stream"), "stderr") == 0;

    (void)id;
    if (s->x->json) {
        ctl_print_json(s->x, chunk);
        return;
    }
    if (!data)
        return;
    fputs(data, err ? stderr : stdout);
    fflush(err ? stderr : stdout);
    if (!err)
        s->open_line = *data && data[strlen(data) - 1] != '\n';
}

/* Any other stream chunk: text as text, the rest as one JSON line. */
static void on_call_chunk(void *arg, uint64_t id, json_t *chunk)
{
    stream_state *s = arg;
    const char *text = ctl_jstr(chunk, "text");

    (void)id;
    if (s->x->json) {
        ctl_print_json(s->x, chunk);
        return;
    }
    if (!text && ctl_jstr(chunk, "data")) {
        on_log_chunk(arg, id, chunk);
        return;
    }
    if (text) {
        fputs(text, stdout);
        fflush(stdout);
        s->open_line = *text && text[strlen(text) - 1] != '\n';
        return;
    }
    {
        json_t *copy = json_copy(chunk);
        char *str;
        json_object_del(copy, "id");
        str = json_dumps(copy, JSON_COMPACT);
        if (s->open_line)
            fputc('\n', stdout);
        printf("%s\n", str ? str : "?");
        fflush(stdout);
        s->open_line = false;
        free(str);
        json_decref(copy);
    }
}

/* "3 exited with status 0 after 1.02s" */
static void print_exit(long long id, const json_t *exit)
{
    char wall[32];
    const json_t *sig = json_object_get(exit, "signal");

    ctl_fmt_duration(json_number_value(json_object_get(exit, "wall_s")), wall, sizeof(wall));
    if (!json_is_object(exit))
        printf("%lld is still running\n", id);
    else if (json_is_integer(sig))
        printf("%lld %s by signal %lld (%s) after %s\n", id, ctl_jstr(exit, "state") ?: "ended",
               (long long)json_integer_value(sig), sigabbrev_np((int)json_integer_value(sig)) ?: "?", wall);
    else
        printf("%lld %s with status %lld after %s\n", id, ctl_jstr(exit, "state") ?: "ended", jint(exit, "status"), wall);
}

static int follow_logs(ctl_ctx *x, long long id, const char *which, long long tail)
{
    json_t *params = json_pack("{s:I,s:b,s:s,s:I}", "id", (json_int_t)id, "follow", 1, "stream", which, "tail",
                               (json_int_t)tail), *res;
    stream_state s = {.x = x};
    int rc = ctl_call_stream(x, "proc.logs", params, on_log_chunk, &s, &res);

    json_decref(params);
    if (s.open_line && !x->json)
        fputc('\n', stdout);
    if (rc != CTL_OK)
        return rc;
    if (x->json)
        ctl_print_json(x, res);
    json_decref(res);
    return CTL_OK;
}

/* ---- spawn, kill, wait, logs ----------------------------------------------------------- */

static int cmd_spawn(ctl_ctx *x, int argc, char **argv)
{
    static const struct option opts[] = {
        {"name", required_argument, NULL, 'n'}, {"priority", required_argument, NULL, 'p'},
        {"cwd", required_argument, NULL, 'C'},  {"env", required_argument, NULL, 'e'},
        {"caps", required_argument, NULL, 'c'}, {"follow", no_argument, NULL, 'f'},
        HELP_OPT,                               {NULL, 0, NULL, 0},
    };
    json_t *params = json_object(), *env = json_object(), *av = json_array(), *res = NULL;
    bool follow = false;
    long long id;
    int opt, rc = CTL_EUSAGE;

    while ((opt = getopt_long(argc, argv, "+n:p:C:e:c:fh", opts, NULL)) != -1) {
        switch (opt) {
        case 'n': json_object_set_new(params, "name", json_string(optarg)); break;
        case 'p': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < -20 || v > 20) {
                ctl_usage_err(x, "spawn", "--priority needs a number from -20 to 20, got '%s'", optarg);
                goto out;
            }
            json_object_set_new(params, "priority", json_integer(v));
            break;
        }
        case 'C': json_object_set_new(params, "cwd", json_string(optarg)); break;
        case 'e': {
            char *eq = strchr(optarg, '=');
            if (!eq || eq == optarg) {
                ctl_usage_err(x, "spawn", "--env needs KEY=VALUE, got '%s'", optarg);
                goto out;
            }
            *eq = '\0';
            json_object_set_new(env, optarg, json_string(eq + 1));
            *eq = '=';
            break;
        }
        case 'c': {
            json_t *caps = json_array();
            for (char *tok = strtok(optarg, ","); tok; tok = strtok(NULL, ","))
                json_array_append_new(caps, json_string(tok));
            json_object_set_new(params, "caps", caps);
            break;
        }
        case 'f': follow = true; break;
        case 'h': rc = cmd_usage(x, "spawn"); goto out;
        default: ctl_usage_err(x, "spawn", "bad option"); goto out;
        }
    }
    if (optind >= argc) {
        ctl_usage_err(x, "spawn", "what should run? e.g. spawn -- sleep 10");
        goto out;
    }
    for (int i = optind; i < argc; i++)
        json_array_append_new(av, json_string(argv[i]));
    json_object_set(params, "argv", av);
    if (json_object_size(env))
        json_object_set(params, "env", env);
    if ((rc = ctl_call(x, "proc.spawn", params, &res)) != CTL_OK)
        goto out;
    id = jint(res, "id");
    if (x->json)
        ctl_print_json(x, res);
    else
        printf("started %lld '%s' (pid %lld)\n", id, ctl_jstr(res, "name") ?: "?", jint(res, "pid"));
    if (follow)
        rc = follow_logs(x, id, "both", 0);
out:
    json_decref(res);
    json_decref(params);
    json_decref(env);
    json_decref(av);
    return rc;
}

static int cmd_kill(ctl_ctx *x, int argc, char **argv)
{
    static const struct option opts[] = {{"signal", required_argument, NULL, 's'}, HELP_OPT, {NULL, 0, NULL, 0}};
    const char *sig = "TERM";
    int opt, worst = CTL_OK;

    while ((opt = getopt_long(argc, argv, "+s:h", opts, NULL)) != -1) {
        switch (opt) {
        case 's': sig = optarg; break;
        case 'h': return cmd_usage(x, "kill");
        default: return ctl_usage_err(x, "kill", "bad option");
        }
    }
    if (optind >= argc)
        return ctl_usage_err(x, "kill", "which process? give its id (see ps)");
    for (int i = optind; i < argc; i++) {
        long long id;
        json_t *params, *res;
        char *end;
        long num;
        int rc;

        if (!parse_id(argv[i], &id))
            return ctl_usage_err(x, "kill", "'%s' is not a process id", argv[i]);
        num = strtol(sig, &end, 10);
        params = *end ? json_pack("{s:I,s:s}", "id", (json_int_t)id, "signal", sig)
                      : json_pack("{s:I,s:i}", "id", (json_int_t)id, "signal", (int)num);
        rc = ctl_call(x, "proc.kill", params, &res);
        json_decref(params);
        if (rc != CTL_OK) {
            worst = worst == CTL_OK ? rc : worst;
            continue;
        }
        if (x->json)
            ctl_print_json(x, res);
        else
            printf("sent %s to %lld\n", sig, id);
        json_decref(res);
    }
    return worst;
}

static int cmd_wait(ctl_ctx *x, int argc, char **argv)
{
    static const struct option opts[] = {{"timeout", required_argument, NULL, 't'}, HELP_OPT, {NULL, 0, NULL, 0}};
    long long id, timeout = -1;
    json_t *params, *res;
    int opt, rc;

    while ((opt = getopt_long(argc, argv, "+t:h", opts, NULL)) != -1) {
        switch (opt) {
        case 't': {
            char *end;
            timeout = strtoll(optarg, &end, 10);
            if (*end || timeout < 0)
                return ctl_usage_err(x, "wait", "--timeout needs milliseconds, got '%s'", optarg);
            break;
        }
        case 'h': return cmd_usage(x, "wait");
        default: return ctl_usage_err(x, "wait", "bad option");
        }
    }
    if (optind != argc - 1 || !parse_id(argv[optind], &id))
        return ctl_usage_err(x, "wait", "give one process id");
    params = json_pack("{s:I}", "id", (json_int_t)id);
    if (timeout >= 0)
        json_object_set_new(params, "timeout_ms", json_integer(timeout));
    rc = ctl_call(x, "proc.wait", params, &res);
    json_decref(params);
    if (rc != CTL_OK)
        return rc;
    if (x->json)
        ctl_print_json(x, res);
    else
        print_exit(id, json_object_get(res, "exit"));
    json_decref(res);
    return CTL_OK;
}

static int cmd_logs(ctl_ctx *x, int argc, char **argv)
{
    static const struct option opts[] = {
        {"follow", no_argument, NULL, 'f'}, {"stdout", no_argument, NULL, 'o'}, {"stderr", no_argument, NULL, 'e'},
        {"tail", required_argument, NULL, 'n'}, HELP_OPT, {NULL, 0, NULL, 0},
    };
    const char *which = "both";
    bool follow = false;
    long long id, tail = 0;
    json_t *params, *res;
    int opt, rc;

    while ((opt = getopt_long(argc, argv, "+fn:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'f': follow = true; break;
        case 'o': which = "stdout"; break;
        case 'e': which = "stderr"; break;
        case 'n': {
            char *end;
            tail = strtoll(optarg, &end, 10);
            if (*end || tail < 0)
                return ctl_usage_err(x, "logs", "--tail needs a number of bytes, got '%s'", optarg);
            break;
        }
        case 'h': return cmd_usage(x, "logs");
        default: return ctl_usage_err(x, "logs", "bad option");
        }
    }
    if (optind != argc - 1 || !parse_id(argv[optind], &id))
        return ctl_usage_err(x, "logs", "give one process id");
    if (follow)
        return follow_logs(x, id, which, tail);
    params = json_pack("{s:I,s:s,s:I}", "id", (json_int_t)id, "stream", which, "tail", (json_int_t)tail);
    rc = ctl_call(x, "proc.logs", params, &res);
    json_decref(params);
    if (rc != CTL_OK)
        return rc;
    if (x->json) {
        ctl_print_json(x, res);
    } else {
        const char *out = ctl_jstr(res, "stdout"), *err = ctl_jstr(res, "stderr");
        long long dout = jint(res, "stdout_dropped"), derr = jint(res, "stderr_dropped");
        if (dout > 0 || derr > 0)
            fprintf(stderr, "(%lld earlier bytes of output were dropped; the daemon keeps the last part)\n",
                    dout + derr);
        if (out)
            fputs(out, stdout);
        fflush(stdout);
        if (err)
            fputs(err, stderr);
    }
    json_decref(res);
    return CTL_OK;
}

/* ---- call, methods, help ----------------------------------------------------------------- */

static int cmd_call(ctl_ctx *x, int argc, char **argv)
{
    json_t *m, *params, *res = NULL;
    stream_state s = {.x = x};
    char err[256];
    int rc;

    if (argc < 2)
        return ctl_usage_err(x, "call", "which method? (see `methods`)");
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)
        return cmd_usage(x, "call");
    if ((rc = ctl_connect(x)) != CTL_OK)
        return rc;
    m = argc > 2 ? ctl_method(x, argv[1]) : NULL;
    params = ctl_params_from_words(m ? json_object_get(m, "params") : NULL, argc - 2, argv + 2, err, sizeof(err));
    if (!params)
        return ctl_usage_err(x, "call", "%s", err);
    rc = ctl_call_stream(x, argv[1], json_object_size(params) ? params : NULL, on_call_chunk, &s, &res);
    json_decref(params);
    if (s.open_line && !x->json)
        fputc('\n', stdout);
    if (rc != CTL_OK)
        return rc;
    ctl_print_json(x, res);
    json_decref(res);
    return CTL_OK;
}

/* "integer >= 1", "one of a|b", "string|integer" */
static void param_type(const json_t *p, char *buf, size_t len)
{
    const json_t *type = json_object_get(p, "type"), *en = json_object_get(p, "enum"), *v;
    size_t off = 0, i;
    int n;

    buf[0] = '\0';
    if (json_is_array(en)) {
        off = (size_t)snprintf(buf, len, "one of ");
        json_array_foreach(en, i, v) {
            char *s = json_dumps(v, JSON_ENCODE_ANY);
            n = snprintf(buf + off, len - off, "%s%s", i ? "|" : "", s ? s : "?");
            free(s);
            if (n < 0 || (size_t)n >= len - off)
                return;
            off += (size_t)n;
        }
        return;
    }
    if (json_is_string(type)) {
        n = snprintf(buf, len, "%s", json_string_value(type));
    } else if (json_is_array(type)) {
        n = 0;
        json_array_foreach(type, i, v) {
            n = snprintf(buf + off, len - off, "%s%s", i ? "|" : "", json_string_value(v) ?: "?");
            if (n < 0 || (size_t)n >= len - off)
                return;
            off += (size_t)n;
        }
        n = 0;
    } else {
        n = snprintf(buf, len, "any");
    }
    off += n > 0 ? (size_t)n : 0;
    if (json_is_array(type) || json_is_string(type)) {
        const char *ty = json_is_string(type) ? json_string_value(type) : "";
        if (strcmp(ty, "array") == 0 && json_is_string(json_object_get(json_object_get(p, "items"), "type")))
            snprintf(buf + off, len - off, " of %ss", json_string_value(json_object_get(json_object_get(p, "items"), "type")));
    }
    off = strlen(buf);
    if (json_object_get(p, "minimum") && json_object_get(p, "maximum"))
        snprintf(buf + off, len - off, " %g..%g", json_number_value(json_object_get(p, "minimum")),
                 json_number_value(json_object_get(p, "maximum")));
    else if (json_object_get(p, "minimum"))
        snprintf(buf + off, len - off, " >= %g", json_number_value(json_object_get(p, "minimum")));
    else if (json_object_get(p, "maximum"))
        snprintf(buf + off, len - off, " <= %g", json_number_value(json_object_get(p, "maximum")));
}

static void flags_text(const json_t *m, char *buf, size_t len)
{
    const json_t *v;
    size_t i, off = 0;

    buf[0] = '\0';
    json_array_foreach(json_object_get(m, "flags"), i, v) {
        int n = snprintf(buf + off, len - off, "%s%s", off ? "," : "", json_string_value(v) ?: "?");
        if (n < 0 || (size_t)n >= len - off)
            break;
        off += (size_t)n;
    }
}

static int method_help(ctl_ctx *x, const json_t *m)
{
    const json_t *schema = json_object_get(m, "params"), *props = json_object_get(schema, "properties"), *p;
    const json_t *req = json_object_get(schema, "required");
    const char *key, *name = ctl_jstr(m, "name");
    char flags[128];

    if (x->json) {
        ctl_print_json(x, m);
        return CTL_OK;
    }
    flags_text(m, flags, sizeof(flags));
    printf("%s - %s\n", name, ctl_jstr(m, "help") ?: "");
    if (flags[0])
        printf("flags:   %s\n", flags);
    if (json_object_size(props) == 0) {
        printf("params:  none\n");
    } else {
        ctl_table *t = ctl_table_new(5, (const char *const[]){"  PARAM", "TYPE", "REQUIRED", "DEFAULT", "DESCRIPTION"},
                                     "lllll");
        json_object_foreach((json_t *)props, key, p) {
            char type[160], def[96] = "", k[80];
            bool required = false;
            const json_t *r, *d = json_object_get(p, "default");
            size_t i;

            json_array_foreach(req, i, r) {
                if (json_is_string(r) && strcmp(json_string_value(r), key) == 0)
                    required = true;
            }
            param_type(p, type, sizeof(type));
            if (d) {
                char *s = json_dumps(d, JSON_ENCODE_ANY | JSON_COMPACT);
                snprintf(def, sizeof(def), "%s", s ? s : "");
                free(s);
            }
            snprintf(k, sizeof(k), "  %s", key);
            ctl_table_add(t, (const char *const[]){k, type, required ? "yes" : "no", def[0] ? def : "",
                                                    ctl_jstr(p, "description") ?: ""});
        }
        printf("params:\n");
        ctl_table_print(t, stdout);
        ctl_table_free(t);
    }
    if (ctl_jstr(m, "result") && *ctl_jstr(m, "result"))
        printf("result:  %s\n", ctl_jstr(m, "result"));
    if (ctl_jstr(m, "errors") && *ctl_jstr(m, "errors"))
        printf("errors:  %s\n", ctl_jstr(m, "errors"));
    printf("call:    %s%s%s\n", x->interactive ? "" : "aiosctl call ", name,
           json_object_size(props) ? " KEY=VALUE... | '{JSON}'" : "");
    return CTL_OK;
}

static int cmd_methods(ctl_ctx *x, int argc, char **argv)
{
    json_t *params, *res, *m;
    ctl_table *t;
    size_t i;
    int rc;

    if (argc > 2)
        return ctl_usage_err(x, "methods", "unexpected argument '%s'", argv[2]);
    if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0))
        return cmd_usage(x, "methods");
    params = argc == 2 ? json_pack("{s:s}", "prefix", argv[1]) : NULL;
    rc = ctl_call(x, "sys.methods", params, &res);
    json_decref(params);
    if (rc != CTL_OK)
        return rc;
    if (x->json) {
        ctl_print_json(x, res);
        json_decref(res);
        return CTL_OK;
    }
    t = ctl_table_new(3, (const char *const[]){"METHOD", "FLAGS", "HELP"}, "lll");
    json_array_foreach(json_object_get(res, "methods"), i, m) {
        char flags[128];
        flags_text(m, flags, sizeof(flags));
        ctl_table_add(t, (const char *const[]){ctl_jstr(m, "name"), flags, ctl_jstr(m, "help")});
    }
    if (ctl_table_rows(t) == 0)
        printf("no methods start with '%s'\n", argc == 2 ? argv[1] : "");
    else
        ctl_table_print(t, stdout);
    ctl_table_free(t);
    json_decref(res);
    return CTL_OK;
}

static const char EXIT_CODES[] =
    "exit codes:\n"
    "  0    success\n"
    "  1    the daemon answered with an error (message on stderr; with --json the error object on stdout)\n"
    "  2    bad command line\n"
    "  3    aiosd is not running, cannot be reached, or the connection was lost\n"
    "  4    timed out (--timeout, or a timeout the daemon reported)\n"
    "  5    a person must confirm first: run `aiosctl confirm ID`, then repeat\n"
    "  130  interrupted with Ctrl-C (the call in flight was cancelled)\n";

static int cmd_help(ctl_ctx *x, int argc, char **argv)
{
    const ctl_cmd *c;
    json_t *m;

    if (argc > 2)
        return ctl_usage_err(x, "help", "give one command or method");
    if (argc == 2) {
        if ((c = ctl_cmd_find(argv[1])) != NULL)
            return cmd_usage(x, c->name);
        if (strchr(argv[1], '.')) {
            int rc = ctl_connect(x);
            if (rc != CTL_OK)
                return rc;
            if ((m = ctl_method(x, argv[1])) != NULL)
                return method_help(x, m);
            ctl_errorf(x, "no method '%s' (see `methods`)", argv[1]);
            return CTL_EFAIL;
        }
        return ctl_usage_err(x, "help", "no command '%s'", argv[1]);
    }
    if (x->json) {
        json_t *arr = json_array();
        for (size_t i = 0; (c = ctl_cmd_at(i)) != NULL; i++)
            if (!(c->flags & CTL_F_HIDDEN))
                json_array_append_new(arr, json_pack("{s:s,s:s,s:s}", "name", c->name, "args", c->args, "help", c->help));
        ctl_print_json(x, arr);
        json_decref(arr);
        return CTL_OK;
    }
    if (!x->interactive)
        printf("usage: aiosctl [--socket PATH] [--json] [--timeout MS] COMMAND [ARGS...]\n"
               "       aiosctl   (an interactive shell: history, Tab completes commands, methods, parameters)\n\n");
    printf("commands:\n");
    ctl_table *t = ctl_table_new(2, (const char *const[]){"  COMMAND", "WHAT IT DOES"}, "ll");
    for (size_t i = 0; (c = ctl_cmd_at(i)) != NULL; i++) {
        char syn[160];
        if ((c->flags & CTL_F_HIDDEN) || (!x->interactive && (c->flags & CTL_F_SHELL_ONLY)))
            continue;
        snprintf(syn, sizeof(syn), "  %s %s", c->name, c->args);
        ctl_table_add(t, (const char *const[]){syn, c->help});
    }
    ctl_table_add(t, (const char *const[]){"  METHOD [PARAMS]", "call any syscall, e.g. sys.ping echo=1 (same as call)"});
    ctl_table_print(t, stdout);
    ctl_table_free(t);
    printf("\n%s\n`help COMMAND` shows its options, `help METHOD` a method's parameters.\n", EXIT_CODES);
    return CTL_OK;
}

/* ---- confirmations, shutdown, ping ------------------------------------------------------- */

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmd_confirm(ctl_ctx *x, int argc, char **argv)
{
    static const struct option opts[] = {{"deny", no_argument, NULL, 'd'}, {"all", no_argument, NULL, 'a'}, HELP_OPT,
                                         {NULL, 0, NULL, 0}};
    bool deny = false, all = false;
    json_t *params, *res, *c;
    long long id;
    size_t i;
    int opt, rc;

    /* permute so that `confirm 3 --deny` works */
    while ((opt = getopt_long(argc, argv, "dah", opts, NULL)) != -1) {
        switch (opt) {
        case 'd': deny = true; break;
        case 'a': all = true; break;
        case 'h': return cmd_usage(x, "confirm");
        default: return ctl_usage_err(x, "confirm", "bad option");
        }
    }
    if (optind < argc) {
        if (optind != argc - 1 || !parse_id(argv[optind], &id))
            return ctl_usage_err(x, "confirm", "give one confirmation id");
        params = json_pack("{s:I,s:b}", "id", (json_int_t)id, "approve", !deny);
        rc = ctl_call(x, "sys.confirm", params, &res);
        json_decref(params);
        if (rc != CTL_OK)
            return rc;
        if (x->json)
            ctl_print_json(x, res);
        else
            printf("%s confirmation %lld: %s by %s (%s)\n", deny ? "denied" : "approved", id, ctl_jstr(res, "action") ?: "?",
                   ctl_jstr(res, "principal") ?: "?", ctl_jstr(res, "summary") ?: "");
        json_decref(res);
        return CTL_OK;
    }
    if (deny)
        return ctl_usage_err(x, "confirm", "--deny needs the id of a confirmation");
    params = json_pack("{s:b}", "all", all);
    rc = ctl_call(x, "sys.confirmations", params, &res);
    json_decref(params);
    if (rc != CTL_OK)
        return rc;
    if (x->json) {
        ctl_print_json(x, res);
        json_decref(res);
        return CTL_OK;
    }
    if (json_array_size(json_object_get(res, "confirmations")) == 0) {
        printf("no confirmations %s\n", all ? "at all" : "waiting");
        json_decref(res);
        return CTL_OK;
    }
    ctl_table *t = ctl_table_new(7, (const char *const[]){"ID", "STATE", "AGE", "ACTION", "BY", "METHOD", "SUMMARY"},
                                 "rlrllll");
    json_array_foreach(json_object_get(res, "confirmations"), i, c) {
        char cid[24], age[32];
        snprintf(cid, sizeof(cid), "%lld", jint(c, "id"));
        double age_s = wall_now() - json_number_value(json_object_get(c, "created_at"));
        ctl_fmt_duration(age_s < 0 ? 0 : age_s, age, sizeof(age));
        ctl_table_add(t, (const char *const[]){cid, ctl_jstr(c, "state"), age, ctl_jstr(c, "action"), ctl_jstr(c, "principal"),
                                                ctl_jstr(c, "method"), ctl_jstr(c, "summary")});
    }
    ctl_table_print(t, stdout);
    ctl_table_free(t);
    if (!all)
        printf("approve with `confirm ID`, refuse with `confirm ID --deny`\n");
    json_decref(res);
    return CTL_OK;
}

static int cmd_shutdown(ctl_ctx *x, int argc, char **argv)
{
    json_t *res;
    int rc;

    if (argc > 1)
        return strcmp(argv[1], "-h") && strcmp(argv[1], "--help") ? ctl_usage_err(x, "shutdown", "unexpected argument '%s'", argv[1])
                                                                  : cmd_usage(x, "shutdown");
    if ((rc = ctl_call(x, "sys.shutdown", NULL, &res)) != CTL_OK)
        return rc;
    if (x->json)
        ctl_print_json(x, res);
    else
        printf("aiosd at %s is shutting down\n", x->socket);
    json_decref(res);
    ctl_disconnect(x);
    return CTL_OK;
}

static double mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmd_ping(ctl_ctx *x, int argc, char **argv)
{
    static const struct option opts[] = {{"count", required_argument, NULL, 'c'}, HELP_OPT, {NULL, 0, NULL, 0}};
    long count = 1;
    double lo = 1e30, hi = 0, sum = 0;
    int opt, rc;

    while ((opt = getopt_long(argc, argv, "+c:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'c': {
            char *end;
            count = strtol(optarg, &end, 10);
            if (*end || count < 1 || count > 10000000)
                return ctl_usage_err(x, "ping", "--count needs a positive number, got '%s'", optarg);
            break;
        }
        case 'h': return cmd_usage(x, "ping");
        default: return ctl_usage_err(x, "ping", "bad option");
        }
    }
    if ((rc = ctl_connect(x)) != CTL_OK)
        return rc;
    for (long i = 0; i < count; i++) {
        json_t *res;
        double t0 = mono_us(), dt;

        if ((rc = ctl_call(x, "sys.ping", NULL, &res)) != CTL_OK)
            return rc;
        dt = mono_us() - t0;
        json_decref(res);
        lo = fmin(lo, dt);
        hi = fmax(hi, dt);
        sum += dt;
        if (ctl_interrupted)
            return CTL_EINTR;
        if (count <= 10 && !x->json)
            printf("pong from %s in %.0f us\n", x->socket, dt);
    }
    if (x->json) {
        json_t *o = json_pack("{s:i,s:f,s:f,s:f}", "count", (int)count, "min_us", lo, "mean_us", sum / (double)count,
                              "max_us", hi);
        ctl_print_json(x, o);
        json_decref(o);
    } else if (count > 1) {
        printf("%ld round trips: min %.0f us, mean %.0f us, max %.0f us\n", count, lo, sum / (double)count, hi);
    }
    return CTL_OK;
}

/* exit and quit are handled by the shell's loop; these rows give them help
 * and completion. */
static int cmd_exit(ctl_ctx *x, int argc, char **argv)
{
    (void)x;
    (void)argc;
    (void)argv;
    return CTL_OK;
}

/* ---- the table ---------------------------------------------------------------------------- */

const ctl_cmd ctl_core_cmds[] = {
    {"ps", "[-a] [--state S]", "list processes (running ones; -a all)", cmd_ps, CTL_COMP_NONE, 0,
     "  -a, --all        include ended processes\n"
     "  --state S        running, ended, exited, killed, detached or all\n"
     "  STATE ends with * for agents that attached themselves rather than being spawned\n"},
    {"info", "", "facts about the running daemon", cmd_info, CTL_COMP_NONE, 0, NULL},
    {"stats", "", "uptime, connections, calls and latency percentiles per method", cmd_stats, CTL_COMP_NONE, 0, NULL},
    {"spawn", "[-f] [OPTIONS] -- ARGV...",
     "start an agent program as a process", cmd_spawn, CTL_COMP_NONE, 0,
     "  -n, --name NAME      agent name (default: the program's name)\n"
     "  -p, --priority N     -20..20, higher runs first\n"
     "  -C, --cwd DIR        working directory\n"
     "  -e, --env K=V        add to its environment (repeatable)\n"
     "  -c, --caps LIST      syscall families it may call, e.g. llm,fs (default: yours)\n"
     "  -f, --follow         then print its output until it ends\n"},
    {"kill", "[-s SIGNAL] ID...", "send a signal (TERM by default) to processes", cmd_kill, CTL_COMP_PROC, 0,
     "  -s, --signal SIG     TERM, KILL, INT, HUP, STOP, CONT, USR1, USR2, QUIT or a number\n"},
    {"wait", "[-t MS] ID", "wait until a process ends; print how it ended", cmd_wait, CTL_COMP_PROC, 0,
     "  -t, --timeout MS     give up after MS milliseconds (exit code 4)\n"},
    {"logs", "[-f] [--stdout|--stderr] [-n BYTES] ID", "a process's output (-f: follow it as it comes)", cmd_logs,
     CTL_COMP_PROC, 0,
     "  -f, --follow         keep printing new output until the process ends (Ctrl-C stops)\n"
     "  --stdout, --stderr   one stream only\n"
     "  -n, --tail BYTES     only the last BYTES of what is kept\n"},
    {"call", "METHOD [JSON | KEY=VALUE...]", "call any syscall and print its result as JSON", cmd_call,
     CTL_COMP_METHOD, 0,
     "  params are one JSON object ('{\"id\": 3}') or KEY=VALUE words; a VALUE is read as\n"
     "  JSON when the parameter's type allows it, else as a string; lists may be a,b,c.\n"
     "  Stream notifications are printed as they arrive; Ctrl-C cancels the call.\n"},
    {"confirm", "[--all] [ID [--deny]]", "list confirmations waiting for you, or approve/deny one", cmd_confirm,
     CTL_COMP_CONFIRM, 0,
     "  without ID: list pending confirmations (--all: answered ones too)\n"
     "  ID: approve it;  ID --deny: refuse it\n"},
    {"methods", "[PREFIX]", "list the syscalls (e.g. methods proc.)", cmd_methods, CTL_COMP_METHOD, 0, NULL},
    {"help", "[COMMAND|METHOD]", "this list, a command's options or a method's parameters", cmd_help, CTL_COMP_TOPIC,
     CTL_F_OFFLINE, NULL},
    {"ping", "[-c N]", "round trip to the daemon (sys.ping)", cmd_ping, CTL_COMP_NONE, 0,
     "  -c, --count N        N round trips, then min/mean/max\n"},
    {"shutdown", "", "stop the daemon gracefully", cmd_shutdown, CTL_COMP_NONE, 0, NULL},
    {"exit", "", "leave the shell (also quit, Ctrl-D)", cmd_exit, CTL_COMP_NONE, CTL_F_SHELL_ONLY | CTL_F_OFFLINE, NULL},
    {"quit", "", "leave the shell", cmd_exit, CTL_COMP_NONE, CTL_F_SHELL_ONLY | CTL_F_OFFLINE | CTL_F_HIDDEN, NULL},
};

const size_t ctl_core_ncmds = sizeof(ctl_core_cmds) / sizeof(ctl_core_cmds[0]);

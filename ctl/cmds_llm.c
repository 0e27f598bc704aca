/*
 * cmds_llm.c - aiosctl's commands for the LLM service: an interactive
 * streaming chat, one-shot completion, the model, the scheduler (sched)
 * and saved conversation contexts (ctx).
 *
 * Generations stream their text as it comes; Ctrl-C cancels the
 * generation in flight (libaios sends $/cancel) and, in `chat`, returns to
 * the prompt.  Single-threaded.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "aios/error.h"
#include "ctl/ctl_int.h"

static int show_usage(ctl_ctx *x, const char *name)
{
    const ctl_cmd *c = ctl_cmd_find(name);

    printf("usage: %s%s %s\n  %s\n", x->interactive ? "" : "aiosctl ", c->name, c->args, c->help);
    if (c->details)
        printf("%s", c->details);
    return CTL_OK;
}

static double jnum(const json_t *o, const char *key)
{
    return json_number_value(json_object_get(o, key));
}

/* ---- generation options shared by chat and complete ----------------------------------------- */

enum { OPT_SEED = 1000, OPT_CONTEXT, OPT_STOP, OPT_STATS };

static const struct option gen_opts[] = {
    {"max-tokens", required_argument, NULL, 'n'}, {"temperature", required_argument, NULL, 't'},
    {"system", required_argument, NULL, 's'},     {"seed", required_argument, NULL, OPT_SEED},
    {"context", required_argument, NULL, OPT_CONTEXT}, {"stop", required_argument, NULL, OPT_STOP},
    {"stats", no_argument, NULL, OPT_STATS},      {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

typedef struct gen_args {
    json_t *params;          /* sampling keys */
    const char *system;
    bool stats;
} gen_args;

/* Parse the shared options into a->params; returns CTL_OK, CTL_EUSAGE, or
 * -1 after printing help. */
static int parse_gen(ctl_ctx *x, const char *cmd, int argc, char **argv, gen_args *a)
{
    int opt;
    char *end;

    a->params = json_object();
    while ((opt = getopt_long(argc, argv, "+n:t:s:h", gen_opts, NULL)) != -1) {
        switch (opt) {
        case 'n': {
            long v = strtol(optarg, &end, 10);
            if (*end || v < 1)
                return ctl_usage_err(x, cmd, "--max-tokens needs a positive number");
            json_object_set_new(a->params, "max_tokens", json_integer(v));
            break;
        }
        case 't': {
            double v = strtod(optarg, &end);
            if (*end || v < 0)
                return ctl_usage_err(x, cmd, "--temperature needs a number >= 0");
            json_object_set_new(a->params, "temperature", json_real(v));
            break;
        }
        case 's': a->system = optarg; break;
        case OPT_SEED: {
            long long v = strtoll(optarg, &end, 10);
            if (*end)
                return ctl_usage_err(x, cmd, "--seed needs an integer");
            json_object_set_new(a->params, "seed", json_integer(v));
            break;
        }
        case OPT_CONTEXT: json_object_set_new(a->params, "context", json_string(optarg)); break;
        case OPT_STOP: {
            json_t *st = json_object_get(a->params, "stop");
            if (!st) {
                st = json_array();
                json_object_set_new(a->params, "stop", st);
            }
            json_array_append_new(st, json_string(optarg));
            break;
        }
        case OPT_STATS: a->stats = true; break;
        case 'h': show_usage(x, cmd); return -1;
        default: return CTL_EUSAGE;
        }
    }
    return CTL_OK;
}

typedef struct gen_state {
    ctl_ctx *x;
    bool open_line;
} gen_state;

static void on_text(void *arg, uint64_t id, json_t *chunk)
{
    gen_state *s = arg;
    const char *t = ctl_jstr(chunk, "text");

    (void)id;
    if (s->x->json) {
        ctl_print_json(s->x, chunk);
        return;
    }
    if (t && *t) {
        fputs(t, stdout);
        fflush(stdout);
        s->open_line = t[strlen(t) - 1] != '\n';
    }
}

/* One line of numbers after a generation (--stats, or always in chat's
 * status line when asked). */
static void print_gen_stats(const json_t *r)
{
    const json_t *u = json_object_get(r, "usage"), *t = json_object_get(r, "timings");

    fprintf(stderr, "[%s: %lld prompt (%lld cached) + %lld tokens, first token %.0f ms, %.1f tokens/s, %lld preemptions]\n",
            ctl_jstr(r, "finish_reason") ? ctl_jstr(r, "finish_reason") : "?",
            (long long)json_integer_value(json_object_get(u, "prompt_tokens")),
            (long long)json_integer_value(json_object_get(u, "cached_tokens")),
            (long long)json_integer_value(json_object_get(u, "completion_tokens")), jnum(t, "ttft_ms"),
            jnum(t, "decode_tokens_per_s"), (long long)json_integer_value(json_object_get(r, "preemptions")));
}

/* ---- complete ---------------------------------------------------------------------------------- */

static int cmd_complete(ctl_ctx *x, int argc, char **argv)
{
    gen_args a = {0};
    gen_state s = {.x = x};
    json_t *res = NULL;
    char *prompt = NULL;
    size_t len = 0;
    int rc;

    rc = parse_gen(x, "complete", argc, argv, &a);
    if (rc != CTL_OK)
        goto out;
    /* the prompt: the words, or stdin with "-" */
    for (int i = optind; i < argc; i++) {
        size_t l = strlen(argv[i]);
        char *p = realloc(prompt, len + l + 2);
        if (!p)
            goto out;
        prompt = p;
        if (len)
            prompt[len++] = ' ';
        memcpy(prompt + len, argv[i], l + 1);
        len += l;
    }
    if (!prompt) {
        rc = ctl_usage_err(x, "complete", "what should it continue? (give a prompt, or - for stdin)");
        goto out;
    }
    if (strcmp(prompt, "-") == 0) {
        char buf[4096];
        size_t n;
        len = 0;
        while ((n = fread(buf, 1, sizeof(buf), stdin)) > 0) {
            char *p = realloc(prompt, len + n + 1);
            if (!p)
                goto out;
            prompt = p;
            memcpy(prompt + len, buf, n);
            len += n;
        }
        prompt[len] = 0;
    }
    json_object_set_new(a.params, "prompt", json_string(prompt));
    json_object_set_new(a.params, "stream", json_true());
    rc = ctl_call_stream(x, "llm.complete", a.params, on_text, &s, &res);
    if (!x->json && (s.open_line || rc == CTL_OK))
        fputc('\n', stdout);
    if (rc == CTL_OK) {
        if (x->json)
            ctl_print_json(x, res);
        else if (a.stats)
            print_gen_stats(res);
    }
out:
    json_decref(res);
    json_decref(a.params);
    free(prompt);
    return rc < 0 ? CTL_OK : rc;
}

/* ---- chat -------------------------------------------------------------------------------------------- */

/* Read a line from stdin without the newline (NULL at EOF or Ctrl-C). */
static char *read_line(const char *prompt, bool tty)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;

    if (tty) {
        fputs(prompt, stdout);
        fflush(stdout);
    }
    ctl_interrupted = 0;
    n = getline(&line, &cap, stdin);
    if (n < 0 || ctl_interrupted) {
        free(line);
        return NULL;
    }
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = 0;
    return line;
}

/* One turn: send line (with the history, or only it when a context keeps
 * the rest), print the reply as it streams.  CTL_OK, CTL_EINTR when Ctrl-C
 * stopped it, or another CTL_* code; the history gets the turn only when
 * it completed. */
static int chat_turn(ctl_ctx *x, const gen_args *a, json_t *history, bool use_ctx, bool tty, const char *line)
{
    json_t *params, *res = NULL;
    gen_state s = {.x = x};
    int rc;

    json_array_append_new(history, json_pack("{s:s,s:s}", "role", "user", "content", line));
    params = json_copy(a->params);
    if (use_ctx) {
        /* only the new message: the context holds the rest */
        json_t *last = json_array();
        if (json_array_size(history) == 2 && a->system)
            json_array_append(last, json_array_get(history, 0));
        json_array_append(last, json_array_get(history, json_array_size(history) - 1));
        json_object_set_new(params, "messages", last);
    } else {
        json_object_set(params, "messages", history);
    }
    json_object_set_new(params, "stream", json_true());
    if (tty && !x->json)
        fputs("model> ", stdout);
    rc = ctl_call_stream(x, "llm.chat", params, on_text, &s, &res);
    json_decref(params);
    if (!x->json)
        fputc('\n', stdout);
    if (rc != CTL_OK) {
        /* the reply was cancelled or failed: forget the question */
        json_array_remove(history, json_array_size(history) - 1);
        json_decref(res);
        return rc;
    }
    json_array_append_new(history, json_pack("{s:s,s:s}", "role", "assistant", "content",
                                             ctl_jstr(res, "text") ? ctl_jstr(res, "text") : ""));
    if (x->json)
        ctl_print_json(x, res);
    else if (a->stats)
        print_gen_stats(res);
    json_decref(res);
    return CTL_OK;
}

static int cmd_chat(ctl_ctx *x, int argc, char **argv)
{
    gen_args a = {0};
    json_t *history = json_array();
    bool tty = isatty(0) && isatty(1);
    bool use_ctx;
    int rc;
    char *line;

    rc = parse_gen(x, "chat", argc, argv, &a);
    if (rc != CTL_OK)
        goto out;
    if ((rc = ctl_connect(x)) != CTL_OK)
        goto out;
    /* with --context the daemon keeps the conversation; else we send it all */
    use_ctx = json_object_get(a.params, "context") != NULL;
    if (a.system)
        json_array_append_new(history, json_pack("{s:s,s:s}", "role", "system", "content", a.system));
    if (optind < argc) {
        /* words after the options: one message, one reply */
        size_t len = 0;
        char *msg = NULL;
        for (int i = optind; i < argc; i++) {
            size_t l = strlen(argv[i]);
            char *p = realloc(msg, len + l + 2);
            if (!p) {
                free(msg);
                rc = CTL_EFAIL;
                goto out;
            }
            msg = p;
            if (len)
                msg[len++] = ' ';
            memcpy(msg + len, argv[i], l + 1);
            len += l;
        }
        rc = chat_turn(x, &a, history, use_ctx, false, msg);
        free(msg);
        if (rc == CTL_EINTR)
            ctl_interrupted = 0;
        goto out;
    }
    if (tty)
        printf("chat with the model (Ctrl-C stops a reply, Ctrl-D or /exit leaves; /reset starts over)\n");
    while ((line = read_line("you> ", tty)) != NULL) {
        if (!*line) {
            free(line);
            continue;
        }
        if (strcmp(line, "/exit") == 0 || strcmp(line, "/quit") == 0) {
            free(line);
            break;
        }
        if (strcmp(line, "/reset") == 0) {
            json_array_clear(history);
            if (a.system)
                json_array_append_new(history, json_pack("{s:s,s:s}", "role", "system", "content", a.system));
            free(line);
            printf("(new conversation%s)\n", use_ctx ? "; the saved context continues unless you drop it" : "");
            continue;
        }
        rc = chat_turn(x, &a, history, use_ctx, tty, line);
        free(line);
        if (rc == CTL_EINTR) {
            /* the reply was stopped: keep chatting */
            ctl_interrupted = 0;
            continue;
        }
        if (rc == CTL_ENODAEMON)
            break;
    }
    if (tty)
        putchar('\n');
out:
    json_decref(history);
    json_decref(a.params);
    return rc < 0 ? CTL_OK : rc;
}

/* ---- models --------------------------------------------------------------------------------------------- */

static int cmd_models(ctl_ctx *x, int argc, char **argv)
{
    json_t *res = NULL, *m;
    size_t i;
    int rc;

    if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0))
        return show_usage(x, "models");
    if ((rc = ctl_call(x, "llm.models", NULL, &res)) != CTL_OK)
        return rc;
    if (x->json) {
        ctl_print_json(x, res);
    } else if (!json_is_true(json_object_get(res, "available"))) {
        printf("no model: %s\n", ctl_jstr(res, "reason"));
    } else {
        json_array_foreach(json_object_get(res, "models"), i, m) {
            char bytes[32];
            ctl_fmt_bytes(jnum(m, "file_bytes"), bytes, sizeof(bytes));
            printf("%s  (%s, %s weights, %.0f M parameters, %s, context %lld, %s tokenizer, %s template, "
                   "loaded in %.2f s)\n  %s\n",
                   ctl_jstr(m, "id"), ctl_jstr(m, "arch"), ctl_jstr(m, "weight_type"), jnum(m, "n_params") / 1e6, bytes,
                   (long long)json_integer_value(json_object_get(m, "n_ctx")), ctl_jstr(m, "tokenizer"),
                   ctl_jstr(m, "chat_template"), jnum(m, "load_s"), ctl_jstr(m, "path"));
        }
    }
    json_decref(res);
    return CTL_OK;
}

/* ---- sched ------------------------------------------------------------------------------------------------ */

static void pct(const json_t *o, const char *key, char *buf, size_t len)
{
    const json_t *r = json_object_get(o, key);

    if (!r || json_integer_value(json_object_get(r, "n")) == 0)
        snprintf(buf, len, "-");
    else
        snprintf(buf, len, "%.0f/%.0f", jnum(r, "p50_ms"), jnum(r, "p99_ms"));
}

static int sched_show(ctl_ctx *x)
{
    json_t *st = NULL, *a;
    size_t i;
    int rc;

    if ((rc = ctl_call(x, "sched.stats", NULL, &st)) != CTL_OK)
        return rc;
    if (x->json) {
        ctl_print_json(x, st);
        json_decref(st);
        return CTL_OK;
    }
    {
        const json_t *c = json_object_get(st, "config"), *q = json_object_get(st, "queues"),
                     *kv = json_object_get(st, "kv"), *sn = json_object_get(st, "snapshots"),
                     *pc = json_object_get(st, "prefix_cache");
        char t1[32], t2[32], hb[32];
        pct(st, "ttft", t1, sizeof(t1));
        pct(st, "tbt", t2, sizeof(t2));
        ctl_fmt_bytes(jnum(sn, "host_bytes") + jnum(sn, "disk_bytes"), hb, sizeof(hb));
        printf("policy %s (quantum %lld, max_running %lld, max_batch_tokens %lld)\n", ctl_jstr(c, "policy"),
               (long long)json_integer_value(json_object_get(c, "quantum")),
               (long long)json_integer_value(json_object_get(c, "max_running")),
               (long long)json_integer_value(json_object_get(c, "max_batch_tokens")));
        printf("queues: %lld waiting, %lld running, %lld preempted; %lld steps, %lld requests, %lld preemptions "
               "(%lld restored, %lld recomputed)\n",
               (long long)json_integer_value(json_object_get(q, "waiting")),
               (long long)json_integer_value(json_object_get(q, "running")),
               (long long)json_integer_value(json_object_get(q, "preempted")),
               (long long)json_integer_value(json_object_get(st, "steps")),
               (long long)json_integer_value(json_object_get(st, "requests")),
               (long long)json_integer_value(json_object_get(st, "preemptions")),
               (long long)json_integer_value(json_object_get(st, "restores")),
               (long long)json_integer_value(json_object_get(st, "recomputes")));
        printf("latency p50/p99 ms: first token %s, between tokens %s\n", t1, t2);
        printf("KV blocks %lld/%lld used, prefix cache %lld blocks; snapshots %lld in memory, %lld on disk (%s)\n\n",
               (long long)json_integer_value(json_object_get(kv, "blocks_used")),
               (long long)json_integer_value(json_object_get(kv, "blocks_total")),
               (long long)json_integer_value(json_object_get(pc, "blocks")),
               (long long)json_integer_value(json_object_get(sn, "host")),
               (long long)json_integer_value(json_object_get(sn, "disk")), hb);
    }
    {
        static const char *const hdr[] = {"AGENT", "LIVE", "RUN", "IN", "OUT", "VTC", "PREEMPT", "TTFT p50/p99",
                                          "TBT p50/p99"};
        ctl_table *t = ctl_table_new(9, hdr, "lrrrrrrrl");
        json_array_foreach(json_object_get(st, "agents"), i, a) {
            char live[16], run[16], in[24], out[24], vtc[24], pre[16], ttft[32], tbt[32];
            const char *cells[9] = {ctl_jstr(a, "agent"), live, run, in, out, vtc, pre, ttft, tbt};
            snprintf(live, sizeof(live), "%lld", (long long)json_integer_value(json_object_get(a, "live")));
            snprintf(run, sizeof(run), "%lld", (long long)json_integer_value(json_object_get(a, "running")));
            snprintf(in, sizeof(in), "%lld", (long long)json_integer_value(json_object_get(a, "tokens_in")));
            snprintf(out, sizeof(out), "%lld", (long long)json_integer_value(json_object_get(a, "tokens_out")));
            snprintf(vtc, sizeof(vtc), "%.0f", jnum(a, "vtc"));
            snprintf(pre, sizeof(pre), "%lld", (long long)json_integer_value(json_object_get(a, "preemptions")));
            pct(a, "ttft", ttft, sizeof(ttft));
            pct(a, "tbt", tbt, sizeof(tbt));
            ctl_table_add(t, cells);
        }
        if (ctl_table_rows(t))
            ctl_table_print(t, stdout);
        else
            printf("(no agent has used the model yet)\n");
        ctl_table_free(t);
    }
    json_decref(st);
    return CTL_OK;
}

static int cmd_sched(ctl_ctx *x, int argc, char **argv)
{
    json_t *m, *params, *res = NULL;
    char err[256];
    int rc;

    if (argc < 2 || strcmp(argv[1], "stats") == 0)
        return sched_show(x);
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)
        return show_usage(x, "sched");
    if (strcmp(argv[1], "set") != 0)
        return ctl_usage_err(x, "sched", "stats or set KEY=VALUE...");
    if (argc < 3)
        return ctl_usage_err(x, "sched", "set what? e.g. sched set policy=fair quantum=16");
    if ((rc = ctl_connect(x)) != CTL_OK)
        return rc;
    m = ctl_method(x, "sched.set");
    params = ctl_params_from_words(m ? json_object_get(m, "params") : NULL, argc - 2, argv + 2, err, sizeof(err));
    if (!params)
        return ctl_usage_err(x, "sched", "%s", err);
    rc = ctl_call(x, "sched.set", params, &res);
    json_decref(params);
    if (rc != CTL_OK)
        return rc;
    if (x->json)
        ctl_print_json(x, res);
    else
        printf("scheduler: policy %s, quantum %lld, max_running %lld, max_batch_tokens %lld\n", ctl_jstr(res, "policy"),
               (long long)json_integer_value(json_object_get(res, "quantum")),
               (long long)json_integer_value(json_object_get(res, "max_running")),
               (long long)json_integer_value(json_object_get(res, "max_batch_tokens")));
    json_decref(res);
    return CTL_OK;
}

/* ---- ctx ---------------------------------------------------------------------------------------------------- */

static int ctx_list(ctl_ctx *x)
{
    static const char *const hdr[] = {"NAME", "TOKENS", "SIZE", "ON DISK", "UPDATED"};
    json_t *res = NULL, *c;
    size_t i;
    int rc;

    if ((rc = ctl_call(x, "ctx.list", NULL, &res)) != CTL_OK)
        return rc;
    if (x->json) {
        ctl_print_json(x, res);
        json_decref(res);
        return CTL_OK;
    }
    ctl_table *t = ctl_table_new(5, hdr, "lrrrl");
    json_array_foreach(json_object_get(res, "contexts"), i, c) {
        char tok[24], sz[32], disk[32], when[64];
        time_t w = (time_t)jnum(c, "updated");
        struct tm tm;
        const char *cells[5] = {ctl_jstr(c, "name"), tok, sz, disk, when};
        snprintf(tok, sizeof(tok), "%lld", (long long)json_integer_value(json_object_get(c, "tokens")));
        ctl_fmt_bytes(jnum(c, "bytes"), sz, sizeof(sz));
        ctl_fmt_bytes(jnum(c, "file_bytes"), disk, sizeof(disk));
        localtime_r(&w, &tm);
        strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
        if (!json_is_true(json_object_get(c, "same_model")))
            strncat(when, "  (another model)", sizeof(when) - strlen(when) - 1);
        ctl_table_add(t, cells);
    }
    if (ctl_table_rows(t))
        ctl_table_print(t, stdout);
    else
        printf("(no saved contexts)\n");
    ctl_table_free(t);
    json_decref(res);
    return CTL_OK;
}

/* Subcommands: name, minimum and maximum words after it, method, keys. */
static const struct {
    const char *sub;
    int min, max;
    const char *method;
    const char *k1, *k2;
} ctx_subs[] = {
    {"snapshot", 1, 2, "ctx.snapshot", "name", "from"},
    {"restore", 1, 2, "ctx.restore", "name", "as"},
    {"fork", 2, 2, "ctx.fork", "name", "as"},
    {"drop", 1, 1, "ctx.drop", "name", NULL},
};

static int cmd_ctx(ctl_ctx *x, int argc, char **argv)
{
    json_t *params, *res = NULL;
    int rc;

    if (argc < 2 || strcmp(argv[1], "list") == 0)
        return ctx_list(x);
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)
        return show_usage(x, "ctx");
    for (size_t i = 0; i < sizeof(ctx_subs) / sizeof(ctx_subs[0]); i++) {
        if (strcmp(argv[1], ctx_subs[i].sub) != 0)
            continue;
        if (argc - 2 < ctx_subs[i].min || argc - 2 > ctx_subs[i].max)
            return ctl_usage_err(x, "ctx", "wrong number of names");
        params = json_pack("{s:s}", ctx_subs[i].k1, argv[2]);
        if (argc > 3)
            json_object_set_new(params, ctx_subs[i].k2, json_string(argv[3]));
        rc = ctl_call(x, ctx_subs[i].method, params, &res);
        json_decref(params);
        if (rc != CTL_OK)
            return rc;
        if (x->json) {
            ctl_print_json(x, res);
        } else if (json_object_get(res, "text") && strcmp(ctx_subs[i].sub, "restore") == 0) {
            printf("restored '%s': %lld tokens (%lld blocks back in the cache)\n%s\n", ctl_jstr(res, "name"),
                   (long long)json_integer_value(json_object_get(res, "tokens")),
                   (long long)json_integer_value(json_object_get(res, "warm_blocks")), ctl_jstr(res, "text"));
        } else {
            char *s = json_dumps(res, JSON_COMPACT);
            printf("%s %s\n", ctx_subs[i].sub, s ? s : "");
            free(s);
        }
        json_decref(res);
        return CTL_OK;
    }
    return ctl_usage_err(x, "ctx", "list, snapshot, restore, fork or drop");
}

/* ---- the table ---------------------------------------------------------------------------------------------- */

#define GEN_DETAILS                                                                                      \
    "  -n, --max-tokens N   tokens to generate at most\n"                                              \
    "  -t, --temperature T  0 = greedy\n"                                                               \
    "  --seed N             fixed seed: the same request gives the same text\n"                        \
    "  --stop S             stop before S (repeatable)\n"                                               \
    "  --context NAME       continue a saved context of yours and save the new state under it\n"       \
    "  --stats              print tokens, first-token time and speed afterwards (stderr)\n"

const ctl_cmd ctl_llm_cmds[] = {
    {"chat", "[-s SYSTEM] [-n N] [-t T] [--seed N] [--context NAME] [--stats] [MESSAGE...]",
     "talk with the model, replies stream as they come (Ctrl-C stops a reply)", cmd_chat, CTL_COMP_NONE, 0,
     "  -s, --system TEXT    a system message first\n" GEN_DETAILS
     "  MESSAGE...           one message, one reply (with --context, a turn of that context)\n"
     "  without MESSAGE it reads one message per line; /reset starts over, /exit or Ctrl-D leaves\n"},
    {"complete", "[-n N] [-t T] [--seed N] [--stop S] [--context NAME] [--stats] PROMPT... | -",
     "continue a prompt once and print the text as it streams", cmd_complete, CTL_COMP_NONE, 0,
     GEN_DETAILS "  PROMPT - reads the prompt from stdin\n"},
    {"models", "", "the loaded model, or why there is none", cmd_models, CTL_COMP_NONE, 0, NULL},
    {"sched", "[stats | set KEY=VALUE...]", "the LLM scheduler: queues, agents, latency; or change its policy",
     cmd_sched, CTL_COMP_NONE, 0,
     "  sched set policy=fifo|rr|priority|fair quantum=N max_running=N max_batch_tokens=N\n"
     "            aging_s=S w_in=W w_out=W fair_by_uid=true resume=auto|restore|recompute\n"},
    {"ctx", "[list | snapshot NAME [FROM] | restore NAME [AS] | fork NAME AS | drop NAME]",
     "your saved conversation contexts", cmd_ctx, CTL_COMP_NONE, 0,
     "  snapshot NAME        save your last conversation (or context FROM) as NAME\n"
     "  restore NAME [AS]    bring NAME back into the cache (and copy it to AS)\n"
     "  fork NAME AS         copy NAME to AS: two continuations of one state\n"},
};

const size_t ctl_llm_ncmds = sizeof(ctl_llm_cmds) / sizeof(ctl_llm_cmds[0]);

/*
 * cmds_tools.c - aiosctl's tool commands: `tools` lists the tools (or
 * describes one), `tool NAME ARGS` runs one.
 *
 * `tool` takes the arguments as one JSON object or KEY=VALUE words (typed
 * by the tool's own parameter schema, fetched with tool.describe), streams
 * the tool's output as it comes, and exits with the tool's exit status (0,
 * or 1 for a non-zero exit, 4 for a timeout).  Single-threaded.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aios/error.h"
#include "ctl/ctl_int.h"

static int cmd_tools(ctl_ctx *x, int argc, char **argv)
{
    static const struct option opts[] = {
        {"llm", no_argument, NULL, 'l'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    static const char *const headers[] = {"NAME", "KIND", "NETWORK", "DESCRIPTION"};
    bool llm = false;
    json_t *params, *res;
    int opt, rc;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "+lh", opts, NULL)) != -1) {
        switch (opt) {
        case 'l': llm = true; break;
        case 'h':
            fprintf(stdout, "usage: tools [--llm] [NAME]\n");
            return CTL_OK;
        default: return ctl_usage_err(x, "tools", "bad option");
        }
    }
    if (optind < argc) {
        params = json_pack("{s:s}", "name", argv[optind]);
        rc = ctl_call(x, "tool.describe", params, &res);
        json_decref(params);
        if (rc != CTL_OK)
            return rc;
        ctl_print_json(x, llm ? json_object_get(res, "llm") : res);
        json_decref(res);
        return CTL_OK;
    }
    params = json_pack("{s:s}", "format", llm ? "llm" : "aios");
    rc = ctl_call(x, "tool.list", params, &res);
    json_decref(params);
    if (rc != CTL_OK)
        return rc;
    if (x->json || llm) {
        ctl_print_json(x, json_object_get(res, "tools"));
    } else {
        ctl_table *t = ctl_table_new(4, headers, "llll");
        size_t i;
        json_t *tool;

        json_array_foreach(json_object_get(res, "tools"), i, tool) {
            const char *net = !json_is_true(json_object_get(tool, "network")) ? "-"
                              : json_is_true(json_object_get(tool, "network_granted"))
                                  ? "granted"
                                  : "not granted";
            const char *cells[4] = {ctl_jstr(tool, "name"), ctl_jstr(tool, "kind"), net,
                                    ctl_jstr(tool, "description")};

            ctl_table_add(t, cells);
        }
        ctl_table_print(t, stdout);
        ctl_table_free(t);
    }
    json_decref(res);
    return CTL_OK;
}

typedef struct tool_stream {
    ctl_ctx *x;
    bool any;
    bool open_line;
} tool_stream;

static void on_chunk(void *arg, uint64_t id, json_t *chunk)
{
    tool_stream *s = arg;
    const char *data = ctl_jstr(chunk, "data");
    bool err = ctl_jstr(chunk, "stream") && strcmp(ctl_jstr(chunk, "stream"), "stderr") == 0;

    (void)id;
    if (s->x->json || !data)
        return;
    s->any = true;
    fputs(data, err ? stderr : stdout);
    fflush(err ? stderr : stdout);
    if (!err && *data)
        s->open_line = data[strlen(data) - 1] != '\n';
}

static int cmd_tool(ctl_ctx *x, int argc, char **argv)
{
    tool_stream s = {.x = x};
    json_t *desc = NULL, *args, *params, *res = NULL, *dparams;
    char err[256];
    int rc, first = 1;

    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        if (argc < 2)
            return ctl_usage_err(x, "tool", "which tool? (see `tools`)");
        fprintf(stdout, "usage: tool NAME [JSON | KEY=VALUE...]\n");
        return CTL_OK;
    }
    first = 2;
    dparams = json_pack("{s:s}", "name", argv[1]);
    rc = ctl_call(x, "tool.describe", dparams, &desc);
    json_decref(dparams);
    if (rc != CTL_OK)
        return rc;
    args = ctl_params_from_words(json_object_get(desc, "parameters"), argc - first, argv + first,
                                 err, sizeof(err));
    if (!args) {
        json_decref(desc);
        return ctl_usage_err(x, "tool", "%s", err);
    }
    params = json_pack("{s:s,s:o,s:b}", "name", argv[1], "args", args, "stream", !x->json);
    rc = ctl_call_stream(x, "tool.call", params, on_chunk, &s, &res);
    json_decref(params);
    if (s.open_line)
        fputc('\n', stdout);
    if (rc != CTL_OK) {
        json_decref(desc);
        return rc;
    }
    if (x->json) {
        ctl_print_json(x, res);
    } else if (json_object_get(res, "result")) {
        /* a built-in: its result object */
        const json_t *r = json_object_get(res, "result");

        if (ctl_jstr(r, "value") && ctl_jstr(r, "decimal"))
            printf("%s\n%s%s\n", ctl_jstr(r, "value"), json_is_true(json_object_get(r, "exact")) ? "= " : "≈ ",
                   ctl_jstr(r, "decimal"));
        else
            ctl_print_json(x, r);
    } else {
        if (!s.any) {
            fputs(ctl_jstr(res, "stdout") ? ctl_jstr(res, "stdout") : "", stdout);
            fflush(stdout);
            fputs(ctl_jstr(res, "stderr") ? ctl_jstr(res, "stderr") : "", stderr);
        }
        if (json_is_true(json_object_get(res, "stdout_truncated")) ||
            json_is_true(json_object_get(res, "stderr_truncated")))
            fprintf(stderr, "(output truncated: %lld bytes of stdout, %lld of stderr were written)\n",
                    (long long)json_integer_value(json_object_get(res, "stdout_bytes")),
                    (long long)json_integer_value(json_object_get(res, "stderr_bytes")));
        if (json_is_true(json_object_get(res, "timed_out")))
            fprintf(stderr, "(killed at the time limit)\n");
        else if (json_is_integer(json_object_get(res, "signal")))
            fprintf(stderr, "(killed by signal %lld)\n",
                    (long long)json_integer_value(json_object_get(res, "signal")));
        else if (json_integer_value(json_object_get(res, "exit_code")) != 0)
            fprintf(stderr, "(exit status %lld)\n",
                    (long long)json_integer_value(json_object_get(res, "exit_code")));
    }
    if (json_is_true(json_object_get(res, "timed_out")))
        rc = CTL_ETIMEOUT;
    else if (json_object_get(res, "exit_code") &&
             (!json_is_integer(json_object_get(res, "exit_code")) ||
              json_integer_value(json_object_get(res, "exit_code")) != 0))
        rc = CTL_EFAIL;
    json_decref(res);
    json_decref(desc);
    return rc;
}

const ctl_cmd ctl_tools_cmds[] = {
    {"tools", "[--llm] [NAME]", "list the tools, or show one tool's manifest", cmd_tools,
     CTL_COMP_NONE, 0,
     "  --llm            as the function descriptions the LLM sees\n"},
    {"tool", "NAME [JSON | KEY=VALUE...]", "run a tool (in its sandbox) and print its output",
     cmd_tool, CTL_COMP_NONE, 0,
     "  arguments are one JSON object ('{\"command\": \"ls\"}') or KEY=VALUE words typed by\n"
     "  the tool's parameter schema; output streams as it comes; Ctrl-C cancels and kills\n"
     "  the sandbox.  Exit status: 0, 1 when the tool failed, 4 when it hit its time limit.\n"},
};

const size_t ctl_tools_ncmds = sizeof(ctl_tools_cmds) / sizeof(ctl_tools_cmds[0]);

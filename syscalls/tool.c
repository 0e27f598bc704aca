/*
 * tool.c - the tool.* syscall family: list, describe, call, register,
 * unregister.
 *
 * tool.call checks the arguments against the tool's schema before anything
 * runs, then either runs a built-in on the worker pool (calculator; fs_read,
 * fs_write and fs_search through LSFS with the caller's own rights, exactly
 * as the fs.* calls would) or builds the call's sandbox policy and spawns it through
 * sbx_spawn on the loop thread: output is streamed as
 * {"stream": "stdout"|"stderr", "data": text} when the caller asked, the
 * call is cancellable ($/cancel kills the whole tree), and the result
 * carries the exit status, the (bounded) output and the state of every
 * sandbox layer.  A tool that asks for network runs only when the daemon's
 * configuration grants it (tools.network).  tool.register and
 * tool.unregister are for admins (root or the daemon's uid).
 *
 * Handlers run on the loop thread (no SYS_F_WORKER); built-ins hop to the
 * worker pool with kern_queue_work.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aios/error.h"
#include "aios/kernel.h"
#include "aios/log.h"
#include "aios/lsfs.h"
#include "aios/sandbox.h"
#include "aios/tools.h"
#include "syscalls/lsfs_sys_int.h"
#include "tools/service_int.h"

/* ---- helpers --------------------------------------------------------------------- */

static tool_manifest *get_tool(kern_call *c, const char *name, int *rc)
{
    tool_registry *r = tool_service_registry();
    tool_manifest *m = r ? tool_registry_get(r, name) : NULL;

    if (!r)
        *rc = kern_call_set_error(c, AIOS_EUNAVAIL, NULL, "the tool registry is not running");
    else if (!m)
        *rc = kern_call_set_error(c, AIOS_ENOENT, "name", "no tool '%s' (see tool.list)", name);
    return m;
}

/* ---- tool.list / tool.describe --------------------------------------------------- */

static int tool_list(kern_call *c, json_t *params, json_t **result)
{
    tool_registry *r = tool_service_registry();
    const char *format = json_string_value(json_object_get(params, "format"));
    json_t *tools;

    if (!r)
        return kern_call_set_error(c, AIOS_EUNAVAIL, NULL, "the tool registry is not running");
    tools = format && strcmp(format, "llm") == 0 ? tool_registry_llm(r) : tool_registry_list(r);
    if (!tools)
        return AIOS_ENOMEM;
    if (!format || strcmp(format, "llm") != 0) {
        size_t i;
        json_t *t;

        json_array_foreach(tools, i, t) {
            if (json_is_true(json_object_get(t, "network")))
                json_object_set_new(t, "network_granted", json_boolean(tool__network_granted(
                                                              json_string_value(json_object_get(t, "name")))));
        }
    }
    *result = json_pack("{s:o}", "tools", tools);
    return *result ? 0 : AIOS_ENOMEM;
}

static int tool_describe(kern_call *c, json_t *params, json_t **result)
{
    const char *name = json_string_value(json_object_get(params, "name"));
    int rc = 0;
    tool_manifest *m = get_tool(c, name, &rc);
    json_t *j;

    if (!m)
        return rc;
    j = json_deep_copy(tool_manifest_json(m));
    if (j) {
        json_object_set_new(j, "kind",
                            json_string(tool_manifest_builtin(m) ? "builtin" : "sandbox"));
        json_object_set_new(j, "llm", tool_manifest_llm(m));
        if (tool_manifest_network(m))
            json_object_set_new(j, "network_granted",
                                json_boolean(tool__network_granted(name)));
    }
    tool_manifest_unref(m);
    *result = j;
    return j ? 0 : AIOS_ENOMEM;
}

/* ---- tool.call: built-ins ---------------------------------------------------------- */

typedef struct builtin_job {
    kern_call *c;
    json_t *args;
    char name[64];
    kern_identity who;
    json_t *result;
    int rc;
    bool err_set;            /* the error is already described on c */
    char err[256];
} builtin_job;

/* Content the LSFS tools hand back at most (the rest is cut, and said so). */
#define FS_TOOL_MAX_CONTENT (1u << 20)

static void run_calculator(builtin_job *j)
{
    const char *expr = json_string_value(json_object_get(j->args, "expression"));
    json_t *scale = json_object_get(j->args, "scale");

    j->rc = tool_calculate(expr, scale ? (int)json_integer_value(scale) : 20, &j->result,
                           j->err, sizeof(j->err));
}

/* The LSFS tools run with the caller's rights: the same actor fs.* uses. */
static bool fs_begin(builtin_job *j, lsfs_actor *a, lsfs_db **db)
{
    j->rc = sys__lsfs_begin(j->c, a, db);
    j->err_set = j->rc < 0;
    return j->rc == 0;
}

static void fs_fail(builtin_job *j, lsfs_db *db, int rc)
{
    j->rc = sys__lsfs_fail(j->c, db, rc);
    j->err_set = true;
}

static void run_fs_read(builtin_job *j)
{
    const char *path = json_string_value(json_object_get(j->args, "path"));
    json_int_t version = json_integer_value(json_object_get(j->args, "version"));
    lsfs_actor a;
    lsfs_db *db;
    char *data = NULL;
    size_t len = 0;
    json_t *meta = NULL;
    int rc;

    if (!fs_begin(j, &a, &db))
        return;
    rc = lsfs_read(db, &a, path, version, 0, FS_TOOL_MAX_CONTENT + 1, &data, &len, &meta);
    if (rc < 0) {
        fs_fail(j, db, rc);
        return;
    }
    if (!meta)
        meta = json_object();
    json_object_set_new(meta, "truncated", json_boolean(len > FS_TOOL_MAX_CONTENT));
    if (len > FS_TOOL_MAX_CONTENT)
        len = FS_TOOL_MAX_CONTENT;
    json_object_set_new(meta, "content", sbx_text_json(data, len));
    free(data);
    j->result = meta;
}

static void run_fs_write(builtin_job *j)
{
    const char *path = json_string_value(json_object_get(j->args, "path"));
    json_t *content = json_object_get(j->args, "content");
    lsfs_write_req req = {
        .data = json_string_value(content),
        .len = json_string_length(content),
        .mode = LSFS_WRITE_REPLACE,
        .create = true,
    };
    lsfs_actor a;
    lsfs_db *db;
    int rc;

    if (!fs_begin(j, &a, &db))
        return;
    rc = lsfs_write(db, &a, path, &req, &j->result);
    if (rc < 0)
        fs_fail(j, db, rc);
}

static void run_fs_search(builtin_job *j)
{
    lsfs_search_req req = {
        .query = json_string_value(json_object_get(j->args, "query")),
        .mode = LSFS_SEARCH_HYBRID,
        .k = (int)json_integer_value(json_object_get(j->args, "limit")),
        .path_prefix = json_string_value(json_object_get(j->args, "path")),
    };
    lsfs_actor a;
    lsfs_db *db;
    int rc;

    if (!fs_begin(j, &a, &db))
        return;
    rc = lsfs_search(db, &a, &req, &j->result);
    if (rc < 0)
        fs_fail(j, db, rc);
}

static const struct {
    const char *name;
    void (*run)(builtin_job *j);
} builtin_table[] = {
    {"calculator", run_calculator},
    {"fs_read", run_fs_read},
    {"fs_write", run_fs_write},
    {"fs_search", run_fs_search},
};

static void builtin_work(void *arg)
{
    builtin_job *j = arg;

    for (size_t i = 0; i < sizeof(builtin_table) / sizeof(builtin_table[0]); i++) {
        if (strcmp(builtin_table[i].name, j->name) == 0) {
            builtin_table[i].run(j);
            return;
        }
    }
    j->rc = AIOS_ENOTSUP;
    snprintf(j->err, sizeof(j->err), "no built-in '%s'", j->name);
}

static void builtin_done(void *arg, int status)
{
    builtin_job *j = arg;

    if (status < 0 && j->rc == 0)
        j->rc = status;
    if (j->rc < 0) {
        if (!j->err_set)
            kern_call_set_error(j->c, j->rc, j->rc == AIOS_EINVAL ? "args" : NULL, "%s",
                                j->err[0] ? j->err : aios_strerror(j->rc));
        kern_call_fail(j->c, j->rc);
    } else {
        kern_call_finish(j->c, json_pack("{s:s,s:o}", "tool", j->name, "result", j->result));
        j->result = NULL;
    }
    json_decref(j->result);
    json_decref(j->args);
    free(j);
}

static int call_builtin(kern_call *c, tool_manifest *m, json_t *args)
{
    builtin_job *j = calloc(1, sizeof(*j));
    int rc;

    if (!j)
        return AIOS_ENOMEM;
    j->c = c;
    j->args = json_incref(args);
    j->who = *kern_call_identity(c);
    snprintf(j->name, sizeof(j->name), "%s", tool_manifest_builtin(m));
    rc = kern_queue_work(builtin_work, builtin_done, j);
    if (rc < 0) {
        json_decref(j->args);
        free(j);
        return rc;
    }
    return KERN_ASYNC;
}

/* ---- tool.call: sandboxed programs ----------------------------------------------------- */

typedef struct sbx_job {
    kern_call *c;
    sbx_run *run;
    char name[64];
    char carry[2][4];        /* an incomplete UTF-8 sequence per stream */
    size_t carry_len[2];
    bool streaming;
} sbx_job;

static void cancel_noop(kern_call *c, void *arg)
{
    (void)c;
    (void)arg;
}

static void on_cancel(kern_call *c, void *arg)
{
    sbx_job *j = arg;

    (void)c;
    if (j->run)
        sbx_kill(j->run);
}

/* Stream a chunk without splitting UTF-8 characters across notifications. */
static void on_output(void *arg, int fd, const char *data, size_t len)
{
    sbx_job *j = arg;
    int s = fd == 2 ? 1 : 0;
    char *buf;
    size_t n, whole;

    if (!j->streaming)
        return;
    buf = malloc(j->carry_len[s] + len);
    if (!buf)
        return;
    memcpy(buf, j->carry[s], j->carry_len[s]);
    memcpy(buf + j->carry_len[s], data, len);
    n = j->carry_len[s] + len;
    whole = sbx_utf8_complete(buf, n);
    if (n - whole <= sizeof(j->carry[s])) {
        j->carry_len[s] = n - whole;
        memcpy(j->carry[s], buf + whole, n - whole);
    } else {
        whole = n;
        j->carry_len[s] = 0;
    }
    if (whole)
        kern_call_stream(j->c, json_pack("{s:s,s:o}", "stream", s ? "stderr" : "stdout", "data",
                                         sbx_text_json(buf, whole)));
    free(buf);
}

static void on_done(void *arg, sbx_result *res)
{
    sbx_job *j = arg;
    json_t *r = sbx_result_to_json(res);

    j->run = NULL;
    kern_call_on_cancel(j->c, cancel_noop, NULL);
    if (res->rc < 0) {
        json_t *data = json_object();

        if (res->error_layer[0])
            json_object_set_new(data, "stage", json_string(res->error_layer));
        if (r)
            json_object_set(data, "layers", json_object_get(r, "layers"));
        kern_call_set_error_data(j->c, data);
        kern_call_set_error(j->c, res->rc, NULL, "%s: %s", j->name,
                            res->error[0] ? res->error : aios_strerror(res->rc));
        kern_call_fail(j->c, res->rc);
        json_decref(r);
    } else if (!r) {
        kern_call_fail(j->c, AIOS_ENOMEM);
    } else {
        json_object_set_new(r, "tool", json_string(j->name));
        kern_call_finish(j->c, r);
    }
    free(j);
}

static int call_sandboxed(kern_call *c, tool_manifest *m, json_t *args, json_t *params)
{
    const sbx_policy *base = tool__service_base();
    sbx_ctx *ctx = tool_service_sbx();
    json_t *timeout = json_object_get(params, "timeout_ms");
    json_t *stdin_over = json_object_get(params, "stdin");
    sbx_callbacks cb;
    sbx_policy p;
    sbx_job *j;
    char *in = NULL, msg[256];
    size_t in_len = 0;
    int rc;

    if (!ctx || !base)
        return kern_call_set_error(c, AIOS_EUNAVAIL, NULL,
                                   "sandboxed tools are unavailable: aios-exec was not found");
    if (tool_manifest_network(m) && !tool__network_granted(tool_manifest_name(m)))
        return kern_call_set_error(c, AIOS_EPERM, "name",
                                   "'%s' needs network, which the daemon's policy does not "
                                   "grant (config tools.network)",
                                   tool_manifest_name(m));
    rc = tool_build_policy(m, args, base, &p, &in, &in_len, msg, sizeof(msg));
    if (rc < 0)
        return kern_call_set_error(c, rc, "args", "%s", msg);
    if (timeout && (uint64_t)json_integer_value(timeout) < p.limits.wall_ms)
        p.limits.wall_ms = (uint64_t)json_integer_value(timeout);
    if (json_is_string(stdin_over)) {
        free(in);
        in_len = json_string_length(stdin_over);
        in = malloc(in_len + 1);
        if (in)
            memcpy(in, json_string_value(stdin_over), in_len);
    }
    j = calloc(1, sizeof(*j));
    if (!j) {
        rc = AIOS_ENOMEM;
        goto out;
    }
    j->c = c;
    j->streaming = kern_call_streaming(c);
    snprintf(j->name, sizeof(j->name), "%s", tool_manifest_name(m));
    cb.on_output = on_output;
    cb.on_done = on_done;
    cb.arg = j;
    rc = sbx_spawn(ctx, &p, in, in_len, &cb, &j->run);
    if (rc < 0) {
        free(j);
        rc = kern_call_set_error(c, rc, NULL, "cannot start the sandbox: %s", aios_strerror(rc));
        goto out;
    }
    kern_call_on_cancel(c, on_cancel, j);
    rc = KERN_ASYNC;
out:
    free(in);
    sbx_policy_clear(&p);
    return rc;
}

static int tool_call(kern_call *c, json_t *params, json_t **result)
{
    const char *name = json_string_value(json_object_get(params, "name"));
    json_t *args = json_object_get(params, "args");
    char path[256], msg[256];
    tool_manifest *m;
    int rc = 0;

    (void)result;
    if (!(m = get_tool(c, name, &rc)))
        return rc;
    args = args ? json_deep_copy(args) : json_object();
    if (!args) {
        tool_manifest_unref(m);
        return AIOS_ENOMEM;
    }
    rc = tool_check_args(m, args, path, sizeof(path), msg, sizeof(msg));
    if (rc < 0) {
        rc = kern_call_set_error(c, rc, path, "%s: %s: %s", name, path, msg);
    } else if (tool_manifest_builtin(m)) {
        rc = call_builtin(c, m, args);
    } else {
        rc = call_sandboxed(c, m, args, params);
    }
    json_decref(args);
    tool_manifest_unref(m);
    return rc;
}

/* ---- tool.register / tool.unregister ------------------------------------------------------ */

/* Write the manifest to <data>/tools/<name>.json atomically. */
static int persist(const char *name, const json_t *manifest)
{
    const char *dir = tool__service_user_dir();
    char path[4096], tmp[4200];

    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return AIOS_EIO;
    snprintf(path, sizeof(path), "%s/%s.json", dir, name);
    snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
    if (json_dump_file(manifest, tmp, JSON_INDENT(2) | JSON_SORT_KEYS) < 0) {
        unlink(tmp);
        return AIOS_EIO;
    }
    if (rename(tmp, path) < 0) {
        unlink(tmp);
        return AIOS_EIO;
    }
    return 0;
}

static int tool_register(kern_call *c, json_t *params, json_t **result)
{
    json_t *manifest = json_object_get(params, "manifest");
    bool replace = json_is_true(json_object_get(params, "replace"));
    tool_registry *r = tool_service_registry();
    char field[256], msg[256], full[300];
    tool_manifest *m, *old;
    int rc;

    if (!r)
        return kern_call_set_error(c, AIOS_EUNAVAIL, NULL, "the tool registry is not running");
    rc = tool_manifest_parse(manifest, &m, field, sizeof(field), msg, sizeof(msg));
    if (rc < 0) {
        snprintf(full, sizeof(full), "manifest%s%s", field[0] ? "." : "", field);
        return kern_call_set_error(c, rc, full, "bad manifest: %s%s%s", field,
                                   field[0] ? ": " : "", msg);
    }
    old = tool_registry_get(r, tool_manifest_name(m));
    rc = tool_registry_add(r, m, false, replace);
    if (rc == AIOS_EPERM)
        rc = kern_call_set_error(c, rc, "manifest.name",
                                 "'%s' is shipped with aios and cannot be replaced",
                                 tool_manifest_name(m));
    else if (rc == AIOS_EEXIST)
        rc = kern_call_set_error(c, rc, "manifest.name",
                                 "a tool '%s' exists (pass replace: true to replace it)",
                                 tool_manifest_name(m));
    else if (rc == 0 && (rc = persist(tool_manifest_name(m), manifest)) < 0)
        rc = kern_call_set_error(c, rc, NULL, "registered, but cannot save it under '%s'",
                                 tool__service_user_dir());
    if (rc == 0) {
        aios_log(AIOS_LOG_INFO, "tools", "tool '%s' %s by %s", tool_manifest_name(m),
                 old ? "replaced" : "registered", kern_call_identity(c)->principal);
        *result = json_pack("{s:s,s:b}", "name", tool_manifest_name(m), "replaced", old != NULL);
        if (!*result)
            rc = AIOS_ENOMEM;
    }
    tool_manifest_unref(old);
    tool_manifest_unref(m);
    return rc;
}

static int tool_unregister(kern_call *c, json_t *params, json_t **result)
{
    const char *name = json_string_value(json_object_get(params, "name"));
    tool_registry *r = tool_service_registry();
    char path[4096];
    int rc;

    if (!r)
        return kern_call_set_error(c, AIOS_EUNAVAIL, NULL, "the tool registry is not running");
    rc = tool_registry_remove(r, name);
    if (rc == AIOS_ENOENT)
        return kern_call_set_error(c, rc, "name", "no registered tool '%s'", name);
    if (rc == AIOS_EPERM)
        return kern_call_set_error(c, rc, "name", "'%s' is shipped with aios", name);
    if (rc < 0)
        return rc;
    snprintf(path, sizeof(path), "%s/%s.json", tool__service_user_dir(), name);
    unlink(path);
    *result = json_pack("{s:s}", "name", name);
    return *result ? 0 : AIOS_ENOMEM;
}

/* ---- the table ------------------------------------------------------------------- */

#define NAME_PARAM "\"name\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":48,\"description\":\"tool name\"}"

const sys_method sys_tool_methods[] = {
    {"tool.list", tool_list, 0,
     "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{"
     "\"format\":{\"enum\":[\"aios\",\"llm\"],\"default\":\"aios\","
     "  \"description\":\"aios: name, description, kind, network; llm: function descriptions\"}}}",
     "{tools: [{name, description, kind, shipped, network, network_granted?}]}", "",
     "the tools there are (or their LLM function descriptions)"},
    {"tool.describe", tool_describe, 0,
     "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"name\"],\"properties\":{"
     NAME_PARAM "}}",
     "{name, description, parameters, run, policy?, kind, llm, network_granted?}", "ENOENT",
     "one tool's manifest, with its LLM rendering"},
    {"tool.call", tool_call, SYS_F_STREAM | SYS_F_CANCEL,
     "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"name\"],\"properties\":{"
     NAME_PARAM ","
     "\"args\":{\"type\":\"object\",\"description\":\"arguments, checked against the tool's schema\"},"
     "\"stdin\":{\"type\":\"string\",\"maxLength\":16777216,\"description\":\"standard input (sandboxed tools)\"},"
     "\"timeout_ms\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":86400000,"
     "  \"description\":\"a shorter wall-clock limit than the tool's\"},"
     "\"stream\":{\"type\":\"boolean\",\"default\":false,"
     "  \"description\":\"stream output as {stream, data} notifications\"}}}",
     "{tool, exit_code, signal, timed_out, cancelled, oom_killed, stdout, stderr, stdout_truncated, "
     "stderr_truncated, stdout_bytes, stderr_bytes, wall_ms, cpu_ms, layers, sandbox} | {tool, result}",
     "ENOENT EINVAL EPERM ESANDBOX EUNAVAIL ELIMIT ECANCELED",
     "run a tool: a built-in in the daemon or a program in a fresh sandbox"},
    {"tool.register", tool_register, SYS_F_ADMIN | SYS_F_MUTATES,
     "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"manifest\"],\"properties\":{"
     "\"manifest\":{\"type\":\"object\",\"description\":\"the tool's manifest (see docs/SANDBOX.md)\"},"
     "\"replace\":{\"type\":\"boolean\",\"default\":false,\"description\":\"replace a registered tool of that name\"}}}",
     "{name, replaced}", "EINVAL EEXIST EPERM", "add a plug-in tool (admin only); it is kept in the data folder"},
    {"tool.unregister", tool_unregister, SYS_F_ADMIN | SYS_F_MUTATES,
     "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"name\"],\"properties\":{"
     NAME_PARAM "}}",
     "{name}", "ENOENT EPERM", "remove a registered plug-in tool (admin only)"},
};

const size_t sys_tool_count = sizeof(sys_tool_methods) / sizeof(sys_tool_methods[0]);

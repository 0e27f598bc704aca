/*
 * sysinfo.c - the sys.* syscalls: ping, hello, info, methods, stats,
 * shutdown and reload.  Loop thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "aios/error.h"
#include "aios/log.h"
#include "kernel/kern_int.h"
#include "kernel/kern_proc.h"

int kern__sys_ping(kern_call *c, json_t *params, json_t **result)
{
    json_t *echo = json_object_get(params, "echo");

    *result = echo ? json_pack("{s:O}", "echo", echo) : json_object();
    return 0;
}

static json_t *identity_json(const kern_identity *id)
{
    return json_pack("{s:I,s:i,s:i,s:i,s:I,s:s,s:s,s:b}", "conn", (json_int_t)id->conn_id, "uid", (int)id->uid,
                     "gid", (int)id->gid, "pid", (int)id->pid, "proc_id", (json_int_t)id->proc_id, "agent",
                     id->agent, "principal", id->principal, "admin", id->admin);
}

static json_t *capabilities(unsigned caps)
{
    json_t *arr = json_array();

    for (size_t f = 0; f < kern__family_count(); f++)
        if (caps & (1u << f))
            json_array_append_new(arr, json_string(kern__family_name(f)));
    return arr;
}

int kern__sys_hello(kern_call *c, json_t *params, json_t **result)
{
    kern_conn *conn = kern__conn_find(kern_call_identity(c)->conn_id);
    json_t *agent = json_object_get(params, "agent");
    json_t *proto = json_object_get(params, "protocol");
    const char *client = json_string_value(json_object_get(params, "client"));
    const char *token = json_string_value(json_object_get(params, "token"));
    char err[256];
    int rc;

    if (!conn)
        return AIOS_ECLOSED;
    if (proto && json_integer_value(proto) != AIOS_PROTOCOL_VERSION)
        return kern_call_set_error(c, AIOS_ENOTSUP, "protocol", "this aiosd speaks protocol %d, not %lld",
                                   AIOS_PROTOCOL_VERSION, (long long)json_integer_value(proto));
    if (agent && conn->ident.proc_id)
        return kern_call_set_error(c, AIOS_ECONFLICT, "agent", "this connection is already agent '%s'",
                                   conn->ident.agent);
    if (agent && !json_is_null(agent)) {
        if ((rc = kern__proc_bind(conn, agent, token, err, sizeof(err))) < 0)
            return kern_call_set_error(c, rc, "agent", "%s", err);
    }
    if (client)
        snprintf(conn->ident.client, sizeof(conn->ident.client), "%s", client);
    conn->hello = true;
    *result = json_pack("{s:i,s:s,s:s,s:o,s:o,s:I}", "protocol", AIOS_PROTOCOL_VERSION, "server", "aiosd",
                        "version", AIOS_VERSION, "capabilities", capabilities(conn->caps), "identity",
                        identity_json(&conn->ident), "max_line", (json_int_t)kern__st.max_line);
    return 0;
}

int kern__sys_info(kern_call *c, json_t *params, json_t **result)
{
    struct utsname u;
    json_t *subs = json_object();

    uname(&u);
    for (size_t i = 0; i < kern__subsys_count(); i++)
        json_object_set_new(subs, kern__subsys_at(i)->name,
                            json_string(kern__subsys_ok(i) ? "running" : "unavailable"));
    *result = json_pack("{s:s,s:s,s:i,s:i,s:s,s:s,s:f,s:s,s:o,s:I,s:s}", "server", "aiosd", "version", AIOS_VERSION,
                        "protocol", AIOS_PROTOCOL_VERSION, "pid", (int)getpid(), "socket", kern__st.socket_path,
                        "data", kern__st.data_dir, "uptime_s",
                        (double)(kern__now_ns() - kern__st.t_start_ns) / 1e9, "host", u.nodename, "subsystems",
                        subs, "methods", (json_int_t)kern__method_count(), "kernel", u.release);
    json_object_set_new(*result, "identity", identity_json(kern_call_identity(c)));
    return 0;
}

/* Flag names for sys.methods, one row per flag bit. */
static const struct {
    unsigned flag;
    const char *name;
} flag_names[] = {
    {SYS_F_WORKER, "worker"}, {SYS_F_STREAM, "stream"},   {SYS_F_ADMIN, "admin"},
    {SYS_F_CANCEL, "cancel"}, {SYS_F_MUTATES, "mutates"}, {SYS_F_NOAUTH, "noauth"},
};

int kern__sys_methods(kern_call *c, json_t *params, json_t **result)
{
    const char *prefix = json_string_value(json_object_get(params, "prefix"));
    bool brief = json_is_true(json_object_get(params, "brief"));
    json_t *arr = json_array();

    for (size_t i = 0; i < kern__method_count(); i++) {
        const sys_method *m = kern__method_at(i);
        json_t *flags, *o;

        if (prefix && strncmp(m->name, prefix, strlen(prefix)) != 0)
            continue;
        if (brief) {
            json_array_append_new(arr, json_pack("{s:s,s:s}", "name", m->name, "help", m->help));
            continue;
        }
        flags = json_array();
        for (size_t f = 0; f < sizeof(flag_names) / sizeof(flag_names[0]); f++)
            if (m->flags & flag_names[f].flag)
                json_array_append_new(flags, json_string(flag_names[f].name));
        o = json_pack("{s:s,s:s,s:O,s:o,s:s,s:s}", "name", m->name, "help", m->help, "params",
                      kern__method_schema(m), "flags", flags, "result", m->result ? m->result : "",
                      "errors", m->errors ? m->errors : "");
        json_array_append_new(arr, o);
    }
    *result = json_pack("{s:o}", "methods", arr);
    return 0;
}

/* Resident and virtual memory of the daemon from /proc/self/statm. */
static json_t *memory_json(void)
{
    FILE *f = fopen("/proc/self/statm", "re");
    unsigned long size = 0, rss = 0;
    long page = sysconf(_SC_PAGESIZE);

    if (f) {
        if (fscanf(f, "%lu %lu", &size, &rss) != 2)
            size = rss = 0;
        fclose(f);
    }
    return json_pack("{s:I,s:I}", "rss_bytes", (json_int_t)rss * page, "vm_bytes", (json_int_t)size * page);
}

int kern__sys_stats(kern_call *c, json_t *params, json_t **result)
{
    json_t *subs = json_object();

    for (size_t i = 0; i < kern__subsys_count(); i++) {
        const kern_subsys *s = kern__subsys_at(i);
        if (s->stats && kern__subsys_ok(i)) {
            json_t *o = s->stats();
            if (o)
                json_object_set_new(subs, s->name, o);
        }
    }
    *result = json_pack("{s:f,s:{s:I,s:I},s:I,s:o,s:o,s:o}", "uptime_s",
                        (double)(kern__now_ns() - kern__st.t_start_ns) / 1e9, "connections", "current",
                        (json_int_t)kern__conn_count(), "total", (json_int_t)kern__conn_total(), "inflight",
                        (json_int_t)kern__inflight(), "calls", kern__stats_methods(), "memory", memory_json(),
                        "subsystems", subs);
    return 0;
}

int kern__sys_shutdown(kern_call *c, json_t *params, json_t **result)
{
    kern__request_shutdown("sys.shutdown");
    *result = json_pack("{s:b}", "stopping", 1);
    return 0;
}

int kern__sys_reload(kern_call *c, json_t *params, json_t **result)
{
    char err[256] = "";
    int rc = kern__reload(err, sizeof(err));

    if (rc < 0)
        return kern_call_set_error(c, rc, NULL, "%s", err[0] ? err : "reload failed");
    *result = json_pack("{s:b,s:o}", "reloaded", 1, "config", kern__config_dump());
    return 0;
}

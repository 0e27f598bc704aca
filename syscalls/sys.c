/*
 * sys.c - table rows of the sys.* family: the kernel's own syscalls.
 * Handlers live in kernel/sysinfo.c and kernel/confirm.c.
 */
#include "aios/kernel.h"
#include "kernel/kern_proc.h"

const sys_method sys_sys_methods[] = {
    {"sys.ping", kern__sys_ping, SYS_F_NOAUTH,
     "{\"type\":\"object\",\"additionalProperties\":false,"
     "\"properties\":{\"echo\":{\"description\":\"any value, returned as is\"}}}",
     "{echo?}", "", "the null syscall: answers at once (measures the kernel's own overhead)"},
    {"sys.hello", kern__sys_hello, SYS_F_NOAUTH,
     "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{"
     "\"client\":{\"type\":\"string\",\"maxLength\":63,\"description\":\"client program name\"},"
     "\"version\":{\"type\":\"string\",\"maxLength\":63,\"description\":\"client version\"},"
     "\"protocol\":{\"type\":\"integer\",\"description\":\"protocol version the client speaks\"},"
     "\"agent\":{\"type\":[\"string\",\"integer\",\"null\"],\"description\":"
     "\"process id from AIOS_AGENT_ID to bind to, or a name to attach as a new agent\"},"
     "\"token\":{\"type\":\"string\",\"maxLength\":64,\"description\":\"AIOS_AGENT_TOKEN of the process\"}}}",
     "{protocol, server, version, capabilities, identity, max_line}", "ENOENT EPERM ECONFLICT ENOTSUP",
     "handshake: protocol version, server version, capabilities and this connection's identity"},
    {"sys.info", kern__sys_info, SYS_F_NOAUTH,
     "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{}}",
     "{server, version, protocol, pid, socket, data, uptime_s, host, kernel, subsystems, methods, identity}", "",
     "facts about the running daemon"},
    {"sys.methods", kern__sys_methods, SYS_F_NOAUTH,
     "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{"
     "\"prefix\":{\"type\":\"string\",\"description\":\"only methods starting with this\"},"
     "\"brief\":{\"type\":\"boolean\",\"default\":false,\"description\":\"names and help only\"}}}",
     "{methods: [{name, help, params, flags, result, errors}]}", "",
     "the syscall table: every method with its parameter schema and help"},
    {"sys.stats", kern__sys_stats, 0,
     "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{}}",
     "{uptime_s, connections, inflight, calls: {method: {calls, errors, mean_us, p50_us, p90_us, p99_us}}, memory, "
     "subsystems}",
     "", "uptime, connections, calls and latency percentiles per method, memory"},
    {"sys.confirmations", kern__sys_confirmations, 0,
     "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{"
     "\"all\":{\"type\":\"boolean\",\"default\":false,\"description\":\"include answered ones\"}}}",
     "{confirmations: [{id, action, summary, principal, method, uid, state, created_at}]}", "",
     "confirmations waiting for a person's answer"},
    {"sys.confirm", kern__sys_confirm, SYS_F_MUTATES,
     "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"id\",\"approve\"],\"properties\":{"
     "\"id\":{\"type\":\"integer\",\"minimum\":1},\"approve\":{\"type\":\"boolean\"}}}",
     "{id, action, summary, principal, method, uid, state, created_at}", "ENOENT EPERM ECONFLICT",
     "a person approves or denies a pending confirmation (not callable by agents)"},
    {"sys.confirm_wait", kern__sys_confirm_wait, SYS_F_CANCEL,
     "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"id\"],\"properties\":{"
     "\"id\":{\"type\":\"integer\",\"minimum\":1},"
     "\"timeout_ms\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":86400000,\"default\":300000}}}",
     "{id, state}", "ENOENT ETIMEDOUT ECANCELED", "wait until a person answers one of your confirmations"},
    {"sys.shutdown", kern__sys_shutdown, SYS_F_ADMIN | SYS_F_MUTATES,
     "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{}}", "{stopping: true}", "EPERM",
     "stop the daemon gracefully, as SIGTERM does"},
    {"sys.reload", kern__sys_reload, SYS_F_ADMIN | SYS_F_MUTATES,
     "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{}}", "{reloaded, config}",
     "EPERM EINVAL", "re-read the config file, as SIGHUP does"},
};

const size_t sys_sys_count = sizeof(sys_sys_methods) / sizeof(sys_sys_methods[0]);

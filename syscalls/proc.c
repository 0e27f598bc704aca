/*
 * proc.c - table rows of the proc.* family: agents as processes.
 * Handlers live in kernel/proc.c.
 */
#include "aios/kernel.h"
#include "kernel/kern_proc.h"

#define ID_ONLY                                                                               \
    "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"id\"],\"properties\":{" \
    "\"id\":{\"type\":\"integer\",\"minimum\":1}}}"

const sys_method sys_proc_methods[] = {
    {"proc.spawn", kern__proc_spawn, SYS_F_MUTATES,
     "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"argv\"],\"properties\":{"
     "\"argv\":{\"type\":\"array\",\"minItems\":1,\"maxItems\":4096,\"items\":{\"type\":\"string\"},"
     "  \"description\":\"program and arguments; the program is looked up in PATH\"},"
     "\"env\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\"},"
     "  \"description\":\"environment added to PATH, HOME, LANG\"},"
     "\"cwd\":{\"type\":\"string\",\"description\":\"working directory\"},"
     "\"name\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":63,\"description\":\"agent name (default: program name)\"},"
     "\"priority\":{\"type\":\"integer\",\"minimum\":-20,\"maximum\":20,\"default\":0,"
     "  \"description\":\"scheduling priority, higher runs first\"},"
     "\"caps\":{\"type\":\"array\",\"items\":{\"type\":\"string\"},"
     "  \"description\":\"syscall families the agent may call (default: the caller's)\"}}}",
     "{id, name, pid}", "ENOENT EPERM EINVAL", "start an agent program as a child process"},
    {"proc.list", kern__proc_list, 0,
     "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{"
     "\"state\":{\"enum\":[\"all\",\"running\",\"ended\",\"exited\",\"killed\",\"detached\"],\"default\":\"all\"}}}",
     "{processes: [{id, name, parent, pid, state, uid, priority, started_at, ended_at, attached, wall_s, tokens}]}",
     "", "list the processes you may see (all of them for root and the daemon's owner)"},
    {"proc.info", kern__proc_info, 0, ID_ONLY,
     "{id, name, ..., syscalls, caps, argv, cwd, exit, connections, log_bytes}", "ENOENT",
     "one process with its accounting"},
    {"proc.kill", kern__proc_kill, SYS_F_MUTATES,
     "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"id\"],\"properties\":{"
     "\"id\":{\"type\":\"integer\",\"minimum\":1},"
     "\"signal\":{\"type\":[\"string\",\"integer\"],\"default\":\"TERM\","
     "  \"description\":\"TERM, KILL, INT, HUP, STOP, CONT, USR1, USR2, QUIT or a number\"}}}",
     "{id, signal}", "ENOENT EPERM EINVAL ENOTSUP", "send a signal to a process and its process group"},
    {"proc.wait", kern__proc_wait, SYS_F_CANCEL,
     "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"id\"],\"properties\":{"
     "\"id\":{\"type\":\"integer\",\"minimum\":1},"
     "\"timeout_ms\":{\"type\":\"integer\",\"minimum\":0}}}",
     "{id, exit: {state, status, signal, wall_s}}", "ENOENT ETIMEDOUT ECANCELED",
     "block until a process ends (cancellable)"},
    {"proc.logs", kern__proc_logs, SYS_F_STREAM | SYS_F_CANCEL,
     "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"id\"],\"properties\":{"
     "\"id\":{\"type\":\"integer\",\"minimum\":1},"
     "\"follow\":{\"type\":\"boolean\",\"default\":false,"
     "  \"description\":\"stream new output as {stream, data} until the process ends\"},"
     "\"stream\":{\"enum\":[\"stdout\",\"stderr\",\"both\"],\"default\":\"both\"},"
     "\"tail\":{\"type\":\"integer\",\"minimum\":0,\"default\":0,\"description\":\"last N bytes only\"}}}",
     "{exit, bytes: {stdout, stderr}, stdout?, stderr?, stdout_dropped?, stderr_dropped?}", "ENOENT ECANCELED",
     "a process's captured output (bounded per stream), or follow it"},
    {"proc.setprio", kern__proc_setprio, SYS_F_MUTATES,
     "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"id\",\"priority\"],\"properties\":{"
     "\"id\":{\"type\":\"integer\",\"minimum\":1},"
     "\"priority\":{\"type\":\"integer\",\"minimum\":-20,\"maximum\":20}}}",
     "{id, priority}", "ENOENT EPERM", "change a process's scheduling priority (raising above 0 needs admin)"},
};

const size_t sys_proc_count = sizeof(sys_proc_methods) / sizeof(sys_proc_methods[0]);

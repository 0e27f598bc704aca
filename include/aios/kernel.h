/*
 * kernel.h - what the aiosd kernel offers to its subsystems and syscalls.
 *
 * The kernel owns the libuv loop, the listening socket, connections, the
 * process table and the syscall table.  Subsystems (llm, lsfs, sandbox, ...)
 * register with the kernel through kernel/subsys.def and export syscalls
 * through syscalls/families.def.  This header is the whole contract between
 * them: a syscall handler sees a kern_call, its parameters (already checked
 * against the method's schema) and the caller's identity, and answers with a
 * result, an error, or later from any thread.
 *
 * Threads: functions marked "any thread" may be called from engine threads or
 * worker threads; everything else runs on the loop thread only.
 */
#ifndef AIOS_KERNEL_H
#define AIOS_KERNEL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "aios/error.h"

#define AIOS_VERSION "0.1.0"
#define AIOS_PROTOCOL_VERSION 1

/* ---- identity ---------------------------------------------------------- */

/*
 * Who is calling.  uid/gid/pid come from SO_PEERCRED when the connection was
 * accepted and cannot be forged.  agent is the name of the agent process the
 * connection is bound to (sys.hello), or "" for a plain user connection.
 * principal is the string other modules key ownership on: "agent:<name>"
 * for a bound agent, "uid:<n>" otherwise.
 */
typedef struct kern_identity {
    uint64_t conn_id;
    uid_t uid;
    gid_t gid;
    pid_t pid;
    int64_t proc_id;        /* bound process in the process table, 0 if none */
    bool admin;             /* uid 0 or the daemon's own uid */
    char agent[64];         /* agent name, "" when not bound */
    char principal[80];     /* "agent:<name>" or "uid:<n>" */
    char client[64];        /* client name from sys.hello, "" if none */
} kern_identity;

/* ---- calls ------------------------------------------------------------- */

typedef struct kern_call kern_call;

/* A handler returns 0 with *result set, KERN_ASYNC when it will answer
 * later with kern_call_finish()/kern_call_fail(), or a negative AIOS_E* code
 * (optionally after kern_call_set_error() to name the field and the text). */
#define KERN_ASYNC 1

/*
 * Handler signature.  params is the request's params object (never NULL: an
 * absent params is passed as an empty object), borrowed for the duration of
 * the call.  To keep it for async work, json_incref() it.
 */
typedef int (*sys_handler_fn)(kern_call *c, json_t *params, json_t **result);

/* The caller's identity; valid for the life of the call (any thread). */
const kern_identity *kern_call_identity(const kern_call *c);

/* The method name, e.g. "llm.chat" (any thread). */
const char *kern_call_method(const kern_call *c);

/* Take and drop references (any thread).  A handler that returns KERN_ASYNC
 * owns one reference, which kern_call_finish/kern_call_fail release. */
kern_call *kern_call_ref(kern_call *c);
void kern_call_unref(kern_call *c);

/*
 * Describe the error about to be returned: field names the offending
 * parameter (dotted path, or NULL), fmt the message a person can act on
 * (lower case, no trailing period; NULL keeps the table's message).
 * Returns code so that handlers can write `return kern_call_set_error(...)`.
 * Any thread.
 */
int kern_call_set_error(kern_call *c, int code, const char *field,
                        const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Attach extra members to the error's data object (steals data). */
void kern_call_set_error_data(kern_call *c, json_t *data);

/*
 * Answer an async call with a result (steals result; NULL means json null) or
 * an error, and release the handler's reference.  Any thread; the reply is
 * written by the loop thread.  Exactly one of these per KERN_ASYNC call.
 */
void kern_call_finish(kern_call *c, json_t *result);
void kern_call_fail(kern_call *c, int code);

/*
 * Send a stream notification {"method":"$/stream","params":{"id":..,
 * "seq":n, ...fields}} (steals fields, an object).  seq counts from 0.
 * Returns 0, or AIOS_ECANCELED when the call was cancelled or its
 * connection is gone (the notification is dropped).  Any thread.
 */
int kern_call_stream(kern_call *c, json_t *fields);

/* Whether the caller asked for streaming ("stream": true, the default for
 * methods flagged SYS_F_STREAM when the param is absent). Any thread. */
bool kern_call_streaming(const kern_call *c);

/* True once the call was cancelled ($/cancel, disconnect, shutdown, timeout).
 * Any thread; cheap (one atomic load). */
bool kern_call_cancelled(const kern_call *c);

/*
 * Register fn to run on the loop thread when the call is cancelled; runs at
 * once if it already was.  One callback per call; later calls replace it.
 */
void kern_call_on_cancel(kern_call *c, void (*fn)(kern_call *c, void *arg), void *arg);

/* ---- syscall table rows ------------------------------------------------ */

enum {
    SYS_F_WORKER = 1u << 0,  /* run the handler on the worker pool */
    SYS_F_STREAM = 1u << 1,  /* may send $/stream notifications */
    SYS_F_ADMIN = 1u << 2,   /* only root or the daemon's uid */
    SYS_F_CANCEL = 1u << 3,  /* honours $/cancel while in flight */
    SYS_F_MUTATES = 1u << 4, /* changes state (shown in docs and help) */
    SYS_F_NOAUTH = 1u << 5,  /* allowed before sys.hello and for any process capability */
};

/*
 * One row of the syscall table.  The family of a method ("fs" for "fs.read")
 * is also the capability a process needs to call it.  params is a JSON
 * Schema (subset: type, properties, required, additionalProperties, items,
 * enum, minimum, maximum, minLength, maxLength, minItems, maxItems, default,
 * description) checked before the handler runs.  errors lists the AIOS_E*
 * names the method can return beyond the generic ones, for the docs.
 */
typedef struct sys_method {
    const char *name;
    sys_handler_fn handler;
    unsigned flags;
    const char *params;
    const char *result;     /* one line describing the result, for docs */
    const char *errors;     /* e.g. "ENOENT EPERM" */
    const char *help;       /* one line */
} sys_method;

/* ---- the kernel's services ---------------------------------------------- */

/* Daemon-wide configuration (config file, then flags).  Keys are dotted,
 * e.g. "llm.threads".  Strings are owned by the kernel.  Any thread after
 * start-up; values only change on SIGHUP for keys marked reloadable. */
const char *kern_config_str(const char *key, const char *def);
long long kern_config_int(const char *key, long long def);
double kern_config_double(const char *key, double def);
bool kern_config_bool(const char *key, bool def);

/* The data folder (created at start-up, 0700) and the socket path. */
const char *kern_data_dir(void);
const char *kern_socket_path(void);

/* The libuv loop (loop thread only). */
struct uv_loop_s *kern_loop(void);

/* True while the daemon is shutting down (any thread). */
bool kern_stopping(void);

/* Run work() on the worker pool, then done() on the loop thread.  Loop
 * thread only.  Returns 0 or a negative code. */
int kern_queue_work(void (*work)(void *arg), void (*done)(void *arg, int status), void *arg);

/* Run fn(arg) on the loop thread soon.  Any thread. */
int kern_post(void (*fn)(void *arg), void *arg);

/* ---- confirmations ------------------------------------------------------ */

/*
 * Irreversible operations can be made to need a person's yes, by policy:
 * config key "confirm.<action>" = true (e.g. "confirm.fs.purge").
 *
 * kern_confirm_check(c, action, summary) returns 0 when no confirmation is
 * needed, or when the request carries "confirm": <id> naming a confirmation
 * that a person approved for this same caller, method and parameters (each
 * id is good once).  Otherwise it files a pending confirmation, sets the
 * call's error data to {"confirm": id, "action": action, "summary": ...} and
 * returns AIOS_ECONFIRM (or AIOS_EDENIED if that id was refused), so a
 * handler simply does:
 *     if ((rc = kern_confirm_check(c, "fs.purge", summary)) < 0) return rc;
 * A person answers with `aiosctl confirm` (sys.confirm); the agent waits
 * with sys.confirm_wait and repeats the call with "confirm": id.
 * Any thread.
 */
int kern_confirm_check(kern_call *c, const char *action, const char *summary);

/* ---- process accounting (any thread) ----------------------------------- */

/* Add LLM tokens to a process's accounting; proc_id 0 is ignored. */
void kern_proc_account_tokens(int64_t proc_id, uint64_t tokens_in, uint64_t tokens_out);

/* Priority of a process (0 when unknown; higher runs first, -20..20). */
int kern_proc_priority(int64_t proc_id);

/* ---- subsystems --------------------------------------------------------- */

/*
 * A subsystem row (kernel/subsys.def).  init runs on the loop thread after
 * the configuration is read and before the socket accepts; a negative
 * return stops the daemon unless the subsystem is optional, in which case
 * its syscalls answer AIOS_EUNAVAIL.  stop begins shutdown (cancel work,
 * join threads); fini frees.  Any of them may be NULL.
 */
typedef struct kern_subsys {
    const char *name;
    int (*init)(void);
    void (*stop)(void);
    void (*fini)(void);
    bool optional;
    void (*reload)(void);     /* SIGHUP: re-read reloadable keys */
    json_t *(*stats)(void);   /* extra object for sys.stats, new reference */
} kern_subsys;

#endif /* AIOS_KERNEL_H */

/*
 * client.h - libaios, the C client of the aiosd kernel.
 *
 *   aios_client *c;
 *   aios_error err = {0};
 *   json_t *res;
 *   if (aios_client_connect(NULL, NULL, &c) < 0) ...;          // default socket
 *   if (aios_call(c, "proc.list", NULL, 5000, &res, &err) < 0)
 *       fprintf(stderr, "%s (%s)\n", err.message, err.name);
 *   ...
 *   aios_client_close(c);
 *
 * One connection carries many calls at once (pipelining): every request gets
 * an id, and replies are matched to calls by id whatever their order.
 * Calls may be made from several threads.  Replies are read by whoever
 * needs them:
 *   - a thread blocked in aios_call()/aios_wait() reads the socket itself
 *     when no other thread is reading (no thread hop: the lowest latency);
 *   - with opts.reader_thread, a background thread reads and dispatches;
 *   - an event-loop program watches aios_client_fd() for POLLIN and calls
 *     aios_client_process() when it is readable.
 * Stream and completion callbacks run in the thread that is reading at that
 * moment (one at a time per connection).  A callback may call
 * aios_call_async(), aios_cancel() and aios_notify(), but not the blocking
 * aios_call()/aios_wait() (they return AIOS_EBUSY there).
 *
 * Errors are negative AIOS_E* codes from aios/error.h.  An error reply from
 * the daemon comes back with its own code (data.name decides, so ENOMEM and
 * EIO stay apart although they share a JSON-RPC number), its message and
 * the offending field.  Ownership: params are borrowed (the caller keeps
 * its reference); results handed to the caller are new references.
 */
#ifndef AIOS_CLIENT_H
#define AIOS_CLIENT_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "aios/error.h"

#define AIOS_CLIENT_VERSION "0.1.0"
#define AIOS_CLIENT_PROTOCOL 1   /* the wire protocol version this library speaks */

typedef struct aios_client aios_client;

/*
 * The details of a failed call.  Zero-initialise it once (aios_error e =
 * {0}); every call that takes one clears it first, and aios_error_clear()
 * frees what it holds.
 */
typedef struct aios_error {
    int code;              /* negative AIOS_E* code, 0 when no error */
    int rpc_code;          /* the JSON-RPC error number, 0 for local errors */
    bool remote;           /* true: the daemon answered with this error */
    char name[24];         /* symbolic name, e.g. "ENOENT" */
    char field[128];       /* offending parameter ("" if none) */
    char message[512];     /* a message a person can act on */
    json_t *data;          /* the error's whole data object (remote errors), or NULL */
} aios_error;

/* Free err->data and reset err to "no error".  NULL is fine. */
void aios_error_clear(aios_error *err);

/*
 * Stream notification of call call_id: chunk is the $/stream params object
 * ({"id", "seq", ...fields}), borrowed for the duration of the callback.
 */
typedef void (*aios_stream_cb)(void *arg, uint64_t call_id, json_t *chunk);

/*
 * Final answer of an asynchronous call: rc is 0 with result set (borrowed;
 * json_incref it to keep it), or a negative code with err describing it
 * (AIOS_ECLOSED when the connection went away first).  Runs exactly once
 * per successful aios_call_async().
 */
typedef void (*aios_done_cb)(void *arg, uint64_t call_id, int rc, json_t *result, const aios_error *err);

/* A message from the daemon that belongs to no call in flight (borrowed). */
typedef void (*aios_notify_cb)(void *arg, json_t *msg);

typedef struct aios_client_opts {
    const char *client_name;     /* sys.hello "client" (default "libaios") */
    const char *agent;           /* bind to this agent id or attach under this name;
                                  * NULL: $AIOS_AGENT_ID if set */
    const char *token;           /* agent token; NULL: $AIOS_AGENT_TOKEN */
    bool no_env_agent;           /* ignore AIOS_AGENT_ID/AIOS_AGENT_TOKEN */
    bool no_hello;               /* skip sys.hello (raw connection) */
    bool reader_thread;          /* read replies on a background thread */
    int connect_timeout_ms;      /* connect + hello (default 5000) */
    /* Set by a signal handler (e.g. SIGINT): a blocking call sees it, sends
     * $/cancel for its call and returns AIOS_ECANCELED.  May be NULL. */
    volatile sig_atomic_t *interrupt;
    aios_notify_cb notify_cb;    /* messages that match no call */
    void *notify_arg;
    aios_error *err;             /* if not NULL, receives why connecting failed */
} aios_client_opts;

/*
 * Write the default socket path to buf (the rule aiosd follows):
 * $AIOS_SOCKET, else $XDG_RUNTIME_DIR/aios/aios.sock, else
 * /run/aios/aios.sock as root, else /tmp/aios-<uid>/aios.sock.
 * Returns 0 or AIOS_ETOOBIG.
 */
int aios_client_default_socket(char *buf, size_t len);

/*
 * Connect to aiosd at path (NULL: the default socket) and say sys.hello,
 * binding to an agent process when opts or the environment name one.
 * opts may be NULL.  Returns 0 and *out, or a negative code with *out =
 * NULL: AIOS_EUNAVAIL when nothing listens at path (no socket, or a stale
 * one), AIOS_EPERM when the socket is not ours to open, AIOS_ETIMEDOUT,
 * AIOS_ETOOBIG for a path too long, or the daemon's error from sys.hello.
 */
int aios_client_connect(const char *path, const aios_client_opts *opts, aios_client **out);

/*
 * Close the connection: calls still in flight end with AIOS_ECLOSED (their
 * done callbacks run in this thread), the reader thread is joined.  No
 * other thread may use c once this starts.  NULL is fine.
 */
void aios_client_close(aios_client *c);

/* The socket path c is connected to. */
const char *aios_client_path(const aios_client *c);

/* The sys.hello result (borrowed; NULL with no_hello). */
json_t *aios_client_hello(const aios_client *c);

/* Whether the connection is still open (it closes on EOF or a read error). */
bool aios_client_alive(aios_client *c);

/*
 * Synchronous call: send method(params) and wait for its final reply.
 * params: an object or NULL (borrowed).  timeout_ms <= 0 waits without a
 * limit; on timeout the call is cancelled ($/cancel) and AIOS_ETIMEDOUT
 * returned.  Returns 0 with *result (new reference, never NULL: json null
 * at least), or a negative code with *result = NULL and err (may be NULL)
 * filled.  Stream notifications of the call are dropped; use
 * aios_call_stream() to see them.
 */
int aios_call(aios_client *c, const char *method, json_t *params, int timeout_ms, json_t **result,
              aios_error *err);

/* aios_call() that also hands every $/stream notification to stream_cb
 * (in the calling thread or the reader thread). */
int aios_call_stream(aios_client *c, const char *method, json_t *params, aios_stream_cb stream_cb,
                     void *arg, int timeout_ms, json_t **result, aios_error *err);

/*
 * Asynchronous call: send the request and return at once with its id in
 * *call_id (may be NULL).  *call_id is written before the request is sent,
 * so a callback that runs on the reader thread before this returns already
 * sees it.  stream_cb (may be NULL) gets its notifications, done_cb (may be
 * NULL) its final answer.  Returns 0, or a negative code (AIOS_ECLOSED,
 * AIOS_EINVAL, AIOS_ENOMEM; *call_id is then 0) in which case no callback
 * runs.
 */
int aios_call_async(aios_client *c, const char *method, json_t *params, aios_stream_cb stream_cb,
                    aios_done_cb done_cb, void *arg, uint64_t *call_id);

/*
 * Block until the asynchronous call call_id has finished (its done callback
 * ran), reading the connection meanwhile.  Returns 0, AIOS_ETIMEDOUT,
 * AIOS_ECANCELED when opts.interrupt was raised (the call is not cancelled:
 * aios_cancel() it), AIOS_ENOENT for an unknown or finished id, or
 * AIOS_EBUSY from inside a callback.  timeout_ms <= 0: no limit.
 */
int aios_wait(aios_client *c, uint64_t call_id, int timeout_ms);

/* Ask the daemon to cancel call call_id ($/cancel).  Its final answer
 * (usually AIOS_ECANCELED) still arrives.  0 or AIOS_ENOENT when no such
 * call is in flight, AIOS_ECLOSED. */
int aios_cancel(aios_client *c, uint64_t call_id);

/* Send a notification (a request without id; no answer comes). */
int aios_notify(aios_client *c, const char *method, json_t *params);

/*
 * Event-loop integration: the socket's fd, to watch for POLLIN, and the
 * function to call when it is readable.  aios_client_process() reads what
 * is there without blocking and runs the callbacks.  Returns 0, or
 * AIOS_ECLOSED once the daemon has closed the connection.  With
 * reader_thread it does nothing and returns 0.
 */
int aios_client_fd(const aios_client *c);
int aios_client_process(aios_client *c);

/* Number of calls in flight on c. */
size_t aios_client_pending(aios_client *c);

#endif /* AIOS_CLIENT_H */

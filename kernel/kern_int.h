/*
 * kern_int.h - private structures shared by the files of the kernel.
 *
 * The loop thread owns connections, the in-flight lists, the process table's
 * libuv handles and the statistics.  Other threads reach the loop only
 * through the completion queue (kern__post_bytes / kern_post), which is
 * drained by a uv_async handle.
 */
#ifndef KERN_INT_H
#define KERN_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "aios/kernel.h"

/* ---- configuration (config.c) ------------------------------------------------ */

/* Set a key (from the file or a flag); source orders precedence: a value from
 * a higher source is never replaced by a lower one.  0 or AIOS_ENOMEM. */
enum { KERN_CFG_DEFAULT = 0, KERN_CFG_FILE = 1, KERN_CFG_FLAG = 2 };
int kern__config_set(const char *key, const char *value, int source);
/* Read a config file; on error returns a negative code and a message. */
int kern__config_load(const char *path, char *err, size_t errlen);
/* Re-read the file for SIGHUP: file values are replaced, flags still win. */
int kern__config_reload(const char *path, char *err, size_t errlen);
json_t *kern__config_dump(void);
void kern__config_free(void);

/* ---- framing (frame.c) -------------------------------------------------------- */

/*
 * A line splitter with a length cap.  Feed it bytes as they arrive; it calls
 * on_line for every complete line (without the newline) and reports a line
 * that grows past max_line once, then discards input up to the next newline.
 */
typedef struct kern_frame {
    char *buf;
    size_t len, cap;
    size_t scanned;        /* bytes of buf already searched for '\n' */
    size_t max_line;
    bool overflow;         /* inside an over-long line */
} kern_frame;

typedef enum { KERN_FRAME_LINE, KERN_FRAME_TOO_LONG } kern_frame_event;
typedef int (*kern_frame_cb)(void *arg, kern_frame_event ev, const char *line, size_t len);

void kern__frame_init(kern_frame *f, size_t max_line);
void kern__frame_free(kern_frame *f);
/* Returns 0, a negative code from the callback (stop feeding), or AIOS_ENOMEM. */
int kern__frame_feed(kern_frame *f, const char *data, size_t n, kern_frame_cb cb, void *arg);

/*
 * Check a decoded JSON-RPC message.  On success fills the borrowed pointers
 * (method, id (NULL for a notification), params (NULL if absent)) and
 * returns 0; otherwise returns AIOS_EPROTO (invalid request) or
 * AIOS_EINVAL (params not an object) with a message.
 */
int kern__rpc_check(const json_t *msg, const char **method, json_t **id, json_t **params,
                    char *err, size_t errlen);

/* ---- connections (server.c) ---------------------------------------------------- */

typedef struct kern_conn kern_conn;

struct kern_conn {
    uv_pipe_t pipe;
    atomic_int refs;
    uint64_t id;
    kern_identity ident;
    unsigned caps;             /* families this connection may call */
    kern_frame frame;
    bool closing;              /* close requested (after flush) */
    bool closed;               /* handle closed: drop writes */
    bool reading;
    bool hello;
    /* output buffer, flushed once per loop iteration */
    char *obuf;
    size_t olen, ocap;
    size_t pending_write;      /* bytes handed to uv_write, not yet done */
    bool dirty;
    kern_conn *dirty_next;
    /* in-flight calls (loop thread) */
    struct kern_call *calls;
    size_t n_calls;
    uint64_t t_connect_ns;
    kern_conn *next, *prev;    /* all connections */
};

void kern__conn_ref(kern_conn *c);
void kern__conn_unref(kern_conn *c);
/* Append a serialized message (with its newline) to c's output (loop thread). */
void kern__conn_send_bytes(kern_conn *c, const char *bytes, size_t n);
/* Serialize msg and send it (loop thread); msg is not stolen. */
void kern__conn_send(kern_conn *c, const json_t *msg);
size_t kern__conn_count(void);
uint64_t kern__conn_total(void);
/* Find a live connection by id (loop thread), NULL if gone. */
kern_conn *kern__conn_find(uint64_t id);
int kern__server_start(void);
/* Stop accepting new connections. */
void kern__server_stop_accepting(void);
/* Close every connection after flushing what is queued. */
void kern__server_close_all(void);

/* ---- calls (call.c) ------------------------------------------------------------- */

struct kern_call {
    atomic_int refs;
    kern_conn *conn;             /* referenced */
    json_t *id;                  /* NULL for a notification */
    const sys_method *m;
    json_t *params;
    kern_identity ident;
    atomic_bool cancelled;
    atomic_bool done;
    atomic_uint seq;
    bool streaming;
    bool on_worker;
    uint64_t t_start_ns;
    /* error detail set by the handler */
    int err_field_set;
    char err_field[128];
    char err_msg[512];
    json_t *err_data;
    /* loop thread */
    void (*cancel_fn)(struct kern_call *c, void *arg);
    void *cancel_arg;
    struct kern_call *next, *prev;   /* in conn->calls */
    bool listed;
    int worker_rc;
    json_t *worker_result;
    uv_work_t work;
    struct kern_call *wait_next;     /* queued behind the per-agent limit */
};

/* Create a call for a request on conn (loop thread).  id/params are
 * referenced.  The call starts with one reference owned by the dispatcher. */
kern_call *kern__call_new(kern_conn *conn, const sys_method *m, json_t *id, json_t *params);
/* Cancel (loop thread): mark, run the cancel callback, answer "cancelled"
 * with reason unless the call is a notification or already answered. */
void kern__call_cancel(kern_call *c, const char *reason);
/* Finish helpers used by the dispatcher on the loop thread. */
void kern__call_reply_result(kern_call *c, json_t *result);
void kern__call_reply_error(kern_call *c, int code);
/* Take a finished call off its connection's list, record its statistics and
 * drop the list's reference (loop thread; idempotent). */
void kern__call_retire(kern_call *c, int code);
/* Cancel every call in flight on conn (loop thread). */
void kern__call_cancel_all(kern_conn *conn, const char *reason);
/* Find an in-flight call on conn by id (loop thread). */
kern_call *kern__call_find(kern_conn *conn, const json_t *id);

/* Build an error response object for id with code, message, field and data
 * (all but code may be NULL). */
json_t *kern__error_msg(const json_t *id, int code, const char *message, const char *field,
                        json_t *data);

/* ---- the loop's inbox (loop.c) ------------------------------------------------- */

int kern__inbox_init(void);
void kern__inbox_close(void);
/* Queue serialized bytes for connection conn_id, to be written on the loop
 * thread; stats_call, when not NULL, is accounted as finished. Any thread. */
void kern__post_bytes(kern_conn *conn, char *bytes, size_t n, kern_call *finished, int code);
uint64_t kern__now_ns(void);

/* ---- dispatch (dispatch.c) ----------------------------------------------------- */

int kern__table_build(char *err, size_t errlen);
/* Check one row of family fam; on success *schema gets its parsed schema. */
int kern__method_row_check(const sys_method *m, const char *fam, json_t **schema, char *err, size_t errlen);
void kern__table_free(void);
const sys_method *kern__method_find(const char *name);
size_t kern__method_count(void);
const sys_method *kern__method_at(size_t i);
const json_t *kern__method_schema(const sys_method *m);
/* Index of a method's family in the family list, for caps and accounting. */
int kern__family_index(const char *method);
size_t kern__family_count(void);
const char *kern__family_name(size_t i);
#define KERN_CAPS_ALL 0xffffffffu

/* Handle one complete line from a connection (loop thread). */
void kern__dispatch_line(kern_conn *conn, const char *line, size_t len);
/* Record a finished call in the statistics (loop thread). */
void kern__stats_record(const sys_method *m, uint64_t ns, int code);
json_t *kern__stats_methods(void);
size_t kern__inflight(void);
void kern__inflight_add(int d);
/* A worker-pool call finished: start the next one queued for its agent. */
void kern__worker_done(kern_call *c);

/* ---- processes (proc.c) ---------------------------------------------------------- */

int kern__proc_init(void);
void kern__proc_stop(void);
/* The caps and proc id a connection gets when it binds to process id; 0 or
 * AIOS_ENOENT / AIOS_EPERM. */
int kern__proc_bind(kern_conn *conn, json_t *agent, const char *token, char *err, size_t errlen);
void kern__proc_conn_closed(kern_conn *conn);
void kern__proc_account_call(int64_t proc_id, int family);
size_t kern__proc_running(void);

/* ---- confirmations (confirm.c) ----------------------------------------------------- */

void kern__confirm_free_all(void);
void kern__server_cleanup(void);

/* Run the daemon (daemon.c); returns the exit status. */
int kern_main(int argc, char **argv);

/* ---- daemon state (daemon.c) ------------------------------------------------------- */

typedef struct kern_state {
    uv_loop_t *loop;
    char *data_dir;
    char *socket_path;
    char *config_path;
    uid_t uid;
    uint64_t t_start_ns;
    atomic_bool stopping;
    size_t max_line;
    size_t max_pending;       /* output bytes queued before a connection is dropped */
    size_t read_high_water;   /* stop reading above this many queued output bytes */
    int worker_limit;         /* concurrent worker calls per agent */
} kern_state;

extern kern_state kern__st;

#endif /* KERN_INT_H */

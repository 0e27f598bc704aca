/*
 * call.c - one in-flight syscall: replies, errors, streams, cancellation.
 *
 * References: a call starts with one reference held by its connection's
 * in-flight list (dropped by kern__call_retire when the call is answered or
 * cancelled).  A handler that answers later (KERN_ASYNC) owns a second one,
 * dropped by kern_call_finish()/kern_call_fail().  The `done` flag is the
 * single arbiter of who answers: whoever flips it first sends the reply;
 * everyone else drops theirs.  Replies from other threads are serialized
 * on that thread and queued to the loop (loop.c).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aios/error.h"
#include "aios/log.h"
#include "kernel/kern_int.h"

kern_call *kern__call_new(kern_conn *conn, const sys_method *m, json_t *id, json_t *params)
{
    kern_call *c = calloc(1, sizeof(*c));

    if (!c)
        return NULL;
    atomic_init(&c->refs, 1);
    atomic_init(&c->cancelled, false);
    atomic_init(&c->done, false);
    atomic_init(&c->seq, 0);
    kern__conn_ref(conn);
    c->conn = conn;
    c->id = id ? json_incref(id) : NULL;
    c->m = m;
    c->params = json_incref(params);
    c->ident = conn->ident;
    c->t_start_ns = kern__now_ns();
    /* link into the connection's in-flight list */
    c->next = conn->calls;
    if (conn->calls)
        conn->calls->prev = c;
    conn->calls = c;
    conn->n_calls++;
    c->listed = true;
    kern__inflight_add(1);
    return c;
}

kern_call *kern_call_ref(kern_call *c)
{
    atomic_fetch_add(&c->refs, 1);
    return c;
}

void kern_call_unref(kern_call *c)
{
    if (!c || atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    json_decref(c->id);
    json_decref(c->params);
    json_decref(c->err_data);
    json_decref(c->worker_result);
    kern__conn_unref(c->conn);
    free(c);
}

void kern__call_retire(kern_call *c, int code)
{
    kern_conn *conn = c->conn;

    if (!c->listed)
        return;
    c->listed = false;
    if (c->prev)
        c->prev->next = c->next;
    else
        conn->calls = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->next = c->prev = NULL;
    conn->n_calls--;
    kern__stats_record(c->m, kern__now_ns() - c->t_start_ns, code);
    kern__inflight_add(-1);
    kern_call_unref(c);
}

kern_call *kern__call_find(kern_conn *conn, const json_t *id)
{
    for (kern_call *c = conn->calls; c; c = c->next)
        if (c->id && json_equal(c->id, (json_t *)id))
            return c;
    return NULL;
}

const kern_identity *kern_call_identity(const kern_call *c)
{
    return &c->ident;
}

const char *kern_call_method(const kern_call *c)
{
    return c->m->name;
}

bool kern_call_cancelled(const kern_call *c)
{
    return atomic_load(&c->cancelled);
}

bool kern_call_streaming(const kern_call *c)
{
    return c->streaming;
}

void kern_call_on_cancel(kern_call *c, void (*fn)(kern_call *c, void *arg), void *arg)
{
    c->cancel_fn = fn;
    c->cancel_arg = arg;
    if (fn && atomic_load(&c->cancelled))
        fn(c, arg);
}

int kern_call_set_error(kern_call *c, int code, const char *field, const char *fmt, ...)
{
    va_list ap;

    if (field) {
        snprintf(c->err_field, sizeof(c->err_field), "%s", field);
        c->err_field_set = 1;
    }
    if (fmt) {
        va_start(ap, fmt);
        vsnprintf(c->err_msg, sizeof(c->err_msg), fmt, ap);
        va_end(ap);
    }
    return code;
}

void kern_call_set_error_data(kern_call *c, json_t *data)
{
    json_decref(c->err_data);
    c->err_data = data;
}

json_t *kern__error_msg(const json_t *id, int code, const char *message, const char *field,
                        json_t *data)
{
    json_t *d = data ? data : json_object();
    json_t *err;

    json_object_set_new(d, "name", json_string(aios_errname(code)));
    if (field)
        json_object_set_new(d, "field", json_string(field));
    err = json_pack("{s:i,s:s,s:o}", "code", aios_rpc_code(code), "message",
                    message && *message ? message : aios_strerror(code), "data", d);
    return json_pack("{s:s,s:O,s:o}", "jsonrpc", "2.0", "id", id ? (json_t *)id : json_null(),
                     "error", err);
}

/* Serialize a message with its trailing newline; NULL on failure. */
static char *serialize(const json_t *msg, size_t *n)
{
    char *s = json_dumps(msg, JSON_COMPACT), *t;
    size_t len;

    if (!s)
        return NULL;
    len = strlen(s);
    t = realloc(s, len + 2);
    if (!t) {
        free(s);
        return NULL;
    }
    s = t;
    s[len] = '\n';
    s[len + 1] = '\0';
    *n = len + 1;
    return s;
}

static json_t *result_msg(const kern_call *c, json_t *result)
{
    return json_pack("{s:s,s:O,s:o}", "jsonrpc", "2.0", "id", c->id,
                     "result", result ? result : json_null());
}

static json_t *error_msg_for(kern_call *c, int code)
{
    json_t *data = c->err_data;

    c->err_data = NULL;
    return kern__error_msg(c->id, code, c->err_msg[0] ? c->err_msg : NULL,
                           c->err_field_set ? c->err_field : NULL, data);
}

/* Queue msg (stolen) as the final answer of c from any thread. */
static void post_final(kern_call *c, json_t *msg, int code)
{
    char *bytes = NULL;
    size_t n = 0;

    if (c->id && msg) {
        bytes = serialize(msg, &n);
        if (!bytes)
            AIOS_LOG(AIOS_LOG_ERROR, "kernel", "cannot serialize the reply to '%s'", c->m->name);
    }
    json_decref(msg);
    kern__post_bytes(c->conn, bytes, n, c, code);
}

void kern_call_finish(kern_call *c, json_t *result)
{
    if (atomic_exchange(&c->done, true)) {
        json_decref(result);
        kern_call_unref(c);
        return;
    }
    post_final(c, c->id ? result_msg(c, result) : (json_decref(result), NULL), 0);
}

void kern_call_fail(kern_call *c, int code)
{
    if (code >= 0)
        code = AIOS_EINTERNAL;
    if (atomic_exchange(&c->done, true)) {
        kern_call_unref(c);
        return;
    }
    post_final(c, c->id ? error_msg_for(c, code) : NULL, code);
}

int kern_call_stream(kern_call *c, json_t *fields)
{
    json_t *msg, *params;
    char *bytes;
    size_t n;

    if (!c->id || atomic_load(&c->cancelled) || atomic_load(&c->done)) {
        json_decref(fields);
        return AIOS_ECANCELED;
    }
    params = fields && json_is_object(fields) ? fields : json_object();
    if (params != fields)
        json_decref(fields);
    json_object_set(params, "id", c->id);
    json_object_set_new(params, "seq", json_integer(atomic_fetch_add(&c->seq, 1)));
    msg = json_pack("{s:s,s:s,s:o}", "jsonrpc", "2.0", "method", "$/stream", "params", params);
    bytes = msg ? serialize(msg, &n) : NULL;
    json_decref(msg);
    if (!bytes)
        return AIOS_ENOMEM;
    kern__post_bytes(c->conn, bytes, n, NULL, 0);
    return 0;
}

/* ---- loop-thread replies used by the dispatcher ---------------------------- */

static void send_now(kern_call *c, json_t *msg)
{
    if (msg && c->id && !c->conn->closed)
        kern__conn_send(c->conn, msg);
    json_decref(msg);
}

void kern__call_reply_result(kern_call *c, json_t *result)
{
    if (atomic_exchange(&c->done, true)) {
        json_decref(result);
        return;
    }
    send_now(c, c->id ? result_msg(c, result) : (json_decref(result), NULL));
    kern__call_retire(c, 0);
}

void kern__call_reply_error(kern_call *c, int code)
{
    if (atomic_exchange(&c->done, true))
        return;
    send_now(c, c->id ? error_msg_for(c, code) : NULL);
    kern__call_retire(c, code);
}

void kern__call_cancel(kern_call *c, const char *reason)
{
    if (atomic_load(&c->done) || atomic_exchange(&c->cancelled, true))
        return;
    if (c->cancel_fn)
        c->cancel_fn(c, c->cancel_arg);
    if (atomic_exchange(&c->done, true))
        return;
    if (c->id && !c->conn->closed) {
        json_t *msg = kern__error_msg(c->id, AIOS_ECANCELED, reason, NULL, NULL);
        kern__conn_send(c->conn, msg);
        json_decref(msg);
    }
    kern__call_retire(c, AIOS_ECANCELED);
}

void kern__call_cancel_all(kern_conn *conn, const char *reason)
{
    while (conn->calls) {
        kern_call *c = conn->calls;

        kern__call_cancel(c, reason);
        /* answered already but its reply still queued: take it off the list
         * now; the queued reply retires nothing twice */
        if (conn->calls == c)
            kern__call_retire(c, AIOS_ECANCELED);
    }
}

/*
 * call.c - libaios calls: request lines, the table of calls in flight,
 * synchronous waits, asynchronous calls, cancellation and errors.
 *
 * A synchronous caller queues its request and then waits for its reply:
 * when no other thread holds the reader role it takes it and reads the
 * socket itself, otherwise it sleeps on the condition variable until the
 * reader has delivered its reply (or released the role).  Any thread.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aios/error.h"
#include "sdk/c/client_int.h"

/* How long a call interrupted by the user waits for the daemon's
 * "cancelled" answer before giving up on it. */
#define CANCEL_GRACE_MS 2000
/* Sleep slices of a waiter that does not hold the reader role, so that an
 * interrupt flag is seen soon. */
#define WAIT_SLICE_MS 50

/* ---- errors -------------------------------------------------------------------- */

void aios_error_clear(aios_error *err)
{
    if (!err)
        return;
    json_decref(err->data);
    memset(err, 0, sizeof(*err));
}

int aios__err_local(aios_error *err, int code, const char *fmt, ...)
{
    va_list ap;

    if (!err)
        return code;
    aios_error_clear(err);
    err->code = code;
    snprintf(err->name, sizeof(err->name), "%s", aios_errname(code));
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return code;
}

/* The AIOS_E* code with this symbolic name, 0 if none. */
static int code_by_name(const char *name)
{
    if (!name)
        return 0;
    for (int code = -1; code >= AIOS_ERRNO_LAST; code--)
        if (strcmp(aios_errname(code), name) == 0)
            return code;
    return 0;
}

int aios__err_remote(aios_error *err, const json_t *error)
{
    json_t *data = json_object_get(error, "data");
    const char *name = json_string_value(json_object_get(data, "name"));
    const char *field = json_string_value(json_object_get(data, "field"));
    const char *msg = json_string_value(json_object_get(error, "message"));
    int rpc = (int)json_integer_value(json_object_get(error, "code"));
    int code = code_by_name(name);

    if (code == 0)
        code = aios_from_rpc_code(rpc);
    if (!err)
        return code;
    aios_error_clear(err);
    err->code = code;
    err->rpc_code = rpc;
    err->remote = true;
    snprintf(err->name, sizeof(err->name), "%s", name ? name : aios_errname(code));
    snprintf(err->field, sizeof(err->field), "%s", field ? field : "");
    snprintf(err->message, sizeof(err->message), "%s", msg && *msg ? msg : aios_strerror(code));
    /* a copy, not a reference: err may travel to another thread */
    err->data = json_is_object(data) ? json_deep_copy(data) : NULL;
    return code;
}

/* ---- the pending table (mu held) ------------------------------------------------ */

static int grow(aios_client *c)
{
    size_t n = c->nbuckets ? c->nbuckets * 2 : 64;
    pcall **nb = calloc(n, sizeof(*nb));

    if (!nb)
        return AIOS_ENOMEM;
    for (size_t i = 0; i < c->nbuckets; i++) {
        pcall *p = c->buckets[i];
        while (p) {
            pcall *next = p->hnext;
            p->hnext = nb[p->id & (n - 1)];
            nb[p->id & (n - 1)] = p;
            p = next;
        }
    }
    free(c->buckets);
    c->buckets = nb;
    c->nbuckets = n;
    return 0;
}

int aios__pending_add(aios_client *c, pcall *p)
{
    int rc;

    if (c->npending + 1 > c->nbuckets && (rc = grow(c)) < 0)
        return rc;
    p->hnext = c->buckets[p->id & (c->nbuckets - 1)];
    c->buckets[p->id & (c->nbuckets - 1)] = p;
    c->npending++;
    return 0;
}

pcall *aios__pending_find(aios_client *c, uint64_t id)
{
    if (!c->nbuckets)
        return NULL;
    for (pcall *p = c->buckets[id & (c->nbuckets - 1)]; p; p = p->hnext)
        if (p->id == id)
            return p;
    return NULL;
}

pcall *aios__pending_remove(aios_client *c, uint64_t id)
{
    if (!c->nbuckets)
        return NULL;
    for (pcall **pp = &c->buckets[id & (c->nbuckets - 1)]; *pp; pp = &(*pp)->hnext) {
        if ((*pp)->id == id) {
            pcall *p = *pp;
            *pp = p->hnext;
            p->hnext = NULL;
            c->npending--;
            return p;
        }
    }
    return NULL;
}

void aios__pcall_free(pcall *p)
{
    if (!p)
        return;
    json_decref(p->result);
    aios_error_clear(p->err);
    free(p->err);
    free(p);
}

void aios__fail_all(aios_client *c, int code, const char *why)
{
    pthread_mutex_lock(&c->mu);
    if (!c->closed) {
        c->closed = true;
        c->close_code = code;
        snprintf(c->close_msg, sizeof(c->close_msg), "%s", why);
    }
    for (size_t i = 0; i < c->nbuckets; i++) {
        while (c->buckets[i]) {
            pcall *p = c->buckets[i];
            aios_error err = {0};

            c->buckets[i] = p->hnext;
            p->hnext = NULL;
            c->npending--;
            if (p->abandoned) {
                aios__pcall_free(p);
                continue;
            }
            if (p->sync) {
                if (!p->err)
                    p->err = calloc(1, sizeof(*p->err));
                p->rc = p->err ? aios__err_local(p->err, code, "%s: %s", p->method, why) : code;
                p->done = true;
                continue;
            }
            /* an asynchronous call: its callback runs outside the lock, and
             * aios_wait() must not return before it has */
            c->dispatching_id = p->id;
            pthread_mutex_unlock(&c->mu);
            aios__err_local(&err, code, "%s: %s", p->method, why);
            if (p->done_cb)
                p->done_cb(p->arg, p->id, code, NULL, &err);
            aios_error_clear(&err);
            aios__pcall_free(p);
            pthread_mutex_lock(&c->mu);
            c->dispatching_id = 0;
        }
    }
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

/* ---- requests ---------------------------------------------------------------------- */

static bool method_ok(const char *m)
{
    if (!m || !*m || strlen(m) > 200)
        return false;
    for (const unsigned char *p = (const unsigned char *)m; *p; p++)
        if (*p < 0x20 || *p > 0x7e || *p == '"' || *p == '\\')
            return false;
    return true;
}

/* Decimal digits of v into buf (at least 21 bytes); returns the length. */
static size_t u64_text(uint64_t v, char *buf)
{
    char tmp[24];
    size_t n = 0;

    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        buf[i] = tmp[n - 1 - i];
    return n;
}

#define PUT(lit) (memcpy(o, lit, sizeof(lit) - 1), o += sizeof(lit) - 1)

/*
 * Build the request line for method/params with id (0: a notification)
 * into buf (blen bytes) when it fits, else into a malloc'd buffer; *out
 * points at the line either way (free it when it is not buf).  Plain
 * copies, no printf: this runs once per call.
 */
static int build_line(aios_client *c, uint64_t id, const char *method, json_t *params, char *buf, size_t blen,
                      char **out, size_t *n)
{
    char *ps = NULL, *o;
    size_t ml, pl = 0, need;

    *out = NULL;
    if (!method_ok(method))
        return AIOS_EINVAL;
    if (params && !json_is_object(params))
        return AIOS_EINVAL;
    if (params && json_object_size(params)) {
        if (!(ps = json_dumps(params, JSON_COMPACT)))
            return AIOS_ENOMEM;
        pl = strlen(ps);
    }
    ml = strlen(method);
    need = 64 + ml + pl;
    if (c->max_line && need > c->max_line + 64) {
        free(ps);
        return AIOS_ETOOBIG;
    }
    if (need > blen && !(buf = malloc(need))) {
        free(ps);
        return AIOS_ENOMEM;
    }
    o = buf;
    PUT("{\"jsonrpc\":\"2.0\",");
    if (id) {
        PUT("\"id\":");
        o += u64_text(id, o);
        PUT(",");
    }
    PUT("\"method\":\"");
    memcpy(o, method, ml);
    o += ml;
    PUT("\"");
    if (ps) {
        PUT(",\"params\":");
        memcpy(o, ps, pl);
        o += pl;
        free(ps);
    }
    PUT("}\n");
    *n = (size_t)(o - buf);
    if (c->max_line && *n - 1 > c->max_line) {
        if (need > blen)
            free(buf);
        return AIOS_ETOOBIG;
    }
    *out = buf;
    return 0;
}

#undef PUT

/*
 * Register p under a fresh id (stored in *id before anything is sent: once
 * sent, p may be answered and freed by the reader) and send its request.
 * On failure p is not in the table and belongs to the caller again.
 */
static int start_call(aios_client *c, pcall *p, const char *method, json_t *params, uint64_t *id,
                      aios_error *err)
{
    char small[512], *line;
    size_t n, ml = method ? strlen(method) : 0;
    bool queued;
    int rc;

    ml = ml < sizeof(p->method) - 1 ? ml : sizeof(p->method) - 1;
    memcpy(p->method, method ? method : "", ml);
    p->method[ml] = '\0';
    p->id = *id = atomic_fetch_add(&c->next_id, 1) + 1;
    rc = build_line(c, p->id, method, params, small, sizeof(small), &line, &n);
    if (rc < 0)
        return aios__err_local(err, rc, rc == AIOS_ETOOBIG ? "%s: the request exceeds the daemon's line limit"
                                        : rc == AIOS_EINVAL ? "%s: bad method name or params (not an object)"
                                                            : "%s: out of memory",
                               p->method);
    /* one lock: into the table and onto the outbox together */
    rc = aios__send(c, line, n, p, &queued);
    if (line != small)
        free(line);
    if (rc < 0) {
        /* take the call back unless the reader already ended it (then its
         * answer, ECLOSED, is delivered the normal way) */
        pcall *q = NULL;
        if (queued) {
            pthread_mutex_lock(&c->mu);
            q = aios__pending_remove(c, *id);
            pthread_mutex_unlock(&c->mu);
        }
        if (!queued || q)
            return aios__err_local(err, rc, "%s: %s", p->method,
                                   rc == AIOS_ENOMEM ? "out of memory" : c->close_msg[0] ? c->close_msg
                                                                                          : "cannot send the request");
    }
    return 0;
}

static int send_cancel(aios_client *c, uint64_t id)
{
    char line[96];
    int n = snprintf(line, sizeof(line), "{\"jsonrpc\":\"2.0\",\"method\":\"$/cancel\",\"params\":{\"id\":%" PRIu64 "}}\n",
                     id);

    return aios__send(c, line, (size_t)n, NULL, NULL);
}

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void cond_wait_ms(aios_client *c, int ms)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);   /* the condition variable's clock */
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&c->cv, &c->mu, &ts);
}

/*
 * Wait (mu held) until done(c, arg) holds, reading the socket when the
 * reader role is free.  Returns 0, AIOS_ETIMEDOUT at the deadline (0: none),
 * or AIOS_ECANCELED when the interrupt flag is raised and stop_on_interrupt.
 */
static int wait_until(aios_client *c, bool (*done)(aios_client *c, void *arg), void *arg, uint64_t deadline,
                      bool stop_on_interrupt)
{
    while (!done(c, arg)) {
        aios_client *prev;
        int slice = -1;

        if (stop_on_interrupt && c->interrupt && *c->interrupt)
            return AIOS_ECANCELED;
        if (deadline) {
            uint64_t now = now_ms();
            if (now >= deadline)
                return AIOS_ETIMEDOUT;
            slice = (int)(deadline - now);
        }
        /* the signal may reach another thread: look at the flag now and then */
        if (stop_on_interrupt && c->interrupt && (slice < 0 || slice > WAIT_SLICE_MS))
            slice = WAIT_SLICE_MS;
        if (c->closed) {
            /* closing is ending the calls in another thread */
            cond_wait_ms(c, WAIT_SLICE_MS);
            continue;
        }
        if (!aios__reader_try(c)) {
            cond_wait_ms(c, slice < 0 || slice > WAIT_SLICE_MS ? WAIT_SLICE_MS : slice);
            continue;
        }
        pthread_mutex_unlock(&c->mu);
        prev = aios__tls_reader;
        aios__tls_reader = c;
        aios__pump(c, slice);
        aios__tls_reader = prev;
        pthread_mutex_lock(&c->mu);
        aios__reader_release(c);
    }
    return 0;
}

static bool pcall_done(aios_client *c, void *arg)
{
    (void)c;
    return ((pcall *)arg)->done;
}

/* Give up on a synchronous call still in the table (mu held): the reader
 * frees it when its answer comes.  Returns false when it is not there. */
static bool abandon(aios_client *c, pcall *p)
{
    if (aios__pending_find(c, p->id) != p)
        return false;
    p->abandoned = true;
    while (p->in_cb > 0)
        pthread_cond_wait(&c->cv, &c->mu);
    return true;
}

int aios_call_stream(aios_client *c, const char *method, json_t *params, aios_stream_cb stream_cb, void *arg,
                     int timeout_ms, json_t **result, aios_error *err)
{
    uint64_t deadline = timeout_ms > 0 ? now_ms() + (uint64_t)timeout_ms : 0, id;
    bool interrupted = false;
    pcall *p;
    int rc;

    if (result)
        *result = NULL;
    aios_error_clear(err);
    if (!c)
        return aios__err_local(err, AIOS_EINVAL, "no client");
    if (aios__tls_reader == c)
        return aios__err_local(err, AIOS_EBUSY, "%s: a blocking call cannot be made from a callback", method);
    p = calloc(1, sizeof(*p));
    if (!p)
        return aios__err_local(err, AIOS_ENOMEM, "out of memory");
    p->sync = true;
    p->stream_cb = stream_cb;
    p->arg = arg;
    if ((rc = start_call(c, p, method, params, &id, err)) < 0) {
        aios__pcall_free(p);
        return rc;
    }
    pthread_mutex_lock(&c->mu);
    rc = wait_until(c, pcall_done, p, deadline, true);
    if (rc == AIOS_ECANCELED) {
        /* the user interrupted: ask the daemon to cancel, take its answer */
        interrupted = true;
        pthread_mutex_unlock(&c->mu);
        send_cancel(c, id);
        pthread_mutex_lock(&c->mu);
        rc = wait_until(c, pcall_done, p, now_ms() + CANCEL_GRACE_MS, false);
    }
    if (rc < 0 && !p->done) {
        if (abandon(c, p)) {
            pthread_mutex_unlock(&c->mu);
            if (rc == AIOS_ETIMEDOUT && !interrupted) {
                send_cancel(c, id);
                return aios__err_local(err, AIOS_ETIMEDOUT, "%s: no answer within %d ms", method, timeout_ms);
            }
            return aios__err_local(err, interrupted ? AIOS_ECANCELED : rc, "%s: %s", method,
                                   interrupted ? "interrupted" : aios_strerror(rc));
        }
        pthread_mutex_unlock(&c->mu);
        aios__pcall_free(p);
        return aios__err_local(err, rc, "%s: %s", method, aios_strerror(rc));
    }
    pthread_mutex_unlock(&c->mu);
    /* done: the reader took p out of the table, it is ours alone */
    rc = p->rc;
    if (rc == 0) {
        if (result) {
            *result = p->result;
            p->result = NULL;
        }
    } else if (err && p->err) {
        *err = *p->err;
        memset(p->err, 0, sizeof(*p->err));
    } else if (err) {
        aios__err_local(err, rc, "%s: %s", method, aios_strerror(rc));
    }
    aios__pcall_free(p);
    return rc;
}

int aios_call(aios_client *c, const char *method, json_t *params, int timeout_ms, json_t **result, aios_error *err)
{
    return aios_call_stream(c, method, params, NULL, NULL, timeout_ms, result, err);
}

int aios_call_async(aios_client *c, const char *method, json_t *params, aios_stream_cb stream_cb,
                    aios_done_cb done_cb, void *arg, uint64_t *call_id)
{
    uint64_t id = 0;
    pcall *p;
    int rc;

    if (call_id)
        *call_id = 0;
    if (!c)
        return AIOS_EINVAL;
    p = calloc(1, sizeof(*p));
    if (!p)
        return AIOS_ENOMEM;
    p->stream_cb = stream_cb;
    p->done_cb = done_cb;
    p->arg = arg;
    /* the caller's id is set before the request leaves (start_call writes
     * it first): a reader thread may run done_cb before we return */
    if ((rc = start_call(c, p, method, params, call_id ? call_id : &id, NULL)) < 0) {
        if (call_id)
            *call_id = 0;
        aios__pcall_free(p);
        return rc;
    }
    return 0;
}

/* An asynchronous call is over once it left the table and its done
 * callback has returned. */
static bool id_done(aios_client *c, void *arg)
{
    uint64_t id = *(uint64_t *)arg;
    return !aios__pending_find(c, id) && c->dispatching_id != id;
}

int aios_wait(aios_client *c, uint64_t call_id, int timeout_ms)
{
    uint64_t deadline = timeout_ms > 0 ? now_ms() + (uint64_t)timeout_ms : 0;
    int rc;

    if (!c)
        return AIOS_EINVAL;
    if (aios__tls_reader == c)
        return AIOS_EBUSY;
    pthread_mutex_lock(&c->mu);
    if (id_done(c, &call_id)) {
        pthread_mutex_unlock(&c->mu);
        return AIOS_ENOENT;
    }
    rc = wait_until(c, id_done, &call_id, deadline, true);
    pthread_mutex_unlock(&c->mu);
    return rc == AIOS_ECLOSED ? 0 : rc;
}

int aios_cancel(aios_client *c, uint64_t call_id)
{
    pcall *p;

    if (!c)
        return AIOS_EINVAL;
    pthread_mutex_lock(&c->mu);
    p = aios__pending_find(c, call_id);
    if (!p || p->abandoned) {
        int rc = c->closed ? AIOS_ECLOSED : AIOS_ENOENT;
        pthread_mutex_unlock(&c->mu);
        return rc;
    }
    pthread_mutex_unlock(&c->mu);
    return send_cancel(c, call_id);
}

int aios_notify(aios_client *c, const char *method, json_t *params)
{
    char small[512], *line;
    size_t n;
    int rc;

    if (!c)
        return AIOS_EINVAL;
    if ((rc = build_line(c, 0, method, params, small, sizeof(small), &line, &n)) < 0)
        return rc;
    rc = aios__send(c, line, n, NULL, NULL);
    if (line != small)
        free(line);
    return rc;
}

size_t aios_client_pending(aios_client *c)
{
    size_t n;

    pthread_mutex_lock(&c->mu);
    n = c->npending;
    pthread_mutex_unlock(&c->mu);
    return n;
}

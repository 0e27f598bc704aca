/*
 * io.c - libaios's socket traffic: the outbox, the input buffer, framing
 * and dispatch of replies and stream notifications to their calls.
 *
 * Writing: a caller appends its line to the outbox under mu and, when no
 * other thread holds the writer role, takes it and sends until the outbox
 * is empty.  When the socket is full (the daemon stops reading a client
 * that does not read its replies) the writer also reads - if it can get the
 * reader role - so a program that fires many calls without reading can
 * never deadlock with the daemon.
 *
 * Reading: only the holder of the reader role reads the socket and runs
 * callbacks, so callbacks of one connection never run concurrently.  Runs
 * in whichever thread holds that role (see client.h).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "aios/error.h"
#include "sdk/c/client_int.h"

__thread aios_client *aios__tls_reader;

#define IBUF_MIN (64 * 1024)
#define IBUF_MAX ((size_t)1 << 30)
/* Requests queued by callbacks are sent at the end of the dispatch round,
 * or as soon as this many bytes wait. */
#define CORK_BYTES (256 * 1024)

/* ---- roles ----------------------------------------------------------------- */

bool aios__reader_try(aios_client *c)
{
    if (c->reader_busy)
        return false;
    c->reader_busy = true;
    return true;
}

void aios__reader_release(aios_client *c)
{
    c->reader_busy = false;
    pthread_cond_broadcast(&c->cv);
}

/* ---- reading ---------------------------------------------------------------- */

/* Read what the socket has into ibuf (reader role).  Returns bytes read,
 * 0 when nothing was there, AIOS_ECLOSED on EOF or a hard error. */
static int read_some(aios_client *c)
{
    ssize_t n;

    if (c->icap - c->ilen < 4096) {
        size_t cap = c->icap ? c->icap * 2 : IBUF_MIN;
        char *nb;

        if (cap > IBUF_MAX)
            return AIOS_ECLOSED;
        nb = realloc(c->ibuf, cap);
        if (!nb)
            return AIOS_ECLOSED;
        c->ibuf = nb;
        c->icap = cap;
    }
    for (;;) {
        n = recv(c->fd, c->ibuf + c->ilen, c->icap - c->ilen, MSG_DONTWAIT);
        if (n > 0) {
            c->ilen += (size_t)n;
            return (int)n;
        }
        if (n == 0)
            return AIOS_ECLOSED;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        return AIOS_ECLOSED;
    }
}

/* ---- the envelope of a message, without building it ----------------------------
 *
 * Every reply is {"jsonrpc":"2.0","id":N,"result":...} or "error", every
 * stream notification {"jsonrpc":"2.0","method":"$/stream","params":{...}}.
 * Decoding the whole line builds an object, strings and a number only to
 * find two members; instead a small scanner finds the top-level members
 * and only the payload is decoded.  Anything unusual (escapes in keys,
 * duplicates, a non-integer id) falls back to decoding the whole line.
 */

typedef struct {
    const char *p;
    size_t n;
} span;

typedef struct {
    span id, result, error, method, params;
} envelope;

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
        p++;
    return p;
}

/* End of the JSON value starting at p, or NULL. */
static const char *skip_value(const char *p, const char *end)
{
    int depth = 0;

    if (p >= end)
        return NULL;
    if (*p != '"' && *p != '{' && *p != '[') {
        while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\t' && *p != '\r' &&
               *p != '\n')
            p++;
        return p;
    }
    for (; p < end; p++) {
        if (*p == '"') {
            for (p++; p < end && *p != '"'; p++)
                if (*p == '\\')
                    p++;
            if (p >= end)
                return NULL;
            if (depth == 0)
                return p + 1;
        } else if (*p == '{' || *p == '[') {
            depth++;
        } else if (*p == '}' || *p == ']') {
            if (--depth == 0)
                return p + 1;
        }
    }
    return NULL;
}

static bool key_is(const char *k, size_t n, const char *want)
{
    return strlen(want) == n && memcmp(k, want, n) == 0;
}

/* 0 and e filled, or -1: decode the whole line instead. */
static int scan_envelope(const char *line, size_t len, envelope *e)
{
    const char *p = line, *end = line + len;

    memset(e, 0, sizeof(*e));
    p = skip_ws(p, end);
    if (p >= end || *p++ != '{')
        return -1;
    for (;;) {
        const char *k, *v;
        size_t kn;
        span *slot = NULL;

        p = skip_ws(p, end);
        if (p >= end || *p++ != '"')
            return -1;
        for (k = p; p < end && *p != '"'; p++)
            if (*p == '\\')
                return -1;
        if (p >= end)
            return -1;
        kn = (size_t)(p - k);
        p = skip_ws(p + 1, end);
        if (p >= end || *p++ != ':')
            return -1;
        v = skip_ws(p, end);
        if (!(p = skip_value(v, end)) || p == v)
            return -1;
        if (key_is(k, kn, "id"))
            slot = &e->id;
        else if (key_is(k, kn, "result"))
            slot = &e->result;
        else if (key_is(k, kn, "error"))
            slot = &e->error;
        else if (key_is(k, kn, "method"))
            slot = &e->method;
        else if (key_is(k, kn, "params"))
            slot = &e->params;
        else if (!key_is(k, kn, "jsonrpc"))
            return -1;
        if (slot) {
            if (slot->p)
                return -1;   /* a duplicate */
            slot->p = v;
            slot->n = (size_t)(p - v);
        }
        p = skip_ws(p, end);
        if (p < end && *p == ',') {
            p++;
            continue;
        }
        if (p < end && *p == '}' && skip_ws(p + 1, end) == end)
            return 0;
        return -1;
    }
}

/* A plain non-negative integer id, or false. */
static bool span_u64(span s, uint64_t *out)
{
    uint64_t v = 0;

    if (!s.p || s.n == 0 || s.n > 19)
        return false;
    for (size_t i = 0; i < s.n; i++) {
        if (s.p[i] < '0' || s.p[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(s.p[i] - '0');
    }
    *out = v;
    return true;
}

/* Decode a value span; the common tiny results without the parser. */
static json_t *span_json(span s)
{
    json_error_t je;

    if (s.n == 2 && s.p[0] == '{' && s.p[1] == '}')
        return json_object();
    if (s.n == 4 && memcmp(s.p, "null", 4) == 0)
        return json_null();
    return json_loadb(s.p, s.n, JSON_DECODE_ANY, &je);
}

/* ---- dispatch ---------------------------------------------------------------------- */

/* Hand a message that belongs to no call to notify_cb (decoding it now if
 * only its line is at hand). */
static void unsolicited(aios_client *c, json_t *msg, const char *line, size_t len)
{
    json_error_t je;
    json_t *own = NULL;

    if (!c->notify_cb)
        return;
    if (!msg && !(msg = own = json_loadb(line, len, 0, &je)))
        return;
    c->notify_cb(c->notify_arg, msg);
    json_decref(own);
}

/*
 * A final reply for call id: result (a reference this function takes over)
 * or error (borrowed).  A synchronous waiter gets the result as its only
 * owner, so no json_t is ever shared between threads (Jansson's reference
 * counts are not safe to race on).
 */
static void dispatch_final(aios_client *c, uint64_t id, json_t *result, json_t *error, json_t *msg,
                           const char *line, size_t len)
{
    aios_error err = {0};
    pcall *p;
    int rc = 0;

    pthread_mutex_lock(&c->mu);
    p = aios__pending_remove(c, id);
    if (!p) {
        pthread_mutex_unlock(&c->mu);
        json_decref(result);
        unsolicited(c, msg, line, len);
        return;
    }
    if (p->abandoned) {
        pthread_mutex_unlock(&c->mu);
        json_decref(result);
        aios__pcall_free(p);
        return;
    }
    if (p->sync) {
        if (error) {
            if (!p->err)
                p->err = calloc(1, sizeof(*p->err));
            p->rc = p->err ? aios__err_remote(p->err, error) : aios__err_remote(NULL, error);
            json_decref(result);
        } else {
            p->rc = 0;
            p->result = result ? result : json_null();
        }
        p->done = true;
        pthread_cond_broadcast(&c->cv);
        pthread_mutex_unlock(&c->mu);
        return;
    }
    c->dispatching_id = id;
    pthread_mutex_unlock(&c->mu);
    if (error)
        rc = aios__err_remote(&err, error);
    if (p->done_cb)
        p->done_cb(p->arg, id, rc, rc == 0 ? (result ? result : json_null()) : NULL, rc == 0 ? NULL : &err);
    json_decref(result);
    aios_error_clear(&err);
    aios__pcall_free(p);
    pthread_mutex_lock(&c->mu);
    c->dispatching_id = 0;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

/* A $/stream notification: params is its params object (borrowed). */
static void dispatch_stream(aios_client *c, json_t *params, json_t *msg, const char *line, size_t len)
{
    json_t *jid = json_object_get(params, "id");
    pcall *p;

    if (!json_is_integer(jid)) {
        unsolicited(c, msg, line, len);
        return;
    }
    pthread_mutex_lock(&c->mu);
    p = aios__pending_find(c, (uint64_t)json_integer_value(jid));
    if (!p || p->abandoned || !p->stream_cb) {
        pthread_mutex_unlock(&c->mu);
        return;
    }
    p->in_cb++;
    pthread_mutex_unlock(&c->mu);
    p->stream_cb(p->arg, p->id, params);
    pthread_mutex_lock(&c->mu);
    if (--p->in_cb == 0 && p->abandoned)
        pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

/* A decoded message (the slow path). */
static void dispatch_msg(aios_client *c, json_t *msg)
{
    const char *method = json_string_value(json_object_get(msg, "method"));
    json_t *jid = json_object_get(msg, "id");

    if (method && strcmp(method, "$/stream") == 0) {
        dispatch_stream(c, json_object_get(msg, "params"), msg, NULL, 0);
        return;
    }
    if (!method && json_is_integer(jid) && (json_object_get(msg, "result") || json_object_get(msg, "error"))) {
        json_t *error = json_object_get(msg, "error"), *result = NULL;
        if (!error) {
            /* detach the result so that its new owner is its only one */
            result = json_incref(json_object_get(msg, "result"));
            json_object_del(msg, "result");
        }
        dispatch_final(c, (uint64_t)json_integer_value(jid), result, error, msg, NULL, 0);
        return;
    }
    unsolicited(c, msg, NULL, 0);
}

/* One line from the daemon; returns 1 when it was a message. */
static int dispatch_line(aios_client *c, const char *line, size_t len)
{
    envelope e;
    uint64_t id;
    json_error_t je;
    json_t *msg, *v;

    if (scan_envelope(line, len, &e) == 0) {
        if (!e.method.p && span_u64(e.id, &id) && (e.result.p != NULL) != (e.error.p != NULL) &&
            (v = span_json(e.result.p ? e.result : e.error)) != NULL) {
            if (e.result.p) {
                dispatch_final(c, id, v, NULL, NULL, line, len);
            } else {
                dispatch_final(c, id, NULL, v, NULL, line, len);
                json_decref(v);
            }
            return 1;
        }
        if (e.method.n == 10 && memcmp(e.method.p, "\"$/stream\"", 10) == 0 && !e.id.p && e.params.p &&
            (v = span_json(e.params)) != NULL) {
            dispatch_stream(c, v, NULL, line, len);
            json_decref(v);
            return 1;
        }
    }
    msg = json_loadb(line, len, 0, &je);
    if (!msg)
        return 0;   /* not JSON: dropped, the daemon never sends such a line */
    dispatch_msg(c, msg);
    json_decref(msg);
    return 1;
}

/* Dispatch every complete line in ibuf; returns how many. */
static int dispatch_lines(aios_client *c)
{
    size_t start = 0;
    int n = 0;

    while (c->iscan < c->ilen) {
        char *nl = memchr(c->ibuf + c->iscan, '\n', c->ilen - c->iscan);
        size_t len;

        if (!nl) {
            c->iscan = c->ilen;
            break;
        }
        len = (size_t)(nl - (c->ibuf + start));
        c->iscan = (size_t)(nl - c->ibuf) + 1;
        if (len > 0)
            n += dispatch_line(c, c->ibuf + start, len);
        start = c->iscan;
    }
    if (start > 0) {
        memmove(c->ibuf, c->ibuf + start, c->ilen - start);
        c->ilen -= start;
        c->iscan -= start;
    }
    return n;
}

/* The connection is gone: remember why and fail every pending call. */
static int lost(aios_client *c)
{
    aios__fail_all(c, AIOS_ECLOSED, "the connection to aiosd was closed");
    return AIOS_ECLOSED;
}

int aios__pump(aios_client *c, int timeout_ms)
{
    struct pollfd pf[2];
    int n, rc, nfds = 1;

    n = dispatch_lines(c);
    if (n > 0) {
        aios__flush(c);
        return n;
    }
    if (c->closed)
        return AIOS_ECLOSED;
    pf[0].fd = c->fd;
    pf[0].events = POLLIN;
    pf[0].revents = 0;
    if (c->has_thread) {
        pf[1].fd = c->wake[0];
        pf[1].events = POLLIN;
        pf[1].revents = 0;
        nfds = 2;
    }
    if (timeout_ms != 0) {
        rc = poll(pf, (nfds_t)nfds, timeout_ms);
        if (rc < 0)
            return errno == EINTR ? AIOS_EAGAIN : lost(c);
        if (rc == 0)
            return 0;
        if (nfds == 2 && pf[1].revents)
            return atomic_load(&c->stopping) ? AIOS_ECLOSED : 0;
    }
    /* read until the socket is dry, so one wake-up handles a burst */
    for (int i = 0; i < 16; i++) {
        rc = read_some(c);
        if (rc < 0) {
            n = dispatch_lines(c);
            lost(c);
            return n > 0 ? n : AIOS_ECLOSED;
        }
        if (rc == 0)
            break;
        n += dispatch_lines(c);
        if ((size_t)rc < 4096)
            break;
    }
    aios__flush(c);
    return n;
}

void *aios__reader_main(void *arg)
{
    aios_client *c = arg;

    aios__tls_reader = c;
    while (!atomic_load(&c->stopping)) {
        int rc = aios__pump(c, -1);
        if (rc == AIOS_ECLOSED)
            break;
    }
    aios__tls_reader = NULL;
    return NULL;
}

/* ---- writing ------------------------------------------------------------------ */

/* Append to the outbox (mu held). */
static int obuf_append(aios_client *c, const char *s, size_t n)
{
    if (c->olen + n > c->ocap) {
        size_t cap = c->ocap ? c->ocap : 4096;
        char *nb;

        while (cap < c->olen + n)
            cap *= 2;
        nb = realloc(c->obuf, cap);
        if (!nb)
            return AIOS_ENOMEM;
        c->obuf = nb;
        c->ocap = cap;
    }
    memcpy(c->obuf + c->olen, s, n);
    c->olen += n;
    return 0;
}

/*
 * The socket is full: wait until it drains, reading replies meanwhile when
 * this thread holds or can take the reader role (mu not held).  Lines read
 * here are only buffered; they are dispatched by the next pump, never in
 * the middle of a write.
 */
static int wait_writable(aios_client *c)
{
    bool mine = aios__tls_reader == c, took = false;
    struct pollfd pf = {.fd = c->fd, .events = POLLOUT};
    int rc = 0;

    if (!mine) {
        pthread_mutex_lock(&c->mu);
        took = aios__reader_try(c);
        pthread_mutex_unlock(&c->mu);
    }
    if (mine || took)
        pf.events |= POLLIN;
    if (poll(&pf, 1, (mine || took) ? -1 : 50) < 0 && errno != EINTR)
        rc = AIOS_ECLOSED;
    if (rc == 0 && (pf.revents & POLLIN) && (mine || took)) {
        if (read_some(c) < 0)
            rc = AIOS_ECLOSED;
    }
    if (rc == 0 && (pf.revents & (POLLERR | POLLHUP)) && !(pf.revents & POLLIN))
        rc = AIOS_ECLOSED;
    if (took) {
        pthread_mutex_lock(&c->mu);
        aios__reader_release(c);
        pthread_mutex_unlock(&c->mu);
    }
    return rc;
}

/*
 * Move the outbox to the socket (mu held, writer role free; returns with
 * mu held).  Others may append while this thread sends without the lock.
 */
static int push_out(aios_client *c)
{
    int rc = 0;

    c->writer_busy = true;
    c->flush_pending = false;
    while (c->olen > 0 && !c->closed) {
        /* send from a private buffer so that others can append meanwhile */
        char *buf = c->obuf;
        size_t len = c->olen, cap = c->ocap, off = 0;
        ssize_t w;

        c->obuf = NULL;
        c->olen = c->ocap = 0;
        pthread_mutex_unlock(&c->mu);
        rc = 0;
        while (off < len) {
            w = send(c->fd, buf + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (w > 0) {
                off += (size_t)w;
                continue;
            }
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                if ((rc = wait_writable(c)) < 0)
                    break;
                continue;
            }
            rc = AIOS_ECLOSED;
            break;
        }
        pthread_mutex_lock(&c->mu);
        if (rc < 0) {
            free(buf);
            break;
        }
        if (!c->obuf) {
            /* nothing new: keep the buffer for the next line */
            c->obuf = buf;
            c->ocap = cap;
        } else {
            free(buf);
        }
    }
    c->writer_busy = false;
    pthread_cond_broadcast(&c->cv);
    return rc;
}

/* A broken socket: end every call now if this thread may run callbacks,
 * else make sure the reader sees EOF at once. */
static void broken(aios_client *c)
{
    bool mine = aios__tls_reader == c, took = false;

    shutdown(c->fd, SHUT_RDWR);
    if (!mine) {
        pthread_mutex_lock(&c->mu);
        took = aios__reader_try(c);
        pthread_mutex_unlock(&c->mu);
    }
    if (mine || took)
        aios__fail_all(c, AIOS_ECLOSED, "the connection to aiosd was lost");
    if (took) {
        pthread_mutex_lock(&c->mu);
        aios__reader_release(c);
        pthread_mutex_unlock(&c->mu);
    }
}

int aios__send(aios_client *c, const char *line, size_t n, pcall *p, bool *queued)
{
    int rc;

    if (queued)
        *queued = false;
    pthread_mutex_lock(&c->mu);
    if (c->closed) {
        pthread_mutex_unlock(&c->mu);
        return AIOS_ECLOSED;
    }
    if (p) {
        if ((rc = aios__pending_add(c, p)) < 0) {
            pthread_mutex_unlock(&c->mu);
            return rc;
        }
        if (queued)
            *queued = true;
    }
    if ((rc = obuf_append(c, line, n)) < 0 || c->writer_busy) {
        /* another thread is writing and will send this line too */
        pthread_mutex_unlock(&c->mu);
        return rc;
    }
    if (aios__tls_reader == c && c->olen < CORK_BYTES) {
        /* a callback of this connection: requests made while replies are
         * being dispatched leave together when the dispatch round ends */
        c->flush_pending = true;
        pthread_mutex_unlock(&c->mu);
        return 0;
    }
    rc = push_out(c);
    pthread_mutex_unlock(&c->mu);
    if (rc < 0) {
        broken(c);
        return AIOS_ECLOSED;
    }
    return 0;
}

int aios__flush(aios_client *c)
{
    int rc = 0;

    pthread_mutex_lock(&c->mu);
    if (c->flush_pending && !c->writer_busy && !c->closed)
        rc = push_out(c);
    pthread_mutex_unlock(&c->mu);
    if (rc < 0) {
        broken(c);
        return AIOS_ECLOSED;
    }
    return 0;
}

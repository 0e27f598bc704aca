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

/* Error code of a final reply's error member, or 0 for a result. */
static void dispatch_final(aios_client *c, json_t *msg, uint64_t id)
{
    json_t *error = json_object_get(msg, "error");
    json_t *result = json_object_get(msg, "result");
    aios_error err = {0};
    pcall *p;
    int rc = 0;

    pthread_mutex_lock(&c->mu);
    p = aios__pending_remove(c, id);
    if (!p) {
        pthread_mutex_unlock(&c->mu);
        if (c->notify_cb)
            c->notify_cb(c->notify_arg, msg);
        return;
    }
    if (p->abandoned) {
        pthread_mutex_unlock(&c->mu);
        aios__pcall_free(p);
        return;
    }
    if (p->sync) {
        if (error) {
            p->rc = aios__err_remote(&p->err, error);
        } else {
            p->rc = 0;
            p->result = json_incref(result ? result : json_null());
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
    aios_error_clear(&err);
    aios__pcall_free(p);
    pthread_mutex_lock(&c->mu);
    c->dispatching_id = 0;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static void dispatch_stream(aios_client *c, json_t *msg)
{
    json_t *params = json_object_get(msg, "params");
    json_t *jid = json_object_get(params, "id");
    pcall *p;

    if (!json_is_integer(jid)) {
        if (c->notify_cb)
            c->notify_cb(c->notify_arg, msg);
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

/* One decoded message from the daemon. */
static void dispatch(aios_client *c, json_t *msg)
{
    const char *method = json_string_value(json_object_get(msg, "method"));
    json_t *jid = json_object_get(msg, "id");

    if (method && strcmp(method, "$/stream") == 0) {
        dispatch_stream(c, msg);
        return;
    }
    if (!method && json_is_integer(jid) &&
        (json_object_get(msg, "result") || json_object_get(msg, "error"))) {
        dispatch_final(c, msg, (uint64_t)json_integer_value(jid));
        return;
    }
    if (c->notify_cb)
        c->notify_cb(c->notify_arg, msg);
}

/* Dispatch every complete line in ibuf; returns how many. */
static int dispatch_lines(aios_client *c)
{
    size_t start = 0;
    int n = 0;

    while (c->iscan < c->ilen) {
        char *nl = memchr(c->ibuf + c->iscan, '\n', c->ilen - c->iscan);
        json_error_t je;
        json_t *msg;
        size_t len;

        if (!nl) {
            c->iscan = c->ilen;
            break;
        }
        len = (size_t)(nl - (c->ibuf + start));
        c->iscan = (size_t)(nl - c->ibuf) + 1;
        if (len > 0) {
            msg = json_loadb(c->ibuf + start, len, 0, &je);
            if (msg) {
                dispatch(c, msg);
                json_decref(msg);
                n++;
            }
            /* a line that is not JSON is dropped: the daemon never sends one */
        }
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
    if (n > 0)
        return n;
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

int aios__send(aios_client *c, const char *line, size_t n)
{
    int rc;

    pthread_mutex_lock(&c->mu);
    if (c->closed) {
        pthread_mutex_unlock(&c->mu);
        return AIOS_ECLOSED;
    }
    if ((rc = obuf_append(c, line, n)) < 0 || c->writer_busy) {
        /* another thread is writing and will send this line too */
        pthread_mutex_unlock(&c->mu);
        return rc;
    }
    c->writer_busy = true;
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
    pthread_mutex_unlock(&c->mu);
    if (rc < 0) {
        /* a broken socket: end every call now if this thread may run
         * callbacks, else make sure the reader sees EOF at once */
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
        return AIOS_ECLOSED;
    }
    return 0;
}

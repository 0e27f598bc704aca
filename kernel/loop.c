/*
 * loop.c - the loop thread's inbox: how other threads hand work back.
 *
 * Engine threads and workers never touch libuv handles.  They serialize
 * their replies and stream notifications on their own thread (so the loop
 * only copies bytes) and push them here with kern__post_bytes(), or push a
 * function with kern_post().  One mutex-protected FIFO, one uv_async; the
 * async callback drains the whole queue per wake-up, so a burst of tokens
 * costs one wake-up, not one per token.  Order between items from one
 * thread is preserved.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aios/error.h"
#include "aios/log.h"
#include "kernel/kern_int.h"

typedef struct inbox_item {
    struct inbox_item *next;
    kern_conn *conn;           /* referenced, or NULL for a function item */
    char *bytes;
    size_t n;
    kern_call *finished;       /* referenced; accounted when written */
    int code;
    void (*fn)(void *arg);
    void *arg;
} inbox_item;

static pthread_mutex_t inbox_lock = PTHREAD_MUTEX_INITIALIZER;
static inbox_item *inbox_head, *inbox_tail;
static uv_async_t inbox_async;
static bool inbox_open;

uint64_t kern__now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void push(inbox_item *it)
{
    pthread_mutex_lock(&inbox_lock);
    it->next = NULL;
    if (inbox_tail)
        inbox_tail->next = it;
    else
        inbox_head = it;
    inbox_tail = it;
    pthread_mutex_unlock(&inbox_lock);
    uv_async_send(&inbox_async);
}

/* Drain everything queued so far (loop thread). */
static void on_inbox(uv_async_t *h)
{
    inbox_item *it;

    (void)h;
    pthread_mutex_lock(&inbox_lock);
    it = inbox_head;
    inbox_head = inbox_tail = NULL;
    pthread_mutex_unlock(&inbox_lock);
    while (it) {
        inbox_item *next = it->next;

        if (it->fn) {
            it->fn(it->arg);
        } else {
            if (it->bytes && !it->conn->closed)
                kern__conn_send_bytes(it->conn, it->bytes, it->n);
            if (it->finished) {
                kern__call_retire(it->finished, it->code);
                kern_call_unref(it->finished);   /* the handler's reference */
            }
            free(it->bytes);
            kern__conn_unref(it->conn);
        }
        free(it);
        it = next;
    }
}

int kern__inbox_init(void)
{
    int rc = uv_async_init(kern__st.loop, &inbox_async, on_inbox);

    if (rc < 0)
        return AIOS_ESYS;
    inbox_open = true;
    return 0;
}

void kern__inbox_close(void)
{
    if (!inbox_open)
        return;
    on_inbox(&inbox_async);
    inbox_open = false;
    uv_close((uv_handle_t *)&inbox_async, NULL);
}

void kern__post_bytes(kern_conn *conn, char *bytes, size_t n, kern_call *finished, int code)
{
    inbox_item *it = calloc(1, sizeof(*it));

    if (!it) {
        /* out of memory: the reply is lost, but the accounting must not be */
        AIOS_LOG(AIOS_LOG_ERROR, "kernel", "out of memory queueing a reply");
        free(bytes);
        return;
    }
    kern__conn_ref(conn);
    it->conn = conn;
    it->bytes = bytes;
    it->n = n;
    it->finished = finished;
    it->code = code;
    push(it);
}

int kern_post(void (*fn)(void *arg), void *arg)
{
    inbox_item *it = calloc(1, sizeof(*it));

    if (!it)
        return AIOS_ENOMEM;
    it->fn = fn;
    it->arg = arg;
    push(it);
    return 0;
}

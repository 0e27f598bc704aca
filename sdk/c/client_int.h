/*
 * client_int.h - private structures of libaios shared by its files.
 *
 * One aios_client is one Unix stream connection.  Its state is guarded by
 * `mu`; two roles are handed between threads under it:
 *   - the reader role (reader_busy): the one thread that may read the
 *     socket, own the input buffer and run callbacks at a given moment;
 *   - the writer role (writer_busy): the one thread that moves the outbox
 *     to the socket.  Anyone appends whole lines to the outbox under mu, so
 *     lines never interleave and nobody blocks behind a slow writer.
 * A pending call (pcall) lives in the id hash table from the moment its
 * request is queued until its final reply is dispatched.
 */
#ifndef AIOS_CLIENT_INT_H
#define AIOS_CLIENT_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aios/client.h"

typedef struct pcall {
    uint64_t id;
    struct pcall *hnext;        /* hash chain */
    aios_stream_cb stream_cb;
    aios_done_cb done_cb;
    void *arg;
    char method[48];            /* for messages */
    /* synchronous calls: the waiter reads these once done is set */
    bool sync;
    bool done;
    bool abandoned;             /* the waiter gave up; the reader frees it */
    int in_cb;                  /* stream callbacks running right now */
    int rc;
    json_t *result;
    aios_error *err;            /* a sync call's error, allocated when it fails */
} pcall;

struct aios_client {
    int fd;
    char *path;
    pthread_mutex_t mu;
    pthread_cond_t cv;          /* a call finished, a role was released */
    atomic_uint_fast64_t next_id;
    /* pending calls by id */
    pcall **buckets;
    size_t nbuckets, npending;
    uint64_t dispatching_id;    /* id whose done callback runs now, 0 if none */
    /* roles */
    bool reader_busy;
    bool writer_busy;
    bool flush_pending;         /* callbacks queued requests (see io.c) */
    /* outbox (mu) */
    char *obuf;
    size_t olen, ocap;
    /* input buffer (reader role) */
    char *ibuf;
    size_t ilen, icap, iscan;
    /* life */
    bool closed;
    int close_code;
    char close_msg[160];
    bool has_thread;
    pthread_t thread;
    int wake[2];
    atomic_bool stopping;
    json_t *hello;
    size_t max_line;
    volatile sig_atomic_t *interrupt;
    aios_notify_cb notify_cb;
    void *notify_arg;
};

/* The client whose reader role the current thread holds (NULL if none). */
extern __thread aios_client *aios__tls_reader;

/* ---- errors (call.c) ------------------------------------------------------ */

/* Fill err (may be NULL) with a local error; returns code. */
int aios__err_local(aios_error *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Fill err from a JSON-RPC error object; returns the AIOS_E* code. */
int aios__err_remote(aios_error *err, const json_t *error);

/* ---- pending table (call.c; mu held) -------------------------------------- */

int aios__pending_add(aios_client *c, pcall *p);
pcall *aios__pending_find(aios_client *c, uint64_t id);
pcall *aios__pending_remove(aios_client *c, uint64_t id);
void aios__pcall_free(pcall *p);

/*
 * Every call still pending ends with code (the connection is gone): sync
 * waiters are woken, done callbacks run in this thread.  Takes and
 * releases mu itself.
 */
void aios__fail_all(aios_client *c, int code, const char *why);

/* ---- i/o (io.c) ------------------------------------------------------------- */

/*
 * Queue one whole line (with its newline) - registering p, when not NULL,
 * in the pending table under the same lock (*queued says whether it got
 * there) - and push the outbox to the
 * socket unless another thread is doing so or a callback of this
 * connection is running (then it leaves at the end of the dispatch round).
 * Returns 0, AIOS_ECLOSED or AIOS_ENOMEM.  Any thread; mu must not be held.
 */
int aios__send(aios_client *c, const char *line, size_t n, pcall *p, bool *queued);

/* Send what callbacks queued during a dispatch round (any thread; mu not
 * held).  0 or AIOS_ECLOSED. */
int aios__flush(aios_client *c);

/*
 * Holding the reader role: dispatch complete lines already buffered; when
 * there were none, wait up to timeout_ms (-1: no limit, 0: don't block)
 * for input, read it and dispatch.  Returns the number of messages
 * dispatched (>= 0), AIOS_ECLOSED once the connection is gone (every
 * pending call has been failed), or AIOS_EAGAIN when a signal interrupted
 * the wait.
 */
int aios__pump(aios_client *c, int timeout_ms);

/* Take the reader role if free (mu held); true when taken. */
bool aios__reader_try(aios_client *c);
/* Give it back and wake waiters (mu held). */
void aios__reader_release(aios_client *c);

/* The background reader thread's body. */
void *aios__reader_main(void *arg);

#endif /* AIOS_CLIENT_INT_H */

/*
 * server.c - the listening socket and the connections on it.
 *
 * Owns the lock file that keeps a second aiosd off the same socket, the
 * Unix socket itself (created 0600, or 0660 for a configured group), and
 * every connection: reading and framing requests, buffering replies and
 * writing them once per loop iteration (a uv_check handle), and applying
 * backpressure - a client that does not read its replies stops being read
 * from, and one that lets more than max_pending bytes pile up is dropped.
 * Loop thread only.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "aios/error.h"
#include "aios/log.h"
#include "kernel/kern_int.h"

static uv_pipe_t listener;
static bool listening;
static int lock_fd = -1;
static char *lock_path;
static kern_conn *conns;
static size_t n_conns;
static uint64_t total_conns, next_conn_id = 1;
static uv_check_t flush_check;
static kern_conn *dirty_head;
static char read_buf[64 * 1024];
static bool read_buf_busy;

typedef struct {
    uv_write_t req;
    kern_conn *conn;
    char *data;
    size_t n;
} write_req;

static void conn_close(kern_conn *c);

/* ---- reference counting ------------------------------------------------------ */

void kern__conn_ref(kern_conn *c)
{
    atomic_fetch_add(&c->refs, 1);
}

void kern__conn_unref(kern_conn *c)
{
    if (!c || atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    kern__frame_free(&c->frame);
    free(c->obuf);
    free(c);
}

size_t kern__conn_count(void)
{
    return n_conns;
}

uint64_t kern__conn_total(void)
{
    return total_conns;
}

kern_conn *kern__conn_find(uint64_t id)
{
    for (kern_conn *c = conns; c; c = c->next)
        if (c->id == id)
            return c;
    return NULL;
}

/* ---- output --------------------------------------------------------------------- */

static void mark_dirty(kern_conn *c)
{
    if (c->dirty)
        return;
    c->dirty = true;
    kern__conn_ref(c);
    c->dirty_next = dirty_head;
    dirty_head = c;
}

void kern__conn_send_bytes(kern_conn *c, const char *bytes, size_t n)
{
    if (c->closed)
        return;
    if (c->olen + c->pending_write + n > kern__st.max_pending) {
        AIOS_LOG(AIOS_LOG_WARN, "kernel", "connection %llu (pid %d) does not read its replies: dropping it",
                 (unsigned long long)c->id, (int)c->ident.pid);
        conn_close(c);
        return;
    }
    if (c->olen + n > c->ocap) {
        size_t cap = c->ocap ? c->ocap : 4096;
        char *nb;

        while (cap < c->olen + n)
            cap *= 2;
        nb = realloc(c->obuf, cap);
        if (!nb) {
            AIOS_LOG(AIOS_LOG_ERROR, "kernel", "out of memory buffering output: closing connection %llu",
                     (unsigned long long)c->id);
            conn_close(c);
            return;
        }
        c->obuf = nb;
        c->ocap = cap;
    }
    memcpy(c->obuf + c->olen, bytes, n);
    c->olen += n;
    mark_dirty(c);
}

void kern__conn_send(kern_conn *c, const json_t *msg)
{
    char *s;

    if (c->closed)
        return;
    s = json_dumps(msg, JSON_COMPACT);
    if (!s) {
        AIOS_LOG(AIOS_LOG_ERROR, "kernel", "cannot serialize a reply");
        return;
    }
    kern__conn_send_bytes(c, s, strlen(s));
    kern__conn_send_bytes(c, "\n", 1);
    free(s);
}

static void resume_reading(kern_conn *c);

static void on_write(uv_write_t *req, int status)
{
    write_req *w = (write_req *)req;
    kern_conn *c = w->conn;

    c->pending_write -= w->n;
    free(w->data);
    free(w);
    if (status < 0 && status != UV_ECANCELED && !c->closed) {
        AIOS_LOG(AIOS_LOG_DEBUG, "kernel", "write to connection %llu failed: %s",
                 (unsigned long long)c->id, uv_strerror(status));
        conn_close(c);
    } else if (!c->closed) {
        if (c->closing && c->pending_write == 0 && c->olen == 0)
            conn_close(c);
        else
            resume_reading(c);
    }
    kern__conn_unref(c);
}

/* Hand c's buffered output to libuv in one write. */
static void flush_conn(kern_conn *c)
{
    write_req *w;
    uv_buf_t b;
    int rc;

    if (c->closed)
        return;
    if (c->olen == 0) {
        if (c->closing && c->pending_write == 0)
            conn_close(c);
        return;
    }
    /* try to write without queueing first: the common case for small replies */
    if (c->pending_write == 0) {
        b = uv_buf_init(c->obuf, (unsigned)c->olen);
        rc = uv_try_write((uv_stream_t *)&c->pipe, &b, 1);
        if (rc > 0) {
            memmove(c->obuf, c->obuf + rc, c->olen - (size_t)rc);
            c->olen -= (size_t)rc;
            if (c->olen == 0) {
                if (c->closing)
                    conn_close(c);
                return;
            }
        } else if (rc < 0 && rc != UV_EAGAIN) {
            conn_close(c);
            return;
        }
    }
    w = malloc(sizeof(*w));
    if (!w) {
        conn_close(c);
        return;
    }
    w->conn = c;
    w->data = c->obuf;
    w->n = c->olen;
    c->obuf = NULL;
    c->olen = c->ocap = 0;
    b = uv_buf_init(w->data, (unsigned)w->n);
    kern__conn_ref(c);
    c->pending_write += w->n;
    rc = uv_write(&w->req, (uv_stream_t *)&c->pipe, &b, 1, on_write);
    if (rc < 0) {
        c->pending_write -= w->n;
        free(w->data);
        free(w);
        kern__conn_unref(c);
        conn_close(c);
        return;
    }
    if (c->reading && c->pending_write > kern__st.read_high_water) {
        /* backpressure: stop taking requests until the client reads */
        uv_read_stop((uv_stream_t *)&c->pipe);
        c->reading = false;
    }
}

static void on_flush_check(uv_check_t *h)
{
    (void)h;
    while (dirty_head) {
        kern_conn *c = dirty_head;
        dirty_head = c->dirty_next;
        c->dirty = false;
        c->dirty_next = NULL;
        flush_conn(c);
        kern__conn_unref(c);
    }
}

/* ---- input ---------------------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    /* reads are consumed synchronously in on_read, so one buffer serves all
     * connections; a nested read can't happen, but guard anyway */
    if (read_buf_busy) {
        *buf = uv_buf_init(NULL, 0);
        return;
    }
    read_buf_busy = true;
    *buf = uv_buf_init(read_buf, sizeof(read_buf));
}

static int on_frame(void *arg, kern_frame_event ev, const char *line, size_t len)
{
    kern_conn *c = arg;

    if (c->closed || c->closing)
        return AIOS_ECLOSED;
    if (ev == KERN_FRAME_TOO_LONG) {
        char msg[128];
        json_t *e;

        snprintf(msg, sizeof(msg), "request line exceeds %zu bytes; closing the connection",
                 kern__st.max_line);
        e = kern__error_msg(NULL, AIOS_EPROTO, msg, NULL, json_pack("{s:I}", "max_line",
                                                                      (json_int_t)kern__st.max_line));
        kern__conn_send(c, e);
        json_decref(e);
        AIOS_LOG(AIOS_LOG_WARN, "kernel", "connection %llu sent a line over %zu bytes: closing it",
                 (unsigned long long)c->id, kern__st.max_line);
        c->closing = true;
        if (c->reading) {
            uv_read_stop((uv_stream_t *)&c->pipe);
            c->reading = false;
        }
        return AIOS_ECLOSED;
    }
    kern__dispatch_line(c, line, len);
    return 0;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    kern_conn *c = s->data;

    if (buf->base == read_buf)
        read_buf_busy = false;
    if (nread > 0) {
        kern__conn_ref(c);
        if (kern__frame_feed(&c->frame, buf->base, (size_t)nread, on_frame, c) == AIOS_ENOMEM) {
            AIOS_LOG(AIOS_LOG_ERROR, "kernel", "out of memory reading from connection %llu",
                     (unsigned long long)c->id);
            conn_close(c);
        }
        kern__conn_unref(c);
    } else if (nread < 0) {
        if (nread != UV_EOF)
            AIOS_LOG(AIOS_LOG_DEBUG, "kernel", "read from connection %llu: %s",
                     (unsigned long long)c->id, uv_strerror((int)nread));
        conn_close(c);
    }
}

static void resume_reading(kern_conn *c)
{
    if (!c->reading && !c->closing && !c->closed &&
        c->pending_write <= kern__st.read_high_water / 2 && !kern_stopping()) {
        if (uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read) == 0)
            c->reading = true;
    }
}

/* ---- connection life ----------------------------------------------------------- */

static void on_conn_closed(uv_handle_t *h)
{
    kern__conn_unref(h->data);
}

static void conn_close(kern_conn *c)
{
    if (c->closed)
        return;
    c->closed = true;
    if (c->reading)
        uv_read_stop((uv_stream_t *)&c->pipe);
    c->reading = false;
    /* every call in flight is cancelled; its reply has nowhere to go */
    kern__call_cancel_all(c, "client disconnected");
    kern__proc_conn_closed(c);
    if (c->prev)
        c->prev->next = c->next;
    else
        conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    n_conns--;
    AIOS_LOG(AIOS_LOG_DEBUG, "kernel", "connection %llu closed", (unsigned long long)c->id);
    uv_close((uv_handle_t *)&c->pipe, on_conn_closed);
}

static void on_connection(uv_stream_t *server, int status)
{
    kern_conn *c;
    struct ucred cred;
    socklen_t len = sizeof(cred);
    uv_os_fd_t fd;

    if (status < 0) {
        AIOS_LOG(AIOS_LOG_WARN, "kernel", "accept: %s", uv_strerror(status));
        return;
    }
    c = calloc(1, sizeof(*c));
    if (!c)
        return;
    atomic_init(&c->refs, 1);
    uv_pipe_init(kern__st.loop, &c->pipe, 0);
    c->pipe.data = c;
    if (uv_accept(server, (uv_stream_t *)&c->pipe) < 0 ||
        uv_fileno((uv_handle_t *)&c->pipe, &fd) < 0 ||
        getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
        c->closed = true;
        uv_close((uv_handle_t *)&c->pipe, on_conn_closed);
        return;
    }
    if (kern_stopping()) {
        c->closed = true;
        uv_close((uv_handle_t *)&c->pipe, on_conn_closed);
        return;
    }
    c->id = next_conn_id++;
    c->ident.conn_id = c->id;
    c->ident.uid = cred.uid;
    c->ident.gid = cred.gid;
    c->ident.pid = cred.pid;
    c->ident.admin = cred.uid == 0 || cred.uid == kern__st.uid;
    snprintf(c->ident.principal, sizeof(c->ident.principal), "uid:%u", (unsigned)cred.uid);
    c->caps = KERN_CAPS_ALL;
    c->t_connect_ns = kern__now_ns();
    kern__frame_init(&c->frame, kern__st.max_line);
    c->next = conns;
    if (conns)
        conns->prev = c;
    conns = c;
    n_conns++;
    total_conns++;
    if (uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read) == 0)
        c->reading = true;
    AIOS_LOG(AIOS_LOG_DEBUG, "kernel", "connection %llu from uid %u pid %d",
             (unsigned long long)c->id, (unsigned)cred.uid, (int)cred.pid);
}

/* ---- the socket ------------------------------------------------------------------ */

/* mkdir -p for the socket's folder (0700 for folders we create). */
static int make_parent(const char *path)
{
    char *dir = strdup(path), *slash;

    if (!dir)
        return AIOS_ENOMEM;
    slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        for (char *p = dir + 1; *p; p++) {
            if (*p == '/') {
                *p = '\0';
                mkdir(dir, 0700);
                *p = '/';
            }
        }
        mkdir(dir, 0700);
    }
    free(dir);
    return 0;
}

static int take_lock(const char *sock)
{
    char buf[32];
    ssize_t n;
    size_t len = strlen(sock) + 6;

    lock_path = malloc(len);
    if (!lock_path)
        return AIOS_ENOMEM;
    snprintf(lock_path, len, "%s.lock", sock);
    lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock_fd < 0) {
        AIOS_LOG(AIOS_LOG_ERROR, "kernel", "cannot open lock file '%s': %s", lock_path, strerror(errno));
        return aios_from_errno(errno);
    }
    if (flock(lock_fd, LOCK_EX | LOCK_NB) < 0) {
        n = pread(lock_fd, buf, sizeof(buf) - 1, 0);
        buf[n > 0 ? n : 0] = '\0';
        buf[strcspn(buf, "\n")] = '\0';
        AIOS_LOG(AIOS_LOG_ERROR, "kernel", "another aiosd (pid %s) is already serving '%s'",
                 buf[0] ? buf : "?", sock);
        close(lock_fd);
        lock_fd = -1;
        free(lock_path);
        lock_path = NULL;
        return AIOS_EBUSY;
    }
    snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
    if (ftruncate(lock_fd, 0) < 0 || pwrite(lock_fd, buf, strlen(buf), 0) < 0)
        AIOS_LOG(AIOS_LOG_WARN, "kernel", "cannot write pid to '%s'", lock_path);
    return 0;
}

int kern__server_start(void)
{
    const char *sock = kern__st.socket_path;
    const char *group = kern_config_str("group", NULL);
    struct stat st;
    mode_t old;
    int rc;

    if (strlen(sock) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
        AIOS_LOG(AIOS_LOG_ERROR, "kernel", "socket path '%s' is longer than %zu bytes", sock,
                 sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
        return AIOS_EINVAL;
    }
    make_parent(sock);
    if ((rc = take_lock(sock)) < 0)
        return rc;
    /* we hold the lock, so anything at the path is left over from a crash */
    if (lstat(sock, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            AIOS_LOG(AIOS_LOG_ERROR, "kernel", "'%s' exists and is not a socket; not touching it", sock);
            return AIOS_EEXIST;
        }
        AIOS_LOG(AIOS_LOG_INFO, "kernel", "removing stale socket '%s' left by an earlier run", sock);
        unlink(sock);
    }
    uv_pipe_init(kern__st.loop, &listener, 0);
    old = umask(0177);
    rc = uv_pipe_bind(&listener, sock);
    umask(old);
    if (rc < 0) {
        AIOS_LOG(AIOS_LOG_ERROR, "kernel", "cannot bind '%s': %s", sock, uv_strerror(rc));
        uv_close((uv_handle_t *)&listener, NULL);
        return AIOS_ESYS;
    }
    if (group && *group) {
        struct group *gr = getgrnam(group);
        char *end;
        long gid = gr ? (long)gr->gr_gid : strtol(group, &end, 10);

        if ((!gr && *end) || chown(sock, (uid_t)-1, (gid_t)gid) < 0 || chmod(sock, 0660) < 0) {
            AIOS_LOG(AIOS_LOG_ERROR, "kernel", "cannot open the socket to group '%s': %s", group,
                     gr || !*end ? strerror(errno) : "no such group");
            uv_close((uv_handle_t *)&listener, NULL);
            unlink(sock);
            return AIOS_EINVAL;
        }
    }
    rc = uv_listen((uv_stream_t *)&listener, 511, on_connection);
    if (rc < 0) {
        AIOS_LOG(AIOS_LOG_ERROR, "kernel", "cannot listen on '%s': %s", sock, uv_strerror(rc));
        uv_close((uv_handle_t *)&listener, NULL);
        unlink(sock);
        return AIOS_ESYS;
    }
    listening = true;
    uv_check_init(kern__st.loop, &flush_check);
    uv_check_start(&flush_check, on_flush_check);
    return 0;
}

void kern__server_stop_accepting(void)
{
    if (!listening)
        return;
    listening = false;
    uv_close((uv_handle_t *)&listener, NULL);
}

void kern__server_close_all(void)
{
    kern_conn *c = conns;

    while (c) {
        kern_conn *next = c->next;
        if (c->olen || c->pending_write) {
            c->closing = true;
            flush_conn(c);
        } else {
            conn_close(c);
        }
        c = next;
    }
}

/* Called last: remove the socket and lock files and stop the flush handle. */
void kern__server_cleanup(void);
void kern__server_cleanup(void)
{
    if (!uv_is_closing((uv_handle_t *)&flush_check))
        uv_close((uv_handle_t *)&flush_check, NULL);
    unlink(kern__st.socket_path);
    if (lock_fd >= 0) {
        unlink(lock_path);
        close(lock_fd);
        lock_fd = -1;
    }
    free(lock_path);
    lock_path = NULL;
}

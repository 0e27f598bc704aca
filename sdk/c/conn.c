/*
 * conn.c - libaios connections: finding the socket, connecting with a
 * deadline, the sys.hello handshake (binding to an agent process from the
 * environment), the optional reader thread, event-loop integration and
 * closing.  aios_client_connect/close run in the caller's thread; the
 * reader thread runs io.c's pump.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "aios/error.h"
#include "sdk/c/client_int.h"

#define DEFAULT_CONNECT_TIMEOUT_MS 5000

int aios_client_default_socket(char *buf, size_t len)
{
    const char *env = getenv("AIOS_SOCKET"), *xdg = getenv("XDG_RUNTIME_DIR");
    int n;

    if (env && *env)
        n = snprintf(buf, len, "%s", env);
    else if (xdg && *xdg)
        n = snprintf(buf, len, "%s/aios/aios.sock", xdg);
    else if (getuid() == 0)
        n = snprintf(buf, len, "/run/aios/aios.sock");
    else
        n = snprintf(buf, len, "/tmp/aios-%u/aios.sock", (unsigned)getuid());
    return n < 0 || (size_t)n >= len ? AIOS_ETOOBIG : 0;
}

/* The code for a failed connect(): nothing listening is "unavailable". */
static int connect_code(int e)
{
    if (e == ENOENT || e == ECONNREFUSED || e == ENOTDIR)
        return AIOS_EUNAVAIL;
    if (e == EACCES || e == EPERM)
        return AIOS_EPERM;
    if (e == ETIMEDOUT || e == EAGAIN)
        return AIOS_ETIMEDOUT;
    return aios_from_errno(e);
}

/* Connect a non-blocking Unix socket to path within timeout_ms. */
static int open_socket(const char *path, int timeout_ms, int *fd_out, aios_error *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct pollfd pf;
    socklen_t sl = sizeof(int);
    int fd, e = 0, rc;

    *fd_out = -1;
    if (strlen(path) >= sizeof(sa.sun_path))
        return aios__err_local(err, AIOS_ETOOBIG, "socket path '%s' is longer than %zu bytes", path,
                               sizeof(sa.sun_path) - 1);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return aios__err_local(err, aios_from_errno(errno), "socket: %s", strerror(errno));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        if (errno != EINPROGRESS && errno != EAGAIN) {
            e = errno;
            goto out_fail;
        }
        /* the listen backlog is full: wait for the daemon to accept */
        pf.fd = fd;
        pf.events = POLLOUT;
        do {
            rc = poll(&pf, 1, timeout_ms);
        } while (rc < 0 && errno == EINTR);
        if (rc == 0) {
            e = ETIMEDOUT;
            goto out_fail;
        }
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &sl) < 0)
            e = errno;
        if (e)
            goto out_fail;
    }
    *fd_out = fd;
    return 0;
out_fail:
    close(fd);
    return aios__err_local(err, connect_code(e), "cannot connect to '%s': %s", path, strerror(e));
}

/* sys.hello: protocol version, client name, agent binding. */
static int say_hello(aios_client *c, const aios_client_opts *o, int timeout_ms, aios_error *err)
{
    const char *agent = o ? o->agent : NULL, *token = o ? o->token : NULL;
    json_t *params, *res = NULL, *ml;
    int rc;

    if (!agent && !(o && o->no_env_agent)) {
        const char *id = getenv("AIOS_AGENT_ID");
        if (id && *id) {
            agent = id;
            if (!token)
                token = getenv("AIOS_AGENT_TOKEN");
        }
    }
    params = json_pack("{s:s,s:s,s:i}", "client", o && o->client_name ? o->client_name : "libaios", "version",
                       AIOS_CLIENT_VERSION, "protocol", AIOS_CLIENT_PROTOCOL);
    if (!params)
        return aios__err_local(err, AIOS_ENOMEM, "out of memory");
    if (agent)
        json_object_set_new(params, "agent", json_string(agent));
    if (token && *token)
        json_object_set_new(params, "token", json_string(token));
    rc = aios_call(c, "sys.hello", params, timeout_ms, &res, err);
    json_decref(params);
    if (rc < 0)
        return rc;
    ml = json_object_get(res, "max_line");
    if (json_is_integer(ml) && json_integer_value(ml) > 0)
        c->max_line = (size_t)json_integer_value(ml);
    c->hello = res;
    return 0;
}

int aios_client_connect(const char *path, const aios_client_opts *opts, aios_client **out)
{
    aios_error local = {0}, *err = opts && opts->err ? opts->err : &local;
    int timeout = opts && opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS;
    char defpath[sizeof(((struct sockaddr_un *)0)->sun_path) + 64];
    aios_client *c;
    int rc, fd;

    *out = NULL;
    aios_error_clear(err);
    if (!path) {
        if (aios_client_default_socket(defpath, sizeof(defpath)) < 0) {
            rc = aios__err_local(err, AIOS_ETOOBIG, "the default socket path is too long");
            goto out_err;
        }
        path = defpath;
    }
    if ((rc = open_socket(path, timeout, &fd, err)) < 0)
        goto out_err;
    c = calloc(1, sizeof(*c));
    if (!c || !(c->path = strdup(path))) {
        free(c);
        close(fd);
        rc = aios__err_local(err, AIOS_ENOMEM, "out of memory");
        goto out_err;
    }
    c->fd = fd;
    c->wake[0] = c->wake[1] = -1;
    pthread_mutex_init(&c->mu, NULL);
    {
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&c->cv, &ca);
        pthread_condattr_destroy(&ca);
    }
    atomic_init(&c->stopping, false);
    atomic_init(&c->next_id, 0);
    if (opts) {
        c->interrupt = opts->interrupt;
        c->notify_cb = opts->notify_cb;
        c->notify_arg = opts->notify_arg;
    }
    if (!(opts && opts->no_hello) && (rc = say_hello(c, opts, timeout, err)) < 0) {
        aios_client_close(c);
        goto out_err;
    }
    if (opts && opts->reader_thread) {
        if (pipe2(c->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
            rc = aios__err_local(err, AIOS_ESYS, "pipe: %s", strerror(errno));
            aios_client_close(c);
            goto out_err;
        }
        c->has_thread = true;
        c->reader_busy = true;   /* the thread holds the reader role for good */
        if (pthread_create(&c->thread, NULL, aios__reader_main, c) != 0) {
            c->has_thread = false;
            c->reader_busy = false;
            rc = aios__err_local(err, AIOS_ESYS, "cannot start the reader thread");
            aios_client_close(c);
            goto out_err;
        }
    }
    *out = c;
    return 0;
out_err:
    if (err == &local)
        aios_error_clear(&local);
    return rc;
}

void aios_client_close(aios_client *c)
{
    if (!c)
        return;
    atomic_store(&c->stopping, true);
    shutdown(c->fd, SHUT_RDWR);
    if (c->has_thread) {
        ssize_t w = write(c->wake[1], "x", 1);
        (void)w;
        pthread_join(c->thread, NULL);
        c->has_thread = false;
    }
    aios__fail_all(c, AIOS_ECLOSED, "the connection was closed by the client");
    close(c->fd);
    if (c->wake[0] >= 0)
        close(c->wake[0]);
    if (c->wake[1] >= 0)
        close(c->wake[1]);
    json_decref(c->hello);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c->buckets);
    free(c->obuf);
    free(c->ibuf);
    free(c->path);
    free(c);
}

const char *aios_client_path(const aios_client *c)
{
    return c->path;
}

json_t *aios_client_hello(const aios_client *c)
{
    return c->hello;
}

bool aios_client_alive(aios_client *c)
{
    bool alive;

    pthread_mutex_lock(&c->mu);
    alive = !c->closed;
    pthread_mutex_unlock(&c->mu);
    return alive;
}

int aios_client_fd(const aios_client *c)
{
    return c->fd;
}

int aios_client_process(aios_client *c)
{
    int rc = 0;
    aios_client *prev = aios__tls_reader;

    pthread_mutex_lock(&c->mu);
    if (c->has_thread || !aios__reader_try(c)) {
        /* someone else is reading and will deliver */
        rc = c->closed ? AIOS_ECLOSED : 0;
        pthread_mutex_unlock(&c->mu);
        return rc;
    }
    pthread_mutex_unlock(&c->mu);
    aios__tls_reader = c;
    do {
        rc = aios__pump(c, 0);
    } while (rc > 0);
    aios__tls_reader = prev;
    pthread_mutex_lock(&c->mu);
    aios__reader_release(c);
    if (c->closed)
        rc = AIOS_ECLOSED;
    else
        rc = 0;
    pthread_mutex_unlock(&c->mu);
    return rc;
}

/*
 * test_client.c - libaios against a real aiosd started in a temporary
 * folder: handshake, errors with their fields, the daemon not running,
 * pipelining and out-of-order replies, streams, cancel, timeouts,
 * interrupts, many threads on one connection, the reader thread, event-loop
 * use, a lost connection, agent binding, large messages and a client that
 * sends a lot without reading.
 */
#include <criterion/criterion.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "aios/client.h"
#include "tests/unit/client/daemon_fixture.h"

static test_daemon D;

static void up(void)
{
    cr_assert_eq(test_daemon_start(&D, NULL), 0, "aiosd did not start (see %s)", D.log);
}

static void down(void)
{
    test_daemon_stop(&D);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static aios_client *connect_opts(const aios_client_opts *o)
{
    aios_client *c = NULL;
    aios_error e = {0};
    aios_client_opts local = o ? *o : (aios_client_opts){0};
    int rc;

    local.err = &e;
    local.no_env_agent = o ? o->no_env_agent : true;
    rc = aios_client_connect(D.socket, &local, &c);
    cr_assert_eq(rc, 0, "connect: %d %s", rc, e.message);
    aios_error_clear(&e);
    return c;
}

static aios_client *connect_plain(void)
{
    return connect_opts(NULL);
}

/* Spawn argv (NULL-terminated) through proc.spawn; returns the process id. */
static long long spawn(aios_client *c, const char *const *argv)
{
    json_t *arr = json_array(), *params, *res = NULL;
    aios_error e = {0};
    long long id;

    for (; *argv; argv++)
        json_array_append_new(arr, json_string(*argv));
    params = json_pack("{s:o}", "argv", arr);
    cr_assert_eq(aios_call(c, "proc.spawn", params, 5000, &res, &e), 0, "spawn: %s", e.message);
    id = json_integer_value(json_object_get(res, "id"));
    cr_assert_gt(id, 0);
    json_decref(params);
    json_decref(res);
    return id;
}

Test(client, hello_and_ping, .init = up, .fini = down, .timeout = 20)
{
    aios_client *c = connect_plain();
    json_t *hello = aios_client_hello(c), *res = NULL, *p;
    aios_error e = {0};

    cr_assert_not_null(hello);
    cr_assert_eq(json_integer_value(json_object_get(hello, "protocol")), AIOS_CLIENT_PROTOCOL);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(hello, "identity"), "uid")), (json_int_t)getuid());
    cr_assert_str_eq(aios_client_path(c), D.socket);
    p = json_pack("{s:[i,s,{s:b}]}", "echo", 1, "two", "three", true);
    cr_assert_eq(aios_call(c, "sys.ping", p, 2000, &res, &e), 0, "%s", e.message);
    cr_assert(json_equal(json_object_get(res, "echo"), json_object_get(p, "echo")));
    cr_assert_eq(e.code, 0);
    json_decref(res);
    json_decref(p);
    /* no params at all */
    cr_assert_eq(aios_call(c, "sys.info", NULL, 2000, &res, &e), 0);
    cr_assert_str_eq(json_string_value(json_object_get(res, "server")), "aiosd");
    json_decref(res);
    cr_assert(aios_client_alive(c));
    cr_assert_eq(aios_client_pending(c), 0);
    aios_client_close(c);
}

Test(client, error_replies_carry_code_name_field, .init = up, .fini = down, .timeout = 20)
{
    aios_client *c = connect_plain();
    aios_error e = {0};
    json_t *res = (json_t *)1, *p = json_pack("{s:i}", "id", 4242);

    cr_assert_eq(aios_call(c, "proc.info", p, 2000, &res, &e), AIOS_ENOENT);
    cr_assert_null(res);
    cr_assert_eq(e.code, AIOS_ENOENT);
    cr_assert(e.remote);
    cr_assert_str_eq(e.name, "ENOENT");
    cr_assert_str_eq(e.field, "id");
    cr_assert(strstr(e.message, "4242"), "%s", e.message);
    cr_assert_eq(e.rpc_code, -32002);
    cr_assert_not_null(e.data);
    json_decref(p);

    /* schema failures name the parameter */
    p = json_pack("{s:s}", "id", "seven");
    cr_assert_eq(aios_call(c, "proc.info", p, 2000, &res, &e), AIOS_EINVAL);
    cr_assert_str_eq(e.field, "id");
    json_decref(p);

    cr_assert_eq(aios_call(c, "sys.no_such_thing", NULL, 2000, &res, &e), AIOS_ENOMETHOD);
    cr_assert_str_eq(e.name, "ENOMETHOD");

    /* a local refusal: params must be an object */
    p = json_array();
    cr_assert_eq(aios_call(c, "sys.ping", p, 2000, &res, &e), AIOS_EINVAL);
    cr_assert(!e.remote);
    json_decref(p);
    cr_assert_eq(aios_call(c, "bad\"name", NULL, 2000, &res, &e), AIOS_EINVAL);

    /* the connection is still fine after all that */
    cr_assert_eq(aios_call(c, "sys.ping", NULL, 2000, &res, &e), 0);
    cr_assert_eq(e.code, 0, "a success clears the error");
    cr_assert_null(e.data);
    json_decref(res);
    aios_client_close(c);
}

Test(client, daemon_not_running, .timeout = 20)
{
    char dir[] = "/tmp/aios-test-nd-XXXXXX", path[256];
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    aios_client *c = (aios_client *)1;
    aios_error e = {0};
    aios_client_opts o = {.err = &e};
    int fd;

    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/none.sock", dir);
    cr_assert_eq(aios_client_connect(path, &o, &c), AIOS_EUNAVAIL);
    cr_assert_null(c);
    cr_assert(strstr(e.message, path), "%s", e.message);

    /* a socket file left behind by a crashed daemon: nothing listens */
    snprintf(path, sizeof(path), "%s/stale.sock", dir);
    cr_assert_lt(strlen(path), sizeof(sa.sun_path));
    memcpy(sa.sun_path, path, strlen(path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    close(fd);
    cr_assert_eq(aios_client_connect(path, &o, &c), AIOS_EUNAVAIL);
    unlink(path);

    char longpath[200];
    memset(longpath, 'x', sizeof(longpath) - 1);
    longpath[0] = '/';
    longpath[sizeof(longpath) - 1] = '\0';
    cr_assert_eq(aios_client_connect(longpath, &o, &c), AIOS_ETOOBIG);
    aios_error_clear(&e);
    rmdir(dir);
}

Test(client, default_socket_rule, .timeout = 10)
{
    char buf[256], want[256];

    setenv("AIOS_SOCKET", "/x/y.sock", 1);
    cr_assert_eq(aios_client_default_socket(buf, sizeof(buf)), 0);
    cr_assert_str_eq(buf, "/x/y.sock");
    unsetenv("AIOS_SOCKET");
    setenv("XDG_RUNTIME_DIR", "/run/user/7", 1);
    aios_client_default_socket(buf, sizeof(buf));
    cr_assert_str_eq(buf, "/run/user/7/aios/aios.sock");
    unsetenv("XDG_RUNTIME_DIR");
    aios_client_default_socket(buf, sizeof(buf));
    if (getuid() == 0)
        snprintf(want, sizeof(want), "/run/aios/aios.sock");
    else
        snprintf(want, sizeof(want), "/tmp/aios-%u/aios.sock", (unsigned)getuid());
    cr_assert_str_eq(buf, want);
    cr_assert_eq(aios_client_default_socket(buf, 4), AIOS_ETOOBIG);

    /* connect(NULL) follows the same rule */
    test_daemon_start(&D, NULL);
    setenv("AIOS_SOCKET", D.socket, 1);
    aios_client *c = NULL;
    cr_assert_eq(aios_client_connect(NULL, NULL, &c), 0);
    cr_assert_str_eq(aios_client_path(c), D.socket);
    aios_client_close(c);
    unsetenv("AIOS_SOCKET");
    test_daemon_stop(&D);
}

/* ---- asynchronous calls --------------------------------------------------- */

typedef struct {
    atomic_int done, errors, streams;
    atomic_int last_rc;
    json_int_t expect[2048];
    uint64_t ids[2048];
    char text[4096];
    size_t text_len;
    int order[2048];
    atomic_int norder;
} tally;

static void count_done(void *arg, uint64_t id, int rc, json_t *result, const aios_error *err)
{
    tally *t = arg;
    int k = atomic_fetch_add(&t->norder, 1);

    if (k < 2048)
        t->order[k] = (int)id;
    atomic_store(&t->last_rc, rc);
    if (rc < 0) {
        cr_assert_not_null(err);
        cr_assert_eq(err->code, rc);
        atomic_fetch_add(&t->errors, 1);
    } else {
        json_t *echo = json_object_get(result, "echo");
        if (json_is_integer(echo)) {
            /* the echo is the index; its id must be the one we got back */
            json_int_t i = json_integer_value(echo);
            cr_assert_eq(t->ids[i], id, "reply %lld matched to the wrong call", (long long)i);
        }
    }
    atomic_fetch_add(&t->done, 1);
}

Test(client, pipelined_async_calls, .init = up, .fini = down, .timeout = 30)
{
    aios_client *c = connect_plain();
    static tally t;
    int n = 2000;

    memset(&t, 0, sizeof(t));
    for (int i = 0; i < n; i++) {
        json_t *p = json_pack("{s:i}", "echo", i);
        cr_assert_eq(aios_call_async(c, "sys.ping", p, NULL, count_done, &t, &t.ids[i]), 0);
        cr_assert_gt(t.ids[i], 0);
        json_decref(p);
    }
    cr_assert_eq(aios_wait(c, t.ids[n - 1], 10000), 0);
    /* replies come in order here, so the last done means all done */
    cr_assert_eq(atomic_load(&t.done), n);
    cr_assert_eq(atomic_load(&t.errors), 0);
    cr_assert_eq(aios_client_pending(c), 0);
    cr_assert_eq(aios_wait(c, t.ids[0], 100), AIOS_ENOENT, "finished ids are unknown");
    aios_client_close(c);
}

Test(client, replies_matched_out_of_order, .init = up, .fini = down, .timeout = 30)
{
    aios_client *c = connect_plain();
    static tally t;
    const char *argv[] = {"sleep", "0.5", NULL};
    long long pid = spawn(c, argv);
    json_t *wp = json_pack("{s:I}", "id", (json_int_t)pid), *res = NULL;
    uint64_t wid, pid2;
    aios_error e = {0};

    memset(&t, 0, sizeof(t));
    cr_assert_eq(aios_call_async(c, "proc.wait", wp, NULL, count_done, &t, &wid), 0);
    /* a call made later on the same connection is answered first */
    cr_assert_eq(aios_call(c, "sys.ping", NULL, 2000, &res, &e), 0);
    json_decref(res);
    cr_assert_eq(atomic_load(&t.done), 0, "proc.wait answered before the process ended");
    cr_assert_eq(aios_client_pending(c), 1);
    cr_assert_eq(aios_call_async(c, "sys.ping", NULL, NULL, count_done, &t, &pid2), 0);
    cr_assert_eq(aios_wait(c, wid, 5000), 0);
    cr_assert_eq(atomic_load(&t.done), 2);
    cr_assert_eq(t.order[0], (int)pid2, "the ping finished first");
    cr_assert_eq(t.order[1], (int)wid);
    cr_assert_eq(atomic_load(&t.last_rc), 0);
    json_decref(wp);
    aios_client_close(c);
}

static void collect_stream(void *arg, uint64_t id, json_t *chunk)
{
    tally *t = arg;
    const char *data = json_string_value(json_object_get(chunk, "data"));

    cr_assert_eq(json_integer_value(json_object_get(chunk, "id")), (json_int_t)id);
    cr_assert_eq(json_integer_value(json_object_get(chunk, "seq")), atomic_load(&t->streams));
    atomic_fetch_add(&t->streams, 1);
    if (data && t->text_len + strlen(data) < sizeof(t->text)) {
        memcpy(t->text + t->text_len, data, strlen(data));
        t->text_len += strlen(data);
    }
}

Test(client, stream_then_cancel, .init = up, .fini = down, .timeout = 30)
{
    aios_client *c = connect_plain();
    static tally t;
    const char *argv[] = {"sh", "-c", "echo first; sleep 0.2; echo second; sleep 30", NULL};
    long long pid = spawn(c, argv);
    json_t *p = json_pack("{s:I,s:b}", "id", (json_int_t)pid, "follow", 1);
    uint64_t id;
    double t0;

    memset(&t, 0, sizeof(t));
    cr_assert_eq(aios_call_async(c, "proc.logs", p, collect_stream, count_done, &t, &id), 0);
    t0 = now_s();
    while (!strstr(t.text, "second") && now_s() - t0 < 5) {
        cr_assert_eq(aios_wait(c, id, 50), AIOS_ETIMEDOUT);
    }
    cr_assert(strstr(t.text, "first\n"), "got '%s'", t.text);
    cr_assert(strstr(t.text, "second\n"), "got '%s'", t.text);
    cr_assert_geq(atomic_load(&t.streams), 1);
    cr_assert_eq(atomic_load(&t.done), 0);
    t0 = now_s();
    cr_assert_eq(aios_cancel(c, id), 0);
    cr_assert_eq(aios_wait(c, id, 5000), 0);
    cr_assert_lt(now_s() - t0, 2.0);
    cr_assert_eq(atomic_load(&t.done), 1);
    cr_assert_eq(atomic_load(&t.last_rc), AIOS_ECANCELED);
    cr_assert_eq(aios_cancel(c, id), AIOS_ENOENT);
    json_decref(p);
    aios_client_close(c);
}

Test(client, sync_stream, .init = up, .fini = down, .timeout = 30)
{
    aios_client *c = connect_plain();
    static tally t;
    const char *argv[] = {"sh", "-c", "printf 'a\\n'; sleep 0.1; printf 'b\\n'", NULL};
    long long pid = spawn(c, argv);
    json_t *p = json_pack("{s:I,s:b}", "id", (json_int_t)pid, "follow", 1), *res = NULL;
    aios_error e = {0};

    memset(&t, 0, sizeof(t));
    cr_assert_eq(aios_call_stream(c, "proc.logs", p, collect_stream, &t, 10000, &res, &e), 0, "%s", e.message);
    cr_assert_str_eq(t.text, "a\nb\n");
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(res, "bytes"), "stdout")), 4);
    json_decref(res);
    json_decref(p);
    aios_client_close(c);
}

Test(client, timeout_cancels_the_call, .init = up, .fini = down, .timeout = 30)
{
    aios_client *c = connect_plain();
    const char *argv[] = {"sleep", "30", NULL};
    long long pid = spawn(c, argv);
    json_t *p = json_pack("{s:I}", "id", (json_int_t)pid), *res = NULL;
    aios_error e = {0};
    double t0 = now_s();

    cr_assert_eq(aios_call(c, "proc.wait", p, 200, &res, &e), AIOS_ETIMEDOUT);
    cr_assert_geq(now_s() - t0, 0.19);
    cr_assert_lt(now_s() - t0, 2.0);
    cr_assert_str_eq(e.name, "ETIMEDOUT");
    cr_assert(!e.remote);
    cr_assert_null(res);
    /* the daemon was told: the call is no longer in flight there */
    for (int i = 0; i < 100; i++) {
        cr_assert_eq(aios_call(c, "sys.stats", NULL, 2000, &res, &e), 0);
        json_int_t inflight = json_integer_value(json_object_get(res, "inflight"));
        json_decref(res);
        if (inflight == 1) /* sys.stats itself */
            break;
        usleep(10000);
    }
    cr_assert_eq(aios_client_pending(c), 0, "the late 'cancelled' answer was absorbed");
    json_decref(p);
    aios_client_close(c);
}

static volatile sig_atomic_t stop_flag;

static void on_alarm(int sig)
{
    (void)sig;
    stop_flag = 1;
}

Test(client, interrupt_sends_cancel, .init = up, .fini = down, .timeout = 30)
{
    aios_client_opts o = {.interrupt = &stop_flag};
    aios_client *c = connect_opts(&o);
    const char *argv[] = {"sleep", "30", NULL};
    long long pid = spawn(c, argv);
    json_t *p = json_pack("{s:I}", "id", (json_int_t)pid), *res = NULL;
    aios_error e = {0};
    struct sigaction sa = {.sa_handler = on_alarm};
    double t0;

    sigaction(SIGALRM, &sa, NULL);
    stop_flag = 0;
    ualarm(200000, 0);
    t0 = now_s();
    cr_assert_eq(aios_call(c, "proc.wait", p, 0, &res, &e), AIOS_ECANCELED);
    cr_assert_lt(now_s() - t0, 1.5);
    /* the daemon's own "cancelled" answer came back: a remote error */
    cr_assert(e.remote, "%s", e.message);
    cr_assert_eq(aios_client_pending(c), 0);
    stop_flag = 0;
    cr_assert_eq(aios_call(c, "sys.ping", NULL, 2000, &res, &e), 0);
    json_decref(res);
    json_decref(p);
    aios_client_close(c);
}

/* ---- threads ---------------------------------------------------------------- */

typedef struct {
    aios_client *c;
    int n, base, failures;
} worker_arg;

static void *ping_worker(void *arg)
{
    worker_arg *w = arg;

    for (int i = 0; i < w->n; i++) {
        json_t *p = json_pack("{s:i}", "echo", w->base + i), *res = NULL;
        aios_error e = {0};
        if (aios_call(w->c, "sys.ping", p, 10000, &res, &e) < 0 ||
            json_integer_value(json_object_get(res, "echo")) != w->base + i)
            w->failures++;
        json_decref(res);
        json_decref(p);
        aios_error_clear(&e);
    }
    return NULL;
}

static void many_threads(bool reader_thread)
{
    aios_client_opts o = {.reader_thread = reader_thread};
    aios_client *c = connect_opts(&o);
    pthread_t th[8];
    worker_arg w[8];

    for (int i = 0; i < 8; i++) {
        w[i] = (worker_arg){.c = c, .n = 400, .base = i * 100000};
        pthread_create(&th[i], NULL, ping_worker, &w[i]);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(w[i].failures, 0, "thread %d: %d failures", i, w[i].failures);
    }
    cr_assert_eq(aios_client_pending(c), 0);
    aios_client_close(c);
}

Test(client, threads_share_a_connection, .init = up, .fini = down, .timeout = 60)
{
    many_threads(false);
}

Test(client, threads_with_reader_thread, .init = up, .fini = down, .timeout = 60)
{
    many_threads(true);
}

Test(client, reader_thread_runs_callbacks, .init = up, .fini = down, .timeout = 30)
{
    aios_client_opts o = {.reader_thread = true};
    aios_client *c = connect_opts(&o);
    static tally t;
    uint64_t id = 0;

    memset(&t, 0, sizeof(t));
    for (int i = 0; i < 100; i++) {
        json_t *p = json_pack("{s:i}", "echo", i);
        cr_assert_eq(aios_call_async(c, "sys.ping", p, NULL, count_done, &t, &t.ids[i]), 0);
        json_decref(p);
        id = t.ids[i];
    }
    (void)id;
    /* nobody in this thread reads: the reader thread must deliver */
    for (int i = 0; i < 500 && atomic_load(&t.done) < 100; i++)
        usleep(10000);
    cr_assert_eq(atomic_load(&t.done), 100);
    cr_assert_eq(aios_client_process(c), 0, "process is a no-op with a reader thread");
    aios_client_close(c);
}

/* ---- event loop --------------------------------------------------------------- */

Test(client, event_loop_integration, .init = up, .fini = down, .timeout = 30)
{
    aios_client *c = connect_plain();
    static tally t;
    struct pollfd pf = {.fd = aios_client_fd(c), .events = POLLIN};

    memset(&t, 0, sizeof(t));
    for (int i = 0; i < 300; i++) {
        json_t *p = json_pack("{s:i}", "echo", i);
        cr_assert_eq(aios_call_async(c, "sys.ping", p, NULL, count_done, &t, &t.ids[i]), 0);
        json_decref(p);
    }
    cr_assert_eq(atomic_load(&t.done), 0, "nothing runs until the loop says so");
    while (atomic_load(&t.done) < 300) {
        cr_assert_gt(poll(&pf, 1, 5000), 0, "no reply within 5 s");
        cr_assert_eq(aios_client_process(c), 0);
    }
    cr_assert_eq(atomic_load(&t.errors), 0);
    aios_client_close(c);
}

/* ---- losing the connection ------------------------------------------------------ */

Test(client, daemon_dies_mid_call, .init = up, .fini = down, .timeout = 30)
{
    aios_client *c = connect_plain();
    static tally t;
    const char *argv[] = {"sleep", "30", NULL};
    long long pid = spawn(c, argv);
    json_t *p = json_pack("{s:I}", "id", (json_int_t)pid), *res = NULL;
    aios_error e = {0};
    uint64_t id;

    memset(&t, 0, sizeof(t));
    cr_assert_eq(aios_call_async(c, "proc.wait", p, NULL, count_done, &t, &id), 0);
    cr_assert_eq(aios_call(c, "sys.ping", NULL, 2000, &res, &e), 0);
    json_decref(res);
    test_daemon_kill(&D);
    cr_assert_eq(aios_call(c, "sys.ping", NULL, 5000, &res, &e), AIOS_ECLOSED, "%s", e.message);
    cr_assert_eq(atomic_load(&t.done), 1, "the async call ended too");
    cr_assert_eq(atomic_load(&t.last_rc), AIOS_ECLOSED);
    cr_assert(!aios_client_alive(c));
    cr_assert_eq(aios_call_async(c, "sys.ping", NULL, NULL, count_done, &t, &id), AIOS_ECLOSED);
    cr_assert_eq(aios_client_process(c), AIOS_ECLOSED);
    json_decref(p);
    aios_client_close(c);
}

Test(client, close_ends_pending_calls, .init = up, .fini = down, .timeout = 30)
{
    aios_client *c = connect_plain();
    static tally t;
    const char *argv[] = {"sleep", "30", NULL};
    long long pid = spawn(c, argv);
    json_t *p = json_pack("{s:I}", "id", (json_int_t)pid);

    memset(&t, 0, sizeof(t));
    for (int i = 0; i < 3; i++)
        cr_assert_eq(aios_call_async(c, "proc.wait", p, NULL, count_done, &t, NULL), 0);
    aios_client_close(c);
    cr_assert_eq(atomic_load(&t.done), 3);
    cr_assert_eq(atomic_load(&t.errors), 3);
    cr_assert_eq(atomic_load(&t.last_rc), AIOS_ECLOSED);
    json_decref(p);
}

/* ---- agents ----------------------------------------------------------------------- */

Test(client, attach_as_named_agent, .init = up, .fini = down, .timeout = 30)
{
    aios_client_opts o = {.agent = "tester-1", .client_name = "unit"};
    aios_client *c = connect_opts(&o), *admin = connect_plain();
    json_t *id = json_object_get(aios_client_hello(c), "identity"), *res = NULL;
    aios_error e = {0};

    cr_assert_str_eq(json_string_value(json_object_get(id, "agent")), "tester-1");
    cr_assert_str_eq(json_string_value(json_object_get(id, "principal")), "agent:tester-1");
    cr_assert_gt(json_integer_value(json_object_get(id, "proc_id")), 0);
    cr_assert_eq(aios_call(admin, "proc.list", NULL, 2000, &res, &e), 0);
    char *dump = json_dumps(res, 0);
    cr_assert(strstr(dump, "tester-1") != NULL);
    free(dump);
    json_decref(res);
    aios_client_close(c);
    aios_client_close(admin);
}

Test(client, binds_from_environment, .init = up, .fini = down, .timeout = 30)
{
    aios_client *admin = connect_plain(), *c = NULL;
    const char *argv[] = {"sh", "-c", "echo $AIOS_AGENT_TOKEN; sleep 30", NULL};
    long long pid = spawn(admin, argv);
    json_t *p = json_pack("{s:I}", "id", (json_int_t)pid), *res = NULL;
    aios_error e = {0};
    aios_client_opts o = {.err = &e};
    char token[64] = "", idbuf[32];

    for (int i = 0; i < 200 && !token[0]; i++) {
        cr_assert_eq(aios_call(admin, "proc.logs", p, 2000, &res, &e), 0);
        const char *out = json_string_value(json_object_get(res, "stdout"));
        if (out && strlen(out) > 8)
            snprintf(token, sizeof(token), "%.*s", (int)strcspn(out, "\n"), out);
        json_decref(res);
        if (!token[0])
            usleep(10000);
    }
    cr_assert(token[0], "the child printed no token");
    snprintf(idbuf, sizeof(idbuf), "%lld", pid);

    /* a wrong token: refused, and the reason names the agent */
    setenv("AIOS_AGENT_ID", idbuf, 1);
    setenv("AIOS_AGENT_TOKEN", "0000", 1);
    cr_assert_eq(aios_client_connect(D.socket, &o, &c), AIOS_EPERM);
    cr_assert_null(c);
    cr_assert_str_eq(e.field, "agent");

    setenv("AIOS_AGENT_TOKEN", token, 1);
    cr_assert_eq(aios_client_connect(D.socket, &o, &c), 0, "%s", e.message);
    json_t *id = json_object_get(aios_client_hello(c), "identity");
    cr_assert_eq(json_integer_value(json_object_get(id, "proc_id")), pid);
    aios_client_close(c);

    /* opts.no_env_agent ignores the environment */
    o.no_env_agent = true;
    cr_assert_eq(aios_client_connect(D.socket, &o, &c), 0);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(aios_client_hello(c), "identity"), "proc_id")), 0);
    aios_client_close(c);
    unsetenv("AIOS_AGENT_ID");
    unsetenv("AIOS_AGENT_TOKEN");
    json_decref(p);
    aios_client_close(admin);
}

/* ---- big messages and backpressure ------------------------------------------------- */

Test(client, large_messages, .init = up, .fini = down, .timeout = 30)
{
    aios_client *c = connect_plain();
    size_t n = 3u << 20;
    char *big = malloc(n + 1);
    json_t *p, *res = NULL;
    aios_error e = {0};

    for (size_t i = 0; i < n; i++)
        big[i] = (char)('a' + i % 26);
    big[n] = '\0';
    p = json_pack("{s:s}", "echo", big);
    cr_assert_eq(aios_call(c, "sys.ping", p, 10000, &res, &e), 0, "%s", e.message);
    cr_assert_eq(strlen(json_string_value(json_object_get(res, "echo"))), n);
    cr_assert_str_eq(json_string_value(json_object_get(res, "echo")), big);
    json_decref(res);
    json_decref(p);
    free(big);
    aios_client_close(c);
}

Test(client, line_limit_is_checked_locally, .timeout = 30)
{
    const char *sets[] = {"max_line=4096", NULL};
    cr_assert_eq(test_daemon_start(&D, sets), 0);
    aios_client *c = connect_plain();
    char big[8192];
    json_t *p, *res = NULL;
    aios_error e = {0};

    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    p = json_pack("{s:s}", "echo", big);
    cr_assert_eq(aios_call(c, "sys.ping", p, 2000, &res, &e), AIOS_ETOOBIG);
    /* refused before sending, so the connection survives */
    cr_assert_eq(aios_call(c, "sys.ping", NULL, 2000, &res, &e), 0);
    json_decref(res);
    json_decref(p);
    aios_client_close(c);
    test_daemon_stop(&D);
}

Test(client, many_calls_without_reading, .init = up, .fini = down, .timeout = 60)
{
    aios_client *c = connect_plain();
    static tally t;
    char *blob = malloc(16385);
    json_t *p;
    int n = 1500;

    memset(&t, 0, sizeof(t));
    memset(blob, 'z', 16384);
    blob[16384] = '\0';
    p = json_pack("{s:s}", "echo", blob);
    /* 24 MB of requests and 24 MB of replies with nobody calling process:
     * the sender must read replies while the socket is full, or both sides
     * would wait for each other forever */
    for (int i = 0; i < n; i++)
        cr_assert_eq(aios_call_async(c, "sys.ping", p, NULL, count_done, &t, NULL), 0);
    struct pollfd pf = {.fd = aios_client_fd(c), .events = POLLIN};
    while (atomic_load(&t.done) < n) {
        if (aios_client_process(c) < 0)
            break;
        poll(&pf, 1, 100);
    }
    cr_assert_eq(atomic_load(&t.done), n);
    cr_assert_eq(atomic_load(&t.errors), 0);
    json_decref(p);
    free(blob);
    aios_client_close(c);
}

Test(client, notifications_and_unmatched_messages, .init = up, .fini = down, .timeout = 30)
{
    aios_client *c = connect_plain();
    json_t *res = NULL;
    aios_error e = {0};

    /* a notification gets no answer; the connection stays in step */
    cr_assert_eq(aios_notify(c, "sys.ping", NULL), 0);
    cr_assert_eq(aios_call(c, "sys.ping", NULL, 2000, &res, &e), 0);
    json_decref(res);
    cr_assert_eq(aios_cancel(c, 999999), AIOS_ENOENT);
    aios_client_close(c);
}

static void on_notify(void *arg, json_t *msg)
{
    atomic_int *n = arg;
    json_t *err = json_object_get(msg, "error");

    cr_assert_not_null(err);
    cr_assert(json_is_null(json_object_get(msg, "id")));
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(err, "data"), "name")), "EPARSE");
    atomic_fetch_add(n, 1);
}

Test(client, unsolicited_errors_reach_notify_cb, .init = up, .fini = down, .timeout = 30)
{
    static atomic_int n;
    aios_client_opts o = {.notify_cb = on_notify, .notify_arg = &n};
    aios_client *c = connect_opts(&o);
    json_t *res = NULL;
    aios_error e = {0};

    atomic_store(&n, 0);
    /* a line that is not JSON, written behind the library's back: the
     * daemon answers with an error whose id is null, which belongs to no
     * call */
    cr_assert_eq(write(aios_client_fd(c), "not json\n", 9), 9);
    cr_assert_eq(aios_call(c, "sys.ping", NULL, 2000, &res, &e), 0);
    json_decref(res);
    cr_assert_eq(atomic_load(&n), 1);
    aios_client_close(c);
}

/* A call cancelled by $/cancel whose handler answers from its cancel
 * callback (proc.wait) has its reply queued when the client hangs up right
 * after: the daemon must not spin on that half-finished call. */
Test(client, cancel_then_hang_up_keeps_the_daemon_alive, .init = up, .fini = down, .timeout = 30)
{
    aios_client *c = connect_plain(), *c2;
    const char *argv[] = {"sleep", "30", NULL};
    long long pid = spawn(c, argv);
    json_t *p = json_pack("{s:I}", "id", (json_int_t)pid), *res = NULL;
    aios_error e = {0};

    for (int i = 0; i < 20; i++) {
        aios_client *k = connect_plain();
        cr_assert_eq(aios_call(k, "proc.wait", p, 20, &res, &e), AIOS_ETIMEDOUT);
        aios_client_close(k);   /* $/cancel and EOF arrive together */
    }
    c2 = connect_plain();
    cr_assert_eq(aios_call(c2, "sys.ping", NULL, 3000, &res, &e), 0, "the daemon stopped answering: %s", e.message);
    json_decref(res);
    aios_client_close(c2);
    json_decref(p);
    aios_client_close(c);
}

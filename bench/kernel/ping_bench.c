/*
 * ping_bench.c - the null syscall (sys.ping) over the Unix socket.
 *
 *   latency:    one client, one call at a time, N calls after a warm-up:
 *               p50 / p99 / mean round trip
 *   throughput: C connections, each keeping D calls in flight
 *               (pipelining), driven by T threads for S seconds: calls/s
 *
 * Each is measured twice: through libaios (what programs use) and over a
 * raw socket with hand-rolled framing (the floor the kernel allows), so the
 * client library's own cost shows as a ratio.  Prints a table and a final
 *   RESULT ping_p50_us=.. ping_p99_us=.. ping_calls_per_s=.. ...
 * line (the libaios figures; raw_* for the raw socket).
 *
 * usage: ping_bench SOCKET [-n CALLS] [-c CONNS] [-d DEPTH] [-t THREADS] [-s SECONDS]
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "aios/client.h"

static const char *sock_path;
static int daemon_pid;
static int n_calls = 20000, n_conns = 64, depth = 32, n_threads = 2;
static double seconds = 3.0;
static const char *only = "";   /* -m lib|raw: measure one client only (for profiling) */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* How many sys.ping calls the daemon has answered (sys.stats), to check
 * that what the benchmark counts really happened there. */
static long long daemon_pings(void)
{
    aios_client *c;
    aios_error e = {0};
    aios_client_opts o = {.no_env_agent = true, .err = &e};
    json_t *st = NULL;
    long long n;

    if (aios_client_connect(sock_path, &o, &c) < 0 || aios_call(c, "sys.stats", NULL, 5000, &st, &e) < 0) {
        fprintf(stderr, "ping_bench: sys.stats: %s\n", e.message);
        exit(1);
    }
    n = (long long)json_integer_value(json_object_get(json_object_get(json_object_get(st, "calls"), "sys.ping"), "calls"));
    json_decref(st);
    aios_client_close(c);
    return n;
}

/* CPU seconds (user + system) used so far by process pid (0: this one). */
static double cpu_s(int pid)
{
    char path[64], buf[1024], *p;
    unsigned long long ut = 0, st = 0;
    FILE *f;
    size_t n;

    snprintf(path, sizeof(path), pid ? "/proc/%d/stat" : "/proc/self/stat", pid);
    f = fopen(path, "r");
    if (!f)
        return 0;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    p = strrchr(buf, ')');
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return 0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct {
    double p50, p99, mean, min;
} lat_stats;

static lat_stats summarize(double *us, int n)
{
    lat_stats s = {0};
    double sum = 0;

    qsort(us, (size_t)n, sizeof(double), cmp_double);
    for (int i = 0; i < n; i++)
        sum += us[i];
    s.p50 = us[n / 2];
    s.p99 = us[(int)((double)n * 0.99)];
    s.mean = sum / n;
    s.min = us[0];
    return s;
}

static void die(const char *what)
{
    fprintf(stderr, "ping_bench: %s\n", what);
    exit(1);
}

/* ---- raw socket ------------------------------------------------------------- */

static int raw_connect(void)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        die("cannot connect (is aiosd running?)");
    return fd;
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            die("write failed");
        p += w;
        n -= (size_t)w;
    }
}

/* Request line for id (the id makes every request distinct, as a real
 * client's are). */
static int raw_request(char *buf, size_t len, uint64_t id)
{
    return snprintf(buf, len, "{\"jsonrpc\":\"2.0\",\"id\":%" PRIu64 ",\"method\":\"sys.ping\"}\n", id);
}

/* Read until `lines` newlines have arrived; returns them counted. */
typedef struct {
    char buf[1 << 16];
} rbuf;

static int read_lines(int fd, rbuf *b, int want_at_least)
{
    int got = 0;

    while (got < want_at_least) {
        ssize_t n = read(fd, b->buf, sizeof(b->buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            die("read failed");
        for (ssize_t i = 0; i < n; i++)
            got += b->buf[i] == '\n';
    }
    return got;
}

static lat_stats raw_latency(void)
{
    int fd = raw_connect(), warm = n_calls / 10 + 100;
    double *us = malloc(sizeof(double) * (size_t)n_calls);
    rbuf *b = malloc(sizeof(*b));
    char req[128];
    lat_stats s;

    for (int i = 0; i < warm + n_calls; i++) {
        int len = raw_request(req, sizeof(req), (uint64_t)i + 1);
        double t0 = now_s();
        write_all(fd, req, (size_t)len);
        read_lines(fd, b, 1);
        if (i >= warm)
            us[i - warm] = (now_s() - t0) * 1e6;
    }
    s = summarize(us, n_calls);
    close(fd);
    free(us);
    free(b);
    return s;
}

/* ---- libaios: latency ------------------------------------------------------------ */

static lat_stats lib_latency(void)
{
    aios_client *c;
    aios_error e = {0};
    aios_client_opts o = {.client_name = "ping_bench", .no_env_agent = true, .err = &e};
    int warm = n_calls / 10 + 100;
    double *us = malloc(sizeof(double) * (size_t)n_calls);
    lat_stats s;

    if (aios_client_connect(sock_path, &o, &c) < 0)
        die(e.message);
    for (int i = 0; i < warm + n_calls; i++) {
        json_t *res = NULL;
        double t0 = now_s();
        if (aios_call(c, "sys.ping", NULL, 0, &res, &e) < 0)
            die(e.message);
        if (i >= warm)
            us[i - warm] = (now_s() - t0) * 1e6;
        json_decref(res);
    }
    s = summarize(us, n_calls);
    aios_client_close(c);
    free(us);
    return s;
}

/* ---- throughput --------------------------------------------------------------------- */

static atomic_bool stop;
static atomic_bool go;

typedef struct conn_state {
    aios_client *c;
    int fd;
    uint64_t next_id;
    uint64_t done;
    struct thread_state *t;
} conn_state;

typedef struct thread_state {
    pthread_t th;
    conn_state *conns;
    int n;
    bool raw;
    uint64_t done;
} thread_state;

static void lib_done(void *arg, uint64_t id, int rc, json_t *result, const aios_error *err);

static void lib_issue(conn_state *cs)
{
    if (aios_call_async(cs->c, "sys.ping", NULL, NULL, lib_done, cs, NULL) < 0)
        die("aios_call_async failed");
}

/* A reply: count it and keep the pipeline full. */
static void lib_done(void *arg, uint64_t id, int rc, json_t *result, const aios_error *err)
{
    conn_state *cs = arg;

    (void)id;
    (void)result;
    if (rc < 0) {
        if (rc == AIOS_ECLOSED && atomic_load(&stop))
            return;
        die(err->message);
    }
    cs->done++;
    if (!atomic_load(&stop))
        lib_issue(cs);
}

/* One thread drives its connections with poll(): libaios in event-loop
 * mode, or raw sockets with a reply counter per connection. */
static void *tput_thread(void *arg)
{
    thread_state *t = arg;
    struct pollfd *pf = calloc((size_t)t->n, sizeof(*pf));
    rbuf *b = malloc(sizeof(*b));
    char *out = malloc((size_t)depth * 128);

    while (!atomic_load(&go))
        ;
    for (int i = 0; i < t->n; i++) {
        conn_state *cs = &t->conns[i];
        pf[i].fd = cs->fd;
        pf[i].events = POLLIN;
        if (t->raw) {
            size_t off = 0;
            for (int k = 0; k < depth; k++)
                off += (size_t)raw_request(out + off, 128, ++cs->next_id);
            write_all(cs->fd, out, off);
        } else {
            for (int k = 0; k < depth; k++)
                lib_issue(cs);
        }
    }
    while (!atomic_load(&stop)) {
        if (poll(pf, (nfds_t)t->n, 100) <= 0)
            continue;
        for (int i = 0; i < t->n; i++) {
            conn_state *cs = &t->conns[i];
            if (!pf[i].revents)
                continue;
            if (!t->raw) {
                if (aios_client_process(cs->c) < 0)
                    die("connection lost");
                continue;
            }
            /* raw: count the replies that came, send as many new requests */
            ssize_t n = read(cs->fd, b->buf, sizeof(b->buf));
            int got = 0;
            size_t off = 0;
            if (n <= 0)
                die("read failed");
            for (ssize_t k = 0; k < n; k++)
                got += b->buf[k] == '\n';
            cs->done += (uint64_t)got;
            for (int k = 0; k < got; k++) {
                if (off + 128 > (size_t)depth * 128) {
                    write_all(cs->fd, out, off);
                    off = 0;
                }
                off += (size_t)raw_request(out + off, 128, ++cs->next_id);
            }
            if (off)
                write_all(cs->fd, out, off);
        }
    }
    free(pf);
    free(b);
    free(out);
    return NULL;
}

typedef struct {
    double calls_per_s;
    double daemon_us;    /* daemon CPU per call */
    double client_us;    /* this process's CPU per call */
} tput_stats;

static tput_stats throughput(bool raw)
{
    tput_stats r;
    double d0, d1, c0, c1;
    long long served0 = daemon_pings(), served;
    uint64_t total = 0;
    conn_state *conns = calloc((size_t)n_conns, sizeof(*conns));
    thread_state *ts = calloc((size_t)n_threads, sizeof(*ts));
    uint64_t before = 0, after = 0;
    double t0, t1;

    atomic_store(&stop, false);
    atomic_store(&go, false);
    for (int i = 0; i < n_conns; i++) {
        if (raw) {
            conns[i].fd = raw_connect();
        } else {
            aios_error e = {0};
            aios_client_opts o = {.client_name = "ping_bench", .no_env_agent = true, .err = &e};
            if (aios_client_connect(sock_path, &o, &conns[i].c) < 0)
                die(e.message);
            conns[i].fd = aios_client_fd(conns[i].c);
        }
    }
    for (int t = 0; t < n_threads; t++) {
        int lo = n_conns * t / n_threads, hi = n_conns * (t + 1) / n_threads;
        ts[t].conns = conns + lo;
        ts[t].n = hi - lo;
        ts[t].raw = raw;
        for (int i = lo; i < hi; i++)
            conns[i].t = &ts[t];
        pthread_create(&ts[t].th, NULL, tput_thread, &ts[t]);
    }
    atomic_store(&go, true);
    /* warm up for a fifth of the time, then count */
    usleep((useconds_t)(seconds * 0.2 * 1e6));
    for (int i = 0; i < n_conns; i++)
        before += __atomic_load_n(&conns[i].done, __ATOMIC_RELAXED);
    t0 = now_s();
    d0 = cpu_s(daemon_pid);
    c0 = cpu_s(0);
    usleep((useconds_t)(seconds * 1e6));
    for (int i = 0; i < n_conns; i++)
        after += __atomic_load_n(&conns[i].done, __ATOMIC_RELAXED);
    t1 = now_s();
    d1 = cpu_s(daemon_pid);
    c1 = cpu_s(0);
    atomic_store(&stop, true);
    for (int t = 0; t < n_threads; t++)
        pthread_join(ts[t].th, NULL);
    for (int i = 0; i < n_conns; i++) {
        total += conns[i].done;
        if (raw)
            close(conns[i].fd);
        else
            aios_client_close(conns[i].c);
    }
    served = daemon_pings() - served0;
    if ((long long)total > served) {
        fprintf(stderr, "ping_bench: counted %llu replies but aiosd served only %lld pings\n",
                (unsigned long long)total, served);
        exit(1);
    }
    free(conns);
    free(ts);
    r.calls_per_s = (double)(after - before) / (t1 - t0);
    r.daemon_us = (d1 - d0) * 1e6 / (double)(after - before);
    r.client_us = (c1 - c0) * 1e6 / (double)(after - before);
    return r;
}

int main(int argc, char **argv)
{
    int opt;
    lat_stats raw_l, lib_l;
    tput_stats raw_t, lib_t;

    while ((opt = getopt(argc, argv, "n:c:d:t:s:m:")) != -1) {
        switch (opt) {
        case 'n': n_calls = atoi(optarg); break;
        case 'c': n_conns = atoi(optarg); break;
        case 'd': depth = atoi(optarg); break;
        case 't': n_threads = atoi(optarg); break;
        case 's': seconds = atof(optarg); break;
        case 'm': only = optarg; break;
        default:
            fprintf(stderr, "usage: ping_bench SOCKET [-n CALLS] [-c CONNS] [-d DEPTH] [-t THREADS] [-s SECONDS] [-m lib|raw]\n");
            return 2;
        }
    }
    if (optind != argc - 1 || n_calls < 100 || n_conns < 1 || depth < 1 || n_threads < 1 || seconds <= 0) {
        fprintf(stderr, "usage: ping_bench SOCKET [-n CALLS] [-c CONNS] [-d DEPTH] [-t THREADS] [-s SECONDS]\n");
        return 2;
    }
    if (n_threads > n_conns)
        n_threads = n_conns;
    sock_path = argv[optind];
    {
        aios_client *c;
        aios_error e = {0};
        aios_client_opts o = {.no_env_agent = true, .err = &e};
        json_t *info = NULL;
        if (aios_client_connect(sock_path, &o, &c) < 0 || aios_call(c, "sys.info", NULL, 5000, &info, &e) < 0)
            die(e.message);
        daemon_pid = (int)json_integer_value(json_object_get(info, "pid"));
        json_decref(info);
        aios_client_close(c);
    }

    if (*only) {
        tput_stats t = throughput(strcmp(only, "raw") == 0);
        printf("%s: %.0f calls/s, aiosd %.2f us/call, client %.2f us/call\n", only, t.calls_per_s, t.daemon_us,
               t.client_us);
        return 0;
    }
    raw_l = raw_latency();
    lib_l = lib_latency();
    printf("latency, 1 client, %d sequential sys.ping (us):\n", n_calls);
    printf("  %-8s %8s %8s %8s %8s\n", "client", "min", "p50", "p99", "mean");
    printf("  %-8s %8.1f %8.1f %8.1f %8.1f\n", "raw", raw_l.min, raw_l.p50, raw_l.p99, raw_l.mean);
    printf("  %-8s %8.1f %8.1f %8.1f %8.1f\n", "libaios", lib_l.min, lib_l.p50, lib_l.p99, lib_l.mean);
    printf("  libaios/raw p50 ratio: %.2f\n", lib_l.p50 / raw_l.p50);
    fflush(stdout);

    raw_t = throughput(true);
    lib_t = throughput(false);
    printf("throughput, %d connections x %d in flight, %d client threads, %.1f s:\n", n_conns, depth, n_threads,
           seconds);
    printf("  %-8s %10s %16s %16s\n", "client", "calls/s", "aiosd cpu/call", "client cpu/call");
    printf("  %-8s %10.0f %13.2f us %13.2f us\n", "raw", raw_t.calls_per_s, raw_t.daemon_us, raw_t.client_us);
    printf("  %-8s %10.0f %13.2f us %13.2f us\n", "libaios", lib_t.calls_per_s, lib_t.daemon_us, lib_t.client_us);
    printf("  libaios/raw ratio: %.2f;  aiosd alone could serve %.0f calls/s per core it gets\n",
           lib_t.calls_per_s / raw_t.calls_per_s, 1e6 / lib_t.daemon_us);
    printf("RESULT ping_p50_us=%.1f ping_p99_us=%.1f ping_calls_per_s=%.0f raw_p50_us=%.1f raw_p99_us=%.1f "
           "raw_calls_per_s=%.0f aiosd_cpu_us_per_call=%.2f client_cpu_us_per_call=%.2f conns=%d depth=%d "
           "threads=%d\n",
           lib_l.p50, lib_l.p99, lib_t.calls_per_s, raw_l.p50, raw_l.p99, raw_t.calls_per_s, lib_t.daemon_us,
           lib_t.client_us, n_conns, depth, n_threads);
    return 0;
}

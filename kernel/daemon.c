/*
 * daemon.c - aiosd: start-up, the subsystem list, signals and shutdown.
 *
 * Start-up order: flags, config file, defaults; the data folder; detaching
 * from the terminal (before any thread exists: the daemon never forks once
 * it has threads); the syscall table; the socket and its lock; subsystems
 * in kernel/subsys.def order; signals; then the loop.  The parent of a
 * detached daemon waits on a pipe and exits 0 only once the socket accepts,
 * so `aiosd && aiosctl ...` works.
 *
 * Shutdown (SIGTERM, SIGINT, sys.shutdown): stop accepting; ask children to
 * stop; let calls in flight finish for shutdown_grace_ms; cancel what is
 * left; stop subsystems in reverse order; flush and close connections;
 * remove the socket and the lock file; exit 0.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aios/error.h"
#include "aios/log.h"
#include "kernel/kern_int.h"
#include "kernel/kern_proc.h"

kern_state kern__st;



/* ---- subsystems ----------------------------------------------------------------- */

#define KERN_SUBSYS(name) extern const kern_subsys kern_subsys_##name;
#include "kernel/subsys.def"
#undef KERN_SUBSYS

static const kern_subsys *const subsystems[] = {
#define KERN_SUBSYS(name) &kern_subsys_##name,
#include "kernel/subsys.def"
#undef KERN_SUBSYS
};

#define N_SUBSYS (sizeof(subsystems) / sizeof(subsystems[0]))
static bool subsys_ok[N_SUBSYS];

size_t kern__subsys_count(void)
{
    return N_SUBSYS;
}

const kern_subsys *kern__subsys_at(size_t i)
{
    return i < N_SUBSYS ? subsystems[i] : NULL;
}

bool kern__subsys_ok(size_t i)
{
    return i < N_SUBSYS && subsys_ok[i];
}

/* ---- services in kernel.h --------------------------------------------------------- */

const char *kern_data_dir(void)
{
    return kern__st.data_dir;
}

const char *kern_socket_path(void)
{
    return kern__st.socket_path;
}

struct uv_loop_s *kern_loop(void)
{
    return kern__st.loop;
}

bool kern_stopping(void)
{
    return atomic_load(&kern__st.stopping);
}

typedef struct {
    uv_work_t req;
    void (*work)(void *);
    void (*done)(void *, int);
    void *arg;
} queued_work;

static void qw_work(uv_work_t *r)
{
    queued_work *q = r->data;
    q->work(q->arg);
}

static void qw_done(uv_work_t *r, int status)
{
    queued_work *q = r->data;

    if (q->done)
        q->done(q->arg, status == UV_ECANCELED ? AIOS_ECANCELED : 0);
    free(q);
}

int kern_queue_work(void (*work)(void *arg), void (*done)(void *arg, int status), void *arg)
{
    queued_work *q = calloc(1, sizeof(*q));

    if (!q)
        return AIOS_ENOMEM;
    q->work = work;
    q->done = done;
    q->arg = arg;
    q->req.data = q;
    if (uv_queue_work(kern__st.loop, &q->req, qw_work, qw_done) < 0) {
        free(q);
        return AIOS_ESYS;
    }
    return 0;
}

/* ---- configuration ------------------------------------------------------------------ */

static void apply_config(void)
{
    aios_log_level lvl;

    if (aios_log_parse_level(kern_config_str("log_level", "info"), &lvl) == 0)
        aios_log_set_level(lvl);
    kern__st.max_line = (size_t)kern_config_int("max_line", 16 << 20);
    if (kern__st.max_line < 1024)
        kern__st.max_line = 1024;
    kern__st.max_pending = (size_t)kern_config_int("max_pending", 256 << 20);
    kern__st.read_high_water = (size_t)kern_config_int("read_high_water", 4 << 20);
    kern__st.worker_limit = (int)kern_config_int("worker_limit", 4);
    if (kern__st.worker_limit < 1)
        kern__st.worker_limit = 1;
}

int kern__reload(char *err, size_t errlen)
{
    int rc = 0;

    if (kern__st.config_path && (rc = kern__config_reload(kern__st.config_path, err, errlen)) < 0) {
        AIOS_LOG(AIOS_LOG_WARN, "kernel", "reload failed: %s", err);
        return rc;
    }
    apply_config();
    for (size_t i = 0; i < N_SUBSYS; i++)
        if (subsys_ok[i] && subsystems[i]->reload)
            subsystems[i]->reload();
    AIOS_LOG(AIOS_LOG_INFO, "kernel", "configuration reloaded%s%s", kern__st.config_path ? " from " : "",
             kern__st.config_path ? kern__st.config_path : "");
    return 0;
}

static char *default_socket(void)
{
    const char *env = getenv("AIOS_SOCKET"), *xdg = getenv("XDG_RUNTIME_DIR");
    char *s = NULL;

    if (env && *env)
        return strdup(env);
    if (xdg && *xdg) {
        if (asprintf(&s, "%s/aios/aios.sock", xdg) < 0)
            return NULL;
        return s;
    }
    if (getuid() == 0)
        return strdup("/run/aios/aios.sock");
    if (asprintf(&s, "/tmp/aios-%u/aios.sock", (unsigned)getuid()) < 0)
        return NULL;
    return s;
}

static char *default_data(void)
{
    const char *env = getenv("AIOS_DATA"), *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
    char *s = NULL;

    if (env && *env)
        return strdup(env);
    if (xdg && *xdg)
        return asprintf(&s, "%s/aios", xdg) < 0 ? NULL : s;
    return asprintf(&s, "%s/.local/share/aios", home && *home ? home : "/root") < 0 ? NULL : s;
}

static char *default_config(void)
{
    const char *env = getenv("AIOS_CONFIG"), *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    char *s = NULL;

    if (env && *env)
        return strdup(env);
    if (xdg && *xdg) {
        if (asprintf(&s, "%s/aios/aiosd.conf", xdg) < 0)
            return NULL;
    } else if (home && *home) {
        if (asprintf(&s, "%s/.config/aios/aiosd.conf", home) < 0)
            return NULL;
    }
    if (s && access(s, R_OK) == 0)
        return s;
    free(s);
    if (getuid() == 0 && access("/etc/aios/aiosd.conf", R_OK) == 0)
        return strdup("/etc/aios/aiosd.conf");
    return NULL;
}

/* mkdir -p with mode for the final folder. */
static int make_dirs(const char *path, mode_t mode)
{
    char *d = strdup(path);

    if (!d)
        return AIOS_ENOMEM;
    for (char *p = d + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(d, 0755);
            *p = '/';
        }
    }
    if (mkdir(d, mode) < 0 && errno != EEXIST) {
        int e = errno;
        free(d);
        return aios_from_errno(e);
    }
    free(d);
    return 0;
}

/* ---- signals and shutdown -------------------------------------------------------------- */

static uv_signal_t sig_term, sig_int, sig_hup;
static uv_timer_t shutdown_timer;
static uint64_t shutdown_started_ns;
static int shutdown_phase;

static void close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void on_shutdown_tick(uv_timer_t *t)
{
    uint64_t grace = (uint64_t)kern_config_int("shutdown_grace_ms", 5000) * 1000000ull;
    uint64_t elapsed = kern__now_ns() - shutdown_started_ns;

    if (shutdown_phase == 0) {
        if (kern__inflight() > 0 && elapsed < grace)
            return;
        if (kern__inflight() > 0) {
            AIOS_LOG(AIOS_LOG_INFO, "kernel", "grace period over: cancelling %zu calls in flight", kern__inflight());
            for (size_t id = 1; id <= kern__conn_total(); id++) {
                kern_conn *c = kern__conn_find(id);
                if (c)
                    kern__call_cancel_all(c, "the daemon is shutting down");
            }
        }
        kern__proc_kill_all();
        shutdown_phase = 1;
        return;
    }
    if (shutdown_phase == 1) {
        /* children killed: give their handles a moment to close */
        if (kern__proc_children_alive() && elapsed < grace + 2000000000ull)
            return;
        for (size_t i = N_SUBSYS; i-- > 0;)
            if (subsys_ok[i] && subsystems[i]->stop && subsystems[i] != &kern_subsys_proc)
                subsystems[i]->stop();
        kern__server_close_all();
        shutdown_phase = 2;
        return;
    }
    /* phase 2: wait for replies to flush, then close everything */
    if (kern__conn_count() > 0 && elapsed < grace + 4000000000ull)
        return;
    uv_timer_stop(t);
    kern__inbox_close();
    uv_walk(kern__st.loop, close_walk, NULL);
}

void kern__request_shutdown(const char *why)
{
    if (atomic_exchange(&kern__st.stopping, true))
        return;
    AIOS_LOG(AIOS_LOG_INFO, "kernel", "shutting down (%s)", why);
    shutdown_started_ns = kern__now_ns();
    kern__server_stop_accepting();
    kern__proc_stop();
    uv_timer_init(kern__st.loop, &shutdown_timer);
    uv_timer_start(&shutdown_timer, on_shutdown_tick, 0, 20);
}

static void on_signal(uv_signal_t *h, int signum)
{
    if (signum == SIGHUP) {
        char err[256];
        kern__reload(err, sizeof(err));
        return;
    }
    kern__request_shutdown(signum == SIGTERM ? "SIGTERM" : "SIGINT");
    (void)h;
}

/* ---- main ------------------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: aiosd [options]\n"
            "  --socket PATH      Unix socket (default $AIOS_SOCKET, $XDG_RUNTIME_DIR/aios/aios.sock,\n"
            "                     /run/aios/aios.sock as root)\n"
            "  --data DIR         data folder (default $AIOS_DATA or ~/.local/share/aios)\n"
            "  --config FILE      config file (default $AIOS_CONFIG, ~/.config/aios/aiosd.conf)\n"
            "  --foreground, -f   stay attached to the terminal, log to stderr\n"
            "  --log-level L      error, warn, info or debug\n"
            "  --group G          open the socket to group G (mode 0660)\n"
            "  --model PATH|none  the GGUF model to load, or none\n"
            "  --set KEY=VALUE    set any config key (repeatable)\n"
            "  --dump-methods     print the syscall table as JSON and exit\n"
            "  --dump-errors      print the error table as JSON and exit\n"
            "  --version          print the version and exit\n"
            "Keys and their defaults are listed in docs/ARCHITECTURE.md (configuration).\n");
}

static int dump_methods(void)
{
    char err[256];
    json_t *out = json_array();

    if (kern__table_build(err, sizeof(err)) < 0) {
        fprintf(stderr, "aiosd: bad syscall table: %s\n", err);
        return 1;
    }
    for (size_t i = 0; i < kern__method_count(); i++) {
        const sys_method *m = kern__method_at(i);
        json_array_append_new(out, json_pack("{s:s,s:s,s:O,s:i,s:s,s:s}", "name", m->name, "help", m->help,
                                             "params", kern__method_schema(m), "flags", (int)m->flags, "result",
                                             m->result ? m->result : "", "errors", m->errors ? m->errors : ""));
    }
    json_dumpf(out, stdout, JSON_INDENT(1));
    putchar('\n');
    json_decref(out);
    kern__table_free();
    return 0;
}

static int dump_errors(void)
{
    json_t *out = json_array();

    for (int code = -1; code >= AIOS_ERRNO_LAST; code--)
        json_array_append_new(out, json_pack("{s:s,s:i,s:i,s:s}", "name", aios_errname(code), "code", code, "rpc",
                                             aios_rpc_code(code), "message", aios_strerror(code)));
    json_dumpf(out, stdout, JSON_INDENT(1));
    putchar('\n');
    json_decref(out);
    return 0;
}

/* Detach: fork once, the parent waits for the child's readiness message.
 * Returns 0 in the child, -1 on failure, and 1 + the exit status the
 * parent should end with. */
static int detach(int *ready_fd)
{
    int p[2];
    pid_t pid;
    char msg[512];
    ssize_t n;

    if (pipe2(p, O_CLOEXEC) < 0)
        return -1;
    pid = fork();
    if (pid < 0)
        return -1;
    if (pid > 0) {
        close(p[1]);
        n = read(p[0], msg, sizeof(msg) - 1);
        if (n > 0 && msg[0] == '+') {
            msg[n] = '\0';
            printf("%s\n", msg + 1);
            return 1;
        }
        if (n > 0) {
            msg[n] = '\0';
            fprintf(stderr, "aiosd: %s\n", msg + 1);
        } else {
            fprintf(stderr, "aiosd: failed to start (see the log)\n");
        }
        return 2;
    }
    close(p[0]);
    setsid();
    *ready_fd = p[1];
    return 0;
}

static void tell_parent(int fd, bool ok, const char *text)
{
    char msg[600];

    if (fd < 0)
        return;
    snprintf(msg, sizeof(msg), "%c%s", ok ? '+' : '-', text);
    if (write(fd, msg, strlen(msg)) < 0) {
        /* the parent went away; nothing to do */
    }
    close(fd);
}

int kern_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"socket", required_argument, NULL, 's'},  {"data", required_argument, NULL, 'd'},
        {"config", required_argument, NULL, 'c'},  {"foreground", no_argument, NULL, 'f'},
        {"log-level", required_argument, NULL, 'l'}, {"group", required_argument, NULL, 'g'},
        {"model", required_argument, NULL, 'm'},   {"set", required_argument, NULL, 'S'},
        {"dump-methods", no_argument, NULL, 'D'},  {"version", no_argument, NULL, 'V'},
        {"dump-errors", no_argument, NULL, 'E'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    bool foreground = false;
    char *config_path = NULL, *s, err[512];
    int opt, rc, ready_fd = -1, log_fd = -1;
    aios_log_level lvl;

    while ((opt = getopt_long(argc, argv, "fh", opts, NULL)) != -1) {
        switch (opt) {
        case 's': kern__config_set("socket", optarg, KERN_CFG_FLAG); break;
        case 'd': kern__config_set("data", optarg, KERN_CFG_FLAG); break;
        case 'c': config_path = strdup(optarg); break;
        case 'f': foreground = true; break;
        case 'l':
            if (aios_log_parse_level(optarg, &lvl) < 0) {
                fprintf(stderr, "aiosd: unknown log level '%s' (error, warn, info, debug)\n", optarg);
                return 2;
            }
            kern__config_set("log_level", optarg, KERN_CFG_FLAG);
            break;
        case 'g': kern__config_set("group", optarg, KERN_CFG_FLAG); break;
        case 'm': kern__config_set("model", optarg, KERN_CFG_FLAG); break;
        case 'S':
            s = strchr(optarg, '=');
            if (!s || s == optarg) {
                fprintf(stderr, "aiosd: --set needs KEY=VALUE, got '%s'\n", optarg);
                return 2;
            }
            *s = '\0';
            kern__config_set(optarg, s + 1, KERN_CFG_FLAG);
            break;
        case 'D': return dump_methods();
        case 'E': return dump_errors();
        case 'V': printf("aiosd %s (protocol %d)\n", AIOS_VERSION, AIOS_PROTOCOL_VERSION); return 0;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "aiosd: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if (!config_path)
        config_path = default_config();
    if (config_path && (rc = kern__config_load(config_path, err, sizeof(err))) < 0) {
        fprintf(stderr, "aiosd: %s\n", err);
        return 1;
    }
    kern__st.config_path = config_path;
    if ((s = default_socket()) != NULL) {
        kern__config_set("socket", s, KERN_CFG_DEFAULT);
        free(s);
    }
    if ((s = default_data()) != NULL) {
        kern__config_set("data", s, KERN_CFG_DEFAULT);
        free(s);
    }
    kern__st.socket_path = strdup(kern_config_str("socket", ""));
    kern__st.data_dir = strdup(kern_config_str("data", ""));
    kern__st.uid = getuid();
    apply_config();
    if ((rc = make_dirs(kern__st.data_dir, 0700)) < 0) {
        fprintf(stderr, "aiosd: cannot create data folder '%s': %s\n", kern__st.data_dir, aios_strerror(rc));
        return 1;
    }

    if (!foreground) {
        char *log_path = NULL;
        const char *lf = kern_config_str("log_file", NULL);

        if (lf)
            log_path = strdup(lf);
        else if (asprintf(&log_path, "%s/aiosd.log", kern__st.data_dir) < 0)
            log_path = NULL;
        log_fd = log_path ? open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600) : -1;
        if (log_fd < 0) {
            fprintf(stderr, "aiosd: cannot open log file '%s': %s\n", log_path ? log_path : "?", strerror(errno));
            return 1;
        }
        free(log_path);
        rc = detach(&ready_fd);
        if (rc < 0) {
            fprintf(stderr, "aiosd: cannot detach: %s\n", strerror(errno));
            return 1;
        }
        if (rc > 0)
            return rc - 1;   /* the parent: the child reported how it went */
        int devnull = open("/dev/null", O_RDWR);
        dup2(devnull, 0);
        dup2(log_fd, 1);
        dup2(log_fd, 2);
        if (devnull > 2)
            close(devnull);
        aios_log_set_fd(log_fd);
    }
    signal(SIGPIPE, SIG_IGN);

    kern__st.loop = uv_default_loop();
    kern__st.t_start_ns = kern__now_ns();
    atomic_init(&kern__st.stopping, false);
    AIOS_LOG(AIOS_LOG_INFO, "kernel", "aiosd %s starting (pid %d, data '%s')", AIOS_VERSION, (int)getpid(),
             kern__st.data_dir);
    if ((rc = kern__table_build(err, sizeof(err))) < 0) {
        AIOS_LOG(AIOS_LOG_ERROR, "kernel", "bad syscall table: %s", err);
        tell_parent(ready_fd, false, err);
        return 1;
    }
    if ((rc = kern__inbox_init()) < 0 || (rc = kern__server_start()) < 0) {
        snprintf(err, sizeof(err), "cannot serve '%s': %s (see the log)", kern__st.socket_path,
                 rc == AIOS_EBUSY ? "another aiosd is running" : aios_strerror(rc));
        tell_parent(ready_fd, false, err);
        return 1;
    }
    for (size_t i = 0; i < N_SUBSYS; i++) {
        const kern_subsys *sub = subsystems[i];
        uint64_t t0 = kern__now_ns();

        rc = sub->init ? sub->init() : 0;
        if (rc < 0 && !sub->optional) {
            AIOS_LOG(AIOS_LOG_ERROR, "kernel", "subsystem '%s' failed to start: %s", sub->name, aios_strerror(rc));
            snprintf(err, sizeof(err), "subsystem '%s' failed to start: %s (see the log)", sub->name,
                     aios_strerror(rc));
            tell_parent(ready_fd, false, err);
            for (size_t j = i; j-- > 0;)
                if (subsys_ok[j] && subsystems[j]->stop)
                    subsystems[j]->stop();
            kern__server_cleanup();
            return 1;
        }
        subsys_ok[i] = rc == 0;
        if (rc < 0)
            AIOS_LOG(AIOS_LOG_WARN, "kernel", "subsystem '%s' unavailable: %s", sub->name, aios_strerror(rc));
        else
            AIOS_LOG(AIOS_LOG_DEBUG, "kernel", "subsystem '%s' started in %.1f ms", sub->name,
                     (double)(kern__now_ns() - t0) / 1e6);
    }
    uv_signal_init(kern__st.loop, &sig_term);
    uv_signal_init(kern__st.loop, &sig_int);
    uv_signal_init(kern__st.loop, &sig_hup);
    uv_signal_start(&sig_term, on_signal, SIGTERM);
    uv_signal_start(&sig_int, on_signal, SIGINT);
    uv_signal_start(&sig_hup, on_signal, SIGHUP);
    AIOS_LOG(AIOS_LOG_INFO, "kernel", "listening on '%s' (%zu methods)", kern__st.socket_path, kern__method_count());
    snprintf(err, sizeof(err), "aiosd %s listening on %s (pid %d)", AIOS_VERSION, kern__st.socket_path,
             (int)getpid());
    tell_parent(ready_fd, true, err);

    uv_run(kern__st.loop, UV_RUN_DEFAULT);

    for (size_t i = N_SUBSYS; i-- > 0;)
        if (subsys_ok[i] && subsystems[i]->fini)
            subsystems[i]->fini();
    kern__server_cleanup();
    uv_walk(kern__st.loop, close_walk, NULL);
    uv_run(kern__st.loop, UV_RUN_DEFAULT);
    uv_loop_close(kern__st.loop);
    kern__proc_free_all();
    kern__confirm_free_all();
    kern__table_free();
    AIOS_LOG(AIOS_LOG_INFO, "kernel", "stopped");
    kern__config_free();
    free(kern__st.socket_path);
    free(kern__st.data_dir);
    free(config_path);
    return 0;
}

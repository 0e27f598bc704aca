/*
 * main.c - aios-exec, the outer process: policy in, sandbox up, exit out.
 *
 * Usage:
 *   aios-exec [--policy-fd N | --policy-file PATH] [--status-fd N] [--warm]
 *   aios-exec --probe
 *
 * The daemon spawns aios-exec with the tool's stdin/stdout/stderr as fds
 * 0-2, the policy pipe as fd 3 and the status pipe as fd 4.
 *
 * Policy pipe: one JSON object per line (sbx_policy_to_json keys).  Cold
 * mode reads one line and runs it.  Warm mode (--warm) reads the first line
 * as the sandbox's shape, builds everything, reports "ready", then reads a
 * second line with the call (argv, env, cwd, limits) and runs it.
 *
 * Status pipe, one JSON object per line:
 *   {"ev":"spawned","pid":P}      init's pid in the daemon's pid namespace
 *   {"ev":"ready"}                 warm only: built, waiting for the call
 *   {"ev":"layers","layers":{..},"detail":{..}}   just before the exec
 *   {"ev":"error","stage":S,"code":"E..","msg":M}  setup or exec failed
 *   {"ev":"exit","code":C | "signal":S, "timeout":b, "killed":b, "oom":b,
 *    "cpu_ms":..,"maxrss_kb":..,"wall_ms":..,"setup_failed":b}   last line
 *
 * This process stays outside the namespaces: it owns the cgroup folders,
 * enforces the wall-clock limit (the daemon keeps a backstop timer) and on
 * SIGTERM/SIGINT/SIGHUP kills the sandbox's init, which takes the whole pid
 * namespace with it.  Single-threaded.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "aios/error.h"
#include "sandbox/exec/exec_int.h"


static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Parse text as a policy update on top of x->pol (call_only: a warm call,
 * which may change only argv, env, cwd, limits and drain). */
int x_apply_json(xctx *x, const char *text, bool call_only)
{
    static const char *const call_keys[] = {"argv", "env", "cwd", "limits", "drain"};
    json_error_t jerr;
    json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    char field[64], msg[256];
    const char *key;
    json_t *v;
    int rc;

    if (!j)
        return x_error(x, "policy", AIOS_EINVAL, "policy is not json: %s", jerr.text);
    if (call_only && json_is_object(j)) {
        json_object_foreach(j, key, v) {
            size_t i;

            for (i = 0; i < sizeof(call_keys) / sizeof(call_keys[0]); i++)
                if (strcmp(key, call_keys[i]) == 0)
                    break;
            if (i == sizeof(call_keys) / sizeof(call_keys[0])) {
                json_decref(j);
                return x_error(x, "policy", AIOS_EINVAL,
                               "a warm call may not change '%s'", key);
            }
        }
    }
    rc = sbx_policy_update(&x->pol, j, field, sizeof(field), msg, sizeof(msg));
    json_decref(j);
    if (rc < 0)
        return x_error(x, "policy", rc, "%s%s%s", field, field[0] ? ": " : "", msg);
    if (!x->pol.argv && !(x->warm && !call_only))
        return x_error(x, "policy", AIOS_EINVAL, "policy has no argv");
    return 0;
}

/* Write the uid/gid maps of the child's user namespace. */
static int write_maps(xctx *x, pid_t pid)
{
    char path[64], map[64];
    int rc;

    if (!x->is_root) {
        snprintf(path, sizeof(path), "/proc/%d/setgroups", (int)pid);
        if ((rc = x_write_file(path, "deny")) < 0 && rc != -ENOENT)
            return x_error(x, "userns", AIOS_ESYS, "cannot write %s: %s", path, strerror(-rc));
    }
    snprintf(path, sizeof(path), "/proc/%d/uid_map", (int)pid);
    snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)x->pol.uid, (unsigned)x->host_uid);
    if ((rc = x_write_file(path, map)) < 0)
        return x_error(x, "userns", AIOS_ESYS, "cannot write uid_map: %s", strerror(-rc));
    snprintf(path, sizeof(path), "/proc/%d/gid_map", (int)pid);
    snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)x->pol.gid, (unsigned)x->host_gid);
    if ((rc = x_write_file(path, map)) < 0)
        return x_error(x, "userns", AIOS_ESYS, "cannot write gid_map: %s", strerror(-rc));
    return 0;
}

/* clone(2) without a new stack: returns twice, like fork. */
static pid_t clone_ns(unsigned long flags)
{
    return (pid_t)syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, NULL);
}

/*
 * Create init in its namespaces.  Falls back to no user namespace when
 * running as root and the policy allows it (then init is real root until
 * the tool drops to host_uid).
 */
static pid_t start_init(xctx *x)
{
    unsigned long base = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS;
    pid_t pid;
    int rc;

    if (!x->pol.network)
        base |= CLONE_NEWNET;
    x->userns = true;
    pid = clone_ns(base | CLONE_NEWUSER);
    if (pid < 0 && x->is_root && (errno == EPERM || errno == EINVAL || errno == ENOSPC ||
                                  errno == EUSERS || errno == ENOSYS)) {
        int e = errno;

        if ((rc = x_layer(x, SBX_L_USERNS, SBX_ST_UNAVAILABLE, strerror(e))) < 0)
            return rc;
        x->userns = false;
        pid = clone_ns(base);
    }
    if (pid < 0) {
        int e = errno;

        return x_error(x, "namespaces", AIOS_ESANDBOX,
                       "cannot create the sandbox namespaces: %s", strerror(e));
    }
    if (pid == 0) {
        x_init_main(x);
    }
    if (x->userns)
        x->layers[SBX_L_USERNS] = SBX_ST_APPLIED;
    x->layers[SBX_L_PIDNS] = SBX_ST_APPLIED;
    x->layers[SBX_L_MNTNS] = SBX_ST_APPLIED;
    x->layers[SBX_L_IPCNS] = SBX_ST_APPLIED;
    x->layers[SBX_L_UTSNS] = SBX_ST_APPLIED;
    x->layers[SBX_L_NETNS] = x->pol.network ? SBX_ST_OFF : SBX_ST_APPLIED;
    return pid;
}

typedef struct outer_wait {
    xstatus st;          /* the tool's end, from init */
    bool have_status;
    bool reported;       /* the exit event was written */
    bool timeout;
    bool killed;
    bool ready;          /* warm: init reported ready */
    bool init_gone;
    bool started;        /* warm: init took the call (XM_STARTED) */
    uint64_t wall_ms;    /* warm: the call's wall-clock limit */
    int init_status;
    double t_start;
} outer_wait;

/* Write the exit event, unless init already did (see init.c: finish). */
static void report_exit(xctx *x, outer_wait *w)
{
    x_report_exit(x, w->have_status, &w->st, w->timeout, w->killed, now_ms() - w->t_start);
    w->reported = true;
}

/* Handle one message from init. */
static void on_back(xctx *x, outer_wait *w, bool *open)
{
    uint32_t type, len;
    void *data;

    if (x_recv(x->back_rd, &type, &data, &len) < 0) {
        *open = false;
        return;
    }
    if (type == XM_STATUS && len == sizeof(xstatus)) {
        memcpy(&w->st, data, sizeof(xstatus));
        w->have_status = true;
        x_mark(x, "status");
        /* init wrote the exit event itself, straight to the daemon */
        w->reported = true;
    } else if (type == XM_READY) {
        w->ready = true;
        x_event(x, json_pack("{s:s}", "ev", "ready"));
    } else if (type == XM_STARTED && len == sizeof(uint64_t)) {
        uint64_t wall;

        memcpy(&wall, data, sizeof(wall));
        w->t_start = now_ms();
        w->started = true;
        w->wall_ms = wall;
    }
    free(data);
}

/*
 * Wait for init: relay its messages, watch the deadline and the signals
 * that ask us to stop.  In warm mode also waits for "ready" and the call.
 */
static void wait_init(xctx *x, pid_t init, int sfd, outer_wait *w)
{
    double deadline = 0;
    bool back_open = true;

    if (!x->warm && x->pol.limits.wall_ms)
        deadline = w->t_start + (double)x->pol.limits.wall_ms;
    while (!w->init_gone) {
        struct pollfd pfd[2];
        int n = 0, timeout = -1, pr;
        int back_i = -1;

        pfd[n++] = (struct pollfd){.fd = sfd, .events = POLLIN};
        if (back_open) {
            back_i = n;
            pfd[n++] = (struct pollfd){.fd = x->back_rd, .events = POLLIN};
        }
        if (deadline > 0 && !w->have_status) {
            double left = deadline - now_ms();

            timeout = left <= 0 ? 0 : (int)left + 1;
        }
        pr = poll(pfd, (nfds_t)n, timeout);
        if (pr < 0 && errno != EINTR)
            break;
        if (pr == 0 && timeout >= 0 && now_ms() >= deadline) {
            w->timeout = true;
            kill(init, SIGKILL);
            deadline = 0;
            continue;
        }
        if (pr <= 0)
            continue;
        if (pfd[0].revents) {
            struct signalfd_siginfo si;

            while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
                if (si.ssi_signo == SIGCHLD) {
                    int st;

                    if (waitpid(init, &st, WNOHANG) == init) {
                        w->init_gone = true;
                        w->init_status = st;
                    }
                } else if (!w->killed && !w->have_status) {
                    w->killed = true;
                    kill(init, SIGKILL);
                }
            }
        }
        if (back_i >= 0 && (pfd[back_i].revents & (POLLIN | POLLHUP))) {
            bool was_started = w->started;

            on_back(x, w, &back_open);
            if (!was_started && w->started && w->wall_ms)
                deadline = w->t_start + (double)w->wall_ms;
        }
    }
    if (!w->init_gone) {
        kill(init, SIGKILL);
        waitpid(init, &w->init_status, 0);
        w->init_gone = true;
    }
    /* init is gone: its last message may still sit in the pipe */
    while (back_open && !w->have_status)
        on_back(x, w, &back_open);
    if (!w->reported)
        report_exit(x, w);
}

/*
 * After the maps: compile seccomp and join the cgroup while init builds the
 * root, then hand both results to init.
 */
static int setup_for_init(xctx *x, pid_t init)
{
    xsetup h;
    char *buf;
    size_t n;
    int rc;

    if (x_seccomp_build(x) < 0)
        return AIOS_ESANDBOX;
    x_mark(x, "seccomp-built");
    if ((rc = x_cgroup_attach(x, init)) < 0)
        return rc;
    x_mark(x, "attached");
    memset(&h, 0, sizeof(h));
    h.cgroup_state = x->layers[SBX_L_CGROUP];
    h.seccomp_state = x->layers[SBX_L_SECCOMP];
    h.main_len = x->bpf_main_len;
    h.tty_len = x->bpf_tty_len;
    n = sizeof(h) + h.main_len + h.tty_len;
    buf = malloc(n);
    if (!buf)
        return AIOS_ENOMEM;
    memcpy(buf, &h, sizeof(h));
    if (h.main_len)
        memcpy(buf + sizeof(h), x->bpf_main, h.main_len);
    if (h.tty_len)
        memcpy(buf + sizeof(h) + h.main_len, x->bpf_tty, h.tty_len);
    rc = x_send(x->sync_wr, XM_SETUP, buf, (uint32_t)n);
    free(buf);
    return rc < 0 ? x_error(x, "setup", AIOS_ESYS, "init vanished during setup") : 0;
}

/* --probe: what this machine offers, as one JSON line on stdout. */
static int probe(void)
{
    xctx x;
    json_t *j;
    char *s;

    memset(&x, 0, sizeof(x));
    x.status_fd = -1;
    x.ll_fd = -1;
    x.cg.fd_oom = x.cg.fd_mem_peak = x.cg.fd_pids_peak = -1;
    sbx_policy_init(&x.pol);
    x.pol.require = 0;
    x.is_root = geteuid() == 0;
    x.host_uid = getuid();
    x.host_gid = getgid();
    x_cgroup_prepare(&x);
    j = json_pack("{s:s,s:i,s:b}", "mode", x.is_root ? "root" : "user", "cgroup",
                  x.cg.version, "cgroup_ok", x.layers[SBX_L_CGROUP] == SBX_ST_APPLIED);
    x_cgroup_finish(&x);
    json_object_set_new(j, "landlock_abi",
                        json_integer(syscall(SYS_landlock_create_ruleset, NULL, 0, 1u)));
    s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (s)
        printf("%s\n", s);
    free(s);
    sbx_policy_clear(&x.pol);
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: aios-exec [--policy-fd N | --policy-file PATH] [--status-fd N] "
                    "[--warm]\n       aios-exec --probe\n");
}

int main(int argc, char **argv)
{
    xctx x;
    char *line = NULL;
    const char *policy_file = NULL;
    int pipes[2][2] = {{-1, -1}, {-1, -1}};
    sigset_t mask;
    int sfd = -1, rc, code = X_EXIT_SETUP, devnull;
    pid_t init;
    outer_wait w;

    memset(&x, 0, sizeof(x));
    memset(&w, 0, sizeof(w));
    x.cg.fd_oom = x.cg.fd_mem_peak = x.cg.fd_pids_peak = -1;
    x.status_fd = -1;
    x.policy_fd = 3;
    x.ll_fd = -1;
    sbx_policy_init(&x.pol);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--policy-fd") == 0 && i + 1 < argc) {
            x.policy_fd = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--policy-file") == 0 && i + 1 < argc) {
            policy_file = argv[++i];
        } else if (strcmp(argv[i], "--status-fd") == 0 && i + 1 < argc) {
            x.status_fd = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--timing") == 0) {
            x.timing = true;
        } else if (strcmp(argv[i], "--warm") == 0) {
            x.warm = true;
        } else if (strcmp(argv[i], "--probe") == 0) {
            return probe();
        } else {
            usage();
            return 2;
        }
    }
    if (x.status_fd >= 0)
        fcntl(x.status_fd, F_SETFD, FD_CLOEXEC);
    signal(SIGPIPE, SIG_IGN);
    x.is_root = geteuid() == 0;

    /* the policy */
    if (policy_file) {
        x.policy_fd = open(policy_file, O_RDONLY | O_CLOEXEC);
        if (x.policy_fd < 0) {
            x_error(&x, "policy", AIOS_ENOENT, "cannot open '%s': %s", policy_file,
                    strerror(errno));
            goto out;
        }
    }
    fcntl(x.policy_fd, F_SETFD, FD_CLOEXEC);
    if ((rc = x_read_line(x.policy_fd, &line)) < 0) {
        x_error(&x, "policy", rc, "cannot read the policy: %s", aios_strerror(rc));
        goto out;
    }
    if (x_apply_json(&x, line, false) < 0)
        goto out;
    if (x.pol.network)
        x.pol.require &= ~(1u << SBX_L_NETNS);
    if (x.is_root) {
        x.host_uid = x.pol.host_uid ? x.pol.host_uid : 0x40000u + (unsigned)getpid() % 0x10000u;
        x.host_gid = x.pol.host_gid ? x.pol.host_gid : x.host_uid;
        setgroups(0, NULL);
    } else {
        x.host_uid = getuid();
        x.host_gid = getgid();
    }

    /* signals: handled synchronously through a signalfd */
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sfd < 0) {
        x_error(&x, "setup", AIOS_ESYS, "signalfd: %s", strerror(errno));
        goto out;
    }

    x_mark(&x, "outer-start");
    if (x_cgroup_prepare(&x) < 0)
        goto out;
    x_mark(&x, "cgroup-made");
    if (pipe2(pipes[0], O_CLOEXEC) < 0 || pipe2(pipes[1], O_CLOEXEC) < 0) {
        x_error(&x, "setup", AIOS_ESYS, "pipe: %s", strerror(errno));
        goto out_cgroup;
    }
    x.sync_rd = pipes[0][0];
    x.sync_wr = pipes[0][1];
    x.back_rd = pipes[1][0];
    x.back_wr = pipes[1][1];

    w.t_start = now_ms();
    init = start_init(&x);
    if (init < 0)
        goto out_cgroup;
    close(x.sync_rd);
    close(x.back_wr);
    close(x.policy_fd);  /* warm: init reads the call itself */
    x_mark(&x, "cloned");
    if ((x.userns && write_maps(&x, init) < 0) ||
        x_send(x.sync_wr, XM_GO, x.layers, sizeof(x.layers)) < 0 ||
        setup_for_init(&x, init) < 0) {
        kill(init, SIGKILL);
        waitpid(init, NULL, 0);
        goto out_cgroup;
    }
    x_event(&x, json_pack("{s:s,s:i}", "ev", "spawned", "pid", (int)init));
    /* the tool's stdio belongs to init and the tool now */
    devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    for (int fd = 0; fd <= 2 && devnull >= 0; fd++)
        dup2(devnull, fd);
    if (devnull > 2)
        close(devnull);

    wait_init(&x, init, sfd, &w);
    x_mark(&x, "init-reaped");
    if (w.have_status && WIFEXITED(w.st.wstatus))
        code = WEXITSTATUS(w.st.wstatus);
    else if (w.have_status && WIFSIGNALED(w.st.wstatus))
        code = 128 + WTERMSIG(w.st.wstatus);
    else if (w.timeout || w.killed)
        code = 128 + SIGKILL;

out_cgroup:
    x_cgroup_finish(&x);
out:
    free(line);
    free(x.bpf_main);
    free(x.bpf_tty);
    sbx_policy_clear(&x.pol);
    return code;
}

/*
 * init.c - pid 1 of the sandbox's pid namespace.
 *
 * Builds what every tool process in the sandbox shares (host name, cgroup
 * namespace, nested user namespaces off, the new root, the Landlock
 * ruleset), forks the tool, then only reaps: orphans of the tool are
 * re-parented here and collected.  When the tool's main process ends, init
 * tells the outer process its wait status and exits, and the kernel kills
 * whatever else is left in the namespace: nothing outlives the call.
 *
 * Init itself drops every capability and becomes non-dumpable once the tool
 * is forked, so the tool (same uid) cannot reach it through /proc either.
 * Single-threaded; runs in the new namespaces.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
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

/* Set the capability sets of this process: effective = permitted (raise)
 * or all three empty (drop). */
static int caps_set(bool raise)
{
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];

    if (syscall(SYS_capget, &h, d) < 0)
        return -errno;
    for (int i = 0; i < 2; i++) {
        if (raise) {
            d[i].effective = d[i].permitted;
        } else {
            d[i].effective = d[i].permitted = d[i].inheritable = 0;
        }
    }
    return syscall(SYS_capset, &h, d) < 0 ? -errno : 0;
}

/* Become the tool's uid/gid inside the user namespace, keeping the
 * namespace capabilities for the setup that follows. */
static int become_tool_ids(xctx *x)
{
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
        return x_error(x, "userns", AIOS_ESYS, "keepcaps: %s", strerror(errno));
    if (x->is_root && setgroups(0, NULL) < 0)
        return x_error(x, "userns", AIOS_ESYS, "setgroups: %s", strerror(errno));
    if (setresgid(x->pol.gid, x->pol.gid, x->pol.gid) < 0 ||
        setresuid(x->pol.uid, x->pol.uid, x->pol.uid) < 0)
        return x_error(x, "userns", AIOS_ESYS, "cannot switch to uid %u: %s",
                       (unsigned)x->pol.uid, strerror(errno));
    if (caps_set(true) < 0)
        return x_error(x, "userns", AIOS_ESYS, "cannot raise capabilities: %s",
                       strerror(errno));
    return 0;
}

/* The namespace-wide layers: cgroupns, host name, nested userns. */
static int shared_layers(xctx *x)
{
    const char *host = x->pol.hostname ? x->pol.hostname : "sandbox";
    int rc;

    if (unshare(CLONE_NEWCGROUP) == 0)
        rc = x_layer(x, SBX_L_CGROUPNS, SBX_ST_APPLIED, NULL);
    else
        rc = x_layer(x, SBX_L_CGROUPNS,
                     errno == EINVAL ? SBX_ST_UNAVAILABLE : SBX_ST_FAILED, strerror(errno));
    if (rc < 0)
        return rc;
    if (sethostname(host, strlen(host)) < 0 || setdomainname("none", 4) < 0) {
        if ((rc = x_layer(x, SBX_L_UTSNS, SBX_ST_FAILED, strerror(errno))) < 0)
            return rc;
    }
    /* The limit is per user namespace: 0 here stops the tool (and anything
     * it starts) from creating user namespaces.  Without our own user
     * namespace this would change the host's limit, so only seccomp
     * guards that case. */
    if (!x->userns) {
        rc = x_layer(x, SBX_L_NOUSERNS, SBX_ST_UNAVAILABLE, "no user namespace of our own");
    } else {
        int w = x_write_file("/proc/sys/user/max_user_namespaces", "0");

        if (w == 0)
            rc = x_layer(x, SBX_L_NOUSERNS, SBX_ST_APPLIED, NULL);
        else
            rc = x_layer(x, SBX_L_NOUSERNS, w == -ENOENT ? SBX_ST_UNAVAILABLE : SBX_ST_FAILED,
                         strerror(-w));
    }
    return rc;
}

/* Take the cgroup state and the compiled seccomp filters from the outer
 * process (it prepared them while we built the root). */
static int take_setup(xctx *x)
{
    uint32_t type, len;
    void *data;
    xsetup h;
    int rc;

    if ((rc = x_recv(x->sync_rd, &type, &data, &len)) < 0)
        return rc;
    if (type != XM_SETUP || len < sizeof(h)) {
        free(data);
        return AIOS_EPROTO;
    }
    memcpy(&h, data, sizeof(h));
    if ((uint64_t)sizeof(h) + h.main_len + h.tty_len != len) {
        free(data);
        return AIOS_EPROTO;
    }
    x->layers[SBX_L_CGROUP] = h.cgroup_state;
    x->layers[SBX_L_SECCOMP] = h.seccomp_state;
    x->bpf_main = h.main_len ? malloc(h.main_len) : NULL;
    x->bpf_tty = h.tty_len ? malloc(h.tty_len) : NULL;
    if ((h.main_len && !x->bpf_main) || (h.tty_len && !x->bpf_tty)) {
        free(data);
        return AIOS_ENOMEM;
    }
    memcpy(x->bpf_main, (char *)data + sizeof(h), h.main_len);
    memcpy(x->bpf_tty, (char *)data + sizeof(h) + h.main_len, h.tty_len);
    x->bpf_main_len = h.main_len;
    x->bpf_tty_len = h.tty_len;
    free(data);
    return 0;
}

/*
 * The tool's main process ended: kill every other process of the sandbox,
 * reap them all, write the exit event straight to the daemon (the cgroup's
 * OOM count comes from files opened before pivot_root), tell the outer
 * process, leave.  Reporting here rather than through the outer process
 * takes one process wake-up off every call's path.
 */
static void finish(xctx *x, int wstatus, double t_call)
{
    xstatus st;
    struct rusage ru;

    kill(-1, SIGKILL);
    while (waitpid(-1, NULL, __WALL) > 0 || errno == EINTR)
        ;
    memset(&st, 0, sizeof(st));
    st.wstatus = wstatus;
    if (getrusage(RUSAGE_CHILDREN, &ru) == 0) {
        st.utime_us = ru.ru_utime.tv_sec * 1000000L + ru.ru_utime.tv_usec;
        st.stime_us = ru.ru_stime.tv_sec * 1000000L + ru.ru_stime.tv_usec;
        st.maxrss_kb = ru.ru_maxrss;
    }
    x_report_exit(x, true, &st, false, false, now_ms() - t_call);
    x_send(x->back_wr, XM_STATUS, &st, sizeof(st));
    _exit(0);
}

void x_init_main(xctx *x)
{
    uint32_t type, len;
    void *data = NULL;
    int devnull, st;
    pid_t tool, pid;
    double t_fork;

    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    close(x->sync_wr);
    close(x->back_rd);
    if (x_recv(x->sync_rd, &type, &data, &len) < 0 || type != XM_GO)
        _exit(X_EXIT_SETUP);
    if (len == sizeof(x->layers))
        memcpy(x->layers, data, len);
    free(data);

    x_mark(x, "init-go");
    if (x->userns && become_tool_ids(x) < 0)
        _exit(X_EXIT_SETUP);
    if (shared_layers(x) < 0)
        _exit(X_EXIT_SETUP);
    x_mark(x, "init-shared");
    if (x_fs_build(x) < 0)
        _exit(X_EXIT_SETUP);
    x_mark(x, "init-root");
    if (x_landlock_prepare(x) < 0)
        _exit(X_EXIT_SETUP);
    x_mark(x, "init-landlock");
    if (take_setup(x) < 0)
        _exit(X_EXIT_SETUP);
    x_mark(x, "init-setup");

    t_fork = now_ms();
    tool = fork();
    if (tool < 0) {
        x_error(x, "init", AIOS_ESYS, "fork: %s", strerror(errno));
        _exit(X_EXIT_SETUP);
    }
    if (tool == 0) {
        close(x->sync_rd);
        if (!x->warm) {
            /* warm: the tool process reads the call itself and says ready
             * and started; both descriptors close at its exec */
            close(x->back_wr);
            close(x->policy_fd);
        }
        x_tool_main(x);
    }

    /* init from here on: the tool's ids, no privilege, nothing open but the
     * back pipe (so it can still kill the tree: same uid) */
    if (x->ll_fd >= 0)
        close(x->ll_fd);
    close(x->sync_rd);
    close(x->policy_fd);
    /* the status pipe stays open: init writes the exit event (finish) */
    if (!x->userns) {
        setgroups(0, NULL);
        if (setresgid(x->host_gid, x->host_gid, x->host_gid) < 0 ||
            setresuid(x->host_uid, x->host_uid, x->host_uid) < 0) {
            kill(tool, SIGKILL);
            _exit(X_EXIT_SETUP);
        }
    }
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    for (int c = 0; c <= CAP_LAST_CAP; c++)
        prctl(PR_CAPBSET_DROP, c, 0, 0, 0);
    caps_set(false);
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    for (int fd = 0; fd <= 2 && devnull >= 0; fd++)
        dup2(devnull, fd);
    if (devnull > 2)
        close(devnull);

    for (;;) {
        pid = waitpid(-1, &st, __WALL);
        if (pid < 0 && errno == EINTR)
            continue;
        if (pid < 0)
            _exit(X_EXIT_SETUP);
        if (pid == tool)
            finish(x, st, t_fork);
    }
}

/*
 * confine.c - the tool process: the per-process layers, then exec.
 *
 * Order: new session (no controlling terminal) -> every descriptor but
 * 0/1/2 closed at exec -> signals reset -> environment from the policy
 * only -> working directory -> rlimits -> securebits, bounding set, ids,
 * capabilities, ambient set -> no_new_privs -> Landlock -> seccomp -> the
 * layer report -> execve.  Every step records its layer state; a required
 * layer that does not hold ends the process before the tool runs.
 * Runs in the forked child of init; never returns.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "aios/error.h"
#include "sandbox/exec/exec_int.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1u << 2)
#endif

/* Mark every descriptor from 3 up close-on-exec (the status pipe must stay
 * usable until the exec, so nothing is closed now). */
static int fds_cloexec(void)
{
    if (syscall(SYS_close_range, 3u, ~0u, CLOSE_RANGE_CLOEXEC) == 0)
        return 0;
    /* older kernels: walk the open descriptors */
    for (int fd = 3; fd < 65536; fd++) {
        int fl = fcntl(fd, F_GETFD);

        if (fl >= 0)
            fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
    }
    return 0;
}

/* One rlimit row: which resource, which policy field, how to scale it. */
typedef struct {
    int res;
    size_t off;      /* offset in sbx_limits, or SIZE_MAX for a constant */
    uint64_t value;  /* constant when off == SIZE_MAX */
    uint64_t div;    /* divide the policy value by this (ms -> s) */
    uint64_t slack;  /* hard limit = soft + slack */
} rlim_row;

#define LOFF(f) offsetof(sbx_limits, f)
static const rlim_row rlim_rows[] = {
    {RLIMIT_CORE, SIZE_MAX, 0, 1, 0},
    {RLIMIT_AS, LOFF(as_bytes), 0, 1, 0},
    {RLIMIT_CPU, LOFF(cpu_ms), 0, 1000, 1},
    {RLIMIT_FSIZE, LOFF(fsize_bytes), 0, 1, 0},
    {RLIMIT_NOFILE, LOFF(nofile), 0, 1, 0},
    {RLIMIT_NPROC, LOFF(nproc), 0, 1, 0},
};
#undef LOFF

static int apply_rlimits(xctx *x)
{
    for (size_t i = 0; i < sizeof(rlim_rows) / sizeof(rlim_rows[0]); i++) {
        const rlim_row *r = &rlim_rows[i];
        uint64_t v = r->off == SIZE_MAX
                         ? r->value
                         : *(const uint64_t *)((const char *)&x->pol.limits + r->off);
        struct rlimit rl;

        if (r->off != SIZE_MAX && v == 0)
            continue;  /* no limit asked */
        if (r->div > 1)
            v = (v + r->div - 1) / r->div;  /* round up: 1500 ms -> 2 s */
        rl.rlim_cur = (rlim_t)v;
        rl.rlim_max = (rlim_t)(v + r->slack);
        if (setrlimit(r->res, &rl) < 0)
            return x_layer(x, SBX_L_RLIMITS, SBX_ST_FAILED, strerror(errno));
    }
    return x_layer(x, SBX_L_RLIMITS, SBX_ST_APPLIED, NULL);
}

/* Drop every capability for good: lock the securebits so no uid 0 exec can
 * regain any, empty the bounding and ambient sets, become the tool's ids,
 * clear the three sets, then verify. */
static int drop_caps(xctx *x)
{
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];
    unsigned long bits = SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
                         SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED;
    uid_t uid = x->userns ? x->pol.uid : x->host_uid;
    gid_t gid = x->userns ? x->pol.gid : x->host_gid;
    const char *step = "securebits";

#ifdef SECBIT_NO_CAP_AMBIENT_RAISE
    bits |= SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
#endif
    if (prctl(PR_SET_SECUREBITS, bits, 0, 0, 0) < 0)
        goto out_fail;
    step = "bounding set";
    for (int c = 0; c <= CAP_LAST_CAP; c++)
        if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
            goto out_fail;
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    step = "ids";
    if (!x->userns && setgroups(0, NULL) < 0)
        goto out_fail;
    if (setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
        goto out_fail;
    step = "capset";
    memset(d, 0, sizeof(d));
    if (syscall(SYS_capset, &h, d) < 0)
        goto out_fail;
    step = "verify";
    if (syscall(SYS_capget, &h, d) < 0 || d[0].effective || d[0].permitted ||
        d[0].inheritable || d[1].effective || d[1].permitted || d[1].inheritable)
        goto out_fail;
    for (int c = 0; c <= CAP_LAST_CAP; c++)
        if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) == 1)
            goto out_fail;
    if (getuid() != uid || geteuid() != uid || getgid() != gid)
        goto out_fail;
    return x_layer(x, SBX_L_CAPS, SBX_ST_APPLIED, NULL);
out_fail:
    {
        char why[128];

        snprintf(why, sizeof(why), "%s: %s", step, strerror(errno));
        return x_layer(x, SBX_L_CAPS, SBX_ST_FAILED, why);
    }
}

/* The value of NAME in the policy's environment, or NULL. */
static const char *pol_getenv(const xctx *x, const char *name)
{
    size_t n = strlen(name);

    for (size_t i = 0; i < x->pol.envc; i++)
        if (strncmp(x->pol.env[i], name, n) == 0 && x->pol.env[i][n] == '=')
            return x->pol.env[i] + n + 1;
    return NULL;
}

/* argv[0] with a slash is used as is; otherwise searched on the policy's
 * PATH (not ours). */
static int find_program(xctx *x, char *out, size_t len)
{
    const char *name = x->pol.argv[0];
    const char *path = pol_getenv(x, "PATH");
    const char *p;

    if (strchr(name, '/')) {
        snprintf(out, len, "%s", name);
        return 0;
    }
    if (!path)
        path = "/usr/local/bin:/usr/bin:/bin";
    for (p = path; *p;) {
        const char *e = strchr(p, ':');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        struct stat st;

        if (n && snprintf(out, len, "%.*s/%s", (int)n, p, name) < (int)len &&
            stat(out, &st) == 0 && S_ISREG(st.st_mode) && access(out, X_OK) == 0)
            return 0;
        p += n;
        if (*p == ':')
            p++;
    }
    return AIOS_ENOENT;
}

/*
 * Warm mode, after every layer is in place: say ready, take the call from
 * the policy pipe, tell the outer process the call's wall-clock limit.
 * Everything here is allowed by the seccomp filter (read, write, memory).
 */
static int warm_call(xctx *x)
{
    char *line = NULL;
    uint64_t wall;
    int rc;

    if (x_send(x->back_wr, XM_READY, NULL, 0) < 0)
        return AIOS_ECLOSED;
    if ((rc = x_read_line(x->policy_fd, &line)) < 0)
        return rc;
    x_mark(x, "tool-call");
    rc = x_apply_json(x, line, true);
    free(line);
    if (rc < 0)
        return rc;
    wall = x->pol.limits.wall_ms;
    return x_send(x->back_wr, XM_STARTED, &wall, sizeof(wall));
}

/* The working directory and the program's path; exits when either is
 * missing (the tool cannot run, the sandbox is fine). */
static void locate(xctx *x, char *prog, size_t len)
{
    if (chdir(x->pol.cwd ? x->pol.cwd : "/work") < 0) {
        x_error(x, "exec", AIOS_ENOENT, "cannot enter '%s': %s",
                x->pol.cwd ? x->pol.cwd : "/work", strerror(errno));
        _exit(X_EXIT_NOEXEC);
    }
    if (find_program(x, prog, len) < 0) {
        x_error(x, "exec", AIOS_ENOENT, "no program '%s' in the sandbox", x->pol.argv[0]);
        _exit(X_EXIT_NOEXEC);
    }
}

/*
 * Cold: the call is known from the start and the layers go on in the
 * documented order.  Warm: this process is forked when the sandbox is
 * built and confines itself completely (ids, capabilities, no_new_privs,
 * Landlock, seccomp) before the call exists; the call then only adds its
 * rlimits, environment and working directory before the exec, so nothing
 * but the exec is left on the call's path.
 */
void x_tool_main(xctx *x)
{
    static char *const empty_env[] = {NULL};
    char prog[4096];
    int rc, e;

    x_mark(x, "tool-start");
    x_reset_signals();
    if (setsid() < 0) {
        if (x_layer(x, SBX_L_SESSION, SBX_ST_FAILED, strerror(errno)) < 0)
            _exit(X_EXIT_SETUP);
    } else {
        x->layers[SBX_L_SESSION] = SBX_ST_APPLIED;
    }
    fds_cloexec();
    x->layers[SBX_L_FDS] = SBX_ST_APPLIED;
    x->layers[SBX_L_ENV] = SBX_ST_APPLIED;  /* execve gets the policy's env only */

    if (!x->warm) {
        locate(x, prog, sizeof(prog));
        if (apply_rlimits(x) < 0)
            _exit(X_EXIT_SETUP);
    }
    /* cgroup: state decided by the outer process */
    if (drop_caps(x) < 0)
        _exit(X_EXIT_SETUP);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
        rc = x_layer(x, SBX_L_NNP, SBX_ST_FAILED, strerror(errno));
    else
        rc = x_layer(x, SBX_L_NNP, SBX_ST_APPLIED, NULL);
    if (rc < 0)
        _exit(X_EXIT_SETUP);
    if (x_landlock_apply(x) < 0)
        _exit(X_EXIT_SETUP);
    x_mark(x, "tool-confined");
    if (x_seccomp_apply(x) < 0)
        _exit(X_EXIT_SETUP);
    x_mark(x, "tool-seccomp");
    if (x->warm) {
        if (warm_call(x) < 0)
            _exit(X_EXIT_SETUP);
        locate(x, prog, sizeof(prog));
        if (apply_rlimits(x) < 0)
            _exit(X_EXIT_SETUP);
    }

    x_report_layers(x);
    execve(prog, x->pol.argv, x->pol.env ? x->pol.env : empty_env);
    e = errno;
    x_error(x, "exec", e == ENOENT ? AIOS_ENOENT : AIOS_EPERM, "cannot execute '%s': %s", prog,
            strerror(e));
    _exit(X_EXIT_NOEXEC);
}

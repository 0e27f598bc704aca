/*
 * cgroup.c - the cgroup layer: memory (swap excluded), pids and cpu limits
 * for the whole sandbox, when the machine offers a usable hierarchy.
 *
 * Tried in order: cgroup v2 (a folder whose cgroup.subtree_control enables
 * memory and pids: our own cgroup, or policy.cgroup_parent), then the v1
 * memory, pids and cpu hierarchies.  A folder "aios-sbx-<pid>" is created
 * under each, limits are written, init is moved in before it starts, and at
 * the end anything left is killed, the OOM count read and the folders
 * removed.  Writing these folders normally needs root (or a delegated v2
 * subtree); otherwise the layer is "unavailable".
 * Runs in the outer process; owns the folders in x->cg.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "aios/error.h"
#include "sandbox/exec/exec_int.h"

/* v1 controllers we use, in x->cg.dirs order. */
static const char *const v1_ctrls[] = {"memory", "pids", "cpu"};
enum { CG_MEM = 0, CG_PIDS = 1, CG_CPU = 2 };

static int read_small(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "re");
    size_t n;

    if (!f)
        return -errno;
    n = fread(buf, 1, len - 1, f);
    buf[n] = '\0';
    fclose(f);
    return (int)n;
}

/* Does the comma-separated list contain word? */
static bool has_word(const char *list, const char *word, char sep)
{
    size_t n = strlen(word);

    for (const char *p = list; p && *p;) {
        const char *e = strchr(p, sep);
        size_t l = e ? (size_t)(e - p) : strcspn(p, "\n");

        if (l == n && strncmp(p, word, n) == 0)
            return true;
        p = e ? e + 1 : NULL;
    }
    return false;
}

/*
 * Find the mount point and mount root of a hierarchy in mountinfo: fstype
 * "cgroup2" (ctrl NULL) or "cgroup" with ctrl in its super options.
 */
static bool find_mount(const char *ctrl, char *mnt, size_t mlen, char *root, size_t rlen)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    char line[4096];
    bool found = false;

    if (!f)
        return false;
    while (!found && fgets(line, sizeof(line), f)) {
        char r[1024], m[1024], fstype[64], opts[1024];
        char *dash = strstr(line, " - ");

        if (!dash || sscanf(line, "%*s %*s %*s %1023s %1023s", r, m) != 2 ||
            sscanf(dash + 3, "%63s %*s %1023s", fstype, opts) != 2)
            continue;
        if (ctrl ? (strcmp(fstype, "cgroup") == 0 && has_word(opts, ctrl, ','))
                 : strcmp(fstype, "cgroup2") == 0) {
            snprintf(mnt, mlen, "%s", m);
            snprintf(root, rlen, "%s", r);
            found = true;
        }
    }
    fclose(f);
    return found;
}

/* Our cgroup path in a hierarchy from /proc/self/cgroup ("" for v2's "0::"). */
static bool own_path(const char *ctrl, char *out, size_t len)
{
    FILE *f = fopen("/proc/self/cgroup", "re");
    char line[4096];
    bool found = false;

    if (!f)
        return false;
    while (!found && fgets(line, sizeof(line), f)) {
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;

        if (!c2)
            continue;
        *c2 = '\0';
        if (ctrl ? has_word(c1 + 1, ctrl, ',') : (c1[1] == '\0' && strncmp(line, "0", 1) == 0)) {
            snprintf(out, len, "%s", c2 + 1);
            out[strcspn(out, "\n")] = '\0';
            found = true;
        }
    }
    fclose(f);
    return found;
}

/* The folder to create the sandbox's cgroup in, for one hierarchy. */
static bool base_dir(xctx *x, const char *ctrl, char *out, size_t len)
{
    char mnt[1024], root[1024], own[1024];
    const char *rel;

    if (!find_mount(ctrl, mnt, sizeof(mnt), root, sizeof(root)))
        return false;
    if (x->pol.cgroup_parent) {
        rel = x->pol.cgroup_parent;
    } else {
        if (!own_path(ctrl, own, sizeof(own)))
            return false;
        rel = own;
        /* a mount of a sub-tree shows paths below its root */
        if (strcmp(root, "/") != 0 && strncmp(rel, root, strlen(root)) == 0)
            rel += strlen(root);
    }
    return snprintf(out, len, "%s%s", mnt, strcmp(rel, "/") == 0 ? "" : rel) < (int)len;
}

static int cg_write(const char *dir, const char *file, const char *val)
{
    char path[700];

    if (snprintf(path, sizeof(path), "%s/%s", dir, file) >= (int)sizeof(path))
        return -ENAMETOOLONG;
    return x_write_file(path, val);
}

static bool exists(const char *dir, const char *file)
{
    char path[700];

    if (snprintf(path, sizeof(path), "%s/%s", dir, file) >= (int)sizeof(path))
        return false;
    return access(path, F_OK) == 0;
}

static bool want_cgroup(const xctx *x)
{
    const sbx_limits *l = &x->pol.limits;

    return l->mem_bytes || l->pids || l->cpu_pct;
}

/* Create dir/aios-sbx-<pid> and remember it. */
static int make_dir(xctx *x, const char *base)
{
    char *d = x->cg.dirs[x->cg.n];

    if (snprintf(d, sizeof(x->cg.dirs[0]), "%s/aios-sbx-%d", base, (int)getpid()) >=
        (int)sizeof(x->cg.dirs[0]))
        return -ENAMETOOLONG;
    if (mkdir(d, 0755) < 0)
        return -errno;
    x->cg.n++;
    return 0;
}

static bool try_v2(xctx *x)
{
    char base[480], ctl[256], path[600];

    if (!base_dir(x, NULL, base, sizeof(base)))
        return false;
    if (snprintf(path, sizeof(path), "%s/cgroup.subtree_control", base) >= (int)sizeof(path) ||
        read_small(path, ctl, sizeof(ctl)) < 0)
        return false;
    if (!has_word(ctl, "memory", ' ') || !has_word(ctl, "pids", ' '))
        return false;
    if (make_dir(x, base) < 0)
        return false;
    x->cg.version = 2;
    return true;
}

static bool try_v1(xctx *x)
{
    for (size_t i = 0; i < sizeof(v1_ctrls) / sizeof(v1_ctrls[0]); i++) {
        char base[480];

        if (!base_dir(x, v1_ctrls[i], base, sizeof(base)) || make_dir(x, base) < 0) {
            /* all or nothing: undo what was made */
            for (int k = x->cg.n - 1; k >= 0; k--)
                rmdir(x->cg.dirs[k]);
            x->cg.n = 0;
            return false;
        }
    }
    x->cg.version = 1;
    return true;
}

int x_cgroup_limits(xctx *x)
{
    const sbx_limits *l = &x->pol.limits;
    char v[64];
    int rc = 0;

    if (x->cg.version == 2) {
        const char *d = x->cg.dirs[0];

        if (l->mem_bytes) {
            snprintf(v, sizeof(v), "%llu", (unsigned long long)l->mem_bytes);
            if ((rc = cg_write(d, "memory.max", v)) == 0 && exists(d, "memory.swap.max"))
                rc = cg_write(d, "memory.swap.max", "0");
        }
        if (rc == 0 && l->pids) {
            snprintf(v, sizeof(v), "%llu", (unsigned long long)l->pids);
            rc = cg_write(d, "pids.max", v);
        }
        if (rc == 0 && l->cpu_pct && exists(d, "cpu.max")) {
            snprintf(v, sizeof(v), "%llu 100000", (unsigned long long)l->cpu_pct * 1000);
            rc = cg_write(d, "cpu.max", v);
        }
    } else if (x->cg.version == 1) {
        if (l->mem_bytes) {
            snprintf(v, sizeof(v), "%llu", (unsigned long long)l->mem_bytes);
            rc = cg_write(x->cg.dirs[CG_MEM], "memory.limit_in_bytes", v);
            if (rc == 0 && exists(x->cg.dirs[CG_MEM], "memory.memsw.limit_in_bytes"))
                rc = cg_write(x->cg.dirs[CG_MEM], "memory.memsw.limit_in_bytes", v);
            else if (rc == 0)
                rc = cg_write(x->cg.dirs[CG_MEM], "memory.swappiness", "0");
        }
        if (rc == 0 && l->pids) {
            snprintf(v, sizeof(v), "%llu", (unsigned long long)l->pids);
            rc = cg_write(x->cg.dirs[CG_PIDS], "pids.max", v);
        }
        if (rc == 0 && l->cpu_pct) {
            snprintf(v, sizeof(v), "%llu", (unsigned long long)l->cpu_pct * 1000);
            if ((rc = cg_write(x->cg.dirs[CG_CPU], "cpu.cfs_period_us", "100000")) == 0)
                rc = cg_write(x->cg.dirs[CG_CPU], "cpu.cfs_quota_us", v);
        }
    }
    if (rc < 0)
        return x_layer(x, SBX_L_CGROUP, SBX_ST_FAILED, strerror(-rc)) < 0 ? AIOS_ESANDBOX : 0;
    return 0;
}

/* A number from an open cgroup file: the whole file, or the value after
 * "key " on one of its lines.  -1 when unreadable. */
static long long read_fd_num(int fd, const char *key)
{
    char buf[4096];
    ssize_t n;
    const char *p;

    if (fd < 0 || lseek(fd, 0, SEEK_SET) < 0 || (n = read(fd, buf, sizeof(buf) - 1)) <= 0)
        return -1;
    buf[n] = '\0';
    if (!key)
        return atoll(buf);
    for (p = buf; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        size_t kn = strlen(key);

        if (strncmp(p, key, kn) == 0 && p[kn] == ' ')
            return atoll(p + kn + 1);
    }
    return -1;
}

static int open_in(const char *dir, const char *file)
{
    char path[700];

    if (snprintf(path, sizeof(path), "%s/%s", dir, file) >= (int)sizeof(path))
        return -1;
    return open(path, O_RDONLY | O_CLOEXEC);
}

/* Open the files x_cgroup_stats reads, once, so that init (which loses the
 * host's file system at pivot_root) can still read them when the tool ends. */
static void open_stat_fds(xctx *x)
{
    const char *memdir = x->cg.version == 2 ? x->cg.dirs[0] : x->cg.dirs[CG_MEM];
    const char *pidsdir = x->cg.version == 2 ? x->cg.dirs[0] : x->cg.dirs[CG_PIDS];

    x->cg.fd_oom = open_in(memdir, x->cg.version == 2 ? "memory.events" : "memory.oom_control");
    x->cg.fd_mem_peak =
        open_in(memdir, x->cg.version == 2 ? "memory.peak" : "memory.max_usage_in_bytes");
    x->cg.fd_pids_peak = open_in(pidsdir, "pids.peak");
}

int x_cgroup_prepare(xctx *x)
{
    if (!want_cgroup(x))
        return x_layer(x, SBX_L_CGROUP, SBX_ST_OFF, NULL);
    if (!try_v2(x) && !try_v1(x))
        return x_layer(x, SBX_L_CGROUP, SBX_ST_UNAVAILABLE,
                       "no writable cgroup hierarchy with memory and pids controllers");
    if (x_cgroup_limits(x) < 0)
        return AIOS_ESANDBOX;
    if (x->layers[SBX_L_CGROUP] != SBX_ST_FAILED)
        x->layers[SBX_L_CGROUP] = SBX_ST_APPLIED;
    open_stat_fds(x);
    return 0;
}

int x_cgroup_attach(xctx *x, pid_t pid)
{
    char v[32];

    if (x->layers[SBX_L_CGROUP] != SBX_ST_APPLIED)
        return 0;
    snprintf(v, sizeof(v), "%d", (int)pid);
    for (int i = 0; i < x->cg.n; i++) {
        int rc = cg_write(x->cg.dirs[i], "cgroup.procs", v);

        if (rc < 0)
            return x_layer(x, SBX_L_CGROUP, SBX_ST_FAILED, strerror(-rc)) < 0 ? AIOS_ESANDBOX
                                                                              : 0;
    }
    return 0;
}

/* Kill every process listed in dir/cgroup.procs; true when none was left. */
static bool kill_listed(const char *dir)
{
    char path[700], buf[8192];
    bool empty = true;

    if (snprintf(path, sizeof(path), "%s/cgroup.procs", dir) >= (int)sizeof(path))
        return true;
    if (read_small(path, buf, sizeof(buf)) <= 0)
        return true;
    for (char *p = buf; *p;) {
        long pid = strtol(p, &p, 10);

        if (pid > 0) {
            kill((pid_t)pid, SIGKILL);
            empty = false;
        }
        while (*p == '\n')
            p++;
    }
    return empty;
}

bool x_cgroup_stats(xctx *x, json_t *detail)
{
    long long k;

    if (x->cg.n == 0)
        return false;
    k = read_fd_num(x->cg.fd_oom, "oom_kill");
    if (detail) {
        json_object_set_new(detail, "mem_peak", json_integer(read_fd_num(x->cg.fd_mem_peak, NULL)));
        json_object_set_new(detail, "pids_peak",
                            json_integer(read_fd_num(x->cg.fd_pids_peak, NULL)));
        json_object_set_new(detail, "oom_kill", json_integer(k));
    }
    return k > 0;
}

void x_cgroup_finish(xctx *x)
{
    struct timespec pause = {0, 2 * 1000 * 1000};

    if (x->cg.n == 0)
        return;
    if (x->cg.fd_oom >= 0)
        close(x->cg.fd_oom);
    if (x->cg.fd_mem_peak >= 0)
        close(x->cg.fd_mem_peak);
    if (x->cg.fd_pids_peak >= 0)
        close(x->cg.fd_pids_peak);
    x->cg.fd_oom = x->cg.fd_mem_peak = x->cg.fd_pids_peak = -1;
    if (x->cg.version == 2 && exists(x->cg.dirs[0], "cgroup.kill"))
        cg_write(x->cg.dirs[0], "cgroup.kill", "1");
    for (int tries = 0; tries < 500; tries++) {
        bool empty = true;

        for (int i = 0; i < x->cg.n; i++)
            empty &= kill_listed(x->cg.dirs[i]);
        if (empty)
            break;
        nanosleep(&pause, NULL);
    }
    for (int i = x->cg.n - 1; i >= 0; i--) {
        for (int tries = 0; tries < 200 && rmdir(x->cg.dirs[i]) < 0 && errno == EBUSY; tries++)
            nanosleep(&pause, NULL);
    }
    x->cg.n = 0;
}

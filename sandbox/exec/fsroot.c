/*
 * fsroot.c - the sandbox's file system: a fresh tmpfs root with read-only
 * binds of the system folders, a minimal /etc, a fresh /proc of the pid
 * namespace, a minimal /dev, a writable /work and /tmp; then pivot_root and
 * the root made read-only.
 *
 * Steps (init, in its new mount namespace):
 *   1. every mount private, so nothing propagates back to the host;
 *   2. a tmpfs on a scratch mount point, pivot_root into it with the old
 *      root kept at /oldroot (so host paths stay reachable while binding);
 *   3. binds from /oldroot/..., each remounted nosuid,nodev (read-only
 *      unless the policy asks for rw), keeping the flags the kernel locks;
 *   4. /proc, /dev, /work, /tmp, /dev/shm;
 *   5. /oldroot detached and removed, / remounted read-only.
 * Owns nothing after it returns.  Single-threaded (init).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "aios/error.h"
#include "sandbox/exec/exec_int.h"

#define OLD "/oldroot"

/* System folders bound read-only (or recreated as the same symlink). */
static const char *const sys_paths[] = {"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64",
                                        "/libx32"};

/* Files and folders of /etc that programs need to start and run. */
static const char *const etc_paths[] = {
    "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "nsswitch.conf",
    "alternatives", "mime.types", "ssl", "ca-certificates", "protocols", "services",
    "hosts", "host.conf", "gai.conf", "magic", "debian_version", "os-release"};

/* Only with network: name resolution. */
static const char *const etc_net_paths[] = {"resolv.conf"};

/* Device nodes bound from the host. */
static const char *const dev_nodes[] = {"null", "zero", "full", "random", "urandom"};

/* Symlinks in /dev. */
static const struct {
    const char *name, *target;
} dev_links[] = {
    {"fd", "/proc/self/fd"},
    {"stdin", "/proc/self/fd/0"},
    {"stdout", "/proc/self/fd/1"},
    {"stderr", "/proc/self/fd/2"},
};

/* The mount flags the kernel keeps locked on a bind in a user namespace
 * (and that a remount must therefore repeat). */
static unsigned long kept_flags(const char *path)
{
    struct statvfs s;
    unsigned long f = 0;

    if (statvfs(path, &s) < 0)
        return 0;
    if (s.f_flag & ST_NOSUID)
        f |= MS_NOSUID;
    if (s.f_flag & ST_NODEV)
        f |= MS_NODEV;
    if (s.f_flag & ST_NOEXEC)
        f |= MS_NOEXEC;
    if (s.f_flag & ST_NOATIME)
        f |= MS_NOATIME;
    if (s.f_flag & ST_NODIRATIME)
        f |= MS_NODIRATIME;
    if (s.f_flag & ST_RELATIME)
        f |= MS_RELATIME;
    if (s.f_flag & ST_RDONLY)
        f |= MS_RDONLY;
    return f;
}

/* mkdir -p inside the new root (mode 0755). */
static int mkdir_p(const char *path)
{
    char buf[PATH_MAX];
    size_t n = strlen(path);

    if (n >= sizeof(buf))
        return -ENAMETOOLONG;
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) < 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(buf, 0755) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

/* mkdir -p of the folder that will hold path. */
static int parent_p(const char *path)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');

    if (!slash || (size_t)(slash - path) >= sizeof(dir))
        return -EINVAL;
    if (slash == path)
        return 0;
    memcpy(dir, path, (size_t)(slash - path));
    dir[slash - path] = '\0';
    return mkdir_p(dir);
}

/* Create an empty file as a mount point (parents too). */
static int touch_p(const char *path)
{
    int fd, rc;

    if ((rc = parent_p(path)) < 0)
        return rc;
    fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    close(fd);
    return 0;
}

/*
 * Bind host path src (seen at /oldroot/src) onto dst in the new root.
 * follow_links: bind what a symlink points to; otherwise recreate the
 * symlink itself (system folders like /bin -> usr/bin).  extra: mount flags
 * for the remount (MS_RDONLY, MS_NOSUID, ...).  Missing sources are skipped
 * when optional.
 */
static int bind_one(xctx *x, const char *src, const char *dst, bool follow_links,
                    unsigned long extra, bool optional)
{
    char from[PATH_MAX];
    struct stat st;
    int rc;

    if (snprintf(from, sizeof(from), OLD "%s", src) >= (int)sizeof(from))
        return x_error(x, "root", AIOS_EINVAL, "path too long: '%s'", src);
    if ((follow_links ? stat(from, &st) : lstat(from, &st)) < 0) {
        if (optional && (errno == ENOENT || errno == ENOTDIR))
            return 0;
        return x_error(x, "root", AIOS_ENOENT, "cannot bind '%s': %s", src, strerror(errno));
    }
    if (S_ISLNK(st.st_mode)) {
        char target[PATH_MAX];
        ssize_t n = readlink(from, target, sizeof(target) - 1);

        if (n < 0)
            return x_error(x, "root", AIOS_ESYS, "readlink '%s': %s", src, strerror(errno));
        target[n] = '\0';
        if ((rc = parent_p(dst)) < 0)
            return x_error(x, "root", AIOS_ESYS, "mkdir for '%s': %s", dst, strerror(-rc));
        if (symlink(target, dst) < 0 && errno != EEXIST)
            return x_error(x, "root", AIOS_ESYS, "symlink '%s': %s", dst, strerror(errno));
        return 0;
    }
    rc = S_ISDIR(st.st_mode) ? mkdir_p(dst) : touch_p(dst);
    if (rc < 0)
        return x_error(x, "root", AIOS_ESYS, "cannot create mount point '%s': %s", dst,
                       strerror(-rc));
    if (mount(from, dst, NULL, MS_BIND, NULL) < 0)
        return x_error(x, "root", AIOS_ESYS, "cannot bind '%s': %s", src, strerror(errno));
    if (mount(NULL, dst, NULL, MS_BIND | MS_REMOUNT | kept_flags(dst) | extra, NULL) < 0)
        return x_error(x, "root", AIOS_ESYS, "cannot remount '%s': %s", dst, strerror(errno));
    return 0;
}

static int write_text(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    size_t n = strlen(text);
    ssize_t w;

    if (fd < 0)
        return -errno;
    w = write(fd, text, n);
    close(fd);
    return w == (ssize_t)n ? 0 : -EIO;
}

/* /etc: a few host files read-only plus our own passwd, group, hostname. */
static int build_etc(xctx *x)
{
    unsigned long ro = MS_RDONLY | MS_NOSUID | MS_NODEV;
    char path[PATH_MAX], text[512];
    uid_t uid = x->userns ? x->pol.uid : x->host_uid;
    gid_t gid = x->userns ? x->pol.gid : x->host_gid;
    DIR *d;
    struct dirent *e;
    int rc;

    if (mkdir("/etc", 0755) < 0 && errno != EEXIST)
        return x_error(x, "root", AIOS_ESYS, "mkdir /etc: %s", strerror(errno));
    for (size_t i = 0; i < sizeof(etc_paths) / sizeof(etc_paths[0]); i++) {
        snprintf(path, sizeof(path), "/etc/%s", etc_paths[i]);
        if ((rc = bind_one(x, path, path, false, ro, true)) < 0)
            return rc;
    }
    for (size_t i = 0; x->pol.network && i < sizeof(etc_net_paths) / sizeof(etc_net_paths[0]);
         i++) {
        snprintf(path, sizeof(path), "/etc/%s", etc_net_paths[i]);
        if ((rc = bind_one(x, path, path, true, ro, true)) < 0)
            return rc;
    }
    /* /etc/python3* (site configuration of Debian's python) */
    d = opendir(OLD "/etc");
    while (d && (e = readdir(d))) {
        if (strncmp(e->d_name, "python3", 7) != 0)
            continue;
        snprintf(path, sizeof(path), "/etc/%s", e->d_name);
        if ((rc = bind_one(x, path, path, false, ro, true)) < 0) {
            closedir(d);
            return rc;
        }
    }
    if (d)
        closedir(d);
    snprintf(text, sizeof(text),
             "root:x:0:0:root:/root:/bin/sh\n"
             "tool:x:%u:%u:tool:/work:/bin/sh\n"
             "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
             (unsigned)uid, (unsigned)gid);
    if ((rc = write_text("/etc/passwd", text)) < 0)
        return x_error(x, "root", AIOS_ESYS, "/etc/passwd: %s", strerror(-rc));
    snprintf(text, sizeof(text), "root:x:0:\ntool:x:%u:\nnogroup:x:65534:\n", (unsigned)gid);
    if ((rc = write_text("/etc/group", text)) < 0)
        return x_error(x, "root", AIOS_ESYS, "/etc/group: %s", strerror(-rc));
    snprintf(text, sizeof(text), "%s\n", x->pol.hostname ? x->pol.hostname : "sandbox");
    if ((rc = write_text("/etc/hostname", text)) < 0)
        return x_error(x, "root", AIOS_ESYS, "/etc/hostname: %s", strerror(-rc));
    return 0;
}

/* A tmpfs of size bytes (0: the kernel's default) at path. */
static int mount_tmpfs(xctx *x, const char *path, const char *mode, uint64_t size,
                       bool owned)
{
    char opts[256];
    uid_t uid = x->userns ? x->pol.uid : x->host_uid;
    gid_t gid = x->userns ? x->pol.gid : x->host_gid;
    int n = snprintf(opts, sizeof(opts), "mode=%s", mode);
    int rc;

    if (owned)
        n += snprintf(opts + n, sizeof(opts) - (size_t)n, ",uid=%u,gid=%u", (unsigned)uid,
                      (unsigned)gid);
    if (size) {
        uint64_t inodes = size / 4096 < 1024 ? 1024 : size / 4096;

        snprintf(opts + n, sizeof(opts) - (size_t)n, ",size=%llu,nr_inodes=%llu",
                 (unsigned long long)size, (unsigned long long)inodes);
    }
    if ((rc = mkdir_p(path)) < 0)
        return x_error(x, "root", AIOS_ESYS, "mkdir '%s': %s", path, strerror(-rc));
    if (mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0)
        return x_error(x, "root", AIOS_ESYS, "tmpfs on '%s': %s", path, strerror(errno));
    return 0;
}

static int build_dev(xctx *x)
{
    char from[64], to[64];
    int rc;

    if (mkdir("/dev", 0755) < 0 && errno != EEXIST)
        return x_error(x, "dev", AIOS_ESYS, "mkdir /dev: %s", strerror(errno));
    for (size_t i = 0; i < sizeof(dev_nodes) / sizeof(dev_nodes[0]); i++) {
        snprintf(from, sizeof(from), "/dev/%s", dev_nodes[i]);
        snprintf(to, sizeof(to), "/dev/%s", dev_nodes[i]);
        if ((rc = bind_one(x, from, to, true, MS_NOSUID | MS_NOEXEC, false)) < 0)
            return rc;
    }
    for (size_t i = 0; i < sizeof(dev_links) / sizeof(dev_links[0]); i++) {
        snprintf(to, sizeof(to), "/dev/%s", dev_links[i].name);
        if (symlink(dev_links[i].target, to) < 0 && errno != EEXIST)
            return x_error(x, "dev", AIOS_ESYS, "symlink %s: %s", to, strerror(errno));
    }
    return mount_tmpfs(x, "/dev/shm", "1777", x->pol.limits.tmp_bytes, false);
}

static int build_proc(xctx *x)
{
    unsigned long fl = MS_NOSUID | MS_NODEV | MS_NOEXEC;

    if (mkdir("/proc", 0555) < 0 && errno != EEXIST)
        return x_error(x, "proc", AIOS_ESYS, "mkdir /proc: %s", strerror(errno));
    /* subset=pid (Linux 5.8+) hides /proc/sys, /proc/sysrq-trigger, ... */
    if (mount("proc", "/proc", "proc", fl, "subset=pid") < 0 &&
        mount("proc", "/proc", "proc", fl, NULL) < 0)
        return x_error(x, "proc", AIOS_ESYS, "cannot mount /proc: %s", strerror(errno));
    return 0;
}

/* Step 2: a tmpfs root, entered with pivot_root; the host at /oldroot. */
static int enter_scratch_root(xctx *x)
{
    static const char *const spots[] = {"/tmp", "/mnt", "/run", "/var/tmp", "/media"};
    const char *spot = NULL;
    struct stat st;

    for (size_t i = 0; i < sizeof(spots) / sizeof(spots[0]) && !spot; i++)
        if (stat(spots[i], &st) == 0 && S_ISDIR(st.st_mode))
            spot = spots[i];
    if (!spot)
        return x_error(x, "root", AIOS_ENOENT, "no folder to build the root on");
    if (mount("tmpfs", spot, "tmpfs", MS_NOSUID | MS_NODEV,
              "mode=0755,size=4m,nr_inodes=4096") < 0)
        return x_error(x, "root", AIOS_ESYS, "tmpfs root: %s", strerror(errno));
    if (chdir(spot) < 0 || mkdir("oldroot", 0700) < 0)
        return x_error(x, "root", AIOS_ESYS, "prepare root: %s", strerror(errno));
    if (syscall(SYS_pivot_root, ".", "oldroot") < 0)
        return x_error(x, "root", AIOS_ESYS, "pivot_root: %s", strerror(errno));
    if (chdir("/") < 0)
        return x_error(x, "root", AIOS_ESYS, "chdir /: %s", strerror(errno));
    return 0;
}

int x_fs_build(xctx *x)
{
    unsigned long ro = MS_RDONLY | MS_NOSUID | MS_NODEV;
    int rc;

    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
        x_layer(x, SBX_L_ROOT, SBX_ST_FAILED, NULL);
        return x_error(x, "root", AIOS_ESANDBOX, "cannot make mounts private: %s",
                       strerror(errno));
    }
    if ((rc = enter_scratch_root(x)) < 0)
        goto out_fail_root;
    if (x->pol.system_binds) {
        for (size_t i = 0; i < sizeof(sys_paths) / sizeof(sys_paths[0]); i++)
            if ((rc = bind_one(x, sys_paths[i], sys_paths[i], false, ro, true)) < 0)
                goto out_fail_root;
        if ((rc = build_etc(x)) < 0)
            goto out_fail_root;
    } else if (mkdir("/etc", 0755) < 0) {
        rc = x_error(x, "root", AIOS_ESYS, "mkdir /etc: %s", strerror(errno));
        goto out_fail_root;
    }
    for (size_t i = 0; i < x->pol.nbinds; i++) {
        const sbx_bind *b = &x->pol.binds[i];

        rc = bind_one(x, b->src, b->dst, true,
                      MS_NOSUID | MS_NODEV | (b->rw ? 0 : MS_RDONLY), false);
        if (rc < 0)
            goto out_fail_root;
    }
    if (x->pol.workdir) {
        rc = bind_one(x, x->pol.workdir, "/work", true, MS_NOSUID | MS_NODEV, false);
    } else {
        rc = mount_tmpfs(x, "/work", "0700", x->pol.limits.work_bytes, true);
    }
    if (rc < 0)
        goto out_fail_root;
    if ((rc = mount_tmpfs(x, "/tmp", "1777", x->pol.limits.tmp_bytes, false)) < 0)
        goto out_fail_root;

    if ((rc = build_dev(x)) < 0) {
        x_layer(x, SBX_L_DEV, SBX_ST_FAILED, NULL);
        goto out_fail_root;
    }
    x->layers[SBX_L_DEV] = SBX_ST_APPLIED;
    if ((rc = build_proc(x)) < 0) {
        x_layer(x, SBX_L_PROC, SBX_ST_FAILED, NULL);
        goto out_fail_root;
    }
    x->layers[SBX_L_PROC] = SBX_ST_APPLIED;

    x_mark(x, "root-built");
    if (umount2(OLD, MNT_DETACH) < 0 || rmdir(OLD) < 0) {
        rc = x_error(x, "root", AIOS_ESYS, "cannot drop the old root: %s", strerror(errno));
        goto out_fail_root;
    }
    x_mark(x, "oldroot-gone");
    if (mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV,
              NULL) < 0) {
        rc = x_error(x, "root", AIOS_ESYS, "cannot make / read-only: %s", strerror(errno));
        goto out_fail_root;
    }
    if (chdir("/") < 0) {
        rc = x_error(x, "root", AIOS_ESYS, "chdir /: %s", strerror(errno));
        goto out_fail_root;
    }
    x->layers[SBX_L_ROOT] = SBX_ST_APPLIED;
    return 0;

out_fail_root:
    if (x->layers[SBX_L_ROOT] == SBX_ST_NONE)
        x->layers[SBX_L_ROOT] = SBX_ST_FAILED;
    return rc < 0 ? rc : AIOS_ESANDBOX;
}

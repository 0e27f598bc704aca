/*
 * seccomp.c - the last layer: a libseccomp allowlist.
 *
 * Two filters are loaded (the kernel applies the strictest answer of all):
 *   main - unknown syscalls answer ENOSYS (new syscalls look unimplemented,
 *          so the C library falls back to old ones); the dangerous ones
 *          listed below answer EPERM; the native architecture only (any other
 *          architecture, the x32 ABI and int 0x80 kill the process);
 *          ordinary syscalls allowed; clone only without namespace flags;
 *          clone3 answers ENOSYS (its flags sit in memory a filter cannot
 *          read, and the C library falls back to clone); socket only for
 *          unix/inet/inet6 (EAFNOSUPPORT otherwise); personality only for
 *          the harmless values.
 *          Never allowed: io_uring, ptrace, process_vm_*, bpf,
 *          perf_event_open, userfaultfd, keyctl, mount and the new mount
 *          API, unshare, setns, kexec, module loading, swap, reboot, clock
 *          setting, chroot, pivot_root, handles, pidfd_getfd, kcmp, ...
 *   tty  - default allow; ioctl TIOCSTI and TIOCLINUX answer EPERM, compared
 *          on the low 32 bits only, as the kernel reads the command.  (One
 *          filter cannot both allow ioctl and carve these out: libseccomp
 *          folds an unconditional allow over conditional denials.)
 * Compiled by the outer process while init builds the root (the two run on
 * different CPUs), handed to init with the cgroup state and loaded by the
 * tool process after no_new_privs, as the very last layer.  The tool
 * process does not run libseccomp; it loads the exported BPF directly.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "aios/error.h"
#include "sandbox/exec/exec_int.h"

#ifndef TIOCLINUX
#define TIOCLINUX 0x541C
#endif
#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

/* Syscalls allowed without conditions (names unknown to this libseccomp or
 * architecture are skipped). */
static const char *const allow[] = {
    /* files and descriptors */
    "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev",
    "preadv2", "pwritev2", "open", "openat", "openat2", "creat", "close", "close_range",
    "lseek", "stat", "fstat", "lstat", "newfstatat", "statx", "statfs", "fstatfs",
    "access", "faccessat", "faccessat2", "dup", "dup2", "dup3", "pipe", "pipe2", "fcntl",
    "flock", "fsync", "fdatasync", "syncfs", "truncate", "ftruncate", "fallocate",
    "fadvise64", "readahead", "getdents", "getdents64", "getcwd", "chdir", "fchdir",
    "rename", "renameat", "renameat2", "mkdir", "mkdirat", "rmdir", "link", "linkat",
    "unlink", "unlinkat", "symlink", "symlinkat", "readlink", "readlinkat", "chmod",
    "fchmod", "fchmodat", "fchmodat2", "chown", "fchown", "lchown", "fchownat", "umask",
    "utime", "utimes", "utimensat", "futimesat", "mknod", "mknodat", "sendfile",
    "copy_file_range", "splice", "tee", "vmsplice", "sync_file_range", "getxattr",
    "lgetxattr", "fgetxattr", "listxattr", "llistxattr", "flistxattr", "setxattr",
    "lsetxattr", "fsetxattr", "removexattr", "lremovexattr", "fremovexattr", "ioctl",
    "inotify_init", "inotify_init1", "inotify_add_watch", "inotify_rm_watch",
    "memfd_create", "cachestat",
    /* polling and events */
    "poll", "ppoll", "select", "pselect6", "epoll_create", "epoll_create1", "epoll_ctl",
    "epoll_wait", "epoll_pwait", "epoll_pwait2", "eventfd", "eventfd2", "signalfd",
    "signalfd4", "timerfd_create", "timerfd_settime", "timerfd_gettime",
    "io_setup", "io_destroy", "io_getevents", "io_pgetevents", "io_submit", "io_cancel",
    /* memory */
    "brk", "mmap", "munmap", "mremap", "mprotect", "msync", "mincore", "madvise",
    "mlock", "mlock2", "munlock", "mlockall", "munlockall", "membarrier",
    "get_mempolicy", "pkey_alloc", "pkey_free", "pkey_mprotect", "map_shadow_stack",
    "mseal", "remap_file_pages",
    /* processes and threads */
    "fork", "vfork", "execve", "execveat", "exit", "exit_group", "wait4", "waitid",
    "kill", "tkill", "tgkill", "getpid", "getppid", "gettid", "getpgid", "setpgid",
    "getpgrp", "getsid", "setsid", "set_tid_address", "set_robust_list",
    "get_robust_list", "futex", "futex_waitv", "rseq", "arch_prctl", "prctl",
    "sched_yield", "sched_getaffinity", "sched_setaffinity", "sched_getparam",
    "sched_setparam", "sched_getscheduler", "sched_setscheduler", "sched_getattr",
    "sched_setattr", "sched_get_priority_max", "sched_get_priority_min",
    "sched_rr_get_interval", "getpriority", "setpriority", "getrlimit", "setrlimit",
    "prlimit64", "getrusage", "times", "sysinfo", "uname", "getcpu", "getrandom",
    "pidfd_open", "pidfd_send_signal", "seccomp", "capget", "capset",
    "get_thread_area", "set_thread_area", "restart_syscall",
    /* credentials (only ever to ids the process already holds) */
    "getuid", "geteuid", "getgid", "getegid", "getresuid", "getresgid", "getgroups",
    "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setfsuid",
    "setfsgid", "setgroups",
    /* signals */
    "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigpending", "rt_sigtimedwait",
    "rt_sigqueueinfo", "rt_tgsigqueueinfo", "rt_sigsuspend", "sigaltstack", "pause",
    "alarm", "getitimer", "setitimer",
    /* time */
    "nanosleep", "clock_nanosleep", "clock_gettime", "clock_getres", "gettimeofday",
    "time", "timer_create", "timer_settime", "timer_gettime", "timer_getoverrun",
    "timer_delete",
    /* sockets (socket() itself is filtered below) */
    "socketpair", "connect", "accept", "accept4", "bind", "listen", "sendto", "recvfrom",
    "sendmsg", "recvmsg", "sendmmsg", "recvmmsg", "shutdown", "getsockname",
    "getpeername", "setsockopt", "getsockopt",
    /* System V IPC (in the sandbox's own ipc namespace) */
    "shmget", "shmat", "shmdt", "shmctl", "semget", "semop", "semtimedop", "semctl",
    "msgget", "msgsnd", "msgrcv", "msgctl", "mq_open", "mq_unlink", "mq_timedsend",
    "mq_timedreceive", "mq_notify", "mq_getsetattr",
};

/* Denied with EPERM (the default for other unknown syscalls is ENOSYS). */
static const char *const deny[] = {
    "ptrace", "process_vm_readv", "process_vm_writev", "bpf", "perf_event_open",
    "userfaultfd", "keyctl", "add_key", "request_key", "mount", "umount2", "pivot_root",
    "fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree", "mount_setattr",
    "unshare", "setns", "kexec_load", "kexec_file_load", "init_module", "finit_module",
    "delete_module", "io_uring_setup", "io_uring_enter", "io_uring_register", "swapon",
    "swapoff", "reboot", "acct", "chroot", "quotactl", "name_to_handle_at",
    "open_by_handle_at", "pidfd_getfd", "kcmp", "iopl", "ioperm", "settimeofday",
    "clock_settime", "clock_adjtime", "adjtimex", "syslog", "sethostname",
    "setdomainname", "lookup_dcookie", "vhangup", "fanotify_init", "landlock_create_ruleset",
    "landlock_add_rule", "landlock_restrict_self", "process_madvise", "move_pages",
    "migrate_pages", "mbind", "set_mempolicy", "uselib", "sync", "listmount", "statmount",
};

#define NS_FLAGS                                                               \
    (CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC |   \
     CLONE_NEWUTS | CLONE_NEWCGROUP | CLONE_NEWTIME)

/* Export a filter's BPF into a malloc'd buffer (through a pipe: libseccomp
 * 2.5 exports only to a descriptor). */
static int export_bpf(scmp_filter_ctx c, void **out, uint32_t *len)
{
    int p[2], rc;
    size_t cap = 64 * 1024, n = 0;
    char *buf;

    *out = NULL;
    *len = 0;
    if (pipe2(p, O_CLOEXEC) < 0)
        return -errno;
    fcntl(p[1], F_SETPIPE_SZ, (int)cap);
    rc = seccomp_export_bpf(c, p[1]);
    close(p[1]);
    buf = malloc(cap);
    if (rc == 0 && !buf)
        rc = -ENOMEM;
    while (rc == 0) {
        ssize_t r = read(p[0], buf + n, cap - n);

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            rc = -errno;
        if (r <= 0)
            break;
        n += (size_t)r;
        if (n == cap)
            rc = -E2BIG;
    }
    close(p[0]);
    if (rc < 0 || n == 0 || n % sizeof(struct sock_filter)) {
        free(buf);
        return rc < 0 ? rc : -EINVAL;
    }
    *out = buf;
    *len = (uint32_t)n;
    return 0;
}

/* The main allowlist. */
static int build_main(scmp_filter_ctx c)
{
    static const int families[] = {AF_UNIX, AF_INET, AF_INET6};
    static const unsigned long personas[] = {0x0, 0x8, 0x20000, 0x20008, 0xffffffff};
    int rc;

    if ((rc = seccomp_attr_set(c, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS)) < 0)
        return rc;
    /* a binary search instead of a linear scan of ~300 rules */
    seccomp_attr_set(c, SCMP_FLTATR_CTL_OPTIMIZE, 2);
    for (size_t i = 0; i < sizeof(allow) / sizeof(allow[0]); i++) {
        int nr = seccomp_syscall_resolve_name(allow[i]);

        if (nr != __NR_SCMP_ERROR && (rc = seccomp_rule_add(c, SCMP_ACT_ALLOW, nr, 0)) < 0)
            return rc;
    }
    for (size_t i = 0; i < sizeof(deny) / sizeof(deny[0]); i++) {
        int nr = seccomp_syscall_resolve_name(deny[i]);

        if (nr != __NR_SCMP_ERROR &&
            (rc = seccomp_rule_add(c, SCMP_ACT_ERRNO(EPERM), nr, 0)) < 0)
            return rc;
    }
    /* clone: allowed without namespace flags, EPERM with any of them */
    if ((rc = seccomp_rule_add(c, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
                               SCMP_A0(SCMP_CMP_MASKED_EQ, NS_FLAGS, 0))) < 0)
        return rc;
    for (unsigned long bit = 1; bit; bit <<= 1)
        if ((NS_FLAGS & bit) &&
            (rc = seccomp_rule_add(c, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                                   SCMP_A0(SCMP_CMP_MASKED_EQ, bit, bit))) < 0)
            return rc;
    /* clone3: no rule, so the default ENOSYS answers it */
    /* socket: unix, inet, inet6; any other family EAFNOSUPPORT (AF_UNIX is
     * 1, AF_INET 2, AF_INET6 10) */
    for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++)
        if ((rc = seccomp_rule_add(c, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
                                   SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)families[i]))) < 0)
            return rc;
    /* (one comparison per argument and rule: the gaps one by one) */
    for (int fam = AF_UNSPEC; fam < AF_INET6; fam++)
        if (fam != AF_UNIX && fam != AF_INET &&
            (rc = seccomp_rule_add(c, SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socket), 1,
                                   SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)fam))) < 0)
            return rc;
    if ((rc = seccomp_rule_add(c, SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socket), 1,
                               SCMP_A0(SCMP_CMP_GT, AF_INET6))) < 0)
        return rc;
    for (size_t i = 0; i < sizeof(personas) / sizeof(personas[0]); i++)
        if ((rc = seccomp_rule_add(c, SCMP_ACT_ALLOW, SCMP_SYS(personality), 1,
                                   SCMP_A0(SCMP_CMP_EQ, personas[i]))) < 0)
            return rc;
    return 0;
}

/* The terminal-injection filter. */
static int build_tty(scmp_filter_ctx c)
{
    static const unsigned long cmds[] = {TIOCSTI, TIOCLINUX};
    int rc = 0;

    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]) && rc == 0; i++)
        rc = seccomp_rule_add(c, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1,
                              SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, cmds[i]));
    return rc;
}

int x_seccomp_build(xctx *x)
{
    scmp_filter_ctx m = seccomp_init(SCMP_ACT_ERRNO(ENOSYS));
    scmp_filter_ctx t = seccomp_init(SCMP_ACT_ALLOW);
    const char *step = "init";
    int rc = -ENOMEM;

    if (!m || !t)
        goto out;
    step = "main filter";
    if ((rc = build_main(m)) < 0 || (rc = export_bpf(m, &x->bpf_main, &x->bpf_main_len)) < 0)
        goto out;
    step = "tty filter";
    if ((rc = build_tty(t)) < 0 || (rc = export_bpf(t, &x->bpf_tty, &x->bpf_tty_len)) < 0)
        goto out;
out:
    seccomp_release(m);
    seccomp_release(t);
    if (rc < 0) {
        char why[128];

        snprintf(why, sizeof(why), "%s: %s", step, strerror(-rc));
        return x_layer(x, SBX_L_SECCOMP, SBX_ST_FAILED, why);
    }
    return 0;
}

static int load(const void *bpf, uint32_t len)
{
    struct sock_fprog prog = {
        .len = (unsigned short)(len / sizeof(struct sock_filter)),
        .filter = (struct sock_filter *)bpf,
    };

    return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0 ? -errno : 0;
}

int x_seccomp_apply(xctx *x)
{
    int rc;

    if (!x->bpf_main || !x->bpf_tty)
        return x->layers[SBX_L_SECCOMP] == SBX_ST_NONE
                   ? x_layer(x, SBX_L_SECCOMP, SBX_ST_FAILED, "no compiled filter")
                   : x_layer(x, SBX_L_SECCOMP, x->layers[SBX_L_SECCOMP], NULL);
    if ((rc = load(x->bpf_tty, x->bpf_tty_len)) < 0 ||
        (rc = load(x->bpf_main, x->bpf_main_len)) < 0)
        return x_layer(x, SBX_L_SECCOMP, rc == -EINVAL ? SBX_ST_UNAVAILABLE : SBX_ST_FAILED,
                       strerror(-rc));
    return x_layer(x, SBX_L_SECCOMP, SBX_ST_APPLIED, NULL);
}

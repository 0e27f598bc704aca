/*
 * spawn.c - start a child without fork() (see spawn.h).
 *
 * The child shares the parent's memory until it execs, so it must not
 * touch anything another thread may hold: no malloc, no stdio, no glibc
 * set*id wrappers (they signal every thread of the process); only system
 * calls on data prepared by the parent.  All signals are blocked across
 * clone() so no handler of the parent runs on the child's stack; the child
 * resets every handler to the default and unblocks them just before exec.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "aios/error.h"
#include "aios/spawn.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

#define CHILD_STACK (64 * 1024)
#define MAX_FDS 16

typedef struct child_args {
    const aios_spawn_opts *o;
    const char *path;
    int err;             /* written by the child when it cannot exec */
} child_args;

/* Not instrumented by ASan: it runs on the small clone stack, which the
 * sanitizer would take for a corrupt one at _exit(). */
__attribute__((no_sanitize("address"))) static int child_main(void *arg)
{
    child_args *a = arg;
    const aios_spawn_opts *o = a->o;
    struct sigaction dfl;
    sigset_t none;
    int tmp[MAX_FDS], null_fd = -1;

    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; s++)
        if (s != SIGKILL && s != SIGSTOP)
            sigaction(s, &dfl, NULL);
    if (o->setsid && setsid() < 0)
        goto fail;
    if (o->set_ids && (syscall(SYS_setgroups, 0, NULL) < 0 || syscall(SYS_setgid, o->gid) < 0 ||
                       syscall(SYS_setuid, o->uid) < 0))
        goto fail;
    if (o->cwd && chdir(o->cwd) < 0)
        goto fail;
    /* move the sources above the targets first, so no dup2 clobbers one */
    for (int i = 0; i < o->n_fds; i++) {
        if (o->fds[i] >= 0) {
            if ((tmp[i] = fcntl(o->fds[i], F_DUPFD_CLOEXEC, o->n_fds)) < 0)
                goto fail;
        } else {
            if (null_fd < 0 && (null_fd = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0)
                goto fail;
            tmp[i] = null_fd;
        }
    }
    for (int i = 0; i < o->n_fds; i++)
        if (dup2(tmp[i], i) < 0)
            goto fail;
    if (syscall(SYS_close_range, (unsigned)o->n_fds, ~0u, 0) < 0) {
        struct rlimit rl;
        int top = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 65536 ? (int)rl.rlim_cur : 65536;
        for (int fd = o->n_fds; fd < top; fd++)
            close(fd);
    }
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execve(a->path, o->argv, o->envp);
fail:
    a->err = errno ? errno : EINVAL;
    _exit(127);
}

/* The program's path: o->file itself when it names one, else the first
 * executable match in the child's PATH. */
static int resolve(const aios_spawn_opts *o, char *buf, size_t len, const char **path)
{
    const char *p = "/usr/local/bin:/usr/bin:/bin";

    if (strchr(o->file, '/')) {
        *path = o->file;
        return 0;
    }
    for (char *const *e = o->envp; e && *e; e++)
        if (strncmp(*e, "PATH=", 5) == 0) {
            p = *e + 5;
            break;
        }
    while (*p) {
        size_t n = strcspn(p, ":");
        int w = snprintf(buf, len, "%.*s%s%s", (int)n, p, n ? "/" : "", o->file);
        if (w > 0 && (size_t)w < len && access(buf, X_OK) == 0) {
            *path = buf;
            return 0;
        }
        p += n + (p[n] == ':');
    }
    return ENOENT;
}

int aios_spawn(const aios_spawn_opts *o, pid_t *pid, int *pidfd, int *child_errno)
{
    char pbuf[PATH_MAX];
    child_args a = {.o = o};
    sigset_t all, old;
    void *stack;
    int fd = -1, err;
    pid_t p;

    *pid = -1;
    *pidfd = -1;
    if (child_errno)
        *child_errno = 0;
    if (!o->file || !o->argv || !o->argv[0] || o->n_fds < 0 || o->n_fds > MAX_FDS)
        return AIOS_EINVAL;
    if ((err = resolve(o, pbuf, sizeof(pbuf), &a.path)) != 0) {
        if (child_errno)
            *child_errno = err;
        return aios_from_errno(err);
    }
    stack = mmap(NULL, CHILD_STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED)
        return AIOS_ENOMEM;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    p = clone(child_main, (char *)stack + CHILD_STACK, CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD, &a, &fd);
    err = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    munmap(stack, CHILD_STACK);
    if (p < 0) {
        if (child_errno)
            *child_errno = err;
        return aios_from_errno(err);
    }
    if (a.err) {
        /* it never ran the program: reap it now */
        siginfo_t si;
        while (waitid(P_PIDFD, (id_t)fd, &si, WEXITED) < 0 && errno == EINTR)
            ;
        close(fd);
        if (child_errno)
            *child_errno = a.err;
        return aios_from_errno(a.err);
    }
    *pid = p;
    *pidfd = fd;
    return 0;
}

int aios_spawn_reap(int pidfd, int *status, int *sig)
{
    siginfo_t si;

    memset(&si, 0, sizeof(si));
    if (waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED | WNOHANG) < 0)
        return aios_from_errno(errno);
    if (si.si_pid == 0)
        return 0;
    *status = si.si_code == CLD_EXITED ? si.si_status : 0;
    *sig = si.si_code == CLD_EXITED ? 0 : si.si_status;
    return 1;
}

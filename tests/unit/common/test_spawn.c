/*
 * test_spawn.c - aios_spawn: descriptors land where asked and nothing else
 * leaks into the child, PATH comes from the child's environment, exit
 * status and signals are reported through the pidfd, and a program that
 * cannot start leaves no child and names the errno.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "aios/error.h"
#include "aios/spawn.h"

static int wait_end(int pidfd, int *status, int *sig)
{
    struct pollfd p = {.fd = pidfd, .events = POLLIN};
    int rc;

    cr_assert_eq(poll(&p, 1, 10000), 1, "the child did not end");
    rc = aios_spawn_reap(pidfd, status, sig);
    close(pidfd);
    return rc;
}

Test(spawn, fds_env_cwd_and_exit_status, .timeout = 20)
{
    char *argv[] = {"sh", "-c", "echo \"$GREETING $(pwd)\"; ls /proc/self/fd | wc -l >&2; exit 7", NULL};
    char *envp[] = {"PATH=/usr/bin:/bin", "GREETING=hi", NULL};
    int out[2], err[2], leak = open("/dev/null", O_RDONLY);   /* must not reach the child */
    aios_spawn_opts o = {.file = "sh", .argv = argv, .envp = envp, .cwd = "/tmp", .n_fds = 3, .setsid = true};
    int fds[3], pidfd, status = -1, sig = -1, child_errno;
    char buf[256] = "";
    pid_t pid;

    cr_assert_geq(leak, 0);
    cr_assert_eq(pipe2(out, O_CLOEXEC), 0);
    cr_assert_eq(pipe2(err, 0), 0);   /* not close-on-exec: still closed in the child */
    fds[0] = -1;
    fds[1] = out[1];
    fds[2] = err[1];
    o.fds = fds;
    cr_assert_eq(aios_spawn(&o, &pid, &pidfd, &child_errno), 0, "%s", strerror(child_errno));
    cr_assert_gt(pid, 0);
    close(out[1]);
    close(err[1]);
    cr_assert_eq(wait_end(pidfd, &status, &sig), 1);
    cr_assert_eq(status, 7);
    cr_assert_eq(sig, 0);
    cr_assert_gt(read(out[0], buf, sizeof(buf) - 1), 0);
    cr_assert_str_eq(buf, "hi /tmp\n");
    memset(buf, 0, sizeof(buf));
    cr_assert_gt(read(err[0], buf, sizeof(buf) - 1), 0);
    /* 0, 1, 2 and the one ls opens to read the folder */
    cr_assert_str_eq(buf, "4\n");
    close(out[0]);
    close(err[0]);
    close(leak);
}

Test(spawn, a_signal_is_reported, .timeout = 20)
{
    char *argv[] = {"sleep", "30", NULL};
    char *envp[] = {NULL};
    aios_spawn_opts o = {.file = "/bin/sleep", .argv = argv, .envp = envp};
    int pidfd, status = -1, sig = -1;
    pid_t pid;

    cr_assert_eq(aios_spawn(&o, &pid, &pidfd, NULL), 0);
    cr_assert_eq(aios_spawn_reap(pidfd, &status, &sig), 0, "still running");
    cr_assert_eq(syscall(SYS_pidfd_send_signal, pidfd, SIGTERM, NULL, 0), 0);
    cr_assert_eq(wait_end(pidfd, &status, &sig), 1);
    cr_assert_eq(sig, SIGTERM);
}

Test(spawn, what_cannot_start_leaves_no_child, .timeout = 20)
{
    char *argv[] = {"x", NULL};
    char *envp[] = {"PATH=/nonexistent", NULL};
    aios_spawn_opts o = {.file = "true", .argv = argv, .envp = envp};
    int pidfd = 5, child_errno = 0;
    pid_t pid = 5;

    /* not in the child's PATH (it is in ours) */
    cr_assert_eq(aios_spawn(&o, &pid, &pidfd, &child_errno), AIOS_ENOENT);
    cr_assert_eq(child_errno, ENOENT);
    cr_assert_eq(pid, -1);
    cr_assert_eq(pidfd, -1);
    /* found but the working folder is missing: fails in the child, reaped */
    o.file = "/bin/true";
    o.cwd = "/nonexistent/folder";
    cr_assert_eq(aios_spawn(&o, &pid, &pidfd, &child_errno), AIOS_ENOENT);
    cr_assert_eq(child_errno, ENOENT);
    cr_assert_eq(waitpid(-1, NULL, WNOHANG), -1, "a child was left behind");
    cr_assert_eq(errno, ECHILD);
    /* not executable */
    o.file = "/etc/passwd";
    o.cwd = NULL;
    cr_assert_lt(aios_spawn(&o, &pid, &pidfd, &child_errno), 0);
    cr_assert_eq(child_errno, EACCES);
}

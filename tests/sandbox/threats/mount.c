/* Row 15: mount, unshare (user and mount namespaces), setns, clone with
 * namespace flags, and the new mount API. */
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "threat.h"

int main(void)
{
    int fd;
    long r;

    say("mount_tmpfs", "%s", RES(mount("none", "/tmp", "tmpfs", 0, NULL)));
    say("mount_proc", "%s", RES(mount("proc", "/work", "proc", 0, NULL)));
    say("umount_proc", "%s", RES(umount2("/proc", MNT_DETACH)));
    say("unshare_user", "%s", RES(unshare(CLONE_NEWUSER)));
    say("unshare_mount", "%s", RES(unshare(CLONE_NEWNS)));
    say("unshare_net", "%s", RES(unshare(CLONE_NEWNET)));
    fd = open("/proc/self/ns/net", O_RDONLY);
    say("setns", "%s", RES(setns(fd, 0)));
    r = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
    if (r == 0)
        _exit(0);
    if (r > 0)
        waitpid((pid_t)r, NULL, 0);
    say("clone_newuser", "%s", RES(r));
    r = syscall(SYS_fsopen, "tmpfs", 0);
    say("fsopen", "%s", RES(r));
    r = syscall(SYS_open_tree, AT_FDCWD, "/work", 1 /* OPEN_TREE_CLONE */);
    say("open_tree", "%s", RES(r));
    return 0;
}

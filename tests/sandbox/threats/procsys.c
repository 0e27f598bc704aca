/* Row 19: /proc/1/root, overwriting /proc/self/exe, writing /sys and
 * /proc/sys, creating cgroups, sysrq. */
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "threat.h"

static void try_open(const char *name, const char *path, int flags)
{
    int fd = open(path, flags);

    say(name, "%s", fd >= 0 ? "OK" : ename(errno));
    if (fd >= 0)
        close(fd);
}

int main(void)
{
    char link[256];
    ssize_t n;

    try_open("proc1_root", "/proc/1/root/etc/hostname", O_RDONLY);
    n = readlink("/proc/1/root", link, sizeof(link));
    say("proc1_root_link", "%s", n >= 0 ? "OK" : ename(errno));
    try_open("proc1_mem", "/proc/1/mem", O_RDWR);
    try_open("self_exe_write", "/proc/self/exe", O_WRONLY);
    try_open("sys_write", "/sys/kernel/notes", O_WRONLY);
    try_open("proc_sys_write", "/proc/sys/kernel/hostname", O_WRONLY);
    try_open("sysrq", "/proc/sysrq-trigger", O_WRONLY);
    say("cgroup_mkdir", "%s", RES(mkdir("/sys/fs/cgroup/aios-escape", 0755)));
    try_open("kcore", "/proc/kcore", O_RDONLY);
    return 0;
}

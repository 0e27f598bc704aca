/* Row 17: TIOCSTI and TIOCLINUX, also with high bits set in the command,
 * on stdin/stdout/stderr and on /dev/tty if it opens.  EPERM means the
 * filter stopped it (ENOTTY/EBADF would be the kernel's own answer on a
 * non-terminal; a terminal would be worse). */
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "threat.h"

#ifndef TIOCLINUX
#define TIOCLINUX 0x541C
#endif

static void try(const char *name, int fd, unsigned long cmd)
{
    char c = 'x';
    long r = syscall(SYS_ioctl, fd, cmd, &c);

    say(name, "%s", RES(r));
}

int main(void)
{
    int tty = open("/dev/tty", O_RDWR);

    say("dev_tty", "%s", tty >= 0 ? "OK" : ename(errno));
    try("tiocsti_0", 0, TIOCSTI);
    try("tiocsti_1", 1, TIOCSTI);
    try("tiocsti_high", 0, TIOCSTI | (1ul << 32));
    try("tiocsti_high2", 1, TIOCSTI | 0xffffffff00000000ul);
    try("tioclinux_0", 0, TIOCLINUX);
    try("tioclinux_high", 0, TIOCLINUX | (1ul << 40));
    if (tty >= 0)
        try("tiocsti_tty", tty, TIOCSTI);
    return 0;
}

/* Row 11: read /etc/shadow, ~/.ssh, the daemon's database and socket.
 * argv: paths on the host (a fake ssh key, database, socket) to try. */
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "threat.h"

static void try_read(const char *name, const char *path)
{
    char buf[16];
    int fd = open(path, O_RDONLY);
    int rc = fd >= 0 ? (int)read(fd, buf, sizeof(buf)) : -1;

    say(name, "%s", fd >= 0 && rc >= 0 ? "OK" : ename(errno));
    if (fd >= 0)
        close(fd);
}

int main(int argc, char **argv)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    int s;

    try_read("shadow", "/etc/shadow");
    try_read("gshadow", "/etc/gshadow");
    try_read("root_ssh", "/root/.ssh/id_rsa");
    if (argc > 1)
        try_read("ssh_key", argv[1]);
    if (argc > 2)
        try_read("database", argv[2]);
    if (argc > 3) {
        s = socket(AF_UNIX, SOCK_STREAM, 0);
        snprintf(a.sun_path, sizeof(a.sun_path), "%s", argv[3]);
        say("socket", "%s", RES(connect(s, (struct sockaddr *)&a, sizeof(a))));
    }
    return 0;
}

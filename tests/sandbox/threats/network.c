/* Row 12: network: the internet, a 127.0.0.1 service (argv[1] = port), the
 * daemon's unix socket by path (argv[2]) and an abstract one (argv[3]). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "threat.h"

static void tcp(const char *name, const char *ip, int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    int s = socket(AF_INET, SOCK_STREAM, 0);

    inet_pton(AF_INET, ip, &a.sin_addr);
    say(name, "%s", s < 0 ? ename(errno) : RES(connect(s, (struct sockaddr *)&a, sizeof(a))));
    if (s >= 0)
        close(s);
}

static void unix_sock(const char *name, const char *path, int abstract)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    socklen_t len;

    if (abstract) {
        a.sun_path[0] = '\0';
        snprintf(a.sun_path + 1, sizeof(a.sun_path) - 1, "%s", path);
        len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(path));
    } else {
        snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
        len = sizeof(a);
    }
    say(name, "%s", RES(connect(s, (struct sockaddr *)&a, len)));
    close(s);
}

int main(int argc, char **argv)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(53)};
    int s;

    tcp("internet_tcp", "1.1.1.1", 80);
    s = socket(AF_INET, SOCK_DGRAM, 0);
    inet_pton(AF_INET, "8.8.8.8", &a.sin_addr);
    say("internet_udp", "%s", RES(sendto(s, "x", 1, 0, (struct sockaddr *)&a, sizeof(a))));
    close(s);
    if (argc > 1)
        tcp("localhost_tcp", "127.0.0.1", atoi(argv[1]));
    if (argc > 2)
        unix_sock("daemon_socket", argv[2], 0);
    if (argc > 3)
        unix_sock("abstract_socket", argv[3], 1);
    s = socket(AF_PACKET, SOCK_RAW, 0);
    say("packet_socket", "%s", s >= 0 ? "OK" : ename(errno));
    s = socket(AF_NETLINK, SOCK_RAW, 0);
    say("netlink_socket", "%s", s >= 0 ? "OK" : ename(errno));
    return 0;
}

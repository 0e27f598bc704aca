/* Row 7: fill the disk: files of 4 MiB in the work folder and in /tmp
 * until something refuses.  SIGXFSZ is ignored so the file-size limit
 * shows as EFBIG. */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "threat.h"

static void fill(const char *dir, const char *name, long max_mib)
{
    static char buf[1 << 20];
    long total = 0;
    int err = 0;

    for (int i = 0; total < (max_mib << 20) && !err; i++) {
        char path[256];
        int fd;

        snprintf(path, sizeof(path), "%s/fill%d", dir, i);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0) {
            err = errno;
            break;
        }
        for (int k = 0; k < 4 && !err; k++) {
            ssize_t w = write(fd, buf, sizeof(buf));

            if (w < 0)
                err = errno;
            else
                total += w;
            if (w >= 0 && w < (ssize_t)sizeof(buf))
                err = errno ? errno : ENOSPC;
        }
        close(fd);
    }
    say(name, "%ld", total >> 20);
    printf("%s_end=%s\n", name, err ? ename(err) : "limit-not-hit");
    fflush(stdout);
}

int main(int argc, char **argv)
{
    long max_mib = argc > 1 ? atol(argv[1]) : 1024;

    signal(SIGXFSZ, SIG_IGN);
    fill("/work", "work_mib", max_mib);
    fill("/tmp", "tmp_mib", max_mib);
    return 0;
}

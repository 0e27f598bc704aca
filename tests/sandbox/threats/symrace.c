/* Row 10: symlink swap race.  A racer flips /work/link between a file in
 * the work folder and a host path outside it (argv[1], a canary) while a
 * reader keeps opening /work/link for a second; the reader must never see
 * the canary's content. */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "threat.h"

int main(int argc, char **argv)
{
    const char *outside = argc > 1 ? argv[1] : "/etc/shadow";
    int fd = open("/work/target", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    long inside = 0, missing = 0, leaked = 0, other = 0;
    pid_t racer;
    time_t end;

    write(fd, "inside", 6);
    close(fd);
    racer = fork();
    if (racer == 0) {
        for (;;) {
            unlink("/work/tmp1");
            symlink(outside, "/work/tmp1");
            rename("/work/tmp1", "/work/link");
            unlink("/work/tmp2");
            symlink("/work/target", "/work/tmp2");
            rename("/work/tmp2", "/work/link");
        }
    }
    end = time(NULL) + 1;
    while (time(NULL) <= end) {
        char buf[64] = {0};

        fd = open("/work/link", O_RDONLY);
        if (fd < 0) {
            missing++;
            continue;
        }
        read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (strcmp(buf, "inside") == 0)
            inside++;
        else if (strstr(buf, "CANARY"))
            leaked++;
        else
            other++;
    }
    kill(racer, SIGKILL);
    waitpid(racer, NULL, 0);
    say("inside", "%ld", inside);
    say("denied", "%ld", missing);
    say("leaked", "%ld", leaked);
    say("other", "%ld", other);
    return 0;
}

/* Row 21: double fork + setsid to outlive the call.  The grandchild
 * appends a line to argv[1] (a file on a writable bind the harness can
 * see) every 50 ms; the harness checks that nothing is appended once the
 * call has ended.  argv[2] = "wait": the main process then sleeps (killed
 * at the timeout); otherwise it exits at once. */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "threat.h"

int main(int argc, char **argv)
{
    const char *mark = argc > 1 ? argv[1] : "/data/mark";
    pid_t p = fork();

    if (p == 0) {
        setsid();
        if (fork() == 0) {
            for (int i = 0;; i++) {
                int fd = open(mark, O_WRONLY | O_CREAT | O_APPEND, 0666);

                if (fd >= 0) {
                    dprintf(fd, "%d\n", i);
                    close(fd);
                }
                usleep(50 * 1000);
            }
        }
        _exit(0);
    }
    usleep(200 * 1000);
    say("spawned", "yes");
    if (argc > 2 && strcmp(argv[2], "wait") == 0)
        for (;;)
            pause();
    return 0;
}

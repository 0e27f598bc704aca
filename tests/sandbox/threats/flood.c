/* Row 6: gigabytes of output without a newline on both streams, as fast as
 * possible, ignoring SIGPIPE and write errors. */
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
    static char buf[1 << 16];
    pid_t p;

    signal(SIGPIPE, SIG_IGN);
    p = fork();
    memset(buf, p == 0 ? 'E' : 'O', sizeof(buf));
    for (;;)
        (void)write(p == 0 ? 2 : 1, buf, sizeof(buf));
}

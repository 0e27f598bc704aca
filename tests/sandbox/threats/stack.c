/* Row 3: stack overflow by deep recursion, in a child: the child must die
 * alone and the parent carry on. */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "threat.h"

static int deep(volatile char *prev, long n)
{
    volatile char pad[4096];

    pad[0] = (char)n;
    pad[4095] = prev ? prev[0] : 0;
    return deep(pad, n + 1) + pad[1];
}

int main(void)
{
    int st;
    pid_t p = fork();

    if (p == 0) {
        deep(NULL, 0);
        _exit(0);
    }
    waitpid(p, &st, 0);
    say("child", "%s", WIFSIGNALED(st) ? (WTERMSIG(st) == SIGSEGV ? "SIGSEGV" : "signal")
                                       : "exited");
    say("parent", "alive");
    return 0;
}

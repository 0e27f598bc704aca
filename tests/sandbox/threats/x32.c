/* Row 18: the x32 ABI and int 0x80 (the i386 entry) from a 64-bit
 * process, each in a child: it must be killed or refused. */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "threat.h"

static void attempt(const char *name, int how)
{
    int st;
    pid_t p = fork();

    if (p == 0) {
        long r;

        if (how == 0) {
            /* x32 getpid: __X32_SYSCALL_BIT | 39 */
            __asm__ volatile("syscall" : "=a"(r) : "0"(0x40000000L + 39) : "rcx", "r11", "memory");
        } else {
            /* i386 getpid is 20 */
            __asm__ volatile("int $0x80" : "=a"(r) : "0"(20L) : "memory");
        }
        _exit(r >= 0 ? 0 : 1);
    }
    waitpid(p, &st, 0);
    say(name, "%s", WIFSIGNALED(st) ? (WTERMSIG(st) == SIGSYS ? "SIGSYS" : "signal")
                    : WEXITSTATUS(st) == 0 ? "OK"
                                           : "refused");
}

int main(void)
{
    attempt("x32_syscall", 0);
    attempt("int80", 1);
    return 0;
}

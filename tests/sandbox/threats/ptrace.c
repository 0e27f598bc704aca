/* Row 13: ptrace a sibling, the parent, ourselves (TRACEME); read a
 * sibling's memory with process_vm_readv. */
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "threat.h"

int main(void)
{
    char buf[8], src[8] = "secret";
    struct iovec l = {buf, 8}, r = {src, 8};
    pid_t sib = fork();

    if (sib == 0) {
        pause();
        _exit(0);
    }
    usleep(10000);
    say("attach_sibling", "%s", RES(ptrace(PTRACE_ATTACH, sib, 0, 0)));
    say("seize_sibling", "%s", RES(ptrace(PTRACE_SEIZE, sib, 0, 0)));
    say("attach_parent", "%s", RES(ptrace(PTRACE_ATTACH, getppid(), 0, 0)));
    say("attach_init", "%s", RES(ptrace(PTRACE_ATTACH, 1, 0, 0)));
    say("vm_read_sibling", "%s", RES(process_vm_readv(sib, &l, 1, &r, 1, 0)));
    {
        pid_t c = fork();

        if (c == 0)
            _exit(ptrace(PTRACE_TRACEME, 0, 0, 0) < 0 ? 1 : 0);
        int st;

        waitpid(c, &st, 0);
        say("traceme", "%s", WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "OK" : "denied");
    }
    kill(sib, SIGKILL);
    return 0;
}

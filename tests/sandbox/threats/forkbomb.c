/* Row 1: fork bomb.  Every process forks as fast as it can; a bounded
 * total (argv[1], default 512) keeps the host safe where nothing else
 * stops it.  Prints the forks that succeeded and the first failure. */
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "threat.h"

int main(int argc, char **argv)
{
    long cap = argc > 1 ? atol(argv[1]) : 512;
    /* shared counters: forks done, first errno */
    long *shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    pid_t top = getpid();

    shared[0] = 0;
    shared[1] = 0;
    for (int round = 0; round < 64; round++) {
        if (__atomic_load_n(&shared[0], __ATOMIC_SEQ_CST) >= cap)
            break;
        pid_t p = fork();

        if (p == 0)
            continue;  /* the child joins the bomb */
        if (p < 0) {
            long zero = 0;

            __atomic_compare_exchange_n(&shared[1], &zero, (long)errno, 0, __ATOMIC_SEQ_CST,
                                        __ATOMIC_SEQ_CST);
            usleep(1000);
            continue;
        }
        __atomic_add_fetch(&shared[0], 1, __ATOMIC_SEQ_CST);
    }
    if (getpid() != top) {
        pause();  /* hold the slot until the sandbox ends */
        _exit(0);
    }
    usleep(300 * 1000);
    say("forks", "%ld", __atomic_load_n(&shared[0], __ATOMIC_SEQ_CST));
    say("first_error", "%s", shared[1] ? ename((int)shared[1]) : "none");
    kill(0, SIGKILL);  /* end the bomb (and ourselves) */
    return 0;
}

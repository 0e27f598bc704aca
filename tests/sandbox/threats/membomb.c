/* Row 2: memory bomb - heap, mmap, and touching every page, each in a
 * child so one kill does not hide the others.  Stops at argv[1] MiB
 * (default 2048) to stay bounded where nothing else stops it. */
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "threat.h"

static void attempt(const char *name, int how, long max_mib)
{
    int p[2];
    pid_t pid;
    long got = 0, mib;
    int st;

    if (pipe(p) < 0)
        return;
    pid = fork();
    if (pid == 0) {
        close(p[0]);
        for (mib = 0; mib < max_mib; mib += 16) {
            char *m;

            if (how == 0)
                m = malloc(16 << 20);  /* heap, touched */
            else
                m = mmap(NULL, 16 << 20, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | (how == 1 ? MAP_NORESERVE : 0), -1, 0);
            if (!m || m == MAP_FAILED) {
                long e = -(long)errno;

                write(p[1], &e, sizeof(e));
                _exit(0);
            }
            if (how != 1)
                for (long i = 0; i < (16 << 20); i += 4096)
                    m[i] = 1;
            {
                long v = mib + 16;

                write(p[1], &v, sizeof(v));
            }
        }
        _exit(0);
    }
    close(p[1]);
    {
    long v, err = 0;

    while (read(p[0], &v, sizeof(v)) == sizeof(v)) {
        if (v < 0)
            err = -v;
        else
            got = v;
    }
    close(p[0]);
    waitpid(pid, &st, 0);
    printf("%s_mib=%ld\n%s_end=%s\n", name, got, name,
           err ? ename((int)err)
               : WIFSIGNALED(st) ? (WTERMSIG(st) == SIGKILL ? "SIGKILL" : "signal")
                                 : "limit-not-hit");
    fflush(stdout);
    }
}

int main(int argc, char **argv)
{
    long max_mib = argc > 1 ? atol(argv[1]) : 2048;

    attempt("heap", 0, max_mib);
    attempt("mmap", 1, max_mib);
    attempt("touch", 2, max_mib);
    return 0;
}

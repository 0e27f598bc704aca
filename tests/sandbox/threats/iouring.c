/* Row 16: io_uring (to openat/connect behind the filter's back). */
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "threat.h"

int main(void)
{
    char params[120];
    long r;

    memset(params, 0, sizeof(params));
    r = syscall(425 /* io_uring_setup */, 8, params);
    say("io_uring_setup", "%s", RES(r));
    r = syscall(426 /* io_uring_enter */, 0, 1, 0, 0, NULL, 0);
    say("io_uring_enter", "%s", RES(r));
    r = syscall(427 /* io_uring_register */, 0, 0, NULL, 0);
    say("io_uring_register", "%s", RES(r));
    return 0;
}

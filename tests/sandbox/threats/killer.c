/* Row 14: kill -9 -1 and kill the daemon (argv[1]: a host pid) and a host
 * process of our own uid (argv[2]). */
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "threat.h"

int main(int argc, char **argv)
{
    if (argc > 1)
        say("kill_daemon", "%s", RES(kill((pid_t)atoi(argv[1]), SIGKILL)));
    if (argc > 2)
        say("kill_canary", "%s", RES(kill((pid_t)atoi(argv[2]), SIGKILL)));
    say("kill_init", "%s", RES(kill(1, SIGKILL)));
    say("kill_all", "%s", RES(kill(-1, SIGKILL)));
    say("after", "alive");
    return 0;
}

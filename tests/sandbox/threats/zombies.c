/* Row 23: leave zombies and orphans behind: children that exit unreaped,
 * and daemonised grandchildren that keep running; then exit at once. */
#include <stdlib.h>
#include <unistd.h>

#include "threat.h"

int main(void)
{
    for (int i = 0; i < 5; i++)
        if (fork() == 0)
            _exit(0);  /* zombie: never reaped by us */
    for (int i = 0; i < 3; i++) {
        if (fork() == 0) {
            if (fork() == 0) {
                setsid();
                for (;;)
                    sleep(1);  /* orphan */
            }
            _exit(0);
        }
    }
    usleep(100 * 1000);
    say("left", "5 zombies, 3 orphans");
    return 0;
}

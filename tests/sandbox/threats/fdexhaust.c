/* Row 8: exhaust file descriptors. */
#include <fcntl.h>
#include <unistd.h>

#include "threat.h"

int main(void)
{
    int n = 0, fd;

    while (n < 1000000 && (fd = open("/dev/null", O_RDONLY)) >= 0)
        n++;
    say("opened", "%d", n);
    say("end", "%s", ename(errno));
    return 0;
}

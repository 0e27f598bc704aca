/* Row 4: busy loop forever. */
#include "threat.h"

int main(void)
{
    volatile unsigned long x = 0;

    say("started", "yes");
    for (;;)
        x++;
}

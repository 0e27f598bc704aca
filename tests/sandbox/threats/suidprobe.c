/* Helper for row 20: prints the ids and capabilities it runs with.  The
 * harness installs a copy setuid root and one with file capabilities. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(void)
{
    char line[256];
    FILE *f = fopen("/proc/self/status", "r");

    printf("euid=%d\n", (int)geteuid());
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, "CapEff:", 7) == 0 || strncmp(line, "CapPrm:", 7) == 0)
            printf("%.6s=%s", line, line + 8);
    return 0;
}

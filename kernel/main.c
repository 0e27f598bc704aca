/* main.c - aiosd entry point (being written). */
#include <stdio.h>
int main(void)
{
    fprintf(stderr, "aiosd: under construction\n");
    return 1;
}

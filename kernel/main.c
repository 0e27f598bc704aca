/*
 * main.c - the aiosd program: everything lives in kernel/daemon.c so that
 * tests can link the whole kernel as a library.
 */
#include "kernel/kern_int.h"

int main(int argc, char **argv)
{
    return kern_main(argc, argv);
}

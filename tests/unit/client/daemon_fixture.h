/*
 * daemon_fixture.h - start a real aiosd for a C test: a private temporary
 * folder with its socket and data folder, the daemon in the foreground as a
 * child of the test process, stopped and cleaned up at the end.
 * The binary is $AIOS_BUILD/aiosd, else build/aiosd.
 */
#ifndef TEST_DAEMON_FIXTURE_H
#define TEST_DAEMON_FIXTURE_H

#include <stdbool.h>
#include <sys/types.h>

typedef struct test_daemon {
    char dir[128];          /* temporary folder, removed by stop */
    char socket[160];       /* dir/aios.sock */
    char data[160];         /* dir/data */
    char log[160];          /* dir/aiosd.log: the daemon's stderr */
    pid_t pid;
} test_daemon;

/* Start aiosd with extra "--set KEY=VALUE" arguments (NULL-terminated list,
 * may be NULL) and wait until its socket accepts.  Returns 0 or -1. */
int test_daemon_start(test_daemon *d, const char *const *sets);

/* SIGTERM, wait (SIGKILL after 5 s), remove the folder.  Returns the exit
 * status of the daemon, or -1. */
int test_daemon_stop(test_daemon *d);

/* Kill the daemon at once with SIGKILL (the folder stays until stop). */
void test_daemon_kill(test_daemon *d);

/* Path of an executable built by make: $AIOS_BUILD/name or build/name. */
const char *test_build_path(const char *name, char *buf, size_t len);

#endif

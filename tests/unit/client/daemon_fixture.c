/*
 * daemon_fixture.c - a real aiosd per test (see daemon_fixture.h).
 * Test process only; no threads.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/unit/client/daemon_fixture.h"

const char *test_build_path(const char *name, char *buf, size_t len)
{
    const char *b = getenv("AIOS_BUILD");

    snprintf(buf, len, "%s/%s", b && *b ? b : "build", name);
    return buf;
}

static bool can_connect(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool ok;

    if (strlen(path) >= sizeof(sa.sun_path)) {
        if (fd >= 0)
            close(fd);
        return false;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    ok = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

int test_daemon_start(test_daemon *d, const char *const *sets)
{
    char bin[256];
    const char *argv[64];
    int n = 0, status;

    memset(d, 0, sizeof(*d));
    snprintf(d->dir, sizeof(d->dir), "/tmp/aios-test-XXXXXX");
    if (!mkdtemp(d->dir))
        return -1;
    snprintf(d->socket, sizeof(d->socket), "%s/aios.sock", d->dir);
    snprintf(d->data, sizeof(d->data), "%s/data", d->dir);
    snprintf(d->log, sizeof(d->log), "%s/aiosd.log", d->dir);
    test_build_path("aiosd", bin, sizeof(bin));
    argv[n++] = bin;
    argv[n++] = "-f";
    argv[n++] = "--socket";
    argv[n++] = d->socket;
    argv[n++] = "--data";
    argv[n++] = d->data;
    argv[n++] = "--model";
    argv[n++] = "none";
    argv[n++] = "--log-level";
    argv[n++] = "warn";
    for (; sets && *sets && n < 60; sets++) {
        argv[n++] = "--set";
        argv[n++] = *sets;
    }
    argv[n] = NULL;
    d->pid = fork();
    if (d->pid < 0)
        return -1;
    if (d->pid == 0) {
        int fd = open(d->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0) {
            dup2(fd, 2);
            dup2(fd, 1);
        }
        unsetenv("AIOS_CONFIG");
        execv(bin, (char *const *)argv);
        fprintf(stderr, "cannot run %s: %s\n", bin, strerror(errno));
        _exit(127);
    }
    for (int i = 0; i < 1000; i++) {
        if (can_connect(d->socket))
            return 0;
        if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
            d->pid = 0;
            return -1;
        }
        usleep(10000);
    }
    return -1;
}

void test_daemon_kill(test_daemon *d)
{
    if (d->pid > 0) {
        kill(d->pid, SIGKILL);
        waitpid(d->pid, NULL, 0);
        d->pid = 0;
    }
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

int test_daemon_stop(test_daemon *d)
{
    int status = -1, rc = -1;

    if (d->pid > 0) {
        kill(d->pid, SIGTERM);
        for (int i = 0; i < 500; i++) {
            if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
                rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
                d->pid = 0;
                break;
            }
            usleep(10000);
        }
        test_daemon_kill(d);
    }
    if (d->dir[0])
        nftw(d->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    d->dir[0] = '\0';
    return rc;
}

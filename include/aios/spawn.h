/*
 * spawn.h - start a child program from a threaded process without fork().
 *
 * The daemon has threads (the engine, the forward pool, libuv's workers), so
 * it never forks: fork() in a multi-threaded process copies the page tables
 * of a process that maps a model and a KV cache, and leaves the child with
 * locks other threads held.  aios_spawn() uses clone(CLONE_VM | CLONE_VFORK
 * | CLONE_PIDFD): the child runs on its own small stack in the parent's
 * memory, does only raw system calls (signal reset, setsid, ids, cwd, file
 * descriptors) and execs; the calling thread waits until then.  The child's
 * pidfd comes back with it, so signals and the exit are race-free: poll the
 * pidfd for readability (libuv: uv_poll_t) and reap it with
 * aios_spawn_reap().
 *
 * Any thread; no global state.
 */
#ifndef AIOS_SPAWN_H
#define AIOS_SPAWN_H

#include <stdbool.h>
#include <sys/types.h>

typedef struct aios_spawn_opts {
    const char *file;        /* program: a path, or a name looked up in the child's PATH */
    char *const *argv;       /* NULL-terminated */
    char *const *envp;       /* NULL-terminated; the child's whole environment */
    const char *cwd;         /* NULL: the caller's */
    const int *fds;          /* fds[i] becomes descriptor i in the child; -1: /dev/null */
    int n_fds;               /* every other descriptor is closed in the child */
    bool setsid;             /* a new session and process group */
    bool set_ids;            /* run as uid/gid (no supplementary groups); needs root */
    uid_t uid;
    gid_t gid;
} aios_spawn_opts;

/*
 * Start o->file.  On success *pid and *pidfd (close-on-exec, owned by the
 * caller) are set and 0 is returned; when the program cannot be started
 * (not found, not executable, bad cwd, ...) no child is left and the
 * negative AIOS_E* code of the child's errno is returned, with *child_errno
 * (may be NULL) set to that errno for the message.
 */
int aios_spawn(const aios_spawn_opts *o, pid_t *pid, int *pidfd, int *child_errno);

/*
 * Reap a child whose pidfd polled readable.  Returns 1 with *status (exit
 * status) and *sig (the signal that ended it, 0 if none) set, 0 when it
 * has not ended yet, or a negative AIOS_E* code.
 */
int aios_spawn_reap(int pidfd, int *status, int *sig);

#endif /* AIOS_SPAWN_H */

/*
 * lsfs_sys_int.h - helpers shared by the LSFS syscall families (fs.c,
 * mem.c, acl.c): the caller as an lsfs_actor, errors, times.
 * Threads: worker threads.
 */
#ifndef SYSCALLS_LSFS_SYS_INT_H
#define SYSCALLS_LSFS_SYS_INT_H

#include <stdint.h>

#include <jansson.h>

#include "aios/kernel.h"
#include "aios/lsfs.h"

/* The store's connection for this worker and the caller as an actor (with
 * the confirmation hook bound to c).  A negative code is already set on c. */
int sys__lsfs_begin(kern_call *c, lsfs_actor *a, lsfs_db **db);
/* Copy the library's message and field into c's error; returns rc. */
int sys__lsfs_fail(kern_call *c, lsfs_db *db, int rc);
/* A time parameter (ISO-8601 string or seconds) in ms; absent = 0. */
int sys__lsfs_time(kern_call *c, const json_t *v, const char *field, int64_t *ms);

#endif

/*
 * threat.h - shared helpers of the threat programs: each program is one row
 * of ../../../../shared/design/SANDBOX_THREATS.md run inside a sandbox; it
 * tries the attack and prints what happened as "key=value" lines on stdout
 * (flushed at once, so a kill mid-way still leaves the evidence).  The
 * harness decides from these lines and from what it sees on the host
 * whether the attack was contained.
 */
#ifndef AIOS_THREAT_H
#define AIOS_THREAT_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void say(const char *key, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), unused));
static void say(const char *key, const char *fmt, ...)
{
    va_list ap;

    printf("%s=", key);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

/* errno as its symbolic name (the ones these programs meet). */
__attribute__((unused)) static const char *ename(int e)
{
    static const struct {
        int e;
        const char *n;
    } t[] = {{0, "OK"},           {EPERM, "EPERM"},       {ENOENT, "ENOENT"},
             {ESRCH, "ESRCH"},    {EIO, "EIO"},           {ENXIO, "ENXIO"},
             {E2BIG, "E2BIG"},    {EBADF, "EBADF"},       {EAGAIN, "EAGAIN"},
             {ENOMEM, "ENOMEM"},  {EACCES, "EACCES"},     {EFAULT, "EFAULT"},
             {EBUSY, "EBUSY"},    {EEXIST, "EEXIST"},     {EXDEV, "EXDEV"},
             {ENOTDIR, "ENOTDIR"}, {EISDIR, "EISDIR"},    {EINVAL, "EINVAL"},
             {EMFILE, "EMFILE"},  {ENFILE, "ENFILE"},     {ENOTTY, "ENOTTY"},
             {ETXTBSY, "ETXTBSY"}, {EFBIG, "EFBIG"},      {ENOSPC, "ENOSPC"},
             {EROFS, "EROFS"},    {EMLINK, "EMLINK"},     {EPIPE, "EPIPE"},
             {ENOSYS, "ENOSYS"},  {ELOOP, "ELOOP"},       {ENOTSOCK, "ENOTSOCK"},
             {EAFNOSUPPORT, "EAFNOSUPPORT"}, {EADDRNOTAVAIL, "EADDRNOTAVAIL"},
             {ENETUNREACH, "ENETUNREACH"}, {ECONNREFUSED, "ECONNREFUSED"},
             {EHOSTUNREACH, "EHOSTUNREACH"}, {ETIMEDOUT, "ETIMEDOUT"},
             {EOPNOTSUPP, "EOPNOTSUPP"}, {EUSERS, "EUSERS"}, {EOVERFLOW, "EOVERFLOW"}};

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        if (t[i].e == e)
            return t[i].n;
    return "E?";
}

/* "OK" when rc >= 0, else the errno name. */
#define RES(rc) ((rc) >= 0 ? "OK" : ename(errno))

#endif

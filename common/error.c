/*
 * error.c - messages, names and wire codes for the AIOS_E* table.
 *
 * Everything here is generated from AIOS_ERRNO_MAP in include/aios/error.h;
 * there is deliberately no switch statement to keep in step by hand.
 * Thread-safe: only reads static tables.
 */
#include <errno.h>
#include <stddef.h>

#include "aios/error.h"

typedef struct {
    int code;
    int rpc;
    const char *name;
    const char *msg;
} err_row;

static const err_row err_table[] = {
#define ERR_ROW(name, val, rpc, msg) {val, rpc, #name, msg},
    AIOS_ERRNO_MAP(ERR_ROW)
#undef ERR_ROW
};

#define ERR_COUNT (sizeof(err_table) / sizeof(err_table[0]))

/* Find the row for a code; the table is small and ordered by value. */
static const err_row *err_find(int code)
{
    if (code < 0 && (size_t)(-code) <= ERR_COUNT &&
        err_table[-code - 1].code == code)
        return &err_table[-code - 1];
    for (size_t i = 0; i < ERR_COUNT; i++)
        if (err_table[i].code == code)
            return &err_table[i];
    return NULL;
}

const char *aios_strerror(int code)
{
    const err_row *r;

    if (code == 0)
        return "success";
    r = err_find(code);
    return r ? r->msg : "unknown error";
}

const char *aios_errname(int code)
{
    const err_row *r;

    if (code == 0)
        return "OK";
    r = err_find(code);
    return r ? r->name : "EUNKNOWN";
}

int aios_rpc_code(int code)
{
    const err_row *r = err_find(code);
    return r ? r->rpc : -32603;
}

int aios_from_rpc_code(int rpc)
{
    for (size_t i = 0; i < ERR_COUNT; i++)
        if (err_table[i].rpc == rpc)
            return err_table[i].code;
    return AIOS_EINTERNAL;
}

/* errno -> AIOS_E*, a table rather than a ladder of cases. */
static const struct {
    int err;
    int code;
} errno_table[] = {
    {EINVAL, AIOS_EINVAL},   {ENOMEM, AIOS_ENOMEM},       {ENOENT, AIOS_ENOENT},
    {EEXIST, AIOS_EEXIST},   {EPERM, AIOS_EPERM},         {EACCES, AIOS_EPERM},
    {EBUSY, AIOS_EBUSY},     {ECANCELED, AIOS_ECANCELED}, {ETIMEDOUT, AIOS_ETIMEDOUT},
    {ENOTSUP, AIOS_ENOTSUP}, {EIO, AIOS_EIO},             {E2BIG, AIOS_ETOOBIG},
    {EFBIG, AIOS_ETOOBIG},   {EAGAIN, AIOS_EAGAIN},       {ENOSPC, AIOS_ENOSPC},
    {ENOTDIR, AIOS_ENOTDIR}, {EISDIR, AIOS_EISDIR},       {ENOTEMPTY, AIOS_ENOTEMPTY},
    {ERANGE, AIOS_ERANGE},   {EPIPE, AIOS_ECLOSED},       {ECONNRESET, AIOS_ECLOSED},
    {ENOSYS, AIOS_ENOTSUP},  {EMFILE, AIOS_ELIMIT},       {ENFILE, AIOS_ELIMIT},
    {EROFS, AIOS_EPERM},     {ELOOP, AIOS_EPERM},         {EXDEV, AIOS_ENOTSUP},
};

int aios_from_errno(int err)
{
    for (size_t i = 0; i < sizeof(errno_table) / sizeof(errno_table[0]); i++)
        if (errno_table[i].err == err)
            return errno_table[i].code;
    return AIOS_ESYS;
}

/*
 * error.h - the one table of aios error codes.
 *
 * Every action function in aios returns 0 on success or a negative AIOS_E*
 * code from this table.  The same X-macro generates aios_strerror() and the
 * mapping to JSON-RPC error codes used on the wire, so a code, its message and
 * its wire number can never drift apart.  Rows are append-only: the numeric
 * values are part of the C ABI of libaios.
 */
#ifndef AIOS_ERROR_H
#define AIOS_ERROR_H

/*
 * X(NAME, value, JSON-RPC code, message)
 * JSON-RPC codes: -32700..-32600 are the standard ones, -32001.. are ours and
 * are listed in docs/protocol.md.
 */
#define AIOS_ERRNO_MAP(X)                                                      \
    X(EINVAL,     -1, -32602, "invalid argument")                              \
    X(ENOMEM,     -2, -32603, "out of memory")                                 \
    X(ENOENT,     -3, -32002, "not found")                                     \
    X(EEXIST,     -4, -32007, "already exists")                                \
    X(EPERM,      -5, -32001, "permission denied")                             \
    X(EBUSY,      -6, -32003, "resource busy")                                 \
    X(ECANCELED,  -7, -32004, "cancelled")                                     \
    X(ETIMEDOUT,  -8, -32005, "timed out")                                     \
    X(EUNAVAIL,   -9, -32006, "unavailable")                                   \
    X(ENOTSUP,   -10, -32012, "not supported")                                 \
    X(EIO,       -11, -32603, "i/o error")                                     \
    X(ECORRUPT,  -12, -32011, "corrupt or malformed data")                     \
    X(ETOOBIG,   -13, -32008, "too large")                                     \
    X(ELIMIT,    -14, -32010, "limit exceeded")                                \
    X(ECONFIRM,  -15, -32009, "confirmation required")                         \
    X(ECONFLICT, -16, -32013, "conflict")                                      \
    X(EPROTO,    -17, -32600, "invalid request")                               \
    X(EPARSE,    -18, -32700, "parse error")                                   \
    X(ENOMETHOD, -19, -32601, "method not found")                              \
    X(EAGAIN,    -20, -32003, "try again")                                     \
    X(ECLOSED,   -21, -32014, "connection closed")                             \
    X(ENOSPC,    -22, -32010, "no space left")                                 \
    X(ESYS,      -23, -32603, "system call failed")                            \
    X(EINTERNAL, -24, -32603, "internal error")                                \
    X(ENOTDIR,   -25, -32015, "not a directory")                               \
    X(EISDIR,    -26, -32016, "is a directory")                                \
    X(ENOTEMPTY, -27, -32017, "directory not empty")                           \
    X(ESANDBOX,  -28, -32018, "required sandbox layer unavailable")            \
    X(ERANGE,    -29, -32602, "value out of range")                            \
    X(ESCHEMA,   -30, -32019, "output does not match the schema")             \
    X(EDENIED,   -31, -32020, "denied by a person")

enum {
    AIOS_OK = 0,
#define AIOS__ERRNO_ENUM(name, val, rpc, msg) AIOS_##name = (val),
    AIOS_ERRNO_MAP(AIOS__ERRNO_ENUM)
#undef AIOS__ERRNO_ENUM
    AIOS_ERRNO_LAST = -31
};

/* A static, lower-case message for an AIOS_E* code ("unknown error" else). */
const char *aios_strerror(int code);

/* The symbolic name of a code, e.g. "ENOENT" (static string). */
const char *aios_errname(int code);

/* The JSON-RPC error number used on the wire for an AIOS_E* code. */
int aios_rpc_code(int code);

/* The AIOS_E* code for a JSON-RPC error number (first row that maps to it),
 * AIOS_EINTERNAL when unknown.  Used by the clients. */
int aios_from_rpc_code(int rpc);

/* Map a libc errno value to the closest AIOS_E* code. */
int aios_from_errno(int err);

#endif /* AIOS_ERROR_H */

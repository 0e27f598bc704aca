/*
 * landlock.c - the Landlock layer: file system rules for the new root, TCP
 * bind/connect denied without network, and scoping (abstract unix sockets
 * and signals stay inside the sandbox), at the best ABI the kernel offers.
 *
 * The ruleset is built by init once the root exists (paths are opened in the
 * new root) and enforced by the tool process after no_new_privs.  The
 * constants and structures of newer ABIs are declared here from the kernel's
 * UAPI, since the C library headers of older distributions stop at ABI 1-2;
 * the kernel accepts the larger structure as long as fields it does not know
 * are zero, and we only set fields the probed ABI supports.
 * Owns the ruleset descriptor x->ll_fd.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "aios/error.h"
#include "sandbox/exec/exec_int.h"

/* Access rights (UAPI linux/landlock.h). */
#define LL_FS_EXECUTE (1ull << 0)
#define LL_FS_WRITE_FILE (1ull << 1)
#define LL_FS_READ_FILE (1ull << 2)
#define LL_FS_READ_DIR (1ull << 3)
#define LL_FS_REMOVE_DIR (1ull << 4)
#define LL_FS_REMOVE_FILE (1ull << 5)
#define LL_FS_MAKE_CHAR (1ull << 6)
#define LL_FS_MAKE_DIR (1ull << 7)
#define LL_FS_MAKE_REG (1ull << 8)
#define LL_FS_MAKE_SOCK (1ull << 9)
#define LL_FS_MAKE_FIFO (1ull << 10)
#define LL_FS_MAKE_BLOCK (1ull << 11)
#define LL_FS_MAKE_SYM (1ull << 12)
#define LL_FS_REFER (1ull << 13)      /* ABI 2 */
#define LL_FS_TRUNCATE (1ull << 14)   /* ABI 3 */
#define LL_FS_IOCTL_DEV (1ull << 15)  /* ABI 5 */
#define LL_NET_BIND_TCP (1ull << 0)   /* ABI 4 */
#define LL_NET_CONNECT_TCP (1ull << 1)
#define LL_SCOPE_ABSTRACT_UNIX (1ull << 0)  /* ABI 6 */
#define LL_SCOPE_SIGNAL (1ull << 1)
#define LL_RULE_PATH_BENEATH 1
#define LL_CREATE_RULESET_VERSION (1u << 0)

typedef struct ll_ruleset_attr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net;
    uint64_t scoped;
} ll_ruleset_attr;

typedef struct __attribute__((packed)) ll_path_beneath {
    uint64_t allowed_access;
    int32_t parent_fd;
} ll_path_beneath;

/* Rights that make sense on a file (not a folder) in a rule. */
#define LL_FILE_RIGHTS                                                         \
    (LL_FS_EXECUTE | LL_FS_WRITE_FILE | LL_FS_READ_FILE | LL_FS_TRUNCATE | LL_FS_IOCTL_DEV)
#define LL_READ_EXEC (LL_FS_EXECUTE | LL_FS_READ_FILE | LL_FS_READ_DIR)

/* Every file-system right the given ABI knows. */
static uint64_t fs_rights(int abi)
{
    uint64_t r = (LL_FS_MAKE_SYM << 1) - 1;

    if (abi >= 2)
        r |= LL_FS_REFER;
    if (abi >= 3)
        r |= LL_FS_TRUNCATE;
    if (abi >= 5)
        r |= LL_FS_IOCTL_DEV;
    return r;
}

/* Allow `access` beneath path (in the new root); missing paths are skipped. */
static int add_rule(xctx *x, const char *path, uint64_t access, uint64_t handled)
{
    ll_path_beneath pb;
    struct stat st;
    int fd = open(path, O_PATH | O_CLOEXEC);
    int rc = 0;

    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    if (fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode))
        access &= LL_FILE_RIGHTS;
    pb.allowed_access = access & handled;
    pb.parent_fd = fd;
    if (pb.allowed_access &&
        syscall(SYS_landlock_add_rule, x->ll_fd, LL_RULE_PATH_BENEATH, &pb, 0) < 0)
        rc = -errno;
    close(fd);
    return rc;
}

int x_landlock_prepare(xctx *x)
{
    static const char *const sys_ro[] = {"/usr", "/bin", "/sbin", "/lib", "/lib32",
                                         "/lib64", "/libx32", "/etc"};
    ll_ruleset_attr attr;
    size_t attr_size = sizeof(uint64_t);
    uint64_t fs, rw;
    long abi;
    int rc = 0;

    x->ll_fd = -1;
    abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LL_CREATE_RULESET_VERSION);
    if (abi <= 0) {
        x->landlock_abi = 0;
        return x_layer(x, SBX_L_LANDLOCK, SBX_ST_UNAVAILABLE,
                       errno == EOPNOTSUPP ? "disabled at boot" : "kernel without landlock");
    }
    x->landlock_abi = (int)abi;
    fs = fs_rights((int)abi);
    memset(&attr, 0, sizeof(attr));
    attr.handled_access_fs = fs;
    if (abi >= 4) {
        attr_size = 2 * sizeof(uint64_t);
        if (!x->pol.network)
            attr.handled_access_net = LL_NET_BIND_TCP | LL_NET_CONNECT_TCP;
    }
    if (abi >= 6) {
        attr_size = sizeof(attr);
        attr.scoped = LL_SCOPE_ABSTRACT_UNIX | LL_SCOPE_SIGNAL;
    }
    x->ll_fd = (int)syscall(SYS_landlock_create_ruleset, &attr, attr_size, 0);
    if (x->ll_fd < 0)
        return x_layer(x, SBX_L_LANDLOCK, SBX_ST_FAILED, strerror(errno));

    rw = fs & ~(LL_FS_MAKE_CHAR | LL_FS_MAKE_BLOCK);
    if ((rc = add_rule(x, "/", LL_FS_READ_DIR, fs)) < 0)
        goto out_fail;
    for (size_t i = 0; x->pol.system_binds && i < sizeof(sys_ro) / sizeof(sys_ro[0]); i++)
        if ((rc = add_rule(x, sys_ro[i], LL_READ_EXEC, fs)) < 0)
            goto out_fail;
    for (size_t i = 0; i < x->pol.nbinds; i++)
        if ((rc = add_rule(x, x->pol.binds[i].dst, x->pol.binds[i].rw ? rw : LL_READ_EXEC,
                           fs)) < 0)
            goto out_fail;
    if ((rc = add_rule(x, "/work", rw, fs)) < 0 || (rc = add_rule(x, "/tmp", rw, fs)) < 0 ||
        (rc = add_rule(x, "/dev/shm", rw & ~LL_FS_EXECUTE, fs)) < 0 ||
        (rc = add_rule(x, "/dev",
                       LL_FS_READ_FILE | LL_FS_WRITE_FILE | LL_FS_READ_DIR | LL_FS_TRUNCATE |
                           LL_FS_IOCTL_DEV,
                       fs)) < 0 ||
        (rc = add_rule(x, "/proc", LL_FS_READ_FILE | LL_FS_READ_DIR, fs)) < 0)
        goto out_fail;
    return 0;

out_fail:
    close(x->ll_fd);
    x->ll_fd = -1;
    return x_layer(x, SBX_L_LANDLOCK, SBX_ST_FAILED, strerror(-rc));
}

int x_landlock_apply(xctx *x)
{
    if (x->ll_fd < 0)
        return 0;  /* state already recorded by prepare */
    if (syscall(SYS_landlock_restrict_self, x->ll_fd, 0) < 0)
        return x_layer(x, SBX_L_LANDLOCK, SBX_ST_FAILED, strerror(errno));
    close(x->ll_fd);
    x->ll_fd = -1;
    return x_layer(x, SBX_L_LANDLOCK, SBX_ST_APPLIED, NULL);
}

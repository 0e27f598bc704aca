/*
 * exec_int.h - private declarations of aios-exec, the sandbox helper.
 *
 * aios-exec runs as three processes, each single-threaded:
 *   outer - the program the daemon spawned: reads the policy, prepares the
 *           cgroup, clones init into the new namespaces, writes its uid/gid
 *           maps, enforces the wall-clock limit and reports the exit.
 *   init  - pid 1 of the new pid namespace: builds the root (mounts,
 *           pivot_root), disables nested user namespaces, prepares Landlock
 *           and seccomp, forks the tool and reaps everything until the
 *           tool's main process ends (then the namespace, and so the whole
 *           tree, dies with it).
 *   tool  - confines itself (session, fds, env, rlimits, uid, caps,
 *           no_new_privs, Landlock, seccomp), reports the layers and execs.
 * Layer states travel outer -> init -> tool inside the xctx copy each
 * process inherits; the tool process writes the final layer report.
 */
#ifndef AIOS_SANDBOX_EXEC_INT_H
#define AIOS_SANDBOX_EXEC_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "aios/sandbox.h"

/* Exit codes of aios-exec itself (the status pipe is authoritative). */
#define X_EXIT_SETUP 125     /* the sandbox could not be built */
#define X_EXIT_NOEXEC 127    /* the tool could not be executed */

/* Messages on the private pipes between outer and init. */
enum {
    XM_GO = 1,      /* outer -> init: maps written; payload the layer states */
    XM_SETUP,       /* outer -> init: cgroup joined, seccomp compiled; xsetup + BPF */
    XM_READY,       /* init -> outer (warm): the sandbox is built */
    XM_STARTED,     /* init -> outer (warm): the call came; payload wall_ms (u64) */
    XM_STATUS,      /* init -> outer: the tool's end; xstatus */
};

/* XM_SETUP payload header; the main filter's then the tty filter's BPF
 * instructions (struct sock_filter) follow. */
typedef struct xsetup {
    unsigned char cgroup_state;
    unsigned char seccomp_state;
    uint32_t main_len;        /* bytes */
    uint32_t tty_len;
} xsetup;

/* XM_STATUS payload: sent once the tool's main process ended and every
 * other process of the sandbox was killed and reaped. */
typedef struct xstatus {
    int wstatus;
    long utime_us, stime_us;  /* the whole tree's CPU time */
    long maxrss_kb;
} xstatus;

typedef struct xmsg_hdr {
    uint32_t type;
    uint32_t len;
} xmsg_hdr;

/* Cgroup bookkeeping (outer). */
typedef struct xcgroup {
    int version;              /* 0 none, 1 or 2 */
    int n;                    /* folders created */
    char dirs[4][512];        /* v1: memory, pids, cpu folders; v2: one */
    int fd_oom, fd_mem_peak, fd_pids_peak;   /* open for x_cgroup_stats, -1 */
} xcgroup;

typedef struct xctx {
    sbx_policy pol;
    bool warm;
    bool is_root;             /* the outer runs as uid 0 */
    bool userns;              /* init lives in a new user namespace */
    int status_fd;            /* -1 when nobody listens */
    int policy_fd;
    uid_t host_uid;           /* uid outside that the tool maps to */
    gid_t host_gid;
    unsigned char layers[SBX_L_COUNT];
    int landlock_abi;         /* 0 when unavailable */
    void *bpf_main, *bpf_tty; /* compiled seccomp filters (outer -> tool) */
    uint32_t bpf_main_len, bpf_tty_len;
    int ll_fd;                /* prepared Landlock ruleset, -1 */
    xcgroup cg;
    int sync_rd, sync_wr;     /* outer -> init */
    int back_rd, back_wr;     /* init -> outer */
    bool timing;              /* --timing: emit stage timestamps */
} xctx;

/* ---- main.c ---------------------------------------------------------------- */
/* Apply a JSON policy (or, call_only, a warm call) on top of x->pol. */
int x_apply_json(xctx *x, const char *text, bool call_only);

/* ---- report.c: the status pipe -------------------------------------------- */

/* Write one event line (steals ev).  Ignores a missing or closed pipe. */
void x_event(xctx *x, json_t *ev);

/* Report a setup error at stage (a layer name or "policy", "exec", ...);
 * returns code.  The message is lower case, as in the logs. */
int x_error(xctx *x, const char *stage, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Record a layer's state; if the layer is required and the state is neither
 * applied nor off, report the error and return AIOS_ESANDBOX. */
int x_layer(xctx *x, int layer, int state, const char *why);

/* --timing: a {"ev":"t","s":stage,"ms":monotonic ms} event. */
void x_mark(xctx *x, const char *stage);

/* The full layer report {"ev":"layers", ...} (tool process, before exec). */
void x_report_layers(xctx *x);

/* The exit event {"ev":"exit", ...} for the tool's wait status st (or, when
 * have_status is false, for a sandbox that ended without one). */
void x_report_exit(xctx *x, bool have_status, const xstatus *st, bool timeout, bool killed,
                   double wall_ms);

/* Read one line (up to '\n' or EOF, at most 8 MiB) into a malloc'd string.
 * 0, AIOS_ECLOSED at EOF before any byte, AIOS_ETOOBIG, AIOS_EPROTO when
 * more follows the line, AIOS_EIO. */
int x_read_line(int fd, char **out);

/* ---- msg.c: framed messages on the private pipes ------------------------- */
int x_send(int fd, uint32_t type, const void *data, uint32_t len);
/* Receive one message; *data is malloc'd (NUL-terminated) or NULL.  Returns
 * 0, AIOS_ECLOSED at EOF, AIOS_EIO otherwise. */
int x_recv(int fd, uint32_t *type, void **data, uint32_t *len);

/* ---- cgroup.c (outer) ------------------------------------------------------ */
int x_cgroup_prepare(xctx *x);
int x_cgroup_attach(xctx *x, pid_t pid);
/* Write the policy's limits into the cgroup. */
int x_cgroup_limits(xctx *x);
/* OOM and peak facts into detail (may be NULL); returns whether the
 * memory limit killed something.  Reads files opened at prepare time, so
 * init can call it too. */
bool x_cgroup_stats(xctx *x, json_t *detail);
/* Kill whatever is left and remove the folders. */
void x_cgroup_finish(xctx *x);

/* ---- fsroot.c (init) ------------------------------------------------------- */
int x_fs_build(xctx *x);

/* ---- landlock.c ---------------------------------------------------------- */
/* Probe the ABI and build the ruleset for the new root (init). */
int x_landlock_prepare(xctx *x);
/* Enforce it on the calling process (tool). */
int x_landlock_apply(xctx *x);

/* ---- seccomp.c -------------------------------------------------------------- */
/* Compile both filters with libseccomp into x->bpf_* (outer). */
int x_seccomp_build(xctx *x);
/* Load the compiled filters (tool, after no_new_privs). */
int x_seccomp_apply(xctx *x);

/* ---- confine.c (tool) ------------------------------------------------------ */
/* Everything from the new session to the exec; never returns. */
void x_tool_main(xctx *x) __attribute__((noreturn));

/* ---- init.c ---------------------------------------------------------------- */
/* pid 1 of the sandbox; never returns. */
void x_init_main(xctx *x) __attribute__((noreturn));

/* ---- util ------------------------------------------------------------------ */
/* Write a whole string to a file (procfs, cgroupfs).  0 or -errno. */
int x_write_file(const char *path, const char *s);
/* Reset every signal to default and unblock all (before exec). */
void x_reset_signals(void);

#endif /* AIOS_SANDBOX_EXEC_INT_H */

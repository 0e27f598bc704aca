/*
 * sandbox.h - sandboxed execution of tool programs through aios-exec.
 *
 * A tool call runs in a fresh sandbox built by aios-exec, a small
 * single-threaded helper the daemon spawns (it never forks itself).  The
 * helper applies the layers of SBX_LAYER_MAP in order and reports, for each,
 * whether it was applied, unavailable on this machine, failed, or switched
 * off by the policy.  A policy may require layers; a required layer that is
 * not applied stops the call with AIOS_ESANDBOX instead of running the tool
 * with less isolation.
 *
 * Three parts:
 *   - sbx_policy: what a sandbox may see and use (argv, environment, binds,
 *     network, limits, required layers).  Read from and written to JSON; the
 *     same parser runs in the daemon (early errors) and in aios-exec.
 *   - sbx_ctx / sbx_spawn: the daemon side.  Loop thread only.  Spawns
 *     aios-exec with uv_spawn, passes the policy on a pipe, captures
 *     stdout/stderr into bounded buffers (optionally streamed), enforces the
 *     wall-clock limit, kills the whole tree on timeout or cancel, reaps, and
 *     reports layers and exit status.  A warm pool keeps pre-isolated
 *     sandboxes ready for the common policy shapes.
 *   - the wire protocol between the two (documented in sandbox/exec/main.c).
 *
 * Ownership: a policy owns its strings (sbx_policy_clear frees them); a
 * result is owned by its run and valid only during on_done.
 */
#ifndef AIOS_SANDBOX_H
#define AIOS_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

struct uv_loop_s;

/* ---- layers ---------------------------------------------------------------
 * X(ID, "name", "what it does"), in the order aios-exec applies them.
 */
#define SBX_LAYER_MAP(X)                                                        \
    X(USERNS, "userns", "user namespace; the tool runs as a non-zero uid")     \
    X(PIDNS, "pidns", "pid namespace with its own init; tree dies with it")    \
    X(MNTNS, "mntns", "mount namespace, private propagation")                  \
    X(NETNS, "netns", "network namespace without interfaces")                  \
    X(IPCNS, "ipcns", "ipc namespace")                                         \
    X(UTSNS, "utsns", "uts namespace with its own host name")                  \
    X(CGROUPNS, "cgroupns", "cgroup namespace")                                \
    X(ROOT, "root", "fresh tmpfs root, read-only system binds, pivot_root")    \
    X(PROC, "proc", "fresh /proc of the pid namespace (pid entries only)")     \
    X(DEV, "dev", "minimal /dev: null zero full random urandom shm")           \
    X(SESSION, "session", "new session, no controlling terminal")              \
    X(FDS, "fds", "only stdin, stdout, stderr (pipes) are open")               \
    X(ENV, "env", "environment reset to the policy's allowlist")               \
    X(RLIMITS, "rlimits", "address space, cpu, file size, fds, procs, core 0") \
    X(CGROUP, "cgroup", "cgroup memory (no swap), pids and cpu limits")        \
    X(NOUSERNS, "nested_userns", "creating user namespaces disabled")          \
    X(CAPS, "caps", "all capabilities dropped, bounding set included")         \
    X(NNP, "no_new_privs", "no_new_privs set")                                 \
    X(LANDLOCK, "landlock", "landlock: filesystem rules, tcp deny, scoping")   \
    X(SECCOMP, "seccomp", "seccomp allowlist (libseccomp), applied last")

typedef enum sbx_layer {
#define SBX__LAYER_ENUM(id, name, desc) SBX_L_##id,
    SBX_LAYER_MAP(SBX__LAYER_ENUM)
#undef SBX__LAYER_ENUM
    SBX_L_COUNT
} sbx_layer;

/* What happened to a layer. */
typedef enum sbx_state {
    SBX_ST_NONE = 0,      /* not reached (setup stopped earlier) */
    SBX_ST_APPLIED,       /* in force for the tool */
    SBX_ST_UNAVAILABLE,   /* this kernel or machine does not offer it */
    SBX_ST_FAILED,        /* offered, but applying it failed */
    SBX_ST_OFF,           /* the policy switched it off (e.g. netns with network on) */
} sbx_state;

/* "userns", ...; NULL when out of range. */
const char *sbx_layer_name(int layer);
const char *sbx_layer_desc(int layer);
/* The layer for a name, or -1. */
int sbx_layer_from_name(const char *name);
/* "applied", "unavailable", "failed", "off", "none". */
const char *sbx_state_name(int state);
/* The state for a name, or -1. */
int sbx_state_from_name(const char *name);

#define SBX_REQUIRE_ALL ((1u << SBX_L_COUNT) - 1u)

/* ---- policy ---------------------------------------------------------------- */

/* Limits; 0 means "no limit" except where noted. */
typedef struct sbx_limits {
    uint64_t wall_ms;       /* wall-clock limit for the whole tree */
    uint64_t cpu_ms;        /* CPU time (RLIMIT_CPU, rounded up to seconds) */
    uint64_t as_bytes;      /* address space per process (RLIMIT_AS) */
    uint64_t fsize_bytes;   /* largest file a process may write (RLIMIT_FSIZE) */
    uint64_t nofile;        /* open descriptors per process (RLIMIT_NOFILE) */
    uint64_t nproc;         /* processes of the tool's uid (RLIMIT_NPROC) */
    uint64_t mem_bytes;     /* cgroup memory, swap excluded */
    uint64_t pids;          /* cgroup pids */
    uint64_t cpu_pct;       /* cgroup cpu quota, percent of one CPU */
    uint64_t work_bytes;    /* size of the tmpfs /work when no workdir is bound */
    uint64_t tmp_bytes;     /* size of the tmpfs /tmp and /dev/shm */
    uint64_t stdout_cap;    /* bytes of stdout kept (daemon side) */
    uint64_t stderr_cap;    /* bytes of stderr kept (daemon side) */
} sbx_limits;

/* A host path made visible inside the sandbox. */
typedef struct sbx_bind {
    char *src;              /* host path (absolute) */
    char *dst;              /* path inside (absolute); defaults to src */
    bool rw;                /* writable (nosuid, nodev) or read-only */
} sbx_bind;

typedef struct sbx_policy {
    char **argv;            /* NULL-terminated; argv[0] absolute or found on PATH */
    size_t argc;
    char **env;             /* NULL-terminated "NAME=value": the whole environment */
    size_t envc;
    char *cwd;              /* inside the sandbox; default "/work" */
    bool network;           /* share the host network (no netns, no tcp deny) */
    bool system_binds;      /* bind /usr, /lib*, the /etc files programs need */
    sbx_bind *binds;        /* extra binds */
    size_t nbinds;
    char *workdir;          /* host dir bound writable at /work; NULL: tmpfs */
    sbx_limits limits;
    uint32_t require;       /* bit (1u << SBX_L_x) per layer that must be applied */
    uid_t uid;              /* the tool's uid inside (default 1000) */
    gid_t gid;              /* the tool's gid inside (default 1000) */
    uid_t host_uid;         /* uid outside, when aios-exec runs as root (0: pick) */
    gid_t host_gid;         /* gid outside, when root (0: same as host_uid) */
    char *hostname;         /* default "sandbox" */
    char *cgroup_parent;    /* cgroup folder to create sandboxes under (NULL: own) */
    bool drain;             /* past a cap, keep reading and counting (else close) */
} sbx_policy;

/* The defaults: system binds on, network off, tmpfs /work of 64 MiB, modest
 * limits, require = every layer except cgroup and landlock. */
void sbx_policy_init(sbx_policy *p);

/* Free what the policy owns and reset it to zeros.  Accepts NULL. */
void sbx_policy_clear(sbx_policy *p);

/*
 * Update p from a JSON object (keys of sbx_policy_to_json; absent keys keep
 * their values, so defaults, a manifest and a call can be layered).  On a
 * bad key or value returns AIOS_EINVAL and writes the dotted field name to
 * field (may be NULL) and a message to msg.
 */
int sbx_policy_update(sbx_policy *p, const json_t *j, char *field, size_t field_len,
                      char *msg, size_t msg_len);

/* The policy as JSON (new reference, NULL on OOM). */
json_t *sbx_policy_to_json(const sbx_policy *p);

/* Deep copy into dst (initialised by this call).  0 or AIOS_ENOMEM. */
int sbx_policy_copy(sbx_policy *dst, const sbx_policy *src);

/* Replace argv / add or replace one environment entry. 0 or AIOS_ENOMEM. */
int sbx_policy_set_argv(sbx_policy *p, const char *const *argv, size_t argc);
int sbx_policy_setenv(sbx_policy *p, const char *name, const char *value);

/* ---- results ---------------------------------------------------------------- */

typedef struct sbx_result {
    int rc;                  /* 0: the tool ran (whatever its status); else AIOS_E* */
    char error[256];         /* why rc != 0 or exec failed ("" otherwise) */
    char error_layer[24];    /* layer or stage that failed ("" when none) */
    bool exited;             /* exit_code valid */
    int exit_code;
    int term_signal;         /* signal that ended the tool, 0 if none */
    bool timed_out;          /* killed at the wall-clock limit */
    bool cancelled;          /* killed by sbx_kill */
    bool oom_killed;         /* the cgroup memory limit killed something */
    char *out;               /* captured stdout (NUL-terminated, out_len bytes) */
    size_t out_len;
    uint64_t out_total;      /* bytes seen (more than out_len when truncated) */
    bool out_truncated;
    char *err;
    size_t err_len;
    uint64_t err_total;
    bool err_truncated;
    double wall_ms;          /* spawn to reap */
    double cpu_ms;           /* user+system of the whole tree */
    long maxrss_kb;          /* largest resident set in the tree */
    bool warm;               /* ran in a pre-built sandbox from the pool */
    unsigned char layers[SBX_L_COUNT];  /* sbx_state per layer */
    json_t *detail;          /* extra facts from aios-exec (landlock abi, ...) */
} sbx_result;

/* The result as JSON: {exit_code|signal, timed_out, stdout, stderr,
 * truncation, layers: {name: state}, ...}.  New reference. */
json_t *sbx_result_to_json(const sbx_result *r);

/* Tool output as a JSON string: invalid UTF-8 replaced by U+FFFD.  New
 * reference (NULL on OOM). */
json_t *sbx_text_json(const char *data, size_t len);

/* The longest prefix of data that does not end inside a UTF-8 sequence
 * (for streaming output in chunks without splitting characters). */
size_t sbx_utf8_complete(const char *data, size_t len);

/* ---- daemon side: spawning (loop thread) ---------------------------------- */

typedef struct sbx_ctx sbx_ctx;
typedef struct sbx_run sbx_run;

typedef struct sbx_config {
    const char *exec_path;   /* aios-exec; NULL: next to /proc/self/exe */
    unsigned pool_size;      /* warm sandboxes kept ready (0: none) */
    uid_t uid_base;          /* host uids for tools when root: base.. */
    unsigned uid_count;      /* ..base+count-1 (one per running sandbox) */
    uint64_t kill_grace_ms;  /* daemon timer = wall_ms + this (backstop) */
    bool timing;             /* collect stage timestamps into detail.timing */
} sbx_config;

typedef struct sbx_callbacks {
    /* A chunk of output (fd 1 or 2), before truncation; NULL: no streaming. */
    void (*on_output)(void *arg, int fd, const char *data, size_t len);
    /* The end; res is valid until the callback returns.  Always called
     * exactly once for a successful sbx_spawn. */
    void (*on_done)(void *arg, sbx_result *res);
    void *arg;
} sbx_callbacks;

/* Create the spawning context; loop thread.  *out NULL on failure. */
int sbx_ctx_new(struct uv_loop_s *loop, const sbx_config *cfg, sbx_ctx **out);

/*
 * Kill every running sandbox (their on_done runs with cancelled), drop the
 * warm pool and free the context once its handles are closed (the loop must
 * keep running until then).  Accepts NULL.
 */
void sbx_ctx_close(sbx_ctx *ctx);

/* The aios-exec path in use. */
const char *sbx_ctx_exec_path(const sbx_ctx *ctx);

/*
 * Run the policy's argv in a sandbox.  stdin_data (may be NULL) is written to
 * the tool's stdin, which is then closed.  Returns 0 and later calls
 * cb->on_done once, or a negative code (AIOS_EINVAL for a bad policy,
 * AIOS_EUNAVAIL when aios-exec cannot be started) without calling it.
 * *out (may be NULL) receives the run for sbx_kill; it is valid until
 * on_done returns.
 */
int sbx_spawn(sbx_ctx *ctx, const sbx_policy *p, const char *stdin_data, size_t stdin_len,
              const sbx_callbacks *cb, sbx_run **out);

/* Keep warm sandboxes of p's shape ready (cfg.pool_size of them); the pool
 * otherwise follows the shape of the latest call.  0 or AIOS_ENOMEM. */
int sbx_ctx_prewarm(sbx_ctx *ctx, const sbx_policy *p);

/* Kill the run's whole tree now (cancel); on_done follows.  Idempotent. */
void sbx_kill(sbx_run *r);

/* Counters for sys.stats: runs, warm hits, timeouts, ... (new reference). */
json_t *sbx_ctx_stats(const sbx_ctx *ctx);

/*
 * Find aios-exec next to the running program (/proc/self/exe's folder).
 * 0, or AIOS_ENOENT when it is not there.
 */
int sbx_find_exec(char *buf, size_t len);

#endif /* AIOS_SANDBOX_H */

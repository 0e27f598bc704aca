/*
 * sandbox_int.h - private structures of the daemon side of the sandbox
 * module (spawn.c, pool.c).  Loop thread only.
 */
#ifndef AIOS_SANDBOX_INT_H
#define AIOS_SANDBOX_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "aios/sandbox.h"

#define SBX_READ_CHUNK (64 * 1024)
#define SBX_STATUS_MAX (256 * 1024)

typedef struct sbx_stream {
    uv_pipe_t pipe;
    struct sbx_run *run;
    int fd_no;               /* 1, 2, or 4 (status) */
    bool open;               /* handle initialised, not yet closing */
    bool eof;                /* no more data will come (EOF, error or capped) */
    char *buf;               /* captured bytes (NUL-terminated) */
    size_t len, alloc;
    uint64_t cap;            /* bytes kept at most */
    uint64_t total;          /* bytes seen */
    bool truncated;
    char rbuf[SBX_READ_CHUNK];
} sbx_stream;

struct sbx_run {
    sbx_ctx *ctx;
    struct sbx_run *next, *prev;   /* ctx->runs or ctx->pool */
    pid_t exec_pid;                /* aios-exec */
    int exec_pidfd;                /* its pidfd (aios_spawn), -1 once closed */
    uv_poll_t exit_poll;           /* exec_pidfd: readable when aios-exec ended */
    sbx_stream out, err, status;
    uv_pipe_t in;                  /* the tool's stdin (write end) */
    uv_pipe_t pol;                 /* aios-exec's policy pipe (write end) */
    bool in_open, pol_open;
    uv_timer_t timer;
    bool timer_open;
    int handles;                   /* handles not yet closed */
    uv_write_t pol_req, in_req;
    char *pol_text;                /* policy line being written */
    char *in_data;                 /* stdin being written */
    size_t in_len;
    sbx_callbacks cb;
    bool has_cb;                   /* a call is attached (warm: after take) */
    sbx_result res;
    bool proc_exited, exit_event, done, killing, freed;
    bool warm, ready;              /* warm sandbox; it reported ready */
    bool have_layers;              /* the tool's full layer report came */
    char *shape;                   /* warm: the policy shape key */
    int pidfd;                     /* init's pidfd, -1 */
    int uid_slot;                  /* -1 when none */
    int64_t exit_status;           /* aios-exec's own exit */
    int exit_signal;
    uint64_t wall_ms;
    bool drain;
    double t_start;
    json_t *timing;                /* cfg.timing: [[stage, ms since the call], ...] */
};

struct sbx_ctx {
    uv_loop_t *loop;
    char exec_path[4096];
    sbx_config cfg;
    bool root;                     /* the daemon runs as uid 0 */
    unsigned char *uid_used;       /* cfg.uid_count slots */
    struct sbx_run *runs;          /* running calls */
    struct sbx_run *pool;          /* warm sandboxes (ready or starting) */
    unsigned pool_n;
    char *pool_shape;              /* shape the pool keeps warm */
    sbx_policy pool_policy;        /* policy of that shape */
    bool pool_has_policy;
    unsigned pool_failures;        /* warm starts that died before ready */
    bool closing;
    unsigned live;                 /* runs not yet freed (calls + pool) */
    /* counters */
    uint64_t n_runs, n_warm_hits, n_cold, n_timeouts, n_cancelled, n_failed;
};

/* spawn.c */
int sbx__start(sbx_ctx *ctx, const sbx_policy *p, bool warm, struct sbx_run **out);
int sbx__attach_call(struct sbx_run *r, const sbx_policy *p, const char *stdin_data,
                     size_t stdin_len, const sbx_callbacks *cb);
void sbx__kill_tree(struct sbx_run *r);
double sbx__now_ms(void);

/* pool.c */
char *sbx__shape(const sbx_policy *p);
struct sbx_run *sbx__pool_take(sbx_ctx *ctx, const char *shape);
void sbx__pool_note(sbx_ctx *ctx, const sbx_policy *p, const char *shape);
void sbx__pool_refill(sbx_ctx *ctx);
void sbx__pool_remove(sbx_ctx *ctx, struct sbx_run *r);
void sbx__pool_close(sbx_ctx *ctx);

#endif /* AIOS_SANDBOX_INT_H */

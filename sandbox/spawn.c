/*
 * spawn.c - the daemon side of sandboxed execution: spawn aios-exec, feed it
 * the policy, capture the tool's output into bounded buffers, enforce the
 * wall-clock limit, kill the whole tree on timeout or cancel, and report.
 *
 * Each run owns five pipes (created here with O_CLOEXEC, so no other
 * thread's children inherit them): the tool's stdin, stdout and stderr,
 * aios-exec's policy pipe (fd 3) and its status pipe (fd 4).  aios-exec is
 * started with aios_spawn (no fork) and an empty environment; its pidfd
 * tells when it ended.  The status pipe carries
 * JSON lines (see sandbox/exec/main.c); the run ends when aios-exec reported
 * the exit and both output pipes are at EOF (or capped), or when aios-exec
 * itself ended.  The tree is killed through init's pidfd (the pid namespace
 * goes with it) and a SIGTERM to aios-exec (which also empties the cgroup);
 * a SIGKILL follows if aios-exec does not leave in time.
 *
 * Owns the sbx_ctx and its runs.  Loop thread only.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "aios/error.h"
#include "aios/log.h"
#include "aios/spawn.h"
#include "sandbox/sandbox_int.h"

#define KILL_GRACE_MS 2000

double sbx__now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ---- aios-exec location -------------------------------------------------- */

int sbx_find_exec(char *buf, size_t len)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    char *slash;

    if (n <= 0)
        return AIOS_ENOENT;
    self[n] = '\0';
    slash = strrchr(self, '/');
    if (!slash)
        return AIOS_ENOENT;
    *slash = '\0';
    if (snprintf(buf, len, "%s/aios-exec", self) >= (int)len)
        return AIOS_ETOOBIG;
    return access(buf, X_OK) == 0 ? 0 : AIOS_ENOENT;
}

/* ---- context ------------------------------------------------------------- */

int sbx_ctx_new(uv_loop_t *loop, const sbx_config *cfg, sbx_ctx **out)
{
    sbx_ctx *ctx = calloc(1, sizeof(*ctx));
    int rc;

    *out = NULL;
    if (!ctx)
        return AIOS_ENOMEM;
    ctx->loop = loop;
    if (cfg)
        ctx->cfg = *cfg;
    if (!ctx->cfg.uid_base)
        ctx->cfg.uid_base = 0x50000;
    if (!ctx->cfg.uid_count)
        ctx->cfg.uid_count = 1024;
    if (!ctx->cfg.kill_grace_ms)
        ctx->cfg.kill_grace_ms = 1000;
    if (cfg && cfg->exec_path) {
        if (snprintf(ctx->exec_path, sizeof(ctx->exec_path), "%s", cfg->exec_path) >=
            (int)sizeof(ctx->exec_path)) {
            rc = AIOS_ETOOBIG;
            goto out_free;
        }
        if (access(ctx->exec_path, X_OK) < 0) {
            rc = AIOS_ENOENT;
            goto out_free;
        }
    } else if ((rc = sbx_find_exec(ctx->exec_path, sizeof(ctx->exec_path))) < 0) {
        goto out_free;
    }
    ctx->cfg.exec_path = ctx->exec_path;
    ctx->root = geteuid() == 0;
    ctx->uid_used = calloc(ctx->cfg.uid_count, 1);
    if (!ctx->uid_used) {
        rc = AIOS_ENOMEM;
        goto out_free;
    }
    *out = ctx;
    return 0;
out_free:
    free(ctx);
    return rc;
}

const char *sbx_ctx_exec_path(const sbx_ctx *ctx)
{
    return ctx->exec_path;
}

static void ctx_free(sbx_ctx *ctx)
{
    free(ctx->uid_used);
    free(ctx->pool_shape);
    if (ctx->pool_has_policy)
        sbx_policy_clear(&ctx->pool_policy);
    free(ctx);
}

void sbx_ctx_close(sbx_ctx *ctx)
{
    if (!ctx || ctx->closing)
        return;
    ctx->closing = true;
    sbx__pool_close(ctx);
    for (struct sbx_run *r = ctx->runs; r; r = r->next) {
        r->res.cancelled = true;
        sbx__kill_tree(r);
    }
    if (ctx->live == 0)
        ctx_free(ctx);
}

json_t *sbx_ctx_stats(const sbx_ctx *ctx)
{
    int ready = 0;

    for (const struct sbx_run *r = ctx->pool; r; r = r->next)
        ready += r->ready && !r->killing;
    return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:i,s:i}", "runs", (json_int_t)ctx->n_runs,
                     "warm_hits", (json_int_t)ctx->n_warm_hits, "cold", (json_int_t)ctx->n_cold,
                     "timeouts", (json_int_t)ctx->n_timeouts, "cancelled",
                     (json_int_t)ctx->n_cancelled, "failed", (json_int_t)ctx->n_failed,
                     "pool", (int)ctx->pool_n, "pool_ready", ready);
}

/* ---- run lifetime -------------------------------------------------------- */

static void list_unlink(struct sbx_run **head, struct sbx_run *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else if (*head == r)
        *head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->next = r->prev = NULL;
}

static void list_push(struct sbx_run **head, struct sbx_run *r)
{
    r->prev = NULL;
    r->next = *head;
    if (*head)
        (*head)->prev = r;
    *head = r;
}

static void maybe_free(struct sbx_run *r)
{
    sbx_ctx *ctx = r->ctx;

    if (r->handles > 0 || !r->done || !r->proc_exited || r->freed)
        return;
    r->freed = true;
    if (r->warm && !r->has_cb)
        sbx__pool_remove(ctx, r);
    else
        list_unlink(&ctx->runs, r);
    if (r->pidfd >= 0)
        close(r->pidfd);
    if (r->exec_pidfd >= 0)
        close(r->exec_pidfd);
    free(r->out.buf);
    free(r->err.buf);
    free(r->status.buf);
    free(r->pol_text);
    free(r->in_data);
    free(r->shape);
    json_decref(r->res.detail);
    json_decref(r->timing);
    free(r);
    ctx->live--;
    if (ctx->closing && ctx->live == 0)
        ctx_free(ctx);
    else if (!ctx->closing)
        sbx__pool_refill(ctx);
}

static void on_close(uv_handle_t *h)
{
    struct sbx_run *r = h->data;

    r->handles--;
    maybe_free(r);
}

static void close_stream(sbx_stream *s)
{
    if (!s->open)
        return;
    s->open = false;
    s->eof = true;
    uv_read_stop((uv_stream_t *)&s->pipe);
    uv_close((uv_handle_t *)&s->pipe, on_close);
}

static void close_handles(struct sbx_run *r)
{
    close_stream(&r->out);
    close_stream(&r->err);
    close_stream(&r->status);
    if (r->in_open) {
        r->in_open = false;
        uv_close((uv_handle_t *)&r->in, on_close);
    }
    if (r->pol_open) {
        r->pol_open = false;
        uv_close((uv_handle_t *)&r->pol, on_close);
    }
    if (r->timer_open) {
        r->timer_open = false;
        uv_close((uv_handle_t *)&r->timer, on_close);
    }
}

static void free_uid(struct sbx_run *r)
{
    if (r->uid_slot >= 0) {
        r->ctx->uid_used[r->uid_slot] = 0;
        r->uid_slot = -1;
    }
}

/* cfg.timing: remember when a stage happened (ms on the monotonic clock,
 * kept relative to the call's start). */
static void mark(struct sbx_run *r, const char *stage, double ms)
{
    if (!r->ctx->cfg.timing || !stage)
        return;
    if (!r->timing)
        r->timing = json_array();
    json_array_append_new(r->timing, json_pack("[s,f]", stage, ms));
}

/* Both conditions for the end: aios-exec reported the exit (or ended), and
 * no more output can come. */
static void maybe_done(struct sbx_run *r)
{
    sbx_result *res = &r->res;

    if (r->done)
        return;
    if (!r->out.eof || !r->err.eof)
        return;
    if (!r->exit_event && !(r->proc_exited && r->status.eof))
        return;
    r->done = true;
    if (!r->exit_event && r->has_cb) {
        if (res->rc == 0) {
            res->rc = AIOS_EINTERNAL;
            snprintf(res->error, sizeof(res->error),
                     "aios-exec ended without a report (status %lld, signal %d)",
                     (long long)r->exit_status, r->exit_signal);
        }
        if (r->killing && !res->term_signal)
            res->term_signal = SIGKILL;
    }
    if (r->has_cb) {
        res->wall_ms = sbx__now_ms() - r->t_start;
        res->out = r->out.buf ? r->out.buf : (char *)"";
        res->out_len = r->out.len;
        res->out_total = r->out.total;
        res->out_truncated = r->out.truncated;
        res->err = r->err.buf ? r->err.buf : (char *)"";
        res->err_len = r->err.len;
        res->err_total = r->err.total;
        res->err_truncated = r->err.truncated;
        if (res->timed_out)
            r->ctx->n_timeouts++;
        if (res->cancelled)
            r->ctx->n_cancelled++;
        if (res->rc < 0)
            r->ctx->n_failed++;
        if (r->timing) {
            size_t i;
            json_t *e;

            mark(r, "daemon-done", sbx__now_ms());
            json_array_foreach(r->timing, i, e)
                json_array_set_new(e, 1, json_real(json_number_value(json_array_get(e, 1)) -
                                                   r->t_start));
            if (!res->detail)
                res->detail = json_object();
            json_object_set(res->detail, "timing", r->timing);
        }
        r->cb.on_done(r->cb.arg, res);
        res->out = res->err = NULL;
    }
    close_handles(r);
    maybe_free(r);
}

/* ---- killing ------------------------------------------------------------- */

static void on_timer(uv_timer_t *t)
{
    struct sbx_run *r = t->data;

    if (r->proc_exited)
        return;
    if (!r->killing) {
        r->res.timed_out = true;
        sbx__kill_tree(r);
    } else {
        syscall(SYS_pidfd_send_signal, r->exec_pidfd, SIGKILL, NULL, 0);
    }
}

void sbx__kill_tree(struct sbx_run *r)
{
    if (r->done && r->proc_exited)
        return;
    if (r->pidfd >= 0)
        syscall(SYS_pidfd_send_signal, r->pidfd, SIGKILL, NULL, 0);
    if (!r->proc_exited && !r->killing) {
        syscall(SYS_pidfd_send_signal, r->exec_pidfd, SIGTERM, NULL, 0);
        if (r->timer_open) {
            uv_timer_stop(&r->timer);
            uv_timer_start(&r->timer, on_timer, KILL_GRACE_MS, 0);
        }
    }
    r->killing = true;
}

void sbx_kill(sbx_run *r)
{
    if (!r || r->done)
        return;
    r->res.cancelled = true;
    sbx__kill_tree(r);
}

/* ---- status events ------------------------------------------------------- */

static int code_from_name(const char *name)
{
    for (int c = -1; c >= AIOS_ERRNO_LAST; c--)
        if (name && strcmp(aios_errname(c), name) == 0)
            return c;
    return AIOS_EINTERNAL;
}

/* init's pidfd, checked to be a child of our aios-exec (so a recycled pid
 * can never be signalled). */
static void open_pidfd(struct sbx_run *r, int pid)
{
    char path[64], buf[512];
    int fd, n, ppid = -1;
    FILE *f;
    char *close_paren;

    if (pid <= 0 || r->pidfd >= 0)
        return;
    fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (fd < 0)
        return;
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    f = fopen(path, "re");
    n = f ? (int)fread(buf, 1, sizeof(buf) - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n > 0 ? n : 0] = '\0';
    close_paren = strrchr(buf, ')');
    if (close_paren && sscanf(close_paren + 1, " %*c %d", &ppid) == 1 && ppid == r->exec_pid)
        r->pidfd = fd;
    else
        close(fd);
}

static void on_event(struct sbx_run *r, json_t *ev)
{
    const char *type = json_string_value(json_object_get(ev, "ev"));
    sbx_result *res = &r->res;

    if (!type)
        return;
    if (strcmp(type, "t") == 0) {
        mark(r, json_string_value(json_object_get(ev, "s")),
             json_number_value(json_object_get(ev, "ms")));
    } else if (strcmp(type, "spawned") == 0) {
        open_pidfd(r, (int)json_integer_value(json_object_get(ev, "pid")));
    } else if (strcmp(type, "ready") == 0) {
        r->ready = true;
    } else if (strcmp(type, "layers") == 0 ||
               (strcmp(type, "error") == 0 && !r->have_layers)) {
        json_t *l = json_object_get(ev, "layers");

        r->have_layers |= strcmp(type, "layers") == 0;
        for (int i = 0; l && i < SBX_L_COUNT; i++) {
            int st = sbx_state_from_name(json_string_value(json_object_get(l, sbx_layer_name(i))));

            res->layers[i] = (unsigned char)(st < 0 ? SBX_ST_NONE : st);
        }
        if (json_object_get(ev, "detail")) {
            json_decref(res->detail);
            res->detail = json_incref(json_object_get(ev, "detail"));
        }
    }
    if (strcmp(type, "error") == 0) {
        const char *stage = json_string_value(json_object_get(ev, "stage"));
        const char *msg = json_string_value(json_object_get(ev, "msg"));

        if (res->rc == 0) {
            res->rc = code_from_name(json_string_value(json_object_get(ev, "code")));
            snprintf(res->error, sizeof(res->error), "%s", msg ? msg : "sandbox error");
            snprintf(res->error_layer, sizeof(res->error_layer), "%s", stage ? stage : "");
        }
    } else if (strcmp(type, "exit") == 0) {
        json_t *v;

        r->exit_event = true;
        mark(r, "daemon-exit-event", sbx__now_ms());
        if ((v = json_object_get(ev, "code"))) {
            res->exited = true;
            res->exit_code = (int)json_integer_value(v);
        }
        res->term_signal = (int)json_integer_value(json_object_get(ev, "signal"));
        res->timed_out |= json_is_true(json_object_get(ev, "timeout"));
        res->oom_killed = json_is_true(json_object_get(ev, "oom"));
        res->cpu_ms = json_number_value(json_object_get(ev, "cpu_ms"));
        res->maxrss_kb = (long)json_integer_value(json_object_get(ev, "maxrss_kb"));
        if (json_is_true(json_object_get(ev, "setup_failed")) && res->rc == 0) {
            res->rc = AIOS_ESANDBOX;
            snprintf(res->error, sizeof(res->error), "the sandbox could not be built");
        }
        v = json_object_get(ev, "detail");
        if (json_is_object(v)) {
            if (!res->detail)
                res->detail = json_object();
            json_object_update(res->detail, v);
        }
        maybe_done(r);
    }
}

/* Split the status bytes into lines and handle each. */
static void status_data(struct sbx_run *r, const char *data, size_t n)
{
    sbx_stream *s = &r->status;
    char *nl;

    if (s->len + n + 1 > SBX_STATUS_MAX) {
        aios_log(AIOS_LOG_WARN, "sandbox", "aios-exec status line too long, killing");
        sbx__kill_tree(r);
        close_stream(s);
        return;
    }
    if (s->len + n + 1 > s->alloc) {
        size_t na = s->alloc ? s->alloc : 4096;
        char *nb;

        while (na < s->len + n + 1)
            na *= 2;
        nb = realloc(s->buf, na);
        if (!nb) {
            sbx__kill_tree(r);
            close_stream(s);
            return;
        }
        s->buf = nb;
        s->alloc = na;
    }
    memcpy(s->buf + s->len, data, n);
    s->len += n;
    s->buf[s->len] = '\0';
    while ((nl = memchr(s->buf, '\n', s->len))) {
        size_t line = (size_t)(nl - s->buf);
        json_t *ev;

        *nl = '\0';
        ev = json_loadb(s->buf, line, 0, NULL);
        memmove(s->buf, nl + 1, s->len - line - 1);
        s->len -= line + 1;
        s->buf[s->len] = '\0';
        if (ev) {
            on_event(r, ev);
            json_decref(ev);
        }
        if (r->freed)
            return;
    }
}

/* ---- reading ------------------------------------------------------------- */

/* Reads land in the stream's own buffer (the pipe is the stream's first
 * member, so the handle is the stream). */
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    sbx_stream *s = (sbx_stream *)h;

    (void)suggested;
    *buf = uv_buf_init(s->rbuf, sizeof(s->rbuf));
}

/* Keep up to the cap; past it, mark truncated and either close the pipe
 * (the tool sees EPIPE) or, with drain, keep reading and counting. */
static void capture(struct sbx_run *r, sbx_stream *s, const char *data, size_t n)
{
    size_t room = s->cap > s->len ? (size_t)(s->cap - s->len) : 0;
    size_t take = n < room ? n : room;

    s->total += n;
    if (take) {
        if (s->len + take + 1 > s->alloc) {
            size_t na = s->alloc ? s->alloc : 4096;
            char *nb;

            while (na < s->len + take + 1)
                na *= 2;
            if (na > s->cap + 1)
                na = (size_t)s->cap + 1;
            nb = realloc(s->buf, na);
            if (!nb) {
                take = 0;
                goto out_trunc;
            }
            s->buf = nb;
            s->alloc = na;
        }
        memcpy(s->buf + s->len, data, take);
        s->len += take;
        s->buf[s->len] = '\0';
        if (r->has_cb && r->cb.on_output)
            r->cb.on_output(r->cb.arg, s->fd_no, data, take);
    }
    if (take == n)
        return;
out_trunc:
    s->truncated = true;
    if (!r->drain) {
        close_stream(s);
        maybe_done(r);
    }
}

static void on_read(uv_stream_t *h, ssize_t n, const uv_buf_t *buf)
{
    sbx_stream *s = (sbx_stream *)h;
    struct sbx_run *r = s->run;

    if (n < 0) {
        close_stream(s);
        maybe_done(r);
        return;
    }
    if (n == 0)
        return;
    if (s->fd_no == 4)
        status_data(r, buf->base, (size_t)n);
    else
        capture(r, s, buf->base, (size_t)n);
}

/* ---- exit ---------------------------------------------------------------- */

static void on_exit_cb(uv_poll_t *p, int status_, int events)
{
    struct sbx_run *r = p->data;
    int status = 0, sig = 0;

    (void)status_;
    (void)events;
    if (aios_spawn_reap(r->exec_pidfd, &status, &sig) == 0)
        return;   /* not ended yet */
    uv_poll_stop(p);
    /* the exit event may still sit unread in the status pipe: whether the
     * run ended without a report is decided once that pipe is at EOF */
    r->proc_exited = true;
    r->exit_status = status;
    r->exit_signal = sig;
    free_uid(r);
    uv_close((uv_handle_t *)p, on_close);
    if (r->timer_open)
        uv_timer_stop(&r->timer);
    maybe_done(r);
    maybe_free(r);
}

/* ---- writing ------------------------------------------------------------- */

static void on_pol_written(uv_write_t *req, int status)
{
    struct sbx_run *r = req->data;

    (void)status;
    free(r->pol_text);
    r->pol_text = NULL;
    /* cold runs and warm calls need nothing more on this pipe */
    if ((!r->warm || r->has_cb) && r->pol_open) {
        r->pol_open = false;
        uv_close((uv_handle_t *)&r->pol, on_close);
    }
}

static int write_policy_line(struct sbx_run *r, json_t *j)
{
    uv_buf_t b;
    char *text = json_dumps(j, JSON_COMPACT);
    size_t n;
    int rc;

    if (!text)
        return AIOS_ENOMEM;
    n = strlen(text);
    r->pol_text = realloc(text, n + 2);
    if (!r->pol_text) {
        free(text);
        return AIOS_ENOMEM;
    }
    r->pol_text[n] = '\n';
    r->pol_text[n + 1] = '\0';
    b = uv_buf_init(r->pol_text, (unsigned)(n + 1));
    r->pol_req.data = r;
    rc = uv_write(&r->pol_req, (uv_stream_t *)&r->pol, &b, 1, on_pol_written);
    return rc < 0 ? AIOS_EIO : 0;
}

static void on_in_written(uv_write_t *req, int status)
{
    struct sbx_run *r = req->data;

    (void)status;
    free(r->in_data);
    r->in_data = NULL;
    if (r->in_open) {
        r->in_open = false;
        uv_close((uv_handle_t *)&r->in, on_close);
    }
}

/* ---- starting ------------------------------------------------------------ */

static int open_stream(struct sbx_run *r, sbx_stream *s, int fd, int fd_no)
{
    s->run = r;
    s->fd_no = fd_no;
    if (uv_pipe_init(r->ctx->loop, &s->pipe, 0) < 0)
        return AIOS_ESYS;
    s->pipe.data = r;
    r->handles++;
    s->open = true;
    if (uv_pipe_open(&s->pipe, fd) < 0)
        return AIOS_ESYS;
    return uv_read_start((uv_stream_t *)&s->pipe, on_alloc, on_read) < 0 ? AIOS_ESYS : 0;
}

static int alloc_uid(sbx_ctx *ctx)
{
    for (unsigned i = 0; i < ctx->cfg.uid_count; i++) {
        if (!ctx->uid_used[i]) {
            ctx->uid_used[i] = 1;
            return (int)i;
        }
    }
    return -1;
}

/*
 * Spawn aios-exec for p.  Cold (warm false): the full policy goes down the
 * policy pipe and the tool starts at once.  Warm: only the shape goes down;
 * sbx__attach_call later sends the call.
 */
int sbx__start(sbx_ctx *ctx, const sbx_policy *p, bool warm, struct sbx_run **out)
{
    static const char *const fd_args[] = {"--policy-fd", "3", "--status-fd", "4"};
    struct sbx_run *r;
    int fds[5][2], nfd = 0, rc;
    aios_spawn_opts opts;
    int child_fds[5], child_errno = 0;
    char *args[8];
    char *env[] = {NULL};
    json_t *j;
    size_t na = 0;

    *out = NULL;
    r = calloc(1, sizeof(*r));
    if (!r)
        return AIOS_ENOMEM;
    r->ctx = ctx;
    r->pidfd = -1;
    r->uid_slot = -1;
    r->warm = warm;
    r->t_start = sbx__now_ms();
    r->exec_pidfd = -1;
    r->exit_poll.data = r;
    r->out.cap = p->limits.stdout_cap;
    r->err.cap = p->limits.stderr_cap;
    r->status.cap = SBX_STATUS_MAX;
    ctx->live++;
    if (ctx->root) {
        r->uid_slot = alloc_uid(ctx);
        if (r->uid_slot < 0) {
            rc = AIOS_EBUSY;
            goto out_fail_early;
        }
    }
    for (nfd = 0; nfd < 5; nfd++) {
        if (pipe2(fds[nfd], O_CLOEXEC) < 0) {
            rc = AIOS_ESYS;
            goto out_fail_early;
        }
    }
    /* child ends: 0 in read, 1 out write, 2 err write, 3 policy read, 4 status write */
    child_fds[0] = fds[0][0];
    child_fds[1] = fds[1][1];
    child_fds[2] = fds[2][1];
    child_fds[3] = fds[3][0];
    child_fds[4] = fds[4][1];
    args[na++] = ctx->exec_path;
    for (size_t i = 0; i < 4; i++)
        args[na++] = (char *)fd_args[i];
    if (warm)
        args[na++] = (char *)"--warm";
    if (ctx->cfg.timing)
        args[na++] = (char *)"--timing";
    args[na] = NULL;
    memset(&opts, 0, sizeof(opts));
    opts.file = ctx->exec_path;
    opts.argv = args;
    opts.envp = env;
    opts.fds = child_fds;
    opts.n_fds = 5;
    rc = aios_spawn(&opts, &r->exec_pid, &r->exec_pidfd, &child_errno);
    if (rc == 0 && uv_poll_init(ctx->loop, &r->exit_poll, r->exec_pidfd) == 0) {
        r->handles++;
        uv_poll_start(&r->exit_poll, UV_READABLE, on_exit_cb);
    } else if (rc == 0) {
        /* cannot watch it: stop it (it has not read its policy yet) */
        syscall(SYS_pidfd_send_signal, r->exec_pidfd, SIGKILL, NULL, 0);
        while (aios_spawn_reap(r->exec_pidfd, &(int){0}, &(int){0}) == 0)
            usleep(1000);
        child_errno = ENOMEM;
        rc = AIOS_ENOMEM;
    }
    /* our copies of the child's ends */
    close(fds[0][0]);
    close(fds[1][1]);
    close(fds[2][1]);
    close(fds[3][0]);
    close(fds[4][1]);
    if (rc < 0) {
        aios_log(AIOS_LOG_ERROR, "sandbox", "cannot start '%s': %s", ctx->exec_path,
                 strerror(child_errno ? child_errno : EINVAL));
        close(fds[0][1]);
        close(fds[1][0]);
        close(fds[2][0]);
        close(fds[3][1]);
        close(fds[4][0]);
        r->proc_exited = true;
        r->done = true;
        free_uid(r);
        list_push(&ctx->runs, r);
        /* freed from the loop, never from inside this call (a pool refill
         * would start another run from here) */
        uv_timer_init(ctx->loop, &r->timer);
        r->handles++;
        uv_close((uv_handle_t *)&r->timer, on_close);
        return AIOS_EUNAVAIL;
    }
    ctx->n_runs++;
    list_push(warm ? &ctx->pool : &ctx->runs, r);
    *out = r;

    /* from here on failures kill the run and let it end normally */
    rc = 0;
    if (open_stream(r, &r->out, fds[1][0], 1) < 0 || open_stream(r, &r->err, fds[2][0], 2) < 0 ||
        open_stream(r, &r->status, fds[4][0], 4) < 0)
        rc = AIOS_ESYS;
    if (uv_pipe_init(ctx->loop, &r->in, 0) == 0) {
        r->in.data = r;
        r->handles++;
        r->in_open = true;
        if (uv_pipe_open(&r->in, fds[0][1]) < 0)
            rc = AIOS_ESYS;
    } else {
        close(fds[0][1]);
        rc = AIOS_ESYS;
    }
    if (uv_pipe_init(ctx->loop, &r->pol, 0) == 0) {
        r->pol.data = r;
        r->handles++;
        r->pol_open = true;
        if (uv_pipe_open(&r->pol, fds[3][1]) < 0)
            rc = AIOS_ESYS;
    } else {
        close(fds[3][1]);
        rc = AIOS_ESYS;
    }
    if (uv_timer_init(ctx->loop, &r->timer) == 0) {
        r->timer.data = r;
        r->handles++;
        r->timer_open = true;
    }
    j = rc == 0 ? sbx_policy_to_json(p) : NULL;
    if (j) {
        if (r->uid_slot >= 0)
            json_object_set_new(j, "host_uid",
                                json_integer((json_int_t)ctx->cfg.uid_base + r->uid_slot));
        if (warm)
            json_object_del(j, "argv");
        rc = write_policy_line(r, j);
        json_decref(j);
    } else if (rc == 0) {
        rc = AIOS_ENOMEM;
    }
    if (rc < 0)
        sbx__kill_tree(r);
    return rc;

out_fail_early:
    while (nfd-- > 0) {
        close(fds[nfd][0]);
        close(fds[nfd][1]);
    }
    free_uid(r);
    free(r);
    ctx->live--;
    return rc;
}

/*
 * Attach a call to a started run: callbacks, caps, stdin, the backstop
 * timer, and for a warm sandbox the call line itself.
 */
int sbx__attach_call(struct sbx_run *r, const sbx_policy *p, const char *stdin_data,
                     size_t stdin_len, const sbx_callbacks *cb)
{
    int rc = 0;

    r->cb = *cb;
    r->has_cb = true;
    r->wall_ms = p->limits.wall_ms;
    r->drain = p->drain;
    r->out.cap = p->limits.stdout_cap;
    r->err.cap = p->limits.stderr_cap;
    r->t_start = sbx__now_ms();
    mark(r, "daemon-call", r->t_start);
    if (r->warm) {
        json_t *full = sbx_policy_to_json(p), *call;

        if (!full)
            return AIOS_ENOMEM;
        call = json_pack("{s:O,s:O,s:O,s:O}", "argv", json_object_get(full, "argv"), "env",
                         json_object_get(full, "env"), "limits", json_object_get(full, "limits"),
                         "drain", json_object_get(full, "drain"));
        if (call && p->cwd)
            json_object_set_new(call, "cwd", json_string(p->cwd));
        rc = call ? write_policy_line(r, call) : AIOS_ENOMEM;
        json_decref(call);
        json_decref(full);
    }
    if (r->in_open) {
        if (stdin_data && stdin_len) {
            uv_buf_t b;

            r->in_data = malloc(stdin_len);
            if (!r->in_data)
                return AIOS_ENOMEM;
            memcpy(r->in_data, stdin_data, stdin_len);
            r->in_len = stdin_len;
            b = uv_buf_init(r->in_data, (unsigned)stdin_len);
            r->in_req.data = r;
            if (uv_write(&r->in_req, (uv_stream_t *)&r->in, &b, 1, on_in_written) < 0)
                rc = AIOS_EIO;
        } else {
            r->in_open = false;
            uv_close((uv_handle_t *)&r->in, on_close);
        }
    }
    if (r->timer_open && r->wall_ms)
        uv_timer_start(&r->timer, on_timer, r->wall_ms + r->ctx->cfg.kill_grace_ms, 0);
    return rc;
}

/* ---- the public entry ---------------------------------------------------- */

int sbx_spawn(sbx_ctx *ctx, const sbx_policy *p, const char *stdin_data, size_t stdin_len,
              const sbx_callbacks *cb, sbx_run **out)
{
    struct sbx_run *r = NULL;
    char *shape;
    int rc;

    if (out)
        *out = NULL;
    if (!ctx || ctx->closing)
        return AIOS_EUNAVAIL;
    if (!p || !p->argv || !p->argc || !cb || !cb->on_done)
        return AIOS_EINVAL;
    shape = sbx__shape(p);
    r = shape ? sbx__pool_take(ctx, shape) : NULL;
    if (r) {
        ctx->n_warm_hits++;
        r->res.warm = true;
        list_push(&ctx->runs, r);
        rc = sbx__attach_call(r, p, stdin_data, stdin_len, cb);
    } else {
        ctx->n_cold++;
        rc = sbx__start(ctx, p, false, &r);
        if (!r) {
            free(shape);
            return rc;
        }
        if (rc == 0)
            rc = sbx__attach_call(r, p, stdin_data, stdin_len, cb);
        else
            r->cb = *cb, r->has_cb = true;
    }
    if (rc < 0)
        sbx__kill_tree(r);
    if (shape)
        sbx__pool_note(ctx, p, shape);
    free(shape);
    if (out)
        *out = r;
    return 0;
}

/*
 * pool.c - warm sandboxes: aios-exec instances that already built their
 * namespaces, root, cgroup and seccomp filter and wait on their policy pipe
 * for a call.  A call whose policy has the same shape (everything that is
 * fixed when the sandbox is built: binds, network, work and tmp sizes,
 * whether a cgroup is used, required layers, ids) takes one, so only the
 * tool's own confinement, exec and exit remain on its path; a replacement
 * is started when that call's run ends (at once when none is left ready).
 * Each warm sandbox serves exactly one call.
 *
 * The pool keeps the shape of the most recent call (or the one given to
 * sbx_ctx_prewarm); cfg.pool_size sandboxes of it are kept ready.
 * Loop thread only; owns the runs on ctx->pool.
 */
#include <stdlib.h>
#include <string.h>

#include "aios/error.h"
#include "aios/log.h"
#include "sandbox/sandbox_int.h"

/* Keys of the policy that a warm call may set; the rest is the shape. */
static const char *const call_keys[] = {"argv", "env", "cwd", "drain", "host_uid", "host_gid"};
/* Limits applied per call (rlimits by the tool process, the wall clock,
 * the daemon's caps); cgroup limits are written when the sandbox is built,
 * so they are part of the shape. */
static const char *const call_limits[] = {"wall_ms", "cpu_ms", "as_bytes", "fsize_bytes",
                                          "nofile", "nproc", "stdout_cap", "stderr_cap"};

char *sbx__shape(const sbx_policy *p)
{
    json_t *j = sbx_policy_to_json(p), *lim;
    char *s;

    if (!j)
        return NULL;
    for (size_t i = 0; i < sizeof(call_keys) / sizeof(call_keys[0]); i++)
        json_object_del(j, call_keys[i]);
    lim = json_object_get(j, "limits");
    for (size_t i = 0; i < sizeof(call_limits) / sizeof(call_limits[0]); i++)
        json_object_del(lim, call_limits[i]);
    s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    return s;
}

struct sbx_run *sbx__pool_take(sbx_ctx *ctx, const char *shape)
{
    if (!ctx->pool_shape || strcmp(ctx->pool_shape, shape) != 0)
        return NULL;
    for (struct sbx_run *r = ctx->pool; r; r = r->next) {
        if (r->ready && !r->done && !r->killing && !r->proc_exited) {
            if (r->prev)
                r->prev->next = r->next;
            else
                ctx->pool = r->next;
            if (r->next)
                r->next->prev = r->prev;
            r->next = r->prev = NULL;
            ctx->pool_n--;
            return r;
        }
    }
    return NULL;
}

/* Forget a pool entry that ended without serving a call. */
void sbx__pool_remove(sbx_ctx *ctx, struct sbx_run *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else if (ctx->pool == r)
        ctx->pool = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->next = r->prev = NULL;
    ctx->pool_n--;
    if (!r->ready)
        ctx->pool_failures++;
}

/* Kill every warm sandbox (they end through the normal path). */
static void pool_drain(sbx_ctx *ctx)
{
    for (struct sbx_run *r = ctx->pool; r; r = r->next)
        sbx__kill_tree(r);
}

void sbx__pool_note(sbx_ctx *ctx, const sbx_policy *p, const char *shape)
{
    if (!ctx->cfg.pool_size || ctx->closing)
        return;
    if (ctx->pool_shape && strcmp(ctx->pool_shape, shape) == 0) {
        /* While a warm sandbox is still ready, the replacement waits until
         * this call's run is freed (maybe_free refills): building one costs
         * several ms of CPU and would compete with the call for the cores.
         * An empty pool is refilled at once. */
        if (ctx->pool_n == 0)
            sbx__pool_refill(ctx);
        return;
    }
    pool_drain(ctx);
    free(ctx->pool_shape);
    ctx->pool_shape = strdup(shape);
    if (ctx->pool_has_policy)
        sbx_policy_clear(&ctx->pool_policy);
    ctx->pool_has_policy = sbx_policy_copy(&ctx->pool_policy, p) == 0;
    ctx->pool_failures = 0;
    sbx__pool_refill(ctx);
}

void sbx__pool_refill(sbx_ctx *ctx)
{
    while (!ctx->closing && ctx->pool_has_policy && ctx->pool_shape &&
           ctx->pool_n < ctx->cfg.pool_size && ctx->pool_failures < 3) {
        struct sbx_run *r = NULL;
        int rc = sbx__start(ctx, &ctx->pool_policy, true, &r);

        if (!r) {
            ctx->pool_failures++;
            aios_log(AIOS_LOG_WARN, "sandbox", "cannot start a warm sandbox: %s",
                     aios_strerror(rc));
            return;
        }
        ctx->pool_n++;
        r->shape = strdup(ctx->pool_shape);
        if (rc < 0)
            return;
    }
}

void sbx__pool_close(sbx_ctx *ctx)
{
    pool_drain(ctx);
}

int sbx_ctx_prewarm(sbx_ctx *ctx, const sbx_policy *p)
{
    char *shape = sbx__shape(p);

    if (!shape)
        return AIOS_ENOMEM;
    sbx__pool_note(ctx, p, shape);
    free(shape);
    return 0;
}

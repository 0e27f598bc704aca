/*
 * sbx_test.c - see sbx_test.h.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "aios/error.h"
#include "tests/unit/sandbox/sbx_test.h"

typedef struct trun {
    uv_loop_t loop;
    sbx_ctx *ctx;
    sbx_policy pol;
    const sbx_test_opts *o;
    json_t *result;
    int left;
    int spawn_rc;
    size_t streamed;
    sbx_run *run;
    uv_timer_t timer;
    int waited_ms;
} trun;

static void start(trun *t);
static void on_cancel_timer(uv_timer_t *tm);

static void on_output(void *arg, int fd, const char *data, size_t len)
{
    trun *t = arg;

    (void)fd;
    (void)data;
    if (t->o && t->o->cancel_after_output && t->o->cancel_after_ms > 0 && t->streamed == 0 && len > 0)
        uv_timer_start(&t->timer, on_cancel_timer, (uint64_t)t->o->cancel_after_ms, 0);
    t->streamed += len;
}

static void on_done(void *arg, sbx_result *res)
{
    trun *t = arg;

    json_decref(t->result);
    t->result = sbx_result_to_json(res);
    t->run = NULL;
    if (--t->left > 0)
        start(t);
    else
        sbx_ctx_close(t->ctx);
}

static void on_cancel_timer(uv_timer_t *tm)
{
    trun *t = tm->data;

    if (t->run)
        sbx_kill(t->run);
}

static void start(trun *t)
{
    sbx_callbacks cb = {on_output, on_done, t};
    const char *in = t->o ? t->o->stdin_data : NULL;

    t->spawn_rc = sbx_spawn(t->ctx, &t->pol, in, in ? strlen(in) : 0, &cb, &t->run);
    if (t->spawn_rc < 0) {
        sbx_ctx_close(t->ctx);
        return;
    }
    if (t->o && t->o->cancel_after_ms > 0 && !t->o->cancel_after_output)
        uv_timer_start(&t->timer, on_cancel_timer, (uint64_t)t->o->cancel_after_ms, 0);
}

/* Poll until the pool has a ready sandbox (or 10 s passed), then start. */
static void on_wait_timer(uv_timer_t *tm)
{
    trun *t = tm->data;
    json_t *st = sbx_ctx_stats(t->ctx);
    int ready = (int)json_integer_value(json_object_get(st, "pool_ready"));

    json_decref(st);
    t->waited_ms += 10;
    if (ready > 0 || t->waited_ms > 10000) {
        uv_timer_stop(tm);
        start(t);
    }
}

json_t *sbx_test_run(const char *policy_json, const sbx_test_opts *o, int *spawn_rc,
                     size_t *streamed)
{
    trun t;
    sbx_config cfg = {0};
    json_error_t jerr;
    json_t *j = json_loads(policy_json, 0, &jerr);
    char field[64], msg[256];
    int rc;

    memset(&t, 0, sizeof(t));
    t.o = o;
    t.left = (o && o->runs > 0) ? o->runs : 1;
    if (spawn_rc)
        *spawn_rc = 0;
    if (!j) {
        fprintf(stderr, "bad test policy: %s\n", jerr.text);
        return NULL;
    }
    sbx_policy_init(&t.pol);
    rc = sbx_policy_update(&t.pol, j, field, sizeof(field), msg, sizeof(msg));
    json_decref(j);
    if (rc < 0) {
        fprintf(stderr, "bad test policy: %s: %s\n", field, msg);
        if (spawn_rc)
            *spawn_rc = rc;
        sbx_policy_clear(&t.pol);
        return NULL;
    }
    uv_loop_init(&t.loop);
    cfg.pool_size = o ? o->pool : 0;
    /* host uids of our own, so parallel tests never count each other's */
    cfg.uid_base = 0x60000 + (uid_t)(getpid() % 4096) * 16;
    cfg.uid_count = 16;
    if ((rc = sbx_ctx_new(&t.loop, &cfg, &t.ctx)) < 0) {
        fprintf(stderr, "no aios-exec next to the test binary: %s\n", aios_strerror(rc));
        if (spawn_rc)
            *spawn_rc = rc;
        uv_loop_close(&t.loop);
        sbx_policy_clear(&t.pol);
        return NULL;
    }
    uv_timer_init(&t.loop, &t.timer);
    t.timer.data = &t;
    if (cfg.pool_size) {
        sbx_ctx_prewarm(t.ctx, &t.pol);
        uv_timer_start(&t.timer, on_wait_timer, 10, 10);
    } else {
        start(&t);
    }
    uv_run(&t.loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&t.timer, NULL);
    uv_run(&t.loop, UV_RUN_DEFAULT);
    uv_loop_close(&t.loop);
    sbx_policy_clear(&t.pol);
    if (spawn_rc)
        *spawn_rc = t.spawn_rc;
    if (streamed)
        *streamed = t.streamed;
    return t.result;
}

int sbx_test_count_uid(unsigned uid)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    int n = 0;

    while (d && (e = readdir(d))) {
        char path[300], line[256];
        FILE *f;

        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        snprintf(path, sizeof(path), "/proc/%s/status", e->d_name);
        f = fopen(path, "re");
        if (!f)
            continue;
        while (fgets(line, sizeof(line), f)) {
            unsigned ruid;

            if (sscanf(line, "Uid: %u", &ruid) == 1) {
                n += ruid == uid;
                break;
            }
        }
        fclose(f);
    }
    if (d)
        closedir(d);
    return n;
}

bool sbx_test_is_root(void)
{
    return geteuid() == 0;
}

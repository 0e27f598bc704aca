/*
 * main.c - sbx-run: run a policy through the daemon's own spawning code
 * (sbx_spawn on a private libuv loop) and print the result as JSON.
 *
 *   sbx-run [--exec PATH] [--pool N] [--repeat N] [--stdin FILE] [--stream]
 *           [--quiet] [--uid-base N] [--timing] POLICY.json
 *
 * One result line per run; with --repeat, a last line
 * {"summary": {"n":..,"p50_ms":..,"p99_ms":..,"warm":..}} of the wall times.
 * The threat suite and the benchmark drive the sandbox through this program
 * so that they exercise exactly the code the daemon uses (capture, caps,
 * timers, whole-tree kill), without a daemon.  Its own peak RSS (VmHWM) is
 * in each result as "runner_maxrss_kb" (a bound on what capture costs the
 * daemon).
 * Single-threaded.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "aios/error.h"
#include "aios/sandbox.h"

typedef struct run_state {
    int remaining;
    int started;
    bool quiet;
    bool stream;
    double *walls;
    int n_walls;
    int n_warm;
    sbx_ctx *ctx;
    sbx_policy *pol;
    char *stdin_data;
    size_t stdin_len;
    int rc;
} run_state;

static void start_next(run_state *st);

static void on_output(void *arg, int fd, const char *data, size_t len)
{
    run_state *st = arg;

    if (st->stream)
        fprintf(stderr, "[fd%d %zu bytes]\n", fd, len);
}

/* Peak resident set of this process image in KiB (VmHWM: unlike
 * ru_maxrss it does not include the image before our exec). */
static long peak_rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "re");
    char line[256];
    long kb = -1;

    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "VmHWM: %ld", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb;
}

static void on_done(void *arg, sbx_result *res)
{
    run_state *st = arg;

    st->walls[st->n_walls++] = res->wall_ms;
    st->n_warm += res->warm;
    if (!st->quiet) {
        json_t *j = sbx_result_to_json(res);
        char *s;

        json_object_set_new(j, "runner_maxrss_kb", json_integer(peak_rss_kb()));
        s = json_dumps(j, JSON_COMPACT);
        printf("%s\n", s ? s : "{}");
        fflush(stdout);
        free(s);
        json_decref(j);
    }
    if (res->rc < 0)
        st->rc = 1;
    start_next(st);
}

static void start_next(run_state *st)
{
    sbx_callbacks cb = {on_output, on_done, st};
    int rc;

    if (st->remaining-- <= 0) {
        sbx_ctx_close(st->ctx);
        return;
    }
    rc = sbx_spawn(st->ctx, st->pol, st->stdin_data, st->stdin_len, &cb, NULL);
    if (rc < 0) {
        fprintf(stderr, "sbx-run: cannot spawn: %s\n", aios_strerror(rc));
        st->rc = 2;
        sbx_ctx_close(st->ctx);
    }
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, n = 0;

    if (!f)
        return NULL;
    for (;;) {
        if (n == cap) {
            char *nb;

            cap = cap ? cap * 2 : 65536;
            nb = realloc(buf, cap + 1);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        size_t r = fread(buf + n, 1, cap - n, f);

        if (r == 0)
            break;
        n += r;
    }
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    sbx_config cfg = {0};
    run_state st = {0};
    sbx_policy pol;
    const char *policy_path = NULL, *stdin_path = NULL;
    int repeat = 1, rc;
    char field[64], msg[256];
    json_t *j;
    json_error_t jerr;
    uv_loop_t *loop = uv_default_loop();

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--exec") == 0 && i + 1 < argc)
            cfg.exec_path = argv[++i];
        else if (strcmp(argv[i], "--pool") == 0 && i + 1 < argc)
            cfg.pool_size = (unsigned)atoi(argv[++i]);
        else if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc)
            repeat = atoi(argv[++i]);
        else if (strcmp(argv[i], "--stdin") == 0 && i + 1 < argc)
            stdin_path = argv[++i];
        else if (strcmp(argv[i], "--uid-base") == 0 && i + 1 < argc)
            cfg.uid_base = (uid_t)strtoul(argv[++i], NULL, 0);
        else if (strcmp(argv[i], "--timing") == 0)
            cfg.timing = true;
        else if (strcmp(argv[i], "--stream") == 0)
            st.stream = true;
        else if (strcmp(argv[i], "--quiet") == 0)
            st.quiet = true;
        else if (argv[i][0] != '-' && !policy_path)
            policy_path = argv[i];
        else {
            fprintf(stderr, "usage: sbx-run [--exec PATH] [--pool N] [--repeat N] "
                            "[--stdin FILE] [--stream] [--quiet] [--uid-base N] [--timing] POLICY.json\n");
            return 2;
        }
    }
    if (!policy_path || repeat < 1) {
        fprintf(stderr, "sbx-run: a policy file is needed\n");
        return 2;
    }
    j = json_load_file(policy_path, 0, &jerr);
    if (!j) {
        fprintf(stderr, "sbx-run: %s: %s\n", policy_path, jerr.text);
        return 2;
    }
    sbx_policy_init(&pol);
    rc = sbx_policy_update(&pol, j, field, sizeof(field), msg, sizeof(msg));
    json_decref(j);
    if (rc < 0) {
        fprintf(stderr, "sbx-run: bad policy: %s: %s\n", field, msg);
        return 2;
    }
    if (stdin_path && !(st.stdin_data = slurp(stdin_path, &st.stdin_len))) {
        fprintf(stderr, "sbx-run: cannot read %s: %s\n", stdin_path, strerror(errno));
        return 2;
    }
    if ((rc = sbx_ctx_new(loop, &cfg, &st.ctx)) < 0) {
        fprintf(stderr, "sbx-run: no aios-exec: %s\n", aios_strerror(rc));
        return 2;
    }
    st.pol = &pol;
    st.remaining = repeat;
    st.walls = calloc((size_t)repeat, sizeof(double));
    if (cfg.pool_size)
        sbx_ctx_prewarm(st.ctx, &pol);
    start_next(&st);
    uv_run(loop, UV_RUN_DEFAULT);
    if (repeat > 1 && st.n_walls) {
        qsort(st.walls, (size_t)st.n_walls, sizeof(double), cmp_double);
        printf("{\"summary\":{\"n\":%d,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"min_ms\":%.3f,"
               "\"warm\":%d}}\n",
               st.n_walls, st.walls[st.n_walls / 2], st.walls[(st.n_walls * 99) / 100],
               st.walls[0], st.n_warm);
    }
    uv_loop_close(loop);
    sbx_policy_clear(&pol);
    free(st.walls);
    free(st.stdin_data);
    return st.rc;
}

/*
 * report.c - aios-exec's status pipe, its private message pipes and small
 * file helpers.
 *
 * Status events are single JSON lines written with one write(2) each (the
 * outer, init and the tool process share the pipe; lines stay whole because
 * each is one write).  Owns nothing; runs in whichever aios-exec process
 * calls it.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "aios/error.h"
#include "sandbox/exec/exec_int.h"

/* Write all of buf, retrying on EINTR and short writes. */
static int write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;

    while (len) {
        ssize_t w = write(fd, p, len);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return AIOS_EIO;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

static int read_all(int fd, void *buf, size_t len)
{
    char *p = buf;

    while (len) {
        ssize_t r = read(fd, p, len);

        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0)
            return AIOS_ECLOSED;
        if (r < 0)
            return AIOS_EIO;
        p += r;
        len -= (size_t)r;
    }
    return 0;
}

void x_event(xctx *x, json_t *ev)
{
    char *s;
    size_t n;

    if (!ev)
        return;
    if (x->status_fd < 0) {
        json_decref(ev);
        return;
    }
    s = json_dumps(ev, JSON_COMPACT);
    json_decref(ev);
    if (!s)
        return;
    n = strlen(s);
    s[n] = '\n';  /* the newline takes the NUL's place; we write n + 1 bytes */
    (void)write_all(x->status_fd, s, n + 1);
    free(s);
}

void x_mark(xctx *x, const char *stage)
{
    struct timespec ts;

    if (!x->timing)
        return;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    x_event(x, json_pack("{s:s,s:s,s:f}", "ev", "t", "s", stage, "ms",
                         (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6));
}

/* The layer states known so far, as {name: state}. */
static json_t *layer_states(const xctx *x)
{
    json_t *l = json_object();

    for (int i = 0; l && i < SBX_L_COUNT; i++)
        json_object_set_new(l, sbx_layer_name(i), json_string(sbx_state_name(x->layers[i])));
    return l;
}

int x_error(xctx *x, const char *stage, int code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* with the layers as far as they got, so a failed call still says
     * which layers held and which did not */
    x_event(x, json_pack("{s:s,s:s,s:s,s:s,s:o}", "ev", "error", "stage", stage, "code",
                         aios_errname(code), "msg", msg, "layers", layer_states(x)));
    return code;
}

int x_layer(xctx *x, int layer, int state, const char *why)
{
    x->layers[layer] = (unsigned char)state;
    if (state == SBX_ST_APPLIED || state == SBX_ST_OFF)
        return 0;
    if (x->pol.require & (1u << layer))
        return x_error(x, sbx_layer_name(layer), AIOS_ESANDBOX, "required layer %s is %s%s%s",
                       sbx_layer_name(layer), sbx_state_name(state), why ? ": " : "",
                       why ? why : "");
    return 0;
}

void x_report_layers(xctx *x)
{
    json_t *l = layer_states(x), *d;

    d = json_pack("{s:i,s:s,s:I,s:I,s:I}", "landlock_abi", x->landlock_abi, "mode",
                  x->is_root ? "root" : "user", "host_uid", (json_int_t)x->host_uid, "uid",
                  (json_int_t)x->pol.uid, "cgroup", (json_int_t)x->cg.version);
    x_event(x, json_pack("{s:s,s:o,s:o}", "ev", "layers", "layers", l, "detail", d));
}

void x_report_exit(xctx *x, bool have_status, const xstatus *st, bool timeout, bool killed,
                   double wall_ms)
{
    json_t *ev, *detail = json_object();
    bool oom = x_cgroup_stats(x, detail);
    int ws = st->wstatus;

    ev = json_pack("{s:s,s:b,s:b,s:b,s:f,s:I,s:f}", "ev", "exit", "timeout", timeout, "killed",
                   killed, "oom", oom, "cpu_ms", (double)(st->utime_us + st->stime_us) / 1e3,
                   "maxrss_kb", (json_int_t)st->maxrss_kb, "wall_ms", wall_ms);
    if (!ev) {
        json_decref(detail);
        return;
    }
    if (have_status && WIFEXITED(ws))
        json_object_set_new(ev, "code", json_integer(WEXITSTATUS(ws)));
    else if (have_status && WIFSIGNALED(ws))
        json_object_set_new(ev, "signal", json_integer(WTERMSIG(ws)));
    else if (timeout || killed)
        json_object_set_new(ev, "signal", json_integer(SIGKILL));
    else
        json_object_set_new(ev, "setup_failed", json_true());
    json_object_set_new(ev, "detail", detail);
    x_event(x, ev);
}

int x_send(int fd, uint32_t type, const void *data, uint32_t len)
{
    xmsg_hdr h = {type, len};
    int rc = write_all(fd, &h, sizeof(h));

    if (rc == 0 && len)
        rc = write_all(fd, data, len);
    return rc;
}

int x_recv(int fd, uint32_t *type, void **data, uint32_t *len)
{
    xmsg_hdr h;
    char *buf = NULL;
    int rc;

    *data = NULL;
    if ((rc = read_all(fd, &h, sizeof(h))) < 0)
        return rc;
    if (h.len > (16u << 20))
        return AIOS_EIO;
    buf = malloc((size_t)h.len + 1);
    if (!buf)
        return AIOS_ENOMEM;
    if (h.len && (rc = read_all(fd, buf, h.len)) < 0) {
        free(buf);
        return rc == AIOS_ECLOSED ? AIOS_EIO : rc;
    }
    buf[h.len] = '\0';
    *type = h.type;
    *len = h.len;
    *data = buf;
    return 0;
}

int x_write_file(const char *path, const char *s)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    int rc;

    if (fd < 0)
        return -errno;
    rc = write_all(fd, s, strlen(s)) < 0 ? -(errno ? errno : EIO) : 0;
    close(fd);
    return rc;
}

void x_reset_signals(void)
{
    sigset_t none;

    for (int s = 1; s < NSIG; s++)
        if (s != SIGKILL && s != SIGSTOP)
            signal(s, SIG_DFL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

#define POLICY_MAX (8u << 20)

/*
 * Read one line (up to '\n' or EOF) from fd into a malloc'd string, in
 * chunks.  The protocol never puts anything after a line before we answer
 * it (the daemon sends a warm call only after "ready"), so bytes after the
 * newline are an error rather than something to keep.
 */
int x_read_line(int fd, char **out)
{
    size_t cap = 8192, len = 0;
    char *buf = malloc(cap), *nl = NULL;

    *out = NULL;
    if (!buf)
        return AIOS_ENOMEM;
    while (!nl) {
        ssize_t r;

        if (len + 4096 + 1 > cap) {
            char *nb;

            if (cap >= POLICY_MAX) {
                free(buf);
                return AIOS_ETOOBIG;
            }
            nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                return AIOS_ENOMEM;
            }
            buf = nb;
            cap *= 2;
        }
        r = read(fd, buf + len, cap - len - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            free(buf);
            return AIOS_EIO;
        }
        if (r == 0)
            break;
        nl = memchr(buf + len, '\n', (size_t)r);
        len += (size_t)r;
    }
    if (nl) {
        if ((size_t)(nl - buf) + 1 != len) {
            free(buf);
            return AIOS_EPROTO;
        }
        len = (size_t)(nl - buf);
    }
    buf[len] = '\0';
    if (len == 0) {
        free(buf);
        return AIOS_ECLOSED;
    }
    *out = buf;
    return 0;
}

/*
 * proc.c - the process table: agents are processes.
 *
 * A process is either a child that aiosd started (proc.spawn: aios_spawn,
 * no fork, in a new session, stdout/stderr captured into bounded per-stream logs, a pidfd
 * for race-free signals) or an attached agent - a program that connected by
 * itself and named itself in sys.hello.  Each has an id, a parent, an
 * owner uid, a state, a priority, capabilities (the syscall families it may
 * call) and accounting: syscalls per family, wall time, LLM tokens.
 *
 * Loop thread, except kern_proc_account_tokens() and kern_proc_priority(),
 * which other threads call under table_lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "aios/error.h"
#include "aios/log.h"
#include "aios/spawn.h"
#include "aios/util.h"
#include "kernel/kern_int.h"
#include "kernel/kern_proc.h"

enum { P_RUNNING, P_EXITED, P_KILLED, P_DETACHED };
static const char *const state_names[] = {"running", "exited", "killed", "detached"};
enum { S_OUT = 0, S_ERR = 1 };
static const char *const stream_names[] = {"stdout", "stderr"};

typedef struct ring {
    char *buf;
    size_t cap, start, len;
    uint64_t total;        /* bytes ever written */
    char carry[4];         /* an incomplete UTF-8 sequence awaiting its tail */
    size_t ncarry;
} ring;

typedef struct follower {
    kern_call *call;
    unsigned streams;      /* bit per stream */
    struct follower *next;
} follower;

typedef struct waiter {
    kern_call *call;
    uv_timer_t timer;
    bool has_timer;
    struct proc *p;
    struct waiter *next;
} waiter;

typedef struct proc {
    int64_t id, parent;
    char name[64];
    uid_t uid;
    gid_t gid;
    int state;
    bool attached;
    uint64_t attached_conn;
    pid_t pid;
    int pidfd;
    uv_poll_t exit_poll;    /* the pidfd, readable once the child has ended */
    uv_pipe_t pipes[2];
    int open_handles;       /* process + pipes not yet closed */
    bool exited;            /* exit status known */
    bool finalized;
    int64_t exit_status;
    int term_signal;
    int priority;
    unsigned caps;
    json_t *argv;
    char *cwd;
    double started_at, ended_at;
    uint64_t t_start_ns, t_end_ns;
    uint64_t syscalls[32];
    uint64_t tokens_in, tokens_out;
    ring logs[2];
    follower *followers;
    waiter *waiters;
    char token[33];
    int connections;
    struct proc *next;
} proc;

static proc *procs;             /* newest first */
static int64_t next_id = 1;
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static size_t log_cap;
static size_t keep_exited;

/* ---- lookups ------------------------------------------------------------------- */

static proc *find(int64_t id)
{
    for (proc *p = procs; p; p = p->next)
        if (p->id == id)
            return p;
    return NULL;
}

static bool visible(const proc *p, const kern_identity *who)
{
    return who->admin || p->uid == who->uid;
}

/* Look a process up for a caller, or set an error on c. */
static proc *lookup(kern_call *c, json_t *params, int *rc)
{
    json_int_t id = json_integer_value(json_object_get(params, "id"));
    proc *p = find(id);

    if (!p || !visible(p, kern_call_identity(c))) {
        *rc = kern_call_set_error(c, AIOS_ENOENT, "id", "no process %lld", (long long)id);
        return NULL;
    }
    return p;
}

size_t kern__proc_running(void)
{
    size_t n = 0;
    for (proc *p = procs; p; p = p->next)
        n += p->state == P_RUNNING;
    return n;
}

/* ---- logs ---------------------------------------------------------------------- */

static void ring_append(ring *r, const char *data, size_t n)
{
    r->total += n;
    if (!r->buf) {
        r->buf = malloc(log_cap);
        if (!r->buf)
            return;
        r->cap = log_cap;
    }
    if (n >= r->cap) {
        memcpy(r->buf, data + n - r->cap, r->cap);
        r->start = 0;
        r->len = r->cap;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        size_t at = (r->start + r->len) % r->cap;
        r->buf[at] = data[i];
        if (r->len < r->cap)
            r->len++;
        else
            r->start = (r->start + 1) % r->cap;
    }
}

/* The last `tail` bytes of a log (all when 0) as valid UTF-8 text. */
static json_t *ring_text(const ring *r, size_t tail)
{
    size_t n = r->len, skip = 0, outn;
    char *flat, *text;
    json_t *s;

    if (tail && tail < n)
        skip = n - tail;
    flat = malloc(n - skip + 1);
    if (!flat)
        return json_string("");
    for (size_t i = skip; i < n; i++)
        flat[i - skip] = r->buf[(r->start + i) % r->cap];
    n -= skip;
    /* a trimmed log may start in the middle of a character */
    skip = 0;
    while (skip < n && skip < 3 && ((unsigned char)flat[skip] & 0xc0) == 0x80)
        skip++;
    text = aios_utf8_sanitize(flat + skip, n - skip, false, NULL, &outn);
    free(flat);
    s = text ? json_stringn(text, outn) : json_string("");
    free(text);
    return s;
}

static void notify_followers(proc *p, int stream, const char *text, size_t n)
{
    for (follower *f = p->followers; f; f = f->next) {
        if (!(f->streams & (1u << stream)))
            continue;
        kern_call_stream(f->call, json_pack("{s:s,s:s%}", "stream", stream_names[stream], "data", text, n));
    }
}

/* Take bytes from a child's pipe: whole characters to the log and followers. */
static void take_output(proc *p, int stream, const char *data, size_t n)
{
    ring *r = &p->logs[stream];
    char *joined = NULL, *text;
    size_t used, outn;

    if (r->ncarry) {
        joined = malloc(r->ncarry + n);
        if (!joined)
            return;
        memcpy(joined, r->carry, r->ncarry);
        memcpy(joined + r->ncarry, data, n);
        data = joined;
        n += r->ncarry;
        r->ncarry = 0;
    }
    text = aios_utf8_sanitize(data, n, true, &used, &outn);
    if (text) {
        ring_append(r, text, outn);
        if (outn)
            notify_followers(p, stream, text, outn);
        if (n - used <= sizeof(r->carry)) {
            memcpy(r->carry, data + used, n - used);
            r->ncarry = n - used;
        }
        free(text);
    }
    free(joined);
}

static void flush_carry(proc *p, int stream)
{
    ring *r = &p->logs[stream];
    char *text;
    size_t outn;

    if (!r->ncarry)
        return;
    text = aios_utf8_sanitize(r->carry, r->ncarry, false, NULL, &outn);
    r->ncarry = 0;
    if (text) {
        ring_append(r, text, outn);
        notify_followers(p, stream, text, outn);
        free(text);
    }
}

/* ---- life and death -------------------------------------------------------------- */

static json_t *exit_info(const proc *p)
{
    if (p->state == P_RUNNING)
        return json_null();
    return json_pack("{s:s,s:I,s:o,s:f}", "state", state_names[p->state], "status",
                     (json_int_t)p->exit_status, "signal",
                     p->term_signal ? json_integer(p->term_signal) : json_null(), "wall_s",
                     (double)(p->t_end_ns - p->t_start_ns) / 1e9);
}

static void waiter_free(uv_handle_t *h)
{
    free(h->data);
}

static void waiter_done(waiter *w)
{
    if (w->has_timer) {
        uv_timer_stop(&w->timer);
        w->timer.data = w;
        uv_close((uv_handle_t *)&w->timer, waiter_free);
    } else {
        free(w);
    }
}

static void unlink_waiter(proc *p, waiter *w)
{
    for (waiter **pp = &p->waiters; *pp; pp = &(*pp)->next) {
        if (*pp == w) {
            *pp = w->next;
            return;
        }
    }
}

static void unlink_follower(proc *p, kern_call *c)
{
    for (follower **pp = &p->followers; *pp; pp = &(*pp)->next) {
        if ((*pp)->call == c) {
            follower *f = *pp;
            *pp = f->next;
            free(f);
            return;
        }
    }
}

static json_t *log_result(const proc *p)
{
    return json_pack("{s:o,s:{s:I,s:I}}", "exit", exit_info(p), "bytes", "stdout",
                     (json_int_t)p->logs[S_OUT].total, "stderr", (json_int_t)p->logs[S_ERR].total);
}

/* Drop the oldest ended processes beyond the retention limit. */
static void trim_table(void)
{
    size_t ended = 0;
    proc **pp = &procs;

    while (*pp) {
        proc *p = *pp;
        if (p->finalized && p->open_handles == 0 && !p->waiters && !p->followers && ++ended > keep_exited) {
            *pp = p->next;
            json_decref(p->argv);
            free(p->cwd);
            free(p->logs[0].buf);
            free(p->logs[1].buf);
            free(p);
            continue;
        }
        pp = &p->next;
    }
}

/* The process ended and all its output is in: answer waiters and followers. */
static void finalize(proc *p)
{
    if (p->finalized || !p->exited || p->open_handles > 0)
        return;
    p->finalized = true;
    flush_carry(p, S_OUT);
    flush_carry(p, S_ERR);
    while (p->waiters) {
        waiter *w = p->waiters;
        p->waiters = w->next;
        kern_call_finish(w->call, json_pack("{s:I,s:o}", "id", (json_int_t)p->id, "exit", exit_info(p)));
        waiter_done(w);
    }
    while (p->followers) {
        follower *f = p->followers;
        p->followers = f->next;
        kern_call_finish(f->call, log_result(p));
        free(f);
    }
    if (p->pidfd >= 0) {
        close(p->pidfd);
        p->pidfd = -1;
    }
    AIOS_LOG(AIOS_LOG_INFO, "proc", "process %lld '%s' %s (status %lld, signal %d)", (long long)p->id,
             p->name, state_names[p->state], (long long)p->exit_status, p->term_signal);
    trim_table();
}

static void on_handle_closed(uv_handle_t *h)
{
    proc *p = h->data;

    p->open_handles--;
    finalize(p);
}

static void on_child_exit(uv_poll_t *h, int status_, int events)
{
    proc *p = h->data;
    int status = 0, sig = 0;

    (void)status_;
    (void)events;
    if (aios_spawn_reap(p->pidfd, &status, &sig) == 0)
        return;   /* not yet (or a spurious wake-up) */
    uv_poll_stop(h);
    p->exited = true;
    p->exit_status = status;
    p->term_signal = sig;
    pthread_mutex_lock(&table_lock);
    p->state = sig ? P_KILLED : P_EXITED;
    pthread_mutex_unlock(&table_lock);
    p->t_end_ns = kern__now_ns();
    p->ended_at = aios_wall_time();
    uv_close((uv_handle_t *)h, on_handle_closed);
}

static void on_pipe_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    static char pipe_buf[64 * 1024];
    (void)h;
    (void)suggested;
    *buf = uv_buf_init(pipe_buf, sizeof(pipe_buf));
}

static void on_pipe_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    proc *p = s->data;
    int stream = (uv_pipe_t *)s == &p->pipes[S_OUT] ? S_OUT : S_ERR;

    if (nread > 0) {
        take_output(p, stream, buf->base, (size_t)nread);
    } else if (nread < 0) {
        uv_read_stop(s);
        uv_close((uv_handle_t *)s, on_handle_closed);
    }
}

/* ---- spawn ---------------------------------------------------------------------- */

static void new_token(char out[33])
{
    unsigned char raw[16];

    if (getrandom(raw, sizeof(raw), 0) != sizeof(raw)) {
        uint64_t t = kern__now_ns() ^ (uint64_t)getpid();
        memcpy(raw, &t, 8);
        memcpy(raw + 8, &t, 8);
    }
    for (int i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
}

static proc *proc_new(const char *name, const kern_identity *who, unsigned caps)
{
    proc *p = calloc(1, sizeof(*p));

    if (!p)
        return NULL;
    p->pidfd = -1;
    snprintf(p->name, sizeof(p->name), "%s", name);
    p->uid = who->uid;
    p->gid = who->gid;
    p->parent = who->proc_id;
    p->caps = caps;
    p->started_at = aios_wall_time();
    p->t_start_ns = kern__now_ns();
    pthread_mutex_lock(&table_lock);
    p->id = next_id++;
    p->next = procs;
    procs = p;
    pthread_mutex_unlock(&table_lock);
    return p;
}

/* Parse a caps list to a mask; fails on unknown families. */
static int parse_caps(kern_call *c, json_t *list, unsigned parent, unsigned *out)
{
    size_t i;
    json_t *v;
    unsigned mask = 0;

    if (!list) {
        *out = parent;
        return 0;
    }
    json_array_foreach(list, i, v) {
        int f = kern__family_index(json_string_value(v));
        if (f < 0 || strchr(json_string_value(v), '.'))
            return kern_call_set_error(c, AIOS_EINVAL, "caps", "unknown capability '%s'",
                                       json_string_value(v));
        mask |= 1u << f;
    }
    mask |= 1u << kern__family_index("sys");
    if (mask & ~parent)
        return kern_call_set_error(c, AIOS_EPERM, "caps", "a process cannot grant capabilities it lacks");
    *out = mask;
    return 0;
}

static const char *caller_home(uid_t uid, char *buf, size_t len)
{
    struct passwd pw, *res = NULL;
    char tmp[4096];

    if (getpwuid_r(uid, &pw, tmp, sizeof(tmp), &res) == 0 && res) {
        snprintf(buf, len, "%s", pw.pw_dir);
        return buf;
    }
    return "/";
}

int kern__proc_spawn(kern_call *c, json_t *params, json_t **result)
{
    const kern_identity *who = kern_call_identity(c);
    json_t *argv = json_object_get(params, "argv"), *env = json_object_get(params, "env");
    json_t *v;
    const char *cwd = json_string_value(json_object_get(params, "cwd"));
    const char *name = json_string_value(json_object_get(params, "name"));
    kern_conn *conn = kern__conn_find(who->conn_id);
    aios_spawn_opts opt = {0};
    int pfd[2][2] = {{-1, -1}, {-1, -1}}, child_fds[3], spawn_errno = 0;
    pid_t pid = -1;
    char **args = NULL, **envp = NULL, home[1024];
    size_t nargs = json_array_size(argv), nenv = 0, i;
    const char *key;
    unsigned caps = 0;
    proc *p;
    int rc;

    if (who->uid != kern__st.uid && kern__st.uid != 0)
        return kern_call_set_error(c, AIOS_EPERM, NULL, "aiosd runs as uid %u and cannot start processes as uid %u",
                                   (unsigned)kern__st.uid, (unsigned)who->uid);
    if ((rc = parse_caps(c, json_object_get(params, "caps"), conn ? conn->caps : KERN_CAPS_ALL, &caps)) < 0)
        return rc;
    args = calloc(nargs + 1, sizeof(*args));
    envp = calloc(json_object_size(env) + 8, sizeof(*envp));
    if (!args || !envp) {
        rc = AIOS_ENOMEM;
        goto out;
    }
    json_array_foreach(argv, i, v) {
        args[i] = (char *)json_string_value(v);
    }
    if (!name) {
        const char *slash = strrchr(args[0], '/');
        name = slash ? slash + 1 : args[0];
    }
    p = proc_new(name, who, caps);
    if (!p) {
        rc = AIOS_ENOMEM;
        goto out;
    }
    new_token(p->token);
    p->priority = (int)json_integer_value(json_object_get(params, "priority"));
    p->argv = json_incref(argv);
    p->cwd = cwd ? strdup(cwd) : NULL;

    /* the environment: a small base, the caller's additions, then ours */
#define ADD_ENV(fmt, ...)                                                        \
    do {                                                                         \
        if (asprintf(&envp[nenv], fmt, __VA_ARGS__) < 0) {                       \
            envp[nenv] = NULL;                                                   \
            rc = AIOS_ENOMEM;                                                    \
            goto out_fail;                                                       \
        }                                                                        \
        nenv++;                                                                  \
    } while (0)
    if (!json_object_get(env, "PATH"))
        ADD_ENV("PATH=%s", "/usr/local/bin:/usr/bin:/bin");
    if (!json_object_get(env, "HOME"))
        ADD_ENV("HOME=%s", caller_home(who->uid, home, sizeof(home)));
    if (!json_object_get(env, "LANG"))
        ADD_ENV("LANG=%s", "C.UTF-8");
    json_object_foreach(env, key, v) {
        if (strncmp(key, "AIOS_", 5) == 0)
            continue;
        ADD_ENV("%s=%s", key, json_string_value(v));
    }
    ADD_ENV("AIOS_SOCKET=%s", kern__st.socket_path);
    ADD_ENV("AIOS_AGENT_ID=%lld", (long long)p->id);
    ADD_ENV("AIOS_AGENT_TOKEN=%s", p->token);
#undef ADD_ENV

    for (int s = 0; s < 2; s++) {
        uv_pipe_init(kern__st.loop, &p->pipes[s], 0);
        p->pipes[s].data = p;
    }
    for (int s = 0; s < 2; s++)
        if (pipe2(pfd[s], O_CLOEXEC) < 0) {
            spawn_errno = errno;
            goto spawn_failed;
        }
    child_fds[0] = -1;                 /* stdin: /dev/null */
    child_fds[1] = pfd[S_OUT][1];
    child_fds[2] = pfd[S_ERR][1];
    opt.file = args[0];
    opt.argv = args;
    opt.envp = envp;
    opt.cwd = cwd;
    opt.fds = child_fds;
    opt.n_fds = 3;
    opt.setsid = true;
    if (kern__st.uid == 0 && who->uid != 0) {
        opt.set_ids = true;
        opt.uid = who->uid;
        opt.gid = who->gid;
    }
    rc = aios_spawn(&opt, &pid, &p->pidfd, &spawn_errno);
    for (int s = 0; s < 2; s++) {
        close(pfd[s][1]);
        pfd[s][1] = -1;
    }
    if (rc < 0) {
    spawn_failed:
        for (int s = 0; s < 2; s++)
            for (int e = 0; e < 2; e++)
                if (pfd[s][e] >= 0)
                    close(pfd[s][e]);
        p->open_handles = 2;   /* freed only after both close callbacks ran */
        for (int s = 0; s < 2; s++)
            uv_close((uv_handle_t *)&p->pipes[s], on_handle_closed);
        pthread_mutex_lock(&table_lock);
        p->state = P_EXITED;
        pthread_mutex_unlock(&table_lock);
        p->exited = true;
        p->finalized = true;
        p->exit_status = 127;
        p->t_end_ns = kern__now_ns();
        p->ended_at = aios_wall_time();
        rc = kern_call_set_error(c, aios_from_errno(spawn_errno ? spawn_errno : EINVAL), "argv",
                                 "cannot run '%s': %s", args[0], strerror(spawn_errno ? spawn_errno : EINVAL));
        goto out;
    }
    p->pid = pid;
    for (int s = 0; s < 2; s++)
        uv_pipe_open(&p->pipes[s], pfd[s][0]);
    uv_poll_init(kern__st.loop, &p->exit_poll, p->pidfd);
    p->exit_poll.data = p;
    uv_poll_start(&p->exit_poll, UV_READABLE, on_child_exit);
    p->open_handles = 3;
    for (int s = 0; s < 2; s++)
        uv_read_start((uv_stream_t *)&p->pipes[s], on_pipe_alloc, on_pipe_read);
    uv_unref((uv_handle_t *)&p->exit_poll);
    AIOS_LOG(AIOS_LOG_INFO, "proc", "process %lld '%s' started (pid %d, uid %u)", (long long)p->id, p->name,
             (int)p->pid, (unsigned)who->uid);
    *result = json_pack("{s:I,s:s,s:i}", "id", (json_int_t)p->id, "name", p->name, "pid", (int)p->pid);
    rc = 0;
    goto out;
out_fail:
    pthread_mutex_lock(&table_lock);
    p->state = P_EXITED;
    pthread_mutex_unlock(&table_lock);
    p->exited = p->finalized = true;
out:
    for (i = 0; envp && i < nenv; i++)
        free(envp[i]);
    free(envp);
    free(args);
    return rc;
}

/* ---- queries ------------------------------------------------------------------------ */

static json_t *proc_json(const proc *p, bool detail)
{
    json_t *o = json_pack("{s:I,s:s,s:I,s:i,s:s,s:i,s:i,s:f,s:o,s:b}", "id", (json_int_t)p->id, "name",
                          p->name, "parent", (json_int_t)p->parent, "pid", (int)p->pid, "state",
                          state_names[p->state], "uid", (int)p->uid, "priority", p->priority, "started_at",
                          p->started_at, "ended_at", p->state == P_RUNNING ? json_null() : json_real(p->ended_at),
                          "attached", p->attached);
    uint64_t end = p->state == P_RUNNING ? kern__now_ns() : p->t_end_ns;
    json_t *fam, *caps;

    json_object_set_new(o, "wall_s", json_real((double)(end - p->t_start_ns) / 1e9));
    pthread_mutex_lock(&table_lock);
    json_object_set_new(o, "tokens", json_pack("{s:I,s:I}", "in", (json_int_t)p->tokens_in, "out",
                                               (json_int_t)p->tokens_out));
    pthread_mutex_unlock(&table_lock);
    if (!detail)
        return o;
    fam = json_object();
    caps = json_array();
    for (size_t f = 0; f < kern__family_count(); f++) {
        if (p->syscalls[f])
            json_object_set_new(fam, kern__family_name(f), json_integer((json_int_t)p->syscalls[f]));
        if (p->caps & (1u << f))
            json_array_append_new(caps, json_string(kern__family_name(f)));
    }
    json_object_set_new(o, "syscalls", fam);
    json_object_set_new(o, "caps", caps);
    json_object_set_new(o, "argv", p->argv ? json_incref(p->argv) : json_array());
    json_object_set_new(o, "cwd", p->cwd ? json_string(p->cwd) : json_null());
    json_object_set_new(o, "exit", exit_info(p));
    json_object_set_new(o, "connections", json_integer(p->connections));
    json_object_set_new(o, "log_bytes", json_pack("{s:I,s:I}", "stdout", (json_int_t)p->logs[S_OUT].total,
                                                  "stderr", (json_int_t)p->logs[S_ERR].total));
    return o;
}

int kern__proc_list(kern_call *c, json_t *params, json_t **result)
{
    const kern_identity *who = kern_call_identity(c);
    const char *state = json_string_value(json_object_get(params, "state"));
    json_t *arr = json_array();

    for (proc *p = procs; p; p = p->next) {
        if (!visible(p, who))
            continue;
        if (state && strcmp(state, "all") && strcmp(state, state_names[p->state]))
            if (!(strcmp(state, "ended") == 0 && p->state != P_RUNNING))
                continue;
        json_array_insert_new(arr, 0, proc_json(p, false));
    }
    *result = json_pack("{s:o}", "processes", arr);
    return 0;
}

int kern__proc_info(kern_call *c, json_t *params, json_t **result)
{
    int rc = 0;
    proc *p = lookup(c, params, &rc);

    if (!p)
        return rc;
    *result = proc_json(p, true);
    return 0;
}

/* ---- signals ------------------------------------------------------------------------- */

static const struct {
    const char *name;
    int sig;
} signals[] = {
    {"TERM", SIGTERM}, {"KILL", SIGKILL}, {"INT", SIGINT},   {"HUP", SIGHUP},
    {"STOP", SIGSTOP}, {"CONT", SIGCONT}, {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"QUIT", SIGQUIT},
};

static int parse_signal(json_t *v)
{
    const char *s;

    if (!v)
        return SIGTERM;
    if (json_is_integer(v))
        return (int)json_integer_value(v);
    s = json_string_value(v);
    if (strncasecmp(s, "SIG", 3) == 0)
        s += 3;
    for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++)
        if (strcasecmp(s, signals[i].name) == 0)
            return signals[i].sig;
    return -1;
}

/* Signal a child and its process group (it leads its own session). */
static int signal_proc(proc *p, int sig)
{
    int rc = -1;

    if (p->pidfd >= 0)
        rc = (int)syscall(SYS_pidfd_send_signal, p->pidfd, sig, NULL, 0);
    if (rc < 0 && !p->exited)
        rc = kill(p->pid, sig);
    /* the rest of its group, while the leader is unreaped so the id is ours */
    if (!p->exited)
        kill(-p->pid, sig);
    return rc < 0 ? aios_from_errno(errno) : 0;
}

int kern__proc_kill(kern_call *c, json_t *params, json_t **result)
{
    int rc = 0, sig;
    proc *p = lookup(c, params, &rc);
    const kern_identity *who = kern_call_identity(c);

    if (!p)
        return rc;
    if (!who->admin && who->uid != p->uid)
        return kern_call_set_error(c, AIOS_EPERM, "id", "process %lld belongs to uid %u", (long long)p->id,
                                   (unsigned)p->uid);
    sig = parse_signal(json_object_get(params, "signal"));
    if (sig <= 0 || sig >= 65)
        return kern_call_set_error(c, AIOS_EINVAL, "signal", "unknown signal");
    if (p->attached)
        return kern_call_set_error(c, AIOS_ENOTSUP, "id",
                                   "process %lld is an attached agent, not a child of aiosd", (long long)p->id);
    if (p->state != P_RUNNING || p->exited)
        return kern_call_set_error(c, AIOS_ENOENT, "id", "process %lld is not running", (long long)p->id);
    if ((rc = signal_proc(p, sig)) < 0)
        return kern_call_set_error(c, rc, NULL, "cannot signal process %lld", (long long)p->id);
    *result = json_pack("{s:I,s:i}", "id", (json_int_t)p->id, "signal", sig);
    return 0;
}

int kern__proc_setprio(kern_call *c, json_t *params, json_t **result)
{
    int rc = 0;
    proc *p = lookup(c, params, &rc);
    const kern_identity *who = kern_call_identity(c);
    int prio = (int)json_integer_value(json_object_get(params, "priority"));

    if (!p)
        return rc;
    if (!who->admin && who->uid != p->uid)
        return kern_call_set_error(c, AIOS_EPERM, "id", "process %lld belongs to uid %u", (long long)p->id,
                                   (unsigned)p->uid);
    if (!who->admin && prio > p->priority && prio > 0)
        return kern_call_set_error(c, AIOS_EPERM, "priority",
                                   "only root or the daemon's owner may raise a priority above 0");
    pthread_mutex_lock(&table_lock);
    p->priority = prio;
    pthread_mutex_unlock(&table_lock);
    *result = json_pack("{s:I,s:i}", "id", (json_int_t)p->id, "priority", prio);
    return 0;
}

/* ---- wait and logs ----------------------------------------------------------------------- */

static void on_wait_cancel(kern_call *c, void *arg)
{
    waiter *w = arg;

    unlink_waiter(w->p, w);
    kern_call_fail(w->call, AIOS_ECANCELED);
    waiter_done(w);
}

static void on_wait_timeout(uv_timer_t *t)
{
    waiter *w = t->data;

    unlink_waiter(w->p, w);
    kern_call_set_error(w->call, AIOS_ETIMEDOUT, NULL, "process %lld still running", (long long)w->p->id);
    kern_call_fail(w->call, AIOS_ETIMEDOUT);
    kern_call_on_cancel(w->call, NULL, NULL);
    waiter_done(w);
}

int kern__proc_wait(kern_call *c, json_t *params, json_t **result)
{
    int rc = 0;
    proc *p = lookup(c, params, &rc);
    json_t *timeout = json_object_get(params, "timeout_ms");
    waiter *w;

    if (!p)
        return rc;
    if (p->finalized) {
        *result = json_pack("{s:I,s:o}", "id", (json_int_t)p->id, "exit", exit_info(p));
        return 0;
    }
    w = calloc(1, sizeof(*w));
    if (!w)
        return AIOS_ENOMEM;
    w->call = c;
    w->p = p;
    w->next = p->waiters;
    p->waiters = w;
    if (timeout) {
        uv_timer_init(kern__st.loop, &w->timer);
        w->timer.data = w;
        w->has_timer = true;
        uv_timer_start(&w->timer, on_wait_timeout, (uint64_t)json_integer_value(timeout), 0);
    }
    kern_call_on_cancel(c, on_wait_cancel, w);
    return KERN_ASYNC;
}

static void on_follow_cancel(kern_call *c, void *arg)
{
    proc *p = arg;

    unlink_follower(p, c);
    kern_call_fail(c, AIOS_ECANCELED);
}

int kern__proc_logs(kern_call *c, json_t *params, json_t **result)
{
    int rc = 0;
    proc *p = lookup(c, params, &rc);
    const char *which = json_string_value(json_object_get(params, "stream"));
    size_t tail = (size_t)json_integer_value(json_object_get(params, "tail"));
    bool follow = json_is_true(json_object_get(params, "follow"));
    unsigned streams = 3;
    follower *f;

    if (!p)
        return rc;
    if (which && strcmp(which, "stdout") == 0)
        streams = 1;
    else if (which && strcmp(which, "stderr") == 0)
        streams = 2;
    if (!follow || p->finalized) {
        json_t *o = log_result(p);
        for (int s = 0; s < 2; s++) {
            if (streams & (1u << s)) {
                json_object_set_new(o, stream_names[s], ring_text(&p->logs[s], tail));
                json_object_set_new(o, s ? "stderr_dropped" : "stdout_dropped",
                                    json_integer((json_int_t)(p->logs[s].total - p->logs[s].len)));
            }
        }
        *result = o;
        return 0;
    }
    /* follow: send what is there, then every new chunk, end when it exits */
    for (int s = 0; s < 2; s++) {
        if ((streams & (1u << s)) && p->logs[s].len) {
            json_t *t = ring_text(&p->logs[s], tail);
            kern_call_stream(c, json_pack("{s:s,s:o}", "stream", stream_names[s], "data", t));
        }
    }
    f = calloc(1, sizeof(*f));
    if (!f)
        return AIOS_ENOMEM;
    f->call = c;
    f->streams = streams;
    f->next = p->followers;
    p->followers = f;
    kern_call_on_cancel(c, on_follow_cancel, p);
    return KERN_ASYNC;
}

/* ---- binding connections to processes ----------------------------------------------------- */

static bool descends_from(pid_t pid, pid_t ancestor)
{
    for (int depth = 0; pid > 1 && depth < 64; depth++) {
        char path[64], buf[512], *rp;
        FILE *f;
        int ppid;

        if (pid == ancestor)
            return true;
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        f = fopen(path, "re");
        if (!f)
            return false;
        if (!fgets(buf, sizeof(buf), f)) {
            fclose(f);
            return false;
        }
        fclose(f);
        rp = strrchr(buf, ')');
        if (!rp || sscanf(rp + 2, "%*c %d", &ppid) != 1)
            return false;
        pid = ppid;
    }
    return false;
}

int kern__proc_bind(kern_conn *conn, json_t *agent, const char *token, char *err, size_t errlen)
{
    proc *p = NULL;
    const char *name = json_string_value(agent);
    char *end;

    if (json_is_integer(agent)) {
        p = find(json_integer_value(agent));
    } else if (name && *name) {
        long long id = strtoll(name, &end, 10);
        if (*end == '\0')
            p = find(id);
        else
            goto attach;
    }
    if (!p || p->state != P_RUNNING || p->attached) {
        snprintf(err, errlen, "no running agent process %s", name ? name : "with that id");
        return AIOS_ENOENT;
    }
    if (!(token && strcmp(token, p->token) == 0) && !descends_from(conn->ident.pid, p->pid)) {
        snprintf(err, errlen, "not agent process %lld: the token does not match and pid %d is not its descendant",
                 (long long)p->id, (int)conn->ident.pid);
        return AIOS_EPERM;
    }
    goto bind;
attach:
    /* an agent started outside aiosd: it becomes a process of its own */
    for (const char *q = name; *q; q++) {
        if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') ||
              *q == '-' || *q == '_' || *q == '.') || strlen(name) > 63 || name[0] == '.') {
            snprintf(err, errlen, "agent names use letters, digits, '-', '_' and '.', up to 63 characters");
            return AIOS_EINVAL;
        }
    }
    p = proc_new(name, &conn->ident, conn->caps);
    if (!p)
        return AIOS_ENOMEM;
    p->attached = true;
    p->attached_conn = conn->id;
    p->pid = conn->ident.pid;
    p->state = P_RUNNING;
bind:
    conn->ident.proc_id = p->id;
    conn->caps = p->caps;
    snprintf(conn->ident.agent, sizeof(conn->ident.agent), "%s", p->name);
    snprintf(conn->ident.principal, sizeof(conn->ident.principal), "agent:%s", p->name);
    p->connections++;
    return 0;
}

void kern__proc_conn_closed(kern_conn *conn)
{
    proc *p;

    if (!conn->ident.proc_id || !(p = find(conn->ident.proc_id)))
        return;
    p->connections--;
    if (p->attached && p->attached_conn == conn->id && p->state == P_RUNNING) {
        pthread_mutex_lock(&table_lock);
        p->state = P_DETACHED;
        pthread_mutex_unlock(&table_lock);
        p->exited = true;
        p->t_end_ns = kern__now_ns();
        p->ended_at = aios_wall_time();
        finalize(p);
    }
}

/* ---- accounting ----------------------------------------------------------------------------- */

void kern__proc_account_call(int64_t proc_id, int family)
{
    proc *p;

    if (!proc_id || family < 0 || family >= 32 || !(p = find(proc_id)))
        return;
    p->syscalls[family]++;
}

void kern_proc_account_tokens(int64_t proc_id, uint64_t tokens_in, uint64_t tokens_out)
{
    if (!proc_id)
        return;
    pthread_mutex_lock(&table_lock);
    for (proc *p = procs; p; p = p->next) {
        if (p->id == proc_id) {
            p->tokens_in += tokens_in;
            p->tokens_out += tokens_out;
            break;
        }
    }
    pthread_mutex_unlock(&table_lock);
}

int kern_proc_priority(int64_t proc_id)
{
    int prio = 0;

    if (!proc_id)
        return 0;
    pthread_mutex_lock(&table_lock);
    for (proc *p = procs; p; p = p->next) {
        if (p->id == proc_id) {
            prio = p->priority;
            break;
        }
    }
    pthread_mutex_unlock(&table_lock);
    return prio;
}

json_t *kern__proc_stats(void)
{
    size_t running = 0, total = 0;

    for (proc *p = procs; p; p = p->next) {
        total++;
        running += p->state == P_RUNNING;
    }
    return json_pack("{s:I,s:I,s:I}", "running", (json_int_t)running, "listed", (json_int_t)total,
                     "spawned", (json_int_t)(next_id - 1));
}

/* ---- subsystem ------------------------------------------------------------------------------- */

int kern__proc_init(void)
{
    log_cap = (size_t)kern_config_int("proc.log_bytes", 1 << 20);
    if (log_cap < 4096)
        log_cap = 4096;
    keep_exited = (size_t)kern_config_int("proc.keep_exited", 1000);
    return 0;
}

/* Ask every child to stop (SIGTERM to its group). */
void kern__proc_stop(void)
{
    for (proc *p = procs; p; p = p->next)
        if (!p->attached && p->state == P_RUNNING && !p->exited)
            signal_proc(p, SIGTERM);
}

/* Whether children are still running (the shutdown grace waits for them). */
bool kern__proc_children_alive(void)
{
    for (proc *p = procs; p; p = p->next)
        if (!p->attached && (!p->exited || p->open_handles))
            return true;
    return false;
}

/* Kill what is left and free the table (at exit, loop thread). */
void kern__proc_kill_all(void)
{
    for (proc *p = procs; p; p = p->next)
        if (!p->attached && !p->exited)
            signal_proc(p, SIGKILL);
}

void kern__proc_free_all(void)
{
    while (procs) {
        proc *p = procs;
        procs = p->next;
        json_decref(p->argv);
        free(p->cwd);
        free(p->logs[0].buf);
        free(p->logs[1].buf);
        if (p->pidfd >= 0)
            close(p->pidfd);
        free(p);
    }
}

static int proc_subsys_init(void)
{
    return kern__proc_init();
}

static json_t *proc_subsys_stats(void)
{
    return kern__proc_stats();
}

const kern_subsys kern_subsys_proc = {
    .name = "proc",
    .init = proc_subsys_init,
    .stop = kern__proc_stop,
    .stats = proc_subsys_stats,
};

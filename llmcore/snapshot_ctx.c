/*
 * snapshot_ctx.c - the context store: agents' named conversation states
 * on disk with a small in-memory cache (see snapshot.h).
 *
 * Layout: <dir>/<16 hex digits of XXH64(owner)>/<name>.ctx holds the image
 * as a snapshot file (zstd, checksummed); <name>.json beside it holds
 * {owner, name, tokens, bytes, created, updated, model}.  The
 * folder is scanned at start-up, so contexts survive a restart.  Files are
 * 0600 in 0700 folders; ownership is checked on every access by the exact
 * owner string.
 *
 * Writes are behind: put() keeps the image in memory (the host copy the
 * next turn uses) and queues it for the store's writer thread, which
 * compresses, writes and fsyncs it; a newer image of the same context
 * replaces a queued one.  An image stays in memory until its latest version
 * is on disk; free() waits for the queue, so a clean shutdown loses nothing.
 * Owns the index, the images and the writer thread.  The API runs on the
 * engine thread; the writer reports back through a locked list the engine
 * drains on its next call.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <xxhash.h>

#include "aios/error.h"
#include "aios/log.h"
#include "llmcore/snapshot.h"

/* An image shared by the index and the writer. */
typedef struct imgbuf {
    atomic_int refs;
    void *data;
    size_t len;
} imgbuf;

static imgbuf *img_new(void *data, size_t len)
{
    imgbuf *b = malloc(sizeof(*b));

    if (!b)
        return NULL;
    atomic_init(&b->refs, 1);
    b->data = data;
    b->len = len;
    return b;
}

static imgbuf *img_ref(imgbuf *b)
{
    atomic_fetch_add(&b->refs, 1);
    return b;
}

static void img_unref(imgbuf *b)
{
    if (b && atomic_fetch_sub(&b->refs, 1) == 1) {
        free(b->data);
        free(b);
    }
}

typedef struct ctx_entry {
    char *owner;
    char name[65];
    uint32_t n_tokens;
    uint64_t bytes, file_bytes;
    double created, updated;
    char *model;
    imgbuf *img;             /* in memory, or NULL (then it is on disk) */
    uint64_t seq;            /* version of the latest put */
    uint64_t written;        /* latest version known to be on disk */
    uint64_t last_use;
    struct ctx_entry *next;
} ctx_entry;

/* A job for the writer: write (img set) or delete (img NULL) a context. */
typedef struct ctx_job {
    char ctx_path[4096], json_path[4096];
    char *owner;
    char name[65];
    imgbuf *img;
    char *sidecar;           /* JSON text of the index file */
    uint64_t seq;
    int rc;
    size_t file_bytes;
    struct ctx_job *next;
} ctx_job;

struct llm_ctxstore {
    char *dir;
    char *fp;
    size_t mem_budget;
    int level;
    ctx_entry *list;
    uint64_t tick, next_seq;
    uint64_t mem_bytes;
    /* the writer */
    pthread_t th;
    bool th_started, stopping;
    pthread_mutex_t mu;
    pthread_cond_t cv, idle_cv;
    ctx_job *q_head, *q_tail;  /* to do */
    ctx_job *done;             /* finished, for the engine to apply */
    bool busy;
    uint64_t writes, write_errors;
};

bool llm_ctx_name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;

    if (n < 1 || n > 64 || name[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void owner_dir(const llm_ctxstore *cs, const char *owner, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%016llx", cs->dir, (unsigned long long)XXH64(owner, strlen(owner), 0));
}

static void entry_path(const llm_ctxstore *cs, const char *owner, const char *name, const char *ext, char *out,
                       size_t cap)
{
    char d[3072];

    owner_dir(cs, owner, d, sizeof(d));
    snprintf(out, cap, "%s/%s.%s", d, name, ext);
}

static ctx_entry *find(llm_ctxstore *cs, const char *owner, const char *name)
{
    for (ctx_entry *e = cs->list; e; e = e->next)
        if (strcmp(e->owner, owner) == 0 && strcmp(e->name, name) == 0)
            return e;
    return NULL;
}

static void entry_uncache(llm_ctxstore *cs, ctx_entry *e)
{
    if (e->img) {
        cs->mem_bytes -= e->img->len;
        img_unref(e->img);
        e->img = NULL;
    }
}

static void entry_free(llm_ctxstore *cs, ctx_entry *e)
{
    entry_uncache(cs, e);
    free(e->owner);
    free(e->model);
    free(e);
}

static void job_free(ctx_job *j)
{
    img_unref(j->img);
    free(j->owner);
    free(j->sidecar);
    free(j);
}

/* Apply what the writer finished (engine thread). */
static void drain(llm_ctxstore *cs)
{
    ctx_job *d;

    pthread_mutex_lock(&cs->mu);
    d = cs->done;
    cs->done = NULL;
    pthread_mutex_unlock(&cs->mu);
    while (d) {
        ctx_job *n = d->next;
        for (ctx_entry *e = cs->list; e && d->img; e = e->next)
            if (strcmp(e->owner, d->owner) == 0 && strcmp(e->name, d->name) == 0) {
                if (d->rc == 0 && d->seq > e->written) {
                    e->written = d->seq;
                    if (d->seq == e->seq)
                        e->file_bytes = d->file_bytes;
                }
                break;
            }
        job_free(d);
        d = n;
    }
}

/* Keep the cache under its budget, least recently used out first; only
 * images already on disk may leave memory. */
static void trim(llm_ctxstore *cs, const ctx_entry *keep)
{
    while (cs->mem_bytes > cs->mem_budget) {
        ctx_entry *old = NULL;
        for (ctx_entry *e = cs->list; e; e = e->next)
            if (e->img && e != keep && e->written == e->seq && (!old || e->last_use < old->last_use))
                old = e;
        if (!old)
            break;
        entry_uncache(cs, old);
    }
}

static void *writer_main(void *arg)
{
    llm_ctxstore *cs = arg;

    pthread_mutex_lock(&cs->mu);
    for (;;) {
        ctx_job *j;
        while (!cs->q_head && !cs->stopping)
            pthread_cond_wait(&cs->cv, &cs->mu);
        if (!cs->q_head)
            break;
        j = cs->q_head;
        cs->q_head = j->next;
        if (!cs->q_head)
            cs->q_tail = NULL;
        j->next = NULL;
        cs->busy = true;
        pthread_mutex_unlock(&cs->mu);
        if (j->img) {
            j->rc = llm_snapfile_write(j->ctx_path, j->img->data, j->img->len, cs->level, &j->file_bytes);
            if (j->rc == 0 && j->sidecar) {
                char tmp[4200];
                FILE *f;
                int fd;
                snprintf(tmp, sizeof(tmp), "%s.tmp", j->json_path);
                fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
                f = fd >= 0 ? fdopen(fd, "w") : NULL;
                if (!f && fd >= 0)
                    close(fd);
                if (!f || fputs(j->sidecar, f) < 0 || fflush(f) != 0 || fsync(fileno(f)) != 0) {
                    j->rc = AIOS_EIO;
                } else if (rename(tmp, j->json_path) < 0) {
                    j->rc = AIOS_EIO;
                }
                if (f)
                    fclose(f);
                if (j->rc < 0)
                    unlink(tmp);
            }
            if (j->rc < 0)
                AIOS_LOG(AIOS_LOG_WARN, "llm", "cannot write context '%s': %s", j->name, aios_strerror(j->rc));
        } else {
            unlink(j->ctx_path);
            unlink(j->json_path);
            j->rc = 0;
        }
        pthread_mutex_lock(&cs->mu);
        cs->busy = false;
        if (j->img) {
            cs->writes++;
            cs->write_errors += j->rc < 0;
        }
        j->next = cs->done;
        cs->done = j;
        if (!cs->q_head)
            pthread_cond_broadcast(&cs->idle_cv);
    }
    pthread_mutex_unlock(&cs->mu);
    return NULL;
}

/* Queue a job; a write replaces a queued write of the same context. */
static void enqueue(llm_ctxstore *cs, ctx_job *j)
{
    pthread_mutex_lock(&cs->mu);
    if (j->img)
        for (ctx_job *q = cs->q_head; q; q = q->next)
            if (q->img && strcmp(q->owner, j->owner) == 0 && strcmp(q->name, j->name) == 0) {
                imgbuf *b = q->img;
                char *sc = q->sidecar;
                q->img = j->img;
                q->sidecar = j->sidecar;
                q->seq = j->seq;
                j->img = b;
                j->sidecar = sc;
                j->rc = AIOS_ECANCELED;   /* superseded: reported as not written */
                j->next = cs->done;
                cs->done = j;
                pthread_mutex_unlock(&cs->mu);
                return;
            }
    if (cs->q_tail)
        cs->q_tail->next = j;
    else
        cs->q_head = j;
    cs->q_tail = j;
    pthread_cond_signal(&cs->cv);
    pthread_mutex_unlock(&cs->mu);
}

/* Read one sidecar into a new index entry. */
static void load_sidecar(llm_ctxstore *cs, const char *dir, const char *file)
{
    char path[4096], expect[3072];
    json_error_t je;
    json_t *j;
    const char *owner, *name, *model;
    ctx_entry *e;

    snprintf(path, sizeof(path), "%s/%s", dir, file);
    j = json_load_file(path, 0, &je);
    if (!j)
        return;
    owner = json_string_value(json_object_get(j, "owner"));
    name = json_string_value(json_object_get(j, "name"));
    model = json_string_value(json_object_get(j, "model"));
    if (!owner || !llm_ctx_name_ok(name))
        goto out;
    owner_dir(cs, owner, expect, sizeof(expect));
    if (strcmp(expect, dir) != 0 || find(cs, owner, name))
        goto out;
    snprintf(path, sizeof(path), "%s/%s.ctx", dir, name);
    if (access(path, R_OK) != 0)
        goto out;
    e = calloc(1, sizeof(*e));
    if (!e)
        goto out;
    e->owner = strdup(owner);
    e->model = strdup(model ? model : "");
    if (!e->owner || !e->model) {
        entry_free(cs, e);
        goto out;
    }
    snprintf(e->name, sizeof(e->name), "%s", name);
    e->n_tokens = (uint32_t)json_integer_value(json_object_get(j, "tokens"));
    e->bytes = (uint64_t)json_integer_value(json_object_get(j, "bytes"));
    {
        struct stat sb;
        e->file_bytes = stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
    }
    e->created = json_number_value(json_object_get(j, "created"));
    e->updated = json_number_value(json_object_get(j, "updated"));
    e->next = cs->list;
    cs->list = e;
out:
    json_decref(j);
}

static void scan(llm_ctxstore *cs)
{
    DIR *top = opendir(cs->dir), *sub;
    struct dirent *d, *f;
    char path[3072];

    if (!top)
        return;
    while ((d = readdir(top)) != NULL) {
        if (d->d_name[0] == '.' || strlen(d->d_name) != 16)
            continue;
        snprintf(path, sizeof(path), "%s/%s", cs->dir, d->d_name);
        sub = opendir(path);
        if (!sub)
            continue;
        while ((f = readdir(sub)) != NULL) {
            size_t n = strlen(f->d_name);
            if (n > 5 && strcmp(f->d_name + n - 5, ".json") == 0)
                load_sidecar(cs, path, f->d_name);
        }
        closedir(sub);
    }
    closedir(top);
}

int llm_ctxstore_new(const char *dir, const char *fingerprint, size_t mem_budget, int level,
                     llm_ctxstore **out)
{
    llm_ctxstore *cs = calloc(1, sizeof(*cs));

    *out = NULL;
    if (!cs)
        return AIOS_ENOMEM;
    cs->dir = strdup(dir);
    cs->fp = strdup(fingerprint ? fingerprint : "");
    cs->mem_budget = mem_budget;
    cs->level = level;
    pthread_mutex_init(&cs->mu, NULL);
    pthread_cond_init(&cs->cv, NULL);
    pthread_cond_init(&cs->idle_cv, NULL);
    if (!cs->dir || !cs->fp) {
        llm_ctxstore_free(cs);
        return AIOS_ENOMEM;
    }
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        int rc = aios_from_errno(errno);
        llm_ctxstore_free(cs);
        return rc;
    }
    scan(cs);
    if (pthread_create(&cs->th, NULL, writer_main, cs) != 0) {
        llm_ctxstore_free(cs);
        return AIOS_ESYS;
    }
    cs->th_started = true;
    *out = cs;
    return 0;
}

void llm_ctxstore_flush(llm_ctxstore *cs)
{
    if (!cs->th_started)
        return;
    pthread_mutex_lock(&cs->mu);
    while (cs->q_head || cs->busy)
        pthread_cond_wait(&cs->idle_cv, &cs->mu);
    pthread_mutex_unlock(&cs->mu);
    drain(cs);
}

void llm_ctxstore_free(llm_ctxstore *cs)
{
    if (!cs)
        return;
    if (cs->th_started) {
        /* everything queued reaches the disk before we go */
        pthread_mutex_lock(&cs->mu);
        cs->stopping = true;
        pthread_cond_signal(&cs->cv);
        pthread_mutex_unlock(&cs->mu);
        pthread_join(cs->th, NULL);
        drain(cs);
    }
    while (cs->list) {
        ctx_entry *e = cs->list;
        cs->list = e->next;
        entry_free(cs, e);
    }
    pthread_mutex_destroy(&cs->mu);
    pthread_cond_destroy(&cs->cv);
    pthread_cond_destroy(&cs->idle_cv);
    free(cs->dir);
    free(cs->fp);
    free(cs);
}

static char *sidecar_text(const ctx_entry *e)
{
    json_t *j = json_pack("{s:s,s:s,s:i,s:I,s:f,s:f,s:s}", "owner", e->owner, "name", e->name, "tokens",
                          (int)e->n_tokens, "bytes", (json_int_t)e->bytes, "created", e->created, "updated",
                          e->updated, "model", e->model);
    char *t = j ? json_dumps(j, JSON_COMPACT) : NULL;

    json_decref(j);
    return t;
}

int llm_ctxstore_put(llm_ctxstore *cs, const char *owner, const char *name, void *image, size_t len,
                     uint32_t n_tokens)
{
    char dir[3072];
    ctx_entry *e;
    ctx_job *j;
    imgbuf *b;

    drain(cs);
    if (!llm_ctx_name_ok(name)) {
        free(image);
        return AIOS_EINVAL;
    }
    owner_dir(cs, owner, dir, sizeof(dir));
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        free(image);
        return aios_from_errno(errno);
    }
    b = img_new(image, len);
    j = calloc(1, sizeof(*j));
    if (!b || !j || !(j->owner = strdup(owner))) {
        free(j);
        if (b)
            img_unref(b);
        else
            free(image);
        return AIOS_ENOMEM;
    }
    e = find(cs, owner, name);
    if (!e) {
        e = calloc(1, sizeof(*e));
        if (!e || !(e->owner = strdup(owner))) {
            free(e);
            job_free(j);
            img_unref(b);
            return AIOS_ENOMEM;
        }
        snprintf(e->name, sizeof(e->name), "%s", name);
        e->created = wall_now();
        e->next = cs->list;
        cs->list = e;
    }
    free(e->model);
    e->model = strdup(cs->fp);
    entry_uncache(cs, e);
    e->img = b;
    cs->mem_bytes += len;
    e->n_tokens = n_tokens;
    e->bytes = len;
    e->updated = wall_now();
    e->last_use = ++cs->tick;
    e->seq = ++cs->next_seq;
    /* the writer gets its own reference to the image */
    snprintf(j->name, sizeof(j->name), "%s", name);
    entry_path(cs, owner, name, "ctx", j->ctx_path, sizeof(j->ctx_path));
    entry_path(cs, owner, name, "json", j->json_path, sizeof(j->json_path));
    j->img = img_ref(b);
    j->seq = e->seq;
    j->sidecar = sidecar_text(e);
    if (cs->th_started) {
        enqueue(cs, j);
    } else {
        j->rc = llm_snapfile_write(j->ctx_path, b->data, b->len, cs->level, &j->file_bytes);
        if (j->rc == 0) {
            e->written = e->seq;
            e->file_bytes = j->file_bytes;
        }
        job_free(j);
    }
    trim(cs, e);
    return 0;
}

int llm_ctxstore_get(llm_ctxstore *cs, const char *owner, const char *name, const void **image, size_t *len)
{
    ctx_entry *e;
    char path[4096];
    void *raw;
    size_t n;
    int rc;

    drain(cs);
    e = find(cs, owner, name);
    if (!e)
        return AIOS_ENOENT;
    if (!e->model || strcmp(e->model, cs->fp) != 0)
        return AIOS_ECONFLICT;
    if (!e->img) {
        entry_path(cs, owner, name, "ctx", path, sizeof(path));
        if ((rc = llm_snapfile_read(path, &raw, &n)) < 0)
            return rc == AIOS_ENOENT ? AIOS_ECORRUPT : rc;
        if (!(e->img = img_new(raw, n))) {
            free(raw);
            return AIOS_ENOMEM;
        }
        cs->mem_bytes += n;
    }
    e->last_use = ++cs->tick;
    *image = e->img->data;
    *len = e->img->len;
    trim(cs, e);
    return 0;
}

bool llm_ctxstore_exists(llm_ctxstore *cs, const char *owner, const char *name)
{
    return find(cs, owner, name) != NULL;
}

int llm_ctxstore_drop(llm_ctxstore *cs, const char *owner, const char *name)
{
    ctx_entry **link = &cs->list, *e;
    char path[4096];

    drain(cs);
    while ((e = *link) && !(strcmp(e->owner, owner) == 0 && strcmp(e->name, name) == 0))
        link = &e->next;
    if (!e)
        return AIOS_ENOENT;
    *link = e->next;
    if (cs->th_started) {
        /* after any write of it still queued */
        ctx_job *j = calloc(1, sizeof(*j));
        if (j && (j->owner = strdup(owner))) {
            snprintf(j->name, sizeof(j->name), "%s", name);
            entry_path(cs, owner, name, "ctx", j->ctx_path, sizeof(j->ctx_path));
            entry_path(cs, owner, name, "json", j->json_path, sizeof(j->json_path));
            enqueue(cs, j);
            entry_free(cs, e);
            return 0;
        }
        free(j);
    }
    entry_path(cs, owner, name, "ctx", path, sizeof(path));
    unlink(path);
    entry_path(cs, owner, name, "json", path, sizeof(path));
    unlink(path);
    entry_free(cs, e);
    return 0;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp((*(ctx_entry *const *)a)->name, (*(ctx_entry *const *)b)->name);
}

json_t *llm_ctxstore_list(llm_ctxstore *cs, const char *owner)
{
    json_t *arr = json_array();
    ctx_entry **v;
    size_t n = 0, k = 0;

    drain(cs);
    for (ctx_entry *e = cs->list; e; e = e->next)
        n += strcmp(e->owner, owner) == 0;
    v = calloc(n ? n : 1, sizeof(*v));
    if (!v || !arr) {
        free(v);
        return arr;
    }
    for (ctx_entry *e = cs->list; e; e = e->next)
        if (strcmp(e->owner, owner) == 0)
            v[k++] = e;
    qsort(v, n, sizeof(*v), name_cmp);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_pack("{s:s,s:i,s:I,s:I,s:f,s:f,s:b,s:b}", "name", v[i]->name, "tokens",
                                             (int)v[i]->n_tokens, "bytes", (json_int_t)v[i]->bytes, "file_bytes",
                                             (json_int_t)v[i]->file_bytes, "created", v[i]->created, "updated",
                                             v[i]->updated, "in_memory", v[i]->img != NULL, "same_model",
                                             v[i]->model && strcmp(v[i]->model, cs->fp) == 0));
    free(v);
    return arr;
}

void llm_ctxstore_usage(llm_ctxstore *cs, uint64_t *mem_bytes, uint64_t *disk_bytes, uint64_t *count)
{
    uint64_t d = 0, c = 0;

    drain(cs);
    for (ctx_entry *e = cs->list; e; e = e->next) {
        d += e->file_bytes;
        c++;
    }
    *mem_bytes = cs->mem_bytes;
    *disk_bytes = d;
    *count = c;
}

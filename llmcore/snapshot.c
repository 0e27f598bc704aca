/*
 * snapshot.c - context images, the snapshot file format and the host
 * snapshot store with asynchronous spill to disk (see snapshot.h).
 *
 * Owns the images handed to the store, their spill files and the store's
 * I/O thread.  The API runs on the engine thread; the I/O thread only
 * compresses and writes spills.  One mutex guards the store's lists,
 * states and statistics; compression and file I/O run outside it.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <dirent.h>
#include <xxhash.h>
#include <zstd.h>

#include "aios/error.h"
#include "aios/log.h"
#include "llmcore/snapshot.h"

/* ---- images ------------------------------------------------------------------------------ */

#define IMG_MAGIC "AIOSIMG1"

typedef struct image_hdr {
    char magic[8];
    uint32_t meta_len;       /* padded to a multiple of 8 */
    uint32_t n_tokens;
    uint64_t gen_len;
    uint64_t kv_len;
} image_hdr;

static size_t pad8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

static char *meta_text(const json_t *meta, size_t *len)
{
    char *s = json_dumps(meta ? meta : json_object(), JSON_COMPACT | JSON_SORT_KEYS);

    *len = s ? strlen(s) : 0;
    return s;
}

size_t llm_image_size(const llm_image_view *v)
{
    size_t ml;
    char *m = meta_text(v->meta, &ml);

    free(m);
    return sizeof(image_hdr) + pad8(ml) + pad8((size_t)v->n_tokens * 4) + pad8(v->gen_len) + v->kv_len;
}

int llm_image_pack(const llm_image_view *v, void **buf, size_t *len)
{
    image_hdr h;
    size_t ml, total;
    char *m = meta_text(v->meta, &ml);
    uint8_t *b, *p;

    *buf = NULL;
    *len = 0;
    if (!m)
        return AIOS_ENOMEM;
    total = sizeof(h) + pad8(ml) + pad8((size_t)v->n_tokens * 4) + pad8(v->gen_len) + v->kv_len;
    b = malloc(total);
    if (!b) {
        free(m);
        return AIOS_ENOMEM;
    }
    memset(&h, 0, sizeof(h));
    memcpy(h.magic, IMG_MAGIC, 8);
    h.meta_len = (uint32_t)pad8(ml);
    h.n_tokens = v->n_tokens;
    h.gen_len = v->gen_len;
    h.kv_len = v->kv_len;
    p = b;
    memcpy(p, &h, sizeof(h));
    p += sizeof(h);
    memcpy(p, m, ml);
    memset(p + ml, ' ', pad8(ml) - ml);
    p += pad8(ml);
    free(m);
    if (v->n_tokens)
        memcpy(p, v->tokens, (size_t)v->n_tokens * 4);
    memset(p + (size_t)v->n_tokens * 4, 0, pad8((size_t)v->n_tokens * 4) - (size_t)v->n_tokens * 4);
    p += pad8((size_t)v->n_tokens * 4);
    if (v->gen_len)
        memcpy(p, v->gen, v->gen_len);
    memset(p + v->gen_len, 0, pad8(v->gen_len) - v->gen_len);
    p += pad8(v->gen_len);
    if (v->kv_len && v->kv)
        memcpy(p, v->kv, v->kv_len);   /* kv == NULL: reserved, the caller fills it */
    *buf = b;
    *len = total;
    return 0;
}

int llm_image_unpack(const void *buf, size_t len, llm_image_view *v)
{
    const uint8_t *p = buf;
    image_hdr h;
    size_t need;
    json_error_t je;

    memset(v, 0, sizeof(*v));
    if (len < sizeof(h))
        return AIOS_ECORRUPT;
    memcpy(&h, p, sizeof(h));
    if (memcmp(h.magic, IMG_MAGIC, 8) != 0 || h.meta_len % 8 || h.gen_len > len || h.kv_len > len)
        return AIOS_ECORRUPT;
    need = sizeof(h) + h.meta_len + pad8((size_t)h.n_tokens * 4) + pad8(h.gen_len) + h.kv_len;
    if (need != len)
        return AIOS_ECORRUPT;
    p += sizeof(h);
    v->meta = json_loadb((const char *)p, h.meta_len, 0, &je);
    if (!v->meta || !json_is_object(v->meta)) {
        json_decref(v->meta);
        v->meta = NULL;
        return AIOS_ECORRUPT;
    }
    p += h.meta_len;
    v->tokens = (const int32_t *)p;
    v->n_tokens = h.n_tokens;
    p += pad8((size_t)h.n_tokens * 4);
    v->gen = p;
    v->gen_len = h.gen_len;
    p += pad8(h.gen_len);
    v->kv = p;
    v->kv_len = h.kv_len;
    return 0;
}

/* ---- files --------------------------------------------------------------------------------- */

#define FILE_MAGIC "AIOSNAP1"
enum { CODEC_STORED = 0, CODEC_ZSTD = 1 };

typedef struct file_hdr {
    char magic[8];
    uint32_t version;
    uint32_t codec;
    uint64_t raw_len;
    uint64_t stored_len;
    uint64_t raw_xxh3;
    uint64_t stored_xxh3;
    uint64_t hdr_xxh3;       /* of every field above */
} file_hdr;

static int write_all(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;

    while (n > 0) {
        ssize_t w = write(fd, b, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return aios_from_errno(errno);
        }
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

static int read_all(int fd, void *p, size_t n)
{
    uint8_t *b = p;

    while (n > 0) {
        ssize_t r = read(fd, b, n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return aios_from_errno(errno);
        }
        if (r == 0)
            return AIOS_ECORRUPT;
        b += r;
        n -= (size_t)r;
    }
    return 0;
}

int llm_snapfile_write(const char *path, const void *raw, size_t len, int level, size_t *written)
{
    file_hdr h;
    void *z = NULL;
    const void *data = raw;
    size_t n = len;
    char tmp[4096];
    int fd, rc;

    memset(&h, 0, sizeof(h));
    memcpy(h.magic, FILE_MAGIC, 8);
    h.version = 1;
    h.codec = CODEC_STORED;
    h.raw_len = len;
    h.raw_xxh3 = XXH3_64bits(raw, len);
    if (level > 0) {
        size_t cap = ZSTD_compressBound(len), zn;
        z = malloc(cap);
        if (!z)
            return AIOS_ENOMEM;
        zn = ZSTD_compress(z, cap, raw, len, level);
        if (ZSTD_isError(zn)) {
            free(z);
            return AIOS_EINTERNAL;
        }
        data = z;
        n = zn;
        h.codec = CODEC_ZSTD;
    }
    h.stored_len = n;
    h.stored_xxh3 = XXH3_64bits(data, n);
    h.hdr_xxh3 = XXH3_64bits(&h, offsetof(file_hdr, hdr_xxh3));
    if (snprintf(tmp, sizeof(tmp), "%s.tmp%d", path, (int)getpid()) >= (int)sizeof(tmp)) {
        free(z);
        return AIOS_ETOOBIG;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = aios_from_errno(errno);
        free(z);
        return rc;
    }
    rc = write_all(fd, &h, sizeof(h));
    if (rc == 0)
        rc = write_all(fd, data, n);
    if (rc == 0 && fsync(fd) < 0)
        rc = aios_from_errno(errno);
    if (close(fd) < 0 && rc == 0)
        rc = aios_from_errno(errno);
    free(z);
    if (rc == 0 && rename(tmp, path) < 0)
        rc = aios_from_errno(errno);
    if (rc < 0) {
        unlink(tmp);
        return rc;
    }
    if (written)
        *written = sizeof(h) + n;
    return 0;
}

int llm_snapfile_read(const char *path, void **raw, size_t *len)
{
    file_hdr h;
    struct stat sb;
    void *stored = NULL, *out = NULL;
    int fd, rc;

    *raw = NULL;
    *len = 0;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return aios_from_errno(errno);
    if (fstat(fd, &sb) < 0) {
        rc = aios_from_errno(errno);
        goto out_close;
    }
    if ((rc = read_all(fd, &h, sizeof(h))) < 0)
        goto out_close;
    rc = AIOS_ECORRUPT;
    if (memcmp(h.magic, FILE_MAGIC, 8) != 0 || h.version != 1 ||
        h.hdr_xxh3 != XXH3_64bits(&h, offsetof(file_hdr, hdr_xxh3)) ||
        (uint64_t)sb.st_size != sizeof(h) + h.stored_len || h.raw_len > ((uint64_t)1 << 40) ||
        (h.codec != CODEC_STORED && h.codec != CODEC_ZSTD) ||
        (h.codec == CODEC_STORED && h.stored_len != h.raw_len))
        goto out_close;
    stored = malloc(h.stored_len ? h.stored_len : 1);
    if (!stored) {
        rc = AIOS_ENOMEM;
        goto out_close;
    }
    if ((rc = read_all(fd, stored, h.stored_len)) < 0)
        goto out_free;
    rc = AIOS_ECORRUPT;
    if (XXH3_64bits(stored, h.stored_len) != h.stored_xxh3)
        goto out_free;
    if (h.codec == CODEC_ZSTD) {
        size_t n;
        out = malloc(h.raw_len ? h.raw_len : 1);
        if (!out) {
            rc = AIOS_ENOMEM;
            goto out_free;
        }
        n = ZSTD_decompress(out, h.raw_len, stored, h.stored_len);
        if (ZSTD_isError(n) || n != h.raw_len) {
            free(out);
            goto out_free;
        }
        free(stored);
        stored = out;
    }
    if (XXH3_64bits(stored, h.raw_len) != h.raw_xxh3)
        goto out_free;
    *raw = stored;
    *len = h.raw_len;
    close(fd);
    return 0;
out_free:
    free(stored);
out_close:
    close(fd);
    return rc;
}

/* ---- the store -------------------------------------------------------------------------------- */

typedef enum { SNAP_HOST, SNAP_SPILLING, SNAP_DISK } snap_state;

struct llm_snap {
    uint64_t id;
    snap_state state;
    void *buf;               /* image while in memory */
    size_t len;              /* image bytes */
    size_t file_bytes;       /* on disk */
    bool stripped;           /* K/V dropped past the disk budget */
    bool dropped;            /* the engine let go while the I/O thread held it */
    bool io_held;
    llm_snap *prev, *next;   /* store order: oldest first */
    llm_snap *q_next;        /* spill queue */
};

struct llm_snapstore {
    char *dir;
    size_t host_budget, disk_budget;
    int level;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t io;
    bool io_started, stopping;
    llm_snap *head, *tail;
    llm_snap *q_head, *q_tail;
    uint64_t next_id;
    llm_snapstore_stats st;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void ewma(double *avg, double v)
{
    *avg = *avg > 0 ? 0.7 * *avg + 0.3 * v : v;
}

static void snap_path(const llm_snapstore *st, uint64_t id, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%016llx.snap", st->dir, (unsigned long long)id);
}

static void list_unlink(llm_snapstore *st, llm_snap *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        st->head = s->next;
    if (s->next)
        s->next->prev = s->prev;
    else
        st->tail = s->prev;
    s->prev = s->next = NULL;
}

/* Drop the K/V section of an image kept in memory (disk budget spent). */
static void strip(llm_snapstore *st, llm_snap *s)
{
    llm_image_view v;
    void *nb;
    size_t nl;

    if (s->stripped || llm_image_unpack(s->buf, s->len, &v) < 0)
        return;
    v.kv = NULL;
    v.kv_len = 0;
    if (llm_image_pack(&v, &nb, &nl) == 0) {
        st->st.host_bytes -= s->len;
        free(s->buf);
        s->buf = nb;
        s->len = nl;
        st->st.host_bytes += nl;
        s->stripped = true;
        st->st.lost++;
        st->st.n_lost++;
    }
    json_decref(v.meta);
}

/* Over the host budget: queue the oldest in-memory images for spilling
 * (or strip them when the disk budget is spent).  Lock held. */
static void enforce(llm_snapstore *st)
{
    uint64_t resident = 0;

    for (llm_snap *s = st->head; s; s = s->next)
        if (s->state == SNAP_HOST)
            resident += s->len;
    for (llm_snap *s = st->head; s && resident > st->host_budget; s = s->next) {
        if (s->state != SNAP_HOST || s->stripped)
            continue;
        resident -= s->len;
        if (st->st.disk_bytes + s->len / 2 > st->disk_budget || !st->io_started) {
            strip(st, s);
            continue;
        }
        s->state = SNAP_SPILLING;
        s->io_held = true;
        s->q_next = NULL;
        if (st->q_tail)
            st->q_tail->q_next = s;
        else
            st->q_head = s;
        st->q_tail = s;
        pthread_cond_signal(&st->cv);
    }
}

static void snap_free(llm_snapstore *st, llm_snap *s)
{
    char path[4096];

    if (s->state == SNAP_DISK || s->file_bytes) {
        snap_path(st, s->id, path, sizeof(path));
        unlink(path);
    }
    free(s->buf);
    free(s);
}

static void *io_main(void *arg)
{
    llm_snapstore *st = arg;
    char path[4096];

    pthread_mutex_lock(&st->mu);
    for (;;) {
        llm_snap *s;
        size_t written = 0;
        double t0;
        int rc;

        while (!st->q_head && !st->stopping)
            pthread_cond_wait(&st->cv, &st->mu);
        if (!st->q_head)
            break;
        s = st->q_head;
        st->q_head = s->q_next;
        if (!st->q_head)
            st->q_tail = NULL;
        if (s->dropped) {
            pthread_mutex_unlock(&st->mu);
            snap_free(st, s);
            pthread_mutex_lock(&st->mu);
            continue;
        }
        snap_path(st, s->id, path, sizeof(path));
        pthread_mutex_unlock(&st->mu);
        t0 = now_s();
        rc = llm_snapfile_write(path, s->buf, s->len, st->level, &written);
        t0 = now_s() - t0;
        pthread_mutex_lock(&st->mu);
        s->io_held = false;
        if (s->dropped) {
            s->file_bytes = rc == 0 ? written : 0;
            pthread_mutex_unlock(&st->mu);
            unlink(path);
            free(s->buf);
            free(s);
            pthread_mutex_lock(&st->mu);
            continue;
        }
        if (rc < 0 || s->state != SNAP_SPILLING) {
            /* write failed, or the engine took it back while it was written */
            if (rc < 0) {
                st->st.spill_errors++;
                AIOS_LOG(AIOS_LOG_WARN, "llm", "cannot spill snapshot to '%s': %s", path, aios_strerror(rc));
            } else {
                unlink(path);
            }
            s->state = SNAP_HOST;
            if (rc < 0)
                strip(st, s);
            continue;
        }
        s->state = SNAP_DISK;
        s->file_bytes = written;
        st->st.host_bytes -= s->len;
        st->st.n_host--;
        st->st.n_disk++;
        st->st.disk_bytes += written;
        st->st.spills++;
        if (t0 > 0)
            ewma(&st->st.spill_mb_s, (double)s->len / 1e6 / t0);
        free(s->buf);
        s->buf = NULL;
    }
    pthread_mutex_unlock(&st->mu);
    return NULL;
}

/* Remove leftover spill files of an earlier run. */
static void clean_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[4096];

    if (!d)
        return;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n > 5 && (strcmp(e->d_name + n - 5, ".snap") == 0 || strstr(e->d_name, ".snap.tmp"))) {
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
            unlink(path);
        }
    }
    closedir(d);
}

int llm_snapstore_new(const char *dir, size_t host_budget, size_t disk_budget, int level,
                      llm_snapstore **out)
{
    llm_snapstore *st = calloc(1, sizeof(*st));

    *out = NULL;
    if (!st)
        return AIOS_ENOMEM;
    st->host_budget = host_budget;
    st->disk_budget = disk_budget;
    st->level = level;
    pthread_mutex_init(&st->mu, NULL);
    pthread_cond_init(&st->cv, NULL);
    if (dir) {
        st->dir = strdup(dir);
        if (!st->dir) {
            llm_snapstore_free(st);
            return AIOS_ENOMEM;
        }
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
            AIOS_LOG(AIOS_LOG_WARN, "llm", "cannot create snapshot folder '%s': %s", dir, strerror(errno));
        clean_dir(dir);
        if (pthread_create(&st->io, NULL, io_main, st) == 0)
            st->io_started = true;
    }
    *out = st;
    return 0;
}

void llm_snapstore_free(llm_snapstore *st)
{
    if (!st)
        return;
    if (st->io_started) {
        pthread_mutex_lock(&st->mu);
        st->stopping = true;
        /* pending spills are abandoned: their images stay in memory */
        for (llm_snap *s = st->q_head; s; s = s->q_next) {
            s->io_held = false;
            if (s->state == SNAP_SPILLING)
                s->state = SNAP_HOST;
        }
        st->q_head = st->q_tail = NULL;
        pthread_cond_signal(&st->cv);
        pthread_mutex_unlock(&st->mu);
        pthread_join(st->io, NULL);
    }
    while (st->head) {
        llm_snap *s = st->head;
        list_unlink(st, s);
        snap_free(st, s);
    }
    pthread_mutex_destroy(&st->mu);
    pthread_cond_destroy(&st->cv);
    free(st->dir);
    free(st);
}

void llm_snapstore_set_budgets(llm_snapstore *st, size_t host_budget, size_t disk_budget)
{
    pthread_mutex_lock(&st->mu);
    st->host_budget = host_budget;
    st->disk_budget = disk_budget;
    enforce(st);
    pthread_mutex_unlock(&st->mu);
}

void llm_snapstore_get_stats(llm_snapstore *st, llm_snapstore_stats *out)
{
    pthread_mutex_lock(&st->mu);
    *out = st->st;
    pthread_mutex_unlock(&st->mu);
}

int llm_snap_put(llm_snapstore *st, void *buf, size_t len, llm_snap **out)
{
    llm_snap *s = calloc(1, sizeof(*s));

    *out = NULL;
    if (!s) {
        free(buf);
        return AIOS_ENOMEM;
    }
    s->buf = buf;
    s->len = len;
    s->state = SNAP_HOST;
    pthread_mutex_lock(&st->mu);
    s->id = ++st->next_id;
    s->prev = st->tail;
    if (st->tail)
        st->tail->next = s;
    else
        st->head = s;
    st->tail = s;
    st->st.puts++;
    st->st.n_host++;
    st->st.host_bytes += len;
    enforce(st);
    pthread_mutex_unlock(&st->mu);
    *out = s;
    return 0;
}

int llm_snap_get(llm_snapstore *st, llm_snap *s, const void **buf, size_t *len, bool *on_disk)
{
    char path[4096];
    void *raw;
    size_t n;
    double t0;
    int rc;

    if (on_disk)
        *on_disk = false;
    pthread_mutex_lock(&st->mu);
    if (s->state == SNAP_SPILLING)
        s->state = SNAP_HOST;   /* taken back: the I/O thread discards its file */
    if (s->state == SNAP_HOST) {
        *buf = s->buf;
        *len = s->len;
        pthread_mutex_unlock(&st->mu);
        return 0;
    }
    snap_path(st, s->id, path, sizeof(path));
    pthread_mutex_unlock(&st->mu);
    t0 = now_s();
    rc = llm_snapfile_read(path, &raw, &n);
    t0 = now_s() - t0;
    if (rc < 0) {
        AIOS_LOG(AIOS_LOG_WARN, "llm", "cannot read snapshot '%s': %s", path, aios_strerror(rc));
        return rc;
    }
    unlink(path);
    pthread_mutex_lock(&st->mu);
    st->st.disk_bytes -= s->file_bytes;
    st->st.n_disk--;
    st->st.n_host++;
    st->st.host_bytes += n;
    st->st.loads++;
    if (t0 > 0)
        ewma(&st->st.load_mb_s, (double)n / 1e6 / t0);
    s->file_bytes = 0;
    s->buf = raw;
    s->len = n;
    s->state = SNAP_HOST;
    pthread_mutex_unlock(&st->mu);
    *buf = raw;
    *len = n;
    if (on_disk)
        *on_disk = true;
    return 0;
}

bool llm_snap_is_on_disk(llm_snapstore *st, const llm_snap *s)
{
    bool d;

    pthread_mutex_lock(&st->mu);
    d = s->state == SNAP_DISK;
    pthread_mutex_unlock(&st->mu);
    return d;
}

size_t llm_snap_bytes(const llm_snap *s)
{
    return s->len;
}

void llm_snap_drop(llm_snapstore *st, llm_snap *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&st->mu);
    list_unlink(st, s);
    if (s->state == SNAP_DISK) {
        st->st.n_disk--;
        st->st.disk_bytes -= s->file_bytes;
    } else {
        st->st.n_host--;
        st->st.host_bytes -= s->len;
    }
    if (s->stripped)
        st->st.n_lost--;
    if (s->io_held) {
        s->dropped = true;     /* the I/O thread frees it */
        pthread_mutex_unlock(&st->mu);
        return;
    }
    pthread_mutex_unlock(&st->mu);
    snap_free(st, s);
}

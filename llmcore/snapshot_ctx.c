/*
 * snapshot_ctx.c - the context store: agents' named conversation states
 * on disk with a small in-memory cache (see snapshot.h).
 *
 * Layout: <dir>/<16 hex digits of XXH64(owner)>/<name>.ctx holds the image
 * as a snapshot file (zstd, checksummed); <name>.json beside it holds
 * {owner, name, tokens, bytes, file_bytes, created, updated, model}.  The
 * folder is scanned at start-up, so contexts survive a restart.  Files are
 * 0600 in 0700 folders; ownership is checked on every access by the exact
 * owner string.  Owns the index and the cached images.  Engine thread only.
 */
#include <dirent.h>
#include <errno.h>
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

typedef struct ctx_entry {
    char *owner;
    char name[65];
    uint32_t n_tokens;
    uint64_t bytes, file_bytes;
    double created, updated;
    char *model;
    void *image;             /* cached image or NULL */
    size_t image_len;
    uint64_t last_use;
    struct ctx_entry *next;
} ctx_entry;

struct llm_ctxstore {
    char *dir;
    char *fp;
    size_t mem_budget;
    int level;
    ctx_entry *list;
    uint64_t tick;
    uint64_t mem_bytes;
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
    if (e->image) {
        cs->mem_bytes -= e->image_len;
        free(e->image);
        e->image = NULL;
        e->image_len = 0;
    }
}

static void entry_free(llm_ctxstore *cs, ctx_entry *e)
{
    entry_uncache(cs, e);
    free(e->owner);
    free(e->model);
    free(e);
}

/* Keep the cache under its budget, least recently used out first. */
static void trim(llm_ctxstore *cs, const ctx_entry *keep)
{
    while (cs->mem_bytes > cs->mem_budget) {
        ctx_entry *old = NULL;
        for (ctx_entry *e = cs->list; e; e = e->next)
            if (e->image && e != keep && (!old || e->last_use < old->last_use))
                old = e;
        if (!old)
            break;
        entry_uncache(cs, old);
    }
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
    e->file_bytes = (uint64_t)json_integer_value(json_object_get(j, "file_bytes"));
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
    *out = cs;
    return 0;
}

void llm_ctxstore_free(llm_ctxstore *cs)
{
    if (!cs)
        return;
    while (cs->list) {
        ctx_entry *e = cs->list;
        cs->list = e->next;
        entry_free(cs, e);
    }
    free(cs->dir);
    free(cs->fp);
    free(cs);
}

static int write_sidecar(llm_ctxstore *cs, const ctx_entry *e)
{
    char path[4096], tmp[4200];
    json_t *j = json_pack("{s:s,s:s,s:i,s:I,s:I,s:f,s:f,s:s}", "owner", e->owner, "name", e->name, "tokens",
                          (int)e->n_tokens, "bytes", (json_int_t)e->bytes, "file_bytes", (json_int_t)e->file_bytes,
                          "created", e->created, "updated", e->updated, "model", e->model);
    int rc = 0;

    if (!j)
        return AIOS_ENOMEM;
    entry_path(cs, e->owner, e->name, "json", path, sizeof(path));
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    if (json_dump_file(j, tmp, JSON_COMPACT) < 0 || chmod(tmp, 0600) < 0 || rename(tmp, path) < 0) {
        rc = AIOS_EIO;
        unlink(tmp);
    }
    json_decref(j);
    return rc;
}

int llm_ctxstore_put(llm_ctxstore *cs, const char *owner, const char *name, void *image, size_t len,
                     uint32_t n_tokens)
{
    char dir[3072], path[4096];
    ctx_entry *e = find(cs, owner, name);
    bool fresh = e == NULL;
    size_t written = 0;
    int rc;

    if (!llm_ctx_name_ok(name)) {
        free(image);
        return AIOS_EINVAL;
    }
    owner_dir(cs, owner, dir, sizeof(dir));
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        free(image);
        return aios_from_errno(errno);
    }
    entry_path(cs, owner, name, "ctx", path, sizeof(path));
    if ((rc = llm_snapfile_write(path, image, len, cs->level, &written)) < 0) {
        free(image);
        return rc;
    }
    if (fresh) {
        e = calloc(1, sizeof(*e));
        if (!e || !(e->owner = strdup(owner))) {
            free(e);
            free(image);
            unlink(path);
            return AIOS_ENOMEM;
        }
        snprintf(e->name, sizeof(e->name), "%s", name);
        e->created = wall_now();
    }
    free(e->model);
    e->model = strdup(cs->fp);
    entry_uncache(cs, e);
    e->image = image;
    e->image_len = len;
    cs->mem_bytes += len;
    e->n_tokens = n_tokens;
    e->bytes = len;
    e->file_bytes = written;
    e->updated = wall_now();
    e->last_use = ++cs->tick;
    if (fresh) {
        e->next = cs->list;
        cs->list = e;
    }
    if ((rc = write_sidecar(cs, e)) < 0)
        AIOS_LOG(AIOS_LOG_WARN, "llm", "cannot write the index of context '%s': %s", name, aios_strerror(rc));
    trim(cs, e);
    return 0;
}

int llm_ctxstore_get(llm_ctxstore *cs, const char *owner, const char *name, const void **image, size_t *len)
{
    ctx_entry *e = find(cs, owner, name);
    char path[4096];
    void *raw;
    size_t n;
    int rc;

    if (!e)
        return AIOS_ENOENT;
    if (!e->model || strcmp(e->model, cs->fp) != 0)
        return AIOS_ECONFLICT;
    if (!e->image) {
        entry_path(cs, owner, name, "ctx", path, sizeof(path));
        if ((rc = llm_snapfile_read(path, &raw, &n)) < 0)
            return rc == AIOS_ENOENT ? AIOS_ECORRUPT : rc;
        e->image = raw;
        e->image_len = n;
        cs->mem_bytes += n;
    }
    e->last_use = ++cs->tick;
    *image = e->image;
    *len = e->image_len;
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

    while ((e = *link) && !(strcmp(e->owner, owner) == 0 && strcmp(e->name, name) == 0))
        link = &e->next;
    if (!e)
        return AIOS_ENOENT;
    *link = e->next;
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
                                             v[i]->updated, "in_memory", v[i]->image != NULL, "same_model",
                                             v[i]->model && strcmp(v[i]->model, cs->fp) == 0));
    free(v);
    return arr;
}

void llm_ctxstore_usage(llm_ctxstore *cs, uint64_t *mem_bytes, uint64_t *disk_bytes, uint64_t *count)
{
    uint64_t d = 0, c = 0;

    for (ctx_entry *e = cs->list; e; e = e->next) {
        d += e->file_bytes;
        c++;
    }
    *mem_bytes = cs->mem_bytes;
    *disk_bytes = d;
    *count = c;
}

/*
 * registry.c - the tool registry: manifests by name, loaded from folders
 * (the shipped ones and those registered at run time) or added by
 * tool.register.
 *
 * A sorted array of entries under a read-write lock: lookups and listings
 * (tool.*, the LLM engine rendering tool descriptions) take the read side,
 * loading and registering the write side.  Owns one reference per manifest.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aios/error.h"
#include "aios/log.h"
#include "tools/tools_int.h"

typedef struct entry {
    tool_manifest *m;
    bool builtin;           /* shipped with aios */
} entry;

struct tool_registry {
    pthread_rwlock_t lock;
    entry *v;
    size_t n, cap;
};

int tool_registry_new(tool_registry **out)
{
    tool_registry *r = calloc(1, sizeof(*r));

    *out = NULL;
    if (!r)
        return AIOS_ENOMEM;
    pthread_rwlock_init(&r->lock, NULL);
    *out = r;
    return 0;
}

void tool_registry_free(tool_registry *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        tool_manifest_unref(r->v[i].m);
    free(r->v);
    pthread_rwlock_destroy(&r->lock);
    free(r);
}

/* Index of name, or where it would go (negative: -(pos+1)). */
static long find(const tool_registry *r, const char *name)
{
    size_t lo = 0, hi = r->n;

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(r->v[mid].m->name, name);

        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -(long)lo - 1;
}

int tool_registry_add(tool_registry *r, tool_manifest *m, bool builtin, bool replace)
{
    long i;
    int rc = 0;

    pthread_rwlock_wrlock(&r->lock);
    i = find(r, m->name);
    if (i >= 0) {
        if (r->v[i].builtin && !builtin) {
            rc = AIOS_EPERM;
        } else if (!replace) {
            rc = AIOS_EEXIST;
        } else {
            tool_manifest_unref(r->v[i].m);
            r->v[i].m = tool_manifest_ref(m);
            r->v[i].builtin = builtin;
        }
        goto out;
    }
    if (r->n == r->cap) {
        size_t nc = r->cap ? r->cap * 2 : 16;
        entry *nv = realloc(r->v, nc * sizeof(*nv));

        if (!nv) {
            rc = AIOS_ENOMEM;
            goto out;
        }
        r->v = nv;
        r->cap = nc;
    }
    i = -i - 1;
    memmove(&r->v[i + 1], &r->v[i], (r->n - (size_t)i) * sizeof(entry));
    r->v[i].m = tool_manifest_ref(m);
    r->v[i].builtin = builtin;
    r->n++;
out:
    pthread_rwlock_unlock(&r->lock);
    return rc;
}

int tool_registry_remove(tool_registry *r, const char *name)
{
    long i;
    int rc = 0;

    pthread_rwlock_wrlock(&r->lock);
    i = find(r, name);
    if (i < 0) {
        rc = AIOS_ENOENT;
    } else if (r->v[i].builtin) {
        rc = AIOS_EPERM;
    } else {
        tool_manifest_unref(r->v[i].m);
        memmove(&r->v[i], &r->v[i + 1], (r->n - (size_t)i - 1) * sizeof(entry));
        r->n--;
    }
    pthread_rwlock_unlock(&r->lock);
    return rc;
}

tool_manifest *tool_registry_get(tool_registry *r, const char *name)
{
    tool_manifest *m = NULL;
    long i;

    if (!r || !name)
        return NULL;
    pthread_rwlock_rdlock(&r->lock);
    i = find(r, name);
    if (i >= 0)
        m = tool_manifest_ref(r->v[i].m);
    pthread_rwlock_unlock(&r->lock);
    return m;
}

size_t tool_registry_count(tool_registry *r)
{
    size_t n;

    pthread_rwlock_rdlock(&r->lock);
    n = r->n;
    pthread_rwlock_unlock(&r->lock);
    return n;
}

json_t *tool_registry_list(tool_registry *r)
{
    json_t *a = json_array();

    pthread_rwlock_rdlock(&r->lock);
    for (size_t i = 0; a && i < r->n; i++) {
        const tool_manifest *m = r->v[i].m;

        json_array_append_new(
            a, json_pack("{s:s,s:O,s:s,s:b,s:b}", "name", m->name, "description",
                         json_object_get(m->json, "description"), "kind",
                         m->builtin ? "builtin" : "sandbox", "shipped", r->v[i].builtin,
                         "network", m->network));
    }
    pthread_rwlock_unlock(&r->lock);
    return a;
}

json_t *tool_registry_llm(tool_registry *r)
{
    json_t *a = json_array();

    pthread_rwlock_rdlock(&r->lock);
    for (size_t i = 0; a && i < r->n; i++)
        json_array_append_new(a, tool_manifest_llm(r->v[i].m));
    pthread_rwlock_unlock(&r->lock);
    return a;
}

int tool_registry_load_dir(tool_registry *r, const char *dir, bool builtin)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int loaded = 0;

    if (!d)
        return errno == ENOENT ? AIOS_ENOENT : AIOS_EIO;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        char path[4096], field[128], msg[256];
        json_error_t jerr;
        json_t *j;
        tool_manifest *m;
        int rc;

        if (n < 6 || strcmp(e->d_name + n - 5, ".json") != 0 || e->d_name[0] == '.')
            continue;
        if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= (int)sizeof(path))
            continue;
        j = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
        if (!j) {
            aios_log(AIOS_LOG_WARN, "tools", "skipping '%s': %s (line %d)", path, jerr.text,
                     jerr.line);
            continue;
        }
        rc = tool_manifest_parse(j, &m, field, sizeof(field), msg, sizeof(msg));
        json_decref(j);
        if (rc < 0) {
            aios_log(AIOS_LOG_WARN, "tools", "skipping '%s': %s: %s", path, field, msg);
            continue;
        }
        rc = tool_registry_add(r, m, builtin, true);
        if (rc < 0)
            aios_log(AIOS_LOG_WARN, "tools", "skipping '%s': %s", path, aios_strerror(rc));
        else
            loaded++;
        tool_manifest_unref(m);
    }
    closedir(d);
    return loaded;
}

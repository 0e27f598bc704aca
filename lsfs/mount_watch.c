/*
 * mount_watch.c - keeps mounted host folders current with libuv fs events.
 *
 * On Linux uv_fs_event is inotify on one folder, not recursive, so there is
 * one watcher per folder of a mount; watchers are added and removed as
 * folders come and go (the sync job reports them).  Events mark paths
 * dirty; a per-mount timer debounces them (DEBOUNCE_MS after the last event,
 * but never more than MAX_DELAY_MS after the first) and then one job on the
 * worker pool re-indexes the dirty paths with lsfs_mount_sync().  One job
 * per mount runs at a time; events arriving meanwhile wait for the next.
 * With these bounds a host change is searchable well within 2 seconds.
 *
 * Threads: everything here runs on the loop thread except work_cb, which
 * runs on a worker and touches no libuv handle.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "aios/log.h"
#include "lsfs/lsfs_int.h"

#define DEBOUNCE_MS 150
#define MAX_DELAY_MS 600
#define TMP_MARK ".lsfs-tmp-"

typedef struct mw_mount mw_mount;

typedef struct mw_dir {
    uv_fs_event_t h;
    mw_mount *m;
    char *rel;
} mw_dir;

struct mw_mount {
    mw_mount *next;
    struct lsfs__mwatch_root *root;
    char name[LSFS_NAME_MAX + 1];
    char host[4096];
    json_t *dirs;               /* rel -> mw_dir* (as an integer) */
    uv_timer_t timer;
    json_t *dirty;              /* set of rel paths */
    uint64_t first_dirty;       /* uv_now() of the oldest pending event, 0 = none */
    bool job_running;
    bool removed;
    int handles;                /* open libuv handles (timer + dirs) */
};

struct lsfs__mwatch_root {
    lsfs_store *s;
    uv_loop_t *loop;
    mw_mount *mounts;
};

typedef struct {
    uv_work_t req;
    mw_mount *m;
    lsfs_store *s;
    char name[LSFS_NAME_MAX + 1];
    json_t *rels;               /* array of rel paths to sync */
    json_t *added, *removed;    /* folders found / gone */
} mw_job;

static void mount_maybe_free(mw_mount *m)
{
    mw_mount **pp;

    if (!m->removed || m->job_running || m->handles > 0)
        return;
    for (pp = &m->root->mounts; *pp; pp = &(*pp)->next)
        if (*pp == m) {
            *pp = m->next;
            break;
        }
    json_decref(m->dirs);
    json_decref(m->dirty);
    free(m);
}

static void handle_closed(uv_handle_t *h)
{
    mw_mount *m;

    if (h->type == UV_FS_EVENT) {
        mw_dir *d = h->data;
        m = d->m;
        free(d->rel);
        free(d);
    } else {
        m = h->data;
    }
    m->handles--;
    mount_maybe_free(m);
}

static void arm(mw_mount *m);

static void mark_dirty(mw_mount *m, const char *rel)
{
    if (m->removed)
        return;
    json_object_set_new(m->dirty, rel, json_true());
    if (!m->first_dirty)
        m->first_dirty = uv_now(m->root->loop);
    arm(m);
}

static void on_event(uv_fs_event_t *h, const char *filename, int events, int status)
{
    mw_dir *d = h->data;
    char rel[LSFS_PATH_MAX];

    (void)events;
    if (status < 0 || !filename || !*filename) {
        /* the folder itself changed or went away: re-read it */
        mark_dirty(d->m, d->rel);
        return;
    }
    if (strncmp(filename, TMP_MARK, strlen(TMP_MARK)) == 0)
        return;
    if (snprintf(rel, sizeof rel, "%s%s%s", d->rel, *d->rel ? "/" : "", filename) >=
        (int)sizeof rel)
        return;
    mark_dirty(d->m, rel);
}

static void watch_dir(mw_mount *m, const char *rel)
{
    char full[4096 + LSFS_PATH_MAX];
    mw_dir *d;
    int rc;

    if (m->removed || json_object_get(m->dirs, rel))
        return;
    d = calloc(1, sizeof *d);
    if (!d || !(d->rel = strdup(rel))) {
        free(d);
        return;
    }
    d->m = m;
    snprintf(full, sizeof full, "%s%s%s", m->host, *rel ? "/" : "", rel);
    uv_fs_event_init(m->root->loop, &d->h);
    d->h.data = d;
    m->handles++;
    rc = uv_fs_event_start(&d->h, on_event, full, 0);
    if (rc < 0) {
        aios_log(AIOS_LOG_WARN, "lsfs", "mount '%s': cannot watch '%s': %s", m->name, full,
                 uv_strerror(rc));
        uv_close((uv_handle_t *)&d->h, handle_closed);
        return;
    }
    json_object_set_new(m->dirs, rel, json_integer((json_int_t)(intptr_t)d));
}

static void unwatch_dir(mw_mount *m, const char *rel)
{
    json_t *v = json_object_get(m->dirs, rel);
    mw_dir *d;

    if (!v)
        return;
    d = (mw_dir *)(intptr_t)json_integer_value(v);
    json_object_del(m->dirs, rel);
    uv_fs_event_stop(&d->h);
    uv_close((uv_handle_t *)&d->h, handle_closed);
}

/* ---- the sync job ---------------------------------------------------------------------- */

static void work_cb(uv_work_t *req)
{
    mw_job *j = req->data;
    lsfs_db *db = lsfs_db_thread(j->s);
    size_t i;
    json_t *v;

    if (!db)
        return;
    json_array_foreach(j->rels, i, v) {
        json_t *dirs = NULL;
        int rc = lsfs_mount_sync(db, j->name, json_string_value(v), &dirs);
        if (rc < 0) {
            aios_log(AIOS_LOG_WARN, "lsfs", "mount '%s': cannot re-index '%s': %s", j->name,
                     json_string_value(v), lsfs_db_errmsg(db) ? lsfs_db_errmsg(db)
                                                              : aios_strerror(rc));
            continue;
        }
        json_array_extend(j->added, json_object_get(dirs, "added"));
        json_array_extend(j->removed, json_object_get(dirs, "removed"));
        json_decref(dirs);
    }
}

static void after_cb(uv_work_t *req, int status)
{
    mw_job *j = req->data;
    mw_mount *m = j->m;
    size_t i;
    json_t *v;

    (void)status;
    m->job_running = false;
    if (!m->removed) {
        json_array_foreach(j->removed, i, v)
            unwatch_dir(m, json_string_value(v));
        json_array_foreach(j->added, i, v)
            watch_dir(m, json_string_value(v));
        if (json_object_size(m->dirty))
            arm(m);
    }
    json_decref(j->rels);
    json_decref(j->added);
    json_decref(j->removed);
    free(j);
    mount_maybe_free(m);
}

static void start_job(mw_mount *m)
{
    mw_job *j;
    const char *key;
    json_t *v;

    if (m->job_running || m->removed || json_object_size(m->dirty) == 0)
        return;
    j = calloc(1, sizeof *j);
    if (!j)
        return;
    j->req.data = j;
    j->m = m;
    j->s = m->root->s;
    snprintf(j->name, sizeof j->name, "%s", m->name);
    j->rels = json_array();
    j->added = json_array();
    j->removed = json_array();
    /* a folder in the set covers everything below it */
    json_object_foreach(m->dirty, key, v) {
        char up[LSFS_PATH_MAX];
        bool covered = false;
        snprintf(up, sizeof up, "%s", key);
        while (!covered) {
            char *slash = strrchr(up, '/');
            if (!slash) {
                covered = *key && json_object_get(m->dirty, "") != NULL;
                break;
            }
            *slash = 0;
            covered = json_object_get(m->dirty, up) != NULL;
        }
        if (!covered)
            json_array_append_new(j->rels, json_string(key));
    }
    json_object_clear(m->dirty);
    m->first_dirty = 0;
    m->job_running = true;
    if (uv_queue_work(m->root->loop, &j->req, work_cb, after_cb) < 0) {
        m->job_running = false;
        json_decref(j->rels);
        json_decref(j->added);
        json_decref(j->removed);
        free(j);
    }
}

static void timer_cb(uv_timer_t *t)
{
    mw_mount *m = t->data;

    if (m->job_running)
        return; /* after_cb re-arms */
    start_job(m);
}

/* Debounce: fire DEBOUNCE_MS after the last event, at most MAX_DELAY_MS after
 * the first. */
static void arm(mw_mount *m)
{
    uint64_t now = uv_now(m->root->loop), due = now + DEBOUNCE_MS;

    if (m->removed)
        return;
    if (m->first_dirty && m->first_dirty + MAX_DELAY_MS < due)
        due = m->first_dirty + MAX_DELAY_MS > now ? m->first_dirty + MAX_DELAY_MS : now;
    uv_timer_start(&m->timer, timer_cb, due - now, 0);
}

static mw_mount *mount_new(struct lsfs__mwatch_root *r, const char *name, const char *host)
{
    mw_mount *m = calloc(1, sizeof *m);

    if (!m)
        return NULL;
    m->root = r;
    snprintf(m->name, sizeof m->name, "%s", name);
    snprintf(m->host, sizeof m->host, "%s", host);
    m->dirs = json_object();
    m->dirty = json_object();
    uv_timer_init(r->loop, &m->timer);
    m->timer.data = m;
    m->handles = 1;
    m->next = r->mounts;
    r->mounts = m;
    watch_dir(m, "");
    /* a full pass finds every folder to watch and catches changes made
     * while nobody was watching */
    json_object_set_new(m->dirty, "", json_true());
    start_job(m);
    return m;
}

int lsfs_mounts_watch_start(lsfs_store *s, uv_loop_t *loop)
{
    struct lsfs__mwatch_root *r;
    lsfs__mount *lm;
    json_t *list = json_array();
    size_t i;
    json_t *v;

    if (s->mwatch)
        return 0;
    r = calloc(1, sizeof *r);
    if (!r) {
        json_decref(list);
        return AIOS_ENOMEM;
    }
    r->s = s;
    r->loop = loop;
    s->mwatch = r;
    pthread_mutex_lock(&s->mnt_lock);
    for (lm = s->mounts; lm; lm = lm->next)
        json_array_append_new(list, json_pack("[s,s]", lm->name, lm->host));
    pthread_mutex_unlock(&s->mnt_lock);
    json_array_foreach(list, i, v)
        mount_new(r, json_string_value(json_array_get(v, 0)),
                  json_string_value(json_array_get(v, 1)));
    json_decref(list);
    return 0;
}

int lsfs_mounts_watch_name(lsfs_store *s, const char *name)
{
    struct lsfs__mwatch_root *r = s->mwatch;
    char host[4096] = "";
    lsfs__mount *lm;
    mw_mount *m;

    if (!r)
        return AIOS_EUNAVAIL;
    for (m = r->mounts; m; m = m->next)
        if (!m->removed && strcmp(m->name, name) == 0)
            return 0;
    pthread_mutex_lock(&s->mnt_lock);
    for (lm = s->mounts; lm; lm = lm->next)
        if (strcmp(lm->name, name) == 0)
            snprintf(host, sizeof host, "%s", lm->host);
    pthread_mutex_unlock(&s->mnt_lock);
    if (!host[0])
        return AIOS_ENOENT;
    return mount_new(r, name, host) ? 0 : AIOS_ENOMEM;
}

static void mount_remove(mw_mount *m)
{
    const char *key;
    json_t *v;
    void *tmp;

    if (m->removed)
        return;
    json_object_foreach_safe(m->dirs, tmp, key, v) {
        mw_dir *d = (mw_dir *)(intptr_t)json_integer_value(v);
        uv_fs_event_stop(&d->h);
        uv_close((uv_handle_t *)&d->h, handle_closed);
    }
    json_object_clear(m->dirs);
    m->removed = true;
    uv_timer_stop(&m->timer);
    uv_close((uv_handle_t *)&m->timer, handle_closed);
}

void lsfs_mounts_watch_unname(lsfs_store *s, const char *name)
{
    mw_mount *m;

    if (!s->mwatch)
        return;
    for (m = s->mwatch->mounts; m; m = m->next)
        if (strcmp(m->name, name) == 0)
            mount_remove(m);
}

void lsfs_mounts_watch_stop(lsfs_store *s)
{
    mw_mount *m, *next;

    if (!s->mwatch)
        return;
    for (m = s->mwatch->mounts; m; m = next) {
        next = m->next;
        mount_remove(m);
    }
}

void lsfs__mwatch_free(lsfs_store *s)
{
    /* handles still open (a loop that never ran) keep their memory */
    if (s->mwatch && !s->mwatch->mounts)
        free(s->mwatch);
    s->mwatch = NULL;
}

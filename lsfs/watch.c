/*
 * watch.c - change-event subscribers (fs.watch).
 *
 * Every committed mutation queues events on its connection; lsfs__end()
 * hands them here after COMMIT.  A subscriber watches one path (and, when
 * recursive, everything below it) and only receives events for paths it may
 * read, checked against the nearest live node at or above the event's path
 * (a deleted file's folder, for instance).  Callbacks run on the writer's
 * thread with the subscriber list locked, so a subscriber removed by
 * lsfs_watch_remove() never gets a late call.
 *
 * Threads: any.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lsfs/lsfs_int.h"

int lsfs_watch_add(lsfs_db *db, const lsfs_actor *a, const char *path, bool recursive,
                   lsfs_watch_fn fn, void *arg, uint64_t *id_out)
{
    lsfs_store *s = db->s;
    char p[LSFS_PATH_MAX];
    lsfs__watch *w;
    lsfs__node n;
    int rc;

    lsfs__clear_err(db);
    if ((rc = lsfs__path_norm(db, a, path, "path", p, sizeof p)) < 0)
        return rc;
    rc = lsfs__node_get(db, p, &n);
    if (rc == AIOS_ENOENT && strcmp(p, a->home) == 0) {
        lsfs__clear_err(db);
        rc = 0; /* one's own home, not yet created */
    } else if (rc < 0 || (rc = lsfs__need(db, a, &n, LSFS_PERM_READ, "path")) < 0) {
        return rc;
    }
    w = calloc(1, sizeof *w);
    if (!w)
        return lsfs__err(db, AIOS_ENOMEM, NULL, "out of memory");
    w->who = *a;
    w->who.confirm = NULL;
    snprintf(w->path, sizeof w->path, "%s", p);
    w->recursive = recursive;
    w->fn = fn;
    w->arg = arg;
    pthread_mutex_lock(&s->watch_lock);
    w->id = s->watch_next++;
    w->next = s->watches;
    s->watches = w;
    pthread_mutex_unlock(&s->watch_lock);
    *id_out = w->id;
    return 0;
}

void lsfs_watch_remove(lsfs_store *s, uint64_t id)
{
    lsfs__watch **pp, *w;

    pthread_mutex_lock(&s->watch_lock);
    for (pp = &s->watches; (w = *pp); pp = &w->next)
        if (w->id == id) {
            *pp = w->next;
            free(w);
            break;
        }
    pthread_mutex_unlock(&s->watch_lock);
}

void lsfs__watch_free_all(lsfs_store *s)
{
    lsfs__watch *w, *next;

    pthread_mutex_lock(&s->watch_lock);
    for (w = s->watches; w; w = next) {
        next = w->next;
        free(w);
    }
    s->watches = NULL;
    pthread_mutex_unlock(&s->watch_lock);
}

static bool matches(const lsfs__watch *w, const char *path)
{
    char parent[LSFS_PATH_MAX];

    if (w->recursive)
        return lsfs__path_under(path, w->path);
    if (strcmp(path, w->path) == 0)
        return true;
    lsfs__path_parent(path, parent, sizeof parent);
    return strcmp(parent, w->path) == 0;
}

/* May who read path (or, when it is gone, the nearest folder above it)? */
static bool may_read(lsfs_db *db, const lsfs_actor *who, const char *path)
{
    char cur[LSFS_PATH_MAX];
    lsfs__node n;
    int perm;

    if (who->admin)
        return true;
    snprintf(cur, sizeof cur, "%s", path);
    for (;;) {
        if (lsfs__node_get(db, cur, &n) == 0)
            return lsfs__perm(db, who, n.path, n.owner, &perm) == 0 && (perm & LSFS_PERM_READ);
        if (strcmp(cur, "/") == 0)
            return false;
        char up[LSFS_PATH_MAX];
        lsfs__path_parent(cur, up, sizeof up);
        snprintf(cur, sizeof cur, "%s", up);
    }
}

void lsfs__watch_publish(lsfs_db *db, json_t *events)
{
    lsfs_store *s = db->s;
    size_t i;
    json_t *ev;

    pthread_mutex_lock(&s->watch_lock);
    bool any = s->watches != NULL;
    pthread_mutex_unlock(&s->watch_lock);
    if (!any)
        return;
    json_array_foreach(events, i, ev) {
        const char *path = json_string_value(json_object_get(ev, "path"));
        uint64_t *ids = NULL;
        lsfs_actor *who = NULL;
        bool *ok = NULL;
        size_t n = 0, cap = 0;
        lsfs__watch *w;

        if (!path)
            continue;
        /* copy the matching subscribers, check rights without the lock */
        pthread_mutex_lock(&s->watch_lock);
        for (w = s->watches; w; w = w->next)
            if (matches(w, path))
                cap++;
        if (cap) {
            ids = malloc(cap * sizeof *ids);
            who = malloc(cap * sizeof *who);
            ok = malloc(cap * sizeof *ok);
        }
        for (w = s->watches; w && ids && who && ok; w = w->next)
            if (matches(w, path) && n < cap) {
                ids[n] = w->id;
                who[n] = w->who;
                n++;
            }
        pthread_mutex_unlock(&s->watch_lock);
        for (size_t k = 0; k < n; k++)
            ok[k] = may_read(db, &who[k], path);
        lsfs__clear_err(db);
        pthread_mutex_lock(&s->watch_lock);
        for (size_t k = 0; k < n; k++) {
            if (!ok[k])
                continue;
            for (w = s->watches; w; w = w->next)
                if (w->id == ids[k]) {
                    w->fn(ev, w->arg);
                    break;
                }
        }
        pthread_mutex_unlock(&s->watch_lock);
        free(ids);
        free(who);
        free(ok);
    }
}

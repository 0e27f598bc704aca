/*
 * confirm.c - a person's yes for irreversible operations.
 *
 * When policy (config "confirm.<action>" = true) says an action needs a
 * confirmation, the syscall fails with AIOS_ECONFIRM and a confirmation id.
 * A person sees pending confirmations in aiosctl and approves or denies
 * them (sys.confirm); the agent waits (sys.confirm_wait) and repeats its
 * call with "confirm": id.  An approval is bound to the principal, method
 * and exact parameters it was asked for, and is good once.
 *
 * kern_confirm_check() runs on any thread (table under a mutex); the
 * sys.* handlers and the waiters run on the loop thread.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "aios/error.h"
#include "aios/log.h"
#include "aios/util.h"
#include "kernel/kern_int.h"
#include "kernel/kern_proc.h"

enum { C_PENDING, C_APPROVED, C_DENIED, C_USED, C_EXPIRED };
static const char *const cstate_names[] = {"pending", "approved", "denied", "used", "expired"};

typedef struct cwaiter {
    kern_call *call;
    uv_timer_t timer;
    struct confirm *conf;
    struct cwaiter *next;
} cwaiter;

typedef struct confirm {
    uint64_t id;
    char action[64];
    char summary[512];
    char principal[80];
    char method[64];
    uid_t uid;
    uint64_t params_hash;
    int state;
    double created, answered;
    uint64_t created_ns;
    cwaiter *waiters;
    struct confirm *next;
} confirm;

static pthread_mutex_t conf_lock = PTHREAD_MUTEX_INITIALIZER;
static confirm *confirms;
static uint64_t next_confirm = 1;

static uint64_t params_hash(const json_t *params)
{
    json_t *copy = json_deep_copy(params);
    char *s;
    uint64_t h;

    json_object_del(copy, "confirm");
    s = json_dumps(copy, JSON_COMPACT | JSON_SORT_KEYS);
    h = s ? XXH64(s, strlen(s), 0x61696f73) : 0;
    free(s);
    json_decref(copy);
    return h;
}

static confirm *find_locked(uint64_t id)
{
    for (confirm *c = confirms; c; c = c->next)
        if (c->id == id)
            return c;
    return NULL;
}

/* Expire old entries (lock held).  Entries with waiters stay until answered
 * or their waiters time out. */
static void expire_locked(void)
{
    uint64_t ttl = (uint64_t)kern_config_int("confirm.ttl_s", 600) * 1000000000ull;
    uint64_t now = aios_mono_ns();
    confirm **pp = &confirms;

    while (*pp) {
        confirm *c = *pp;
        if (now - c->created_ns > ttl && !c->waiters) {
            *pp = c->next;
            free(c);
            continue;
        }
        pp = &c->next;
    }
}

int kern_confirm_check(kern_call *call, const char *action, const char *summary)
{
    char key[96];
    const json_t *params = call->params;
    json_t *cid = json_object_get(params, "confirm");
    uint64_t h;
    confirm *c;
    int rc;

    snprintf(key, sizeof(key), "confirm.%s", action);
    if (!kern_config_bool(key, false))
        return 0;
    h = params_hash(params);
    pthread_mutex_lock(&conf_lock);
    expire_locked();
    if (json_is_integer(cid) && (c = find_locked((uint64_t)json_integer_value(cid))) != NULL &&
        strcmp(c->principal, call->ident.principal) == 0 && strcmp(c->method, call->m->name) == 0 &&
        c->params_hash == h) {
        if (c->state == C_APPROVED) {
            c->state = C_USED;
            pthread_mutex_unlock(&conf_lock);
            AIOS_LOG(AIOS_LOG_INFO, "confirm", "confirmation %llu used for %s by %s", (unsigned long long)c->id,
                     action, call->ident.principal);
            return 0;
        }
        if (c->state == C_DENIED) {
            pthread_mutex_unlock(&conf_lock);
            return kern_call_set_error(call, AIOS_EDENIED, "confirm", "a person refused %s: %s", action,
                                       c->summary);
        }
        if (c->state == C_PENDING) {
            kern_call_set_error_data(call, json_pack("{s:I,s:s,s:s}", "confirm", (json_int_t)c->id, "action",
                                                     action, "summary", c->summary));
            rc = kern_call_set_error(call, AIOS_ECONFIRM, NULL,
                                     "still waiting for a person to confirm %s (aiosctl confirm %llu)", action,
                                     (unsigned long long)c->id);
            pthread_mutex_unlock(&conf_lock);
            return rc;
        }
    }
    c = calloc(1, sizeof(*c));
    if (!c) {
        pthread_mutex_unlock(&conf_lock);
        return AIOS_ENOMEM;
    }
    c->id = next_confirm++;
    snprintf(c->action, sizeof(c->action), "%s", action);
    snprintf(c->summary, sizeof(c->summary), "%s", summary ? summary : action);
    snprintf(c->principal, sizeof(c->principal), "%s", call->ident.principal);
    snprintf(c->method, sizeof(c->method), "%s", call->m->name);
    c->uid = call->ident.uid;
    c->params_hash = h;
    c->state = C_PENDING;
    c->created = aios_wall_time();
    c->created_ns = aios_mono_ns();
    c->next = confirms;
    confirms = c;
    kern_call_set_error_data(call, json_pack("{s:I,s:s,s:s}", "confirm", (json_int_t)c->id, "action", action,
                                             "summary", c->summary));
    rc = kern_call_set_error(call, AIOS_ECONFIRM, NULL,
                             "%s needs a person's confirmation: approve with 'aiosctl confirm %llu', then repeat "
                             "the call with \"confirm\": %llu",
                             action, (unsigned long long)c->id, (unsigned long long)c->id);
    pthread_mutex_unlock(&conf_lock);
    AIOS_LOG(AIOS_LOG_INFO, "confirm", "confirmation %llu filed: %s by %s: %s", (unsigned long long)c->id, action,
             call->ident.principal, c->summary);
    return rc;
}

static json_t *confirm_json(const confirm *c)
{
    return json_pack("{s:I,s:s,s:s,s:s,s:s,s:i,s:s,s:f}", "id", (json_int_t)c->id, "action", c->action, "summary",
                     c->summary, "principal", c->principal, "method", c->method, "uid", (int)c->uid, "state",
                     cstate_names[c->state], "created_at", c->created);
}

int kern__sys_confirmations(kern_call *call, json_t *params, json_t **result)
{
    const kern_identity *who = kern_call_identity(call);
    bool all = json_is_true(json_object_get(params, "all"));
    json_t *arr = json_array();

    pthread_mutex_lock(&conf_lock);
    expire_locked();
    for (confirm *c = confirms; c; c = c->next) {
        if (!who->admin && c->uid != who->uid)
            continue;
        if (!all && c->state != C_PENDING)
            continue;
        json_array_insert_new(arr, 0, confirm_json(c));
    }
    pthread_mutex_unlock(&conf_lock);
    *result = json_pack("{s:o}", "confirmations", arr);
    return 0;
}

static void cwaiter_closed(uv_handle_t *h)
{
    free(h->data);
}

static void cwaiter_end(cwaiter *w)
{
    uv_timer_stop(&w->timer);
    uv_close((uv_handle_t *)&w->timer, cwaiter_closed);
}

static void unlink_cwaiter(cwaiter *w)
{
    for (cwaiter **pp = &w->conf->waiters; *pp; pp = &(*pp)->next) {
        if (*pp == w) {
            *pp = w->next;
            break;
        }
    }
}

/* Is the caller a person rather than an agent?  See docs/protocol.md. */
static bool is_person(const kern_identity *who, char *why, size_t len)
{
    if (who->proc_id) {
        snprintf(why, len, "agents cannot answer confirmations; a person must, from aiosctl");
        return false;
    }
    return true;
}

int kern__sys_confirm(kern_call *call, json_t *params, json_t **result)
{
    const kern_identity *who = kern_call_identity(call);
    uint64_t id = (uint64_t)json_integer_value(json_object_get(params, "id"));
    bool approve = json_is_true(json_object_get(params, "approve"));
    char why[128];
    confirm *c;
    int state;

    if (!is_person(who, why, sizeof(why)))
        return kern_call_set_error(call, AIOS_EPERM, NULL, "%s", why);
    pthread_mutex_lock(&conf_lock);
    c = find_locked(id);
    if (!c || (!who->admin && c->uid != who->uid)) {
        pthread_mutex_unlock(&conf_lock);
        return kern_call_set_error(call, AIOS_ENOENT, "id", "no confirmation %llu", (unsigned long long)id);
    }
    if (c->state != C_PENDING) {
        state = c->state;
        pthread_mutex_unlock(&conf_lock);
        return kern_call_set_error(call, AIOS_ECONFLICT, "id", "confirmation %llu is already %s",
                                   (unsigned long long)id, cstate_names[state]);
    }
    c->state = approve ? C_APPROVED : C_DENIED;
    c->answered = aios_wall_time();
    /* wake the agents waiting for this answer */
    while (c->waiters) {
        cwaiter *w = c->waiters;
        c->waiters = w->next;
        kern_call_on_cancel(w->call, NULL, NULL);
        kern_call_finish(w->call, json_pack("{s:I,s:s}", "id", (json_int_t)c->id, "state", cstate_names[c->state]));
        cwaiter_end(w);
    }
    *result = confirm_json(c);
    pthread_mutex_unlock(&conf_lock);
    AIOS_LOG(AIOS_LOG_INFO, "confirm", "confirmation %llu %s by uid %u", (unsigned long long)id,
             approve ? "approved" : "denied", (unsigned)who->uid);
    return 0;
}

static void on_cwait_timeout(uv_timer_t *t)
{
    cwaiter *w = t->data;

    pthread_mutex_lock(&conf_lock);
    unlink_cwaiter(w);
    pthread_mutex_unlock(&conf_lock);
    kern_call_on_cancel(w->call, NULL, NULL);
    kern_call_set_error(w->call, AIOS_ETIMEDOUT, NULL, "no answer yet to confirmation %llu",
                        (unsigned long long)w->conf->id);
    kern_call_fail(w->call, AIOS_ETIMEDOUT);
    cwaiter_end(w);
}

static void on_cwait_cancel(kern_call *call, void *arg)
{
    cwaiter *w = arg;

    pthread_mutex_lock(&conf_lock);
    unlink_cwaiter(w);
    pthread_mutex_unlock(&conf_lock);
    kern_call_fail(call, AIOS_ECANCELED);
    cwaiter_end(w);
}

int kern__sys_confirm_wait(kern_call *call, json_t *params, json_t **result)
{
    const kern_identity *who = kern_call_identity(call);
    uint64_t id = (uint64_t)json_integer_value(json_object_get(params, "id"));
    uint64_t timeout = (uint64_t)json_integer_value(json_object_get(params, "timeout_ms"));
    cwaiter *w;
    confirm *c;

    pthread_mutex_lock(&conf_lock);
    c = find_locked(id);
    if (!c || strcmp(c->principal, who->principal) != 0) {
        pthread_mutex_unlock(&conf_lock);
        return kern_call_set_error(call, AIOS_ENOENT, "id", "no confirmation %llu of yours",
                                   (unsigned long long)id);
    }
    if (c->state != C_PENDING) {
        *result = json_pack("{s:I,s:s}", "id", (json_int_t)c->id, "state", cstate_names[c->state]);
        pthread_mutex_unlock(&conf_lock);
        return 0;
    }
    w = calloc(1, sizeof(*w));
    if (!w) {
        pthread_mutex_unlock(&conf_lock);
        return AIOS_ENOMEM;
    }
    w->call = call;
    w->conf = c;
    w->next = c->waiters;
    c->waiters = w;
    pthread_mutex_unlock(&conf_lock);
    uv_timer_init(kern__st.loop, &w->timer);
    w->timer.data = w;
    uv_timer_start(&w->timer, on_cwait_timeout, timeout, 0);
    kern_call_on_cancel(call, on_cwait_cancel, w);
    return KERN_ASYNC;
}

void kern__confirm_free_all(void)
{
    pthread_mutex_lock(&conf_lock);
    while (confirms) {
        confirm *c = confirms;
        confirms = c->next;
        free(c);
    }
    pthread_mutex_unlock(&conf_lock);
}

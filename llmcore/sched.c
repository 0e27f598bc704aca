/*
 * sched.c - scheduling policies: per-item keys, virtual token counters,
 * and the greedy plan of which items hold a slot in the next engine step
 * (see sched.h and docs/SCHEDULER.md).
 *
 * Owns the clients (one per principal) and the owner uids; the items are
 * owned by the engine.  Engine thread only.
 */
#include <float.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aios/error.h"
#include "llmcore/sched.h"

struct llm_sched {
    llm_sched_conf c;
    llm_sclient *clients, *clients_tail;
    llm_suid *uids;
};

static const char *const policy_names[LLM_POLICY__N] = {
    [LLM_POLICY_FIFO] = "fifo",
    [LLM_POLICY_RR] = "rr",
    [LLM_POLICY_PRIORITY] = "priority",
    [LLM_POLICY_FAIR] = "fair",
};

const char *llm_policy_name(llm_policy p)
{
    return (unsigned)p < LLM_POLICY__N ? policy_names[p] : NULL;
}

int llm_policy_parse(const char *name, llm_policy *out)
{
    for (int i = 0; i < LLM_POLICY__N; i++)
        if (name && strcmp(name, policy_names[i]) == 0) {
            *out = (llm_policy)i;
            return 0;
        }
    return AIOS_EINVAL;
}

void llm_sched_conf_default(llm_sched_conf *c)
{
    memset(c, 0, sizeof(*c));
    c->policy = LLM_POLICY_FAIR;
    c->quantum = 32;
    c->aging_s = 10.0;
    c->w_in = 1.0;
    c->w_out = 2.0;
    c->fair_by_uid = false;
    c->max_running = 16;
    c->max_batch_tokens = 128;
}

/* ---- sched.set parameters ------------------------------------------------------------- */

typedef struct conf_key {
    const char *name;
    int kind;                 /* 0 int, 1 double, 2 bool */
    size_t off;
    double lo, hi;
} conf_key;

static const conf_key conf_keys[] = {
    {"quantum", 0, offsetof(llm_sched_conf, quantum), 1, 1 << 20},
    {"aging_s", 1, offsetof(llm_sched_conf, aging_s), 0.001, 1e9},
    {"w_in", 1, offsetof(llm_sched_conf, w_in), 0, 1e6},
    {"w_out", 1, offsetof(llm_sched_conf, w_out), 0, 1e6},
    {"fair_by_uid", 2, offsetof(llm_sched_conf, fair_by_uid), 0, 1},
    {"max_running", 0, offsetof(llm_sched_conf, max_running), 1, 4096},
    {"max_batch_tokens", 0, offsetof(llm_sched_conf, max_batch_tokens), 1, 65536},
};

int llm_sched_conf_apply(llm_sched_conf *c, const json_t *params, char *field, size_t fieldlen,
                         char *msg, size_t msglen)
{
    llm_sched_conf n = *c;
    const json_t *v = json_object_get(params, "policy");

    if (v) {
        if (!json_is_string(v) || llm_policy_parse(json_string_value(v), &n.policy) < 0) {
            snprintf(field, fieldlen, "policy");
            snprintf(msg, msglen, "unknown policy (fifo, rr, priority, fair)");
            return AIOS_EINVAL;
        }
    }
    for (size_t i = 0; i < sizeof(conf_keys) / sizeof(conf_keys[0]); i++) {
        const conf_key *k = &conf_keys[i];
        double d;

        v = json_object_get(params, k->name);
        if (!v)
            continue;
        if (k->kind == 2) {
            if (!json_is_boolean(v))
                goto bad;
            *(bool *)((char *)&n + k->off) = json_is_true(v);
            continue;
        }
        if (!json_is_number(v) || (k->kind == 0 && !json_is_integer(v)))
            goto bad;
        d = json_number_value(v);
        if (d < k->lo || d > k->hi)
            goto bad;
        if (k->kind == 0)
            *(int *)((char *)&n + k->off) = (int)d;
        else
            *(double *)((char *)&n + k->off) = d;
        continue;
bad:
        snprintf(field, fieldlen, "%s", k->name);
        snprintf(msg, msglen, "'%s' must be %s in [%g, %g]", k->name,
                 k->kind == 2 ? "a boolean" : k->kind == 0 ? "an integer" : "a number", k->lo, k->hi);
        return AIOS_EINVAL;
    }
    *c = n;
    return 0;
}

json_t *llm_sched_conf_json(const llm_sched_conf *c)
{
    return json_pack("{s:s,s:i,s:f,s:f,s:f,s:b,s:i,s:i}", "policy", llm_policy_name(c->policy), "quantum",
                     c->quantum, "aging_s", c->aging_s, "w_in", c->w_in, "w_out", c->w_out, "fair_by_uid",
                     c->fair_by_uid, "max_running", c->max_running, "max_batch_tokens", c->max_batch_tokens);
}

/* ---- the scheduler and its clients ----------------------------------------------------------- */

int llm_sched_new(const llm_sched_conf *c, llm_sched **out)
{
    llm_sched *s = calloc(1, sizeof(*s));

    *out = NULL;
    if (!s)
        return AIOS_ENOMEM;
    if (c)
        s->c = *c;
    else
        llm_sched_conf_default(&s->c);
    *out = s;
    return 0;
}

void llm_sched_free(llm_sched *s)
{
    if (!s)
        return;
    for (llm_sclient *c = s->clients, *n; c; c = n) {
        n = c->next;
        free(c);
    }
    for (llm_suid *u = s->uids, *n; u; u = n) {
        n = u->next;
        free(u);
    }
    free(s);
}

const llm_sched_conf *llm_sched_get_conf(const llm_sched *s)
{
    return &s->c;
}

void llm_sched_set_conf(llm_sched *s, const llm_sched_conf *c)
{
    s->c = *c;
}

static llm_suid *uid_get(llm_sched *s, uint32_t uid)
{
    llm_suid *u;

    for (u = s->uids; u; u = u->next)
        if (u->uid == uid)
            return u;
    u = calloc(1, sizeof(*u));
    if (!u)
        return NULL;
    u->uid = uid;
    u->next = s->uids;
    s->uids = u;
    return u;
}

llm_sclient *llm_sched_client(llm_sched *s, const char *principal, uint32_t uid)
{
    llm_sclient *c;

    for (c = s->clients; c; c = c->next)
        if (strcmp(c->principal, principal) == 0)
            return c;
    c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    snprintf(c->principal, sizeof(c->principal), "%s", principal);
    c->uid = uid;
    c->owner = uid_get(s, uid);
    if (!c->owner) {
        free(c);
        return NULL;
    }
    if (s->clients_tail)
        s->clients_tail->next = c;
    else
        s->clients = c;
    s->clients_tail = c;
    return c;
}

llm_sclient *llm_sched_clients(llm_sched *s)
{
    return s->clients;
}

/* ---- item life -------------------------------------------------------------------------------- */

void llm_sched_arrive(llm_sched *s, llm_sitem *it, uint64_t now_ns)
{
    llm_sclient *cl = it->cl;

    /* VTC: a client that was idle is lifted to the smallest counter among
     * the backlogged ones, so idling banks no credit */
    if (cl->n_live == 0) {
        double lo = DBL_MAX;
        for (llm_sclient *o = s->clients; o; o = o->next)
            if (o != cl && o->n_live > 0 && o->vtc < lo)
                lo = o->vtc;
        if (lo != DBL_MAX && cl->vtc < lo)
            cl->vtc = lo;
    }
    if (cl->owner->n_live == 0) {
        double lo = DBL_MAX;
        for (llm_suid *o = s->uids; o; o = o->next)
            if (o != cl->owner && o->n_live > 0 && o->vtc < lo)
                lo = o->vtc;
        if (lo != DBL_MAX && cl->owner->vtc < lo)
            cl->owner->vtc = lo;
    }
    cl->n_live++;
    cl->owner->n_live++;
    cl->requests++;
    it->t_arrival_ns = it->t_ready_ns = it->t_wait_ns = now_ns;
    it->waited_s = 0;
    it->run_tokens = 0;
    it->served = 0;
    it->running = false;
    it->selected = false;
}

void llm_sched_leave(llm_sched *s, llm_sitem *it, uint64_t now_ns)
{
    (void)s;
    (void)now_ns;
    if (it->running) {
        it->running = false;
        it->cl->n_running--;
    }
    it->cl->n_live--;
    it->cl->owner->n_live--;
}

void llm_sched_started(llm_sched *s, llm_sitem *it, uint64_t now_ns)
{
    (void)s;
    if (it->running)
        return;
    if (it->t_wait_ns && now_ns > it->t_wait_ns)
        it->waited_s += (double)(now_ns - it->t_wait_ns) / 1e9;
    it->t_wait_ns = 0;
    it->running = true;
    it->run_tokens = 0;
    it->turn_spent = false;
    it->cl->n_running++;
}

void llm_sched_stopped(llm_sched *s, llm_sitem *it, uint64_t now_ns, bool preempted)
{
    (void)s;
    if (!it->running)
        return;
    it->running = false;
    it->t_wait_ns = now_ns;
    it->cl->n_running--;
    if (preempted)
        it->cl->preemptions++;
}

void llm_sched_charge(llm_sched *s, llm_sitem *it, int n_in, int n_out, uint64_t now_ns)
{
    double w = s->c.w_in * n_in + s->c.w_out * n_out;

    it->cl->vtc += w;
    it->cl->owner->vtc += w;
    it->cl->tokens_in += (uint64_t)n_in;
    it->cl->tokens_out += (uint64_t)n_out;
    it->run_tokens += n_in + n_out;
    it->served += (uint64_t)(n_in + n_out);
    if (s->c.policy == LLM_POLICY_RR && it->run_tokens >= s->c.quantum) {
        /* turn over: to the back of the ready queue, a fresh quantum */
        it->t_ready_ns = now_ns;
        it->turn_spent = true;
    }
}

bool llm_sched_pinned(const llm_sched *s, const llm_sitem *it)
{
    if (!it->running)
        return false;
    switch (s->c.policy) {
    case LLM_POLICY_FIFO:
        return true;
    case LLM_POLICY_RR:
        /* once its turn is spent it competes from the back of the queue */
        return !it->turn_spent;
    case LLM_POLICY_PRIORITY:
        return it->run_tokens == 0;
    case LLM_POLICY_FAIR:
        return it->run_tokens < s->c.quantum;
    default:
        return false;
    }
}

/* ---- keys and the plan ------------------------------------------------------------------------ */

static void item_key(const llm_sched *s, llm_sitem *it, uint64_t now_ns)
{
    double waited;

    switch (s->c.policy) {
    case LLM_POLICY_FIFO:
        it->key[0] = (double)it->t_arrival_ns;
        it->key[1] = 0;
        break;
    case LLM_POLICY_RR:
        it->key[0] = (double)it->t_ready_ns;
        it->key[1] = (double)it->served;
        it->key[2] = (double)it->t_arrival_ns;
        return;
    case LLM_POLICY_PRIORITY:
        waited = it->waited_s;
        if (!it->running && it->t_wait_ns && now_ns > it->t_wait_ns)
            waited += (double)(now_ns - it->t_wait_ns) / 1e9;
        it->key[0] = -((double)it->prio + waited / s->c.aging_s);
        it->key[1] = (double)it->t_arrival_ns;
        break;
    case LLM_POLICY_FAIR:
    default:
        it->key[0] = s->c.fair_by_uid ? it->cl->owner->vtc : 0;
        it->key[1] = it->cl->vtc;
        it->key[2] = (double)it->t_arrival_ns;
        return;
    }
    it->key[2] = 0;
}

static int key_cmp(const void *a, const void *b)
{
    const llm_sitem *x = *(llm_sitem *const *)a, *y = *(llm_sitem *const *)b;

    for (int i = 0; i < 3; i++)
        if (x->key[i] != y->key[i])
            return x->key[i] < y->key[i] ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

int llm_sched_plan(llm_sched *s, llm_sitem **items, int n, int blocks, uint64_t now_ns)
{
    int slots = s->c.max_running, left = blocks, chosen = 0;

    for (int i = 0; i < n; i++) {
        items[i]->selected = false;
        items[i]->no_room = false;
        item_key(s, items[i], now_ns);
    }
    qsort(items, (size_t)n, sizeof(*items), key_cmp);
    /* running items the policy protects keep their slot */
    for (int i = 0; i < n && slots > 0; i++) {
        llm_sitem *it = items[i];
        if (!llm_sched_pinned(s, it))
            continue;
        it->selected = true;
        slots--;
        left -= it->blocks_need;
        chosen++;
    }
    /* then the rest in key order, skipping what does not fit */
    for (int i = 0; i < n && slots > 0; i++) {
        llm_sitem *it = items[i];
        if (it->selected || (!it->running && it->blocked))
            continue;
        if (it->blocks_need > left) {
            it->no_room = true;
            continue;
        }
        it->selected = true;
        slots--;
        left -= it->blocks_need;
        chosen++;
    }
    /* a running item that keeps its slot after its turn was spent starts a
     * new turn (nobody was waiting ahead of it) */
    for (int i = 0; i < n; i++)
        if (items[i]->selected && items[i]->running && items[i]->turn_spent) {
            items[i]->turn_spent = false;
            items[i]->run_tokens = 0;
        }
    return chosen;
}

/*
 * sched.h - the scheduler's policies (private to llmcore).
 *
 * The engine keeps one llm_sitem per live request (waiting, running or
 * preempted) and, before every step, asks llm_sched_plan() which of them
 * should hold a decode slot and KV blocks during the step.  The plan is the
 * same greedy walk for every policy: order the items by the policy's key,
 * keep the running items the policy protects ("pinned"), then fill the
 * remaining slots and blocks in key order (work-conserving: an item that
 * does not fit is skipped, not waited for).  Running items left out of the
 * plan are preempted by the engine; selected items that do not run yet are
 * admitted (restored or prefilled).
 *
 * Policies (docs/SCHEDULER.md):
 *   fifo      key = arrival; running items are never displaced (only memory
 *             pressure preempts).
 *   rr        key = time the item joined the ready queue (ties: the less
 *             served first); after `quantum` tokens a running item goes to
 *             the back of the queue.
 *   priority  key = effective priority = process priority + seconds waited
 *             / aging_s (waiting only), then arrival; a better item displaces
 *             a worse running one at once.
 *   fair      virtual token counters (VTC): each client (agent, and its
 *             owner uid when fair_by_uid) is charged w_in per prompt token
 *             and w_out per output token served; key = (uid counter, agent
 *             counter, arrival); a client that becomes backlogged again is
 *             lifted to the smallest counter among the backlogged; a
 *             running item is protected for `quantum` tokens after it was
 *             admitted, so slots do not flap every step.
 *
 * Not thread-safe: the engine thread owns the scheduler.
 */
#ifndef LLM_SCHED_H
#define LLM_SCHED_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

typedef enum llm_policy {
    LLM_POLICY_FIFO = 0,
    LLM_POLICY_RR,
    LLM_POLICY_PRIORITY,
    LLM_POLICY_FAIR,
    LLM_POLICY__N
} llm_policy;

/* "fifo", "rr", "priority", "fair" (NULL when out of range). */
const char *llm_policy_name(llm_policy p);
/* The policy called name; AIOS_EINVAL when unknown. */
int llm_policy_parse(const char *name, llm_policy *out);

typedef struct llm_sched_conf {
    llm_policy policy;
    int quantum;            /* rr: tokens per turn; fair: tokens before a running item may be displaced */
    double aging_s;         /* priority: waiting seconds that add one priority level */
    double w_in, w_out;     /* fair: weights of prompt (input) and output tokens */
    bool fair_by_uid;       /* fair: first between owner uids, then between agents */
    int max_running;        /* sequences in a step (decode slots) */
    int max_batch_tokens;   /* tokens in a step (decode + prefill chunks) */
} llm_sched_conf;

void llm_sched_conf_default(llm_sched_conf *c);

/*
 * Apply the keys of a sched.set request over c: policy, quantum, aging_s,
 * w_in, w_out, fair_by_uid, max_running, max_batch_tokens.  Unknown keys are
 * left to the caller's schema.  On error returns AIOS_EINVAL and names the
 * field in field/msg; c is unchanged then.
 */
int llm_sched_conf_apply(llm_sched_conf *c, const json_t *params, char *field, size_t fieldlen,
                         char *msg, size_t msglen);
json_t *llm_sched_conf_json(const llm_sched_conf *c);

/* A client of the scheduler: one principal (agent or uid) and its owner. */
typedef struct llm_sclient llm_sclient;
typedef struct llm_suid llm_suid;

struct llm_suid {
    uint32_t uid;
    double vtc;             /* virtual counter of the owner */
    int n_live;             /* live items of all its agents */
    llm_suid *next;
};

struct llm_sclient {
    char principal[80];
    uint32_t uid;
    llm_suid *owner;
    double vtc;             /* virtual counter (weighted tokens served, lifted) */
    uint64_t tokens_in;     /* prompt tokens processed for it */
    uint64_t tokens_out;    /* tokens generated for it */
    uint64_t requests;      /* items that arrived */
    uint64_t preemptions;   /* times one of its items was preempted */
    int n_live;             /* items arrived and not yet left */
    int n_running;
    llm_sclient *next;
};

typedef struct llm_sitem {
    uint64_t id;
    llm_sclient *cl;
    int prio;               /* process priority, -20..20, higher first */
    uint64_t t_arrival_ns;
    uint64_t t_ready_ns;    /* rr: position in the ready queue */
    uint64_t t_wait_ns;     /* when it last started waiting (0 while running) */
    double waited_s;        /* priority: seconds waited before t_wait_ns */
    int run_tokens;         /* tokens served since it was admitted or its turn began */
    bool turn_spent;        /* rr: quantum used up, back of the queue */
    uint64_t served;        /* tokens served over its life (rr tie-break) */
    bool running;           /* holds a slot (set by the engine) */
    /* planning input, filled by the engine before llm_sched_plan() */
    int blocks_have;        /* KV blocks it holds now */
    int blocks_need;        /* blocks it must hold to take part in the next step */
    bool blocked;           /* may not be admitted this step (e.g. waits for a shared prefix) */
    /* planning output */
    bool selected;
    bool no_room;           /* left out for lack of KV blocks (not by the policy) */
    double key[3];
} llm_sitem;

typedef struct llm_sched llm_sched;

int llm_sched_new(const llm_sched_conf *c, llm_sched **out);
void llm_sched_free(llm_sched *s);
const llm_sched_conf *llm_sched_get_conf(const llm_sched *s);
/* Switch policy or parameters at run time (items keep their counters). */
void llm_sched_set_conf(llm_sched *s, const llm_sched_conf *c);

/* The client for a principal (created on first use; NULL on ENOMEM). */
llm_sclient *llm_sched_client(llm_sched *s, const char *principal, uint32_t uid);
/* Clients in creation order (for stats). */
llm_sclient *llm_sched_clients(llm_sched *s);

/* An item arrives (VTC lift when its client was idle) / leaves for good. */
void llm_sched_arrive(llm_sched *s, llm_sitem *it, uint64_t now_ns);
void llm_sched_leave(llm_sched *s, llm_sitem *it, uint64_t now_ns);

/* The engine started / stopped running an item (admission, preemption). */
void llm_sched_started(llm_sched *s, llm_sitem *it, uint64_t now_ns);
void llm_sched_stopped(llm_sched *s, llm_sitem *it, uint64_t now_ns, bool preempted);

/* Charge tokens served to an item in a step: n_in prompt tokens
 * processed, n_out tokens generated.  Moves rr items whose quantum is
 * spent to the back of the queue. */
void llm_sched_charge(llm_sched *s, llm_sitem *it, int n_in, int n_out, uint64_t now_ns);

/* Whether the item is protected from being displaced this step. */
bool llm_sched_pinned(const llm_sched *s, const llm_sitem *it);

/*
 * Choose the items for the next step.  items: every live item; blocks: KV
 * blocks the items may hold in total (free + held by these items +
 * evictable cached blocks).  Sets it->selected and it->key; returns how
 * many are selected.  items is reordered (best first).
 */
int llm_sched_plan(llm_sched *s, llm_sitem **items, int n, int blocks, uint64_t now_ns);

#endif /* LLM_SCHED_H */

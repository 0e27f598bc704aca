/*
 * engine.c - the LLM engine thread: continuous batching of many requests
 * over one model, preemption with context snapshots, prefix sharing and
 * agents' named contexts (see engine.h, docs/SCHEDULER.md).
 *
 * Each step: take new requests, cancellations and commands from the inbox;
 * ask the scheduler which requests hold a slot; preempt the running ones
 * left out (their K/V and decode state go to the snapshot store) and admit
 * the chosen ones (built on cached prefix blocks, restored from a snapshot
 * or recomputed, as the cost model says); build one batch of decode tokens
 * and prefill chunks within the token budget; run the forward; sample,
 * stream and finish.  Sequences join and leave every step.
 *
 * Owns the KV cache, the forward context, the scheduler, the prefix cache,
 * the snapshot and context stores and every request.  Runs on its own
 * thread; the inbox, the cancel handles and the published statistics are
 * shared with other threads under one mutex.  Callbacks of requests run on
 * the engine thread.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "aios/error.h"
#include "aios/log.h"
#include "llmcore/engine.h"
#include "llmcore/gen.h"
#include "llmcore/prefix.h"
#include "llmcore/sched.h"
#include "llmcore/snapshot.h"

#define RING_N 4096
#define CLIENT_RING_N 512
#define STATS_PUBLISH_NS 200000000ull

/* ---- small helpers ------------------------------------------------------------------------- */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static double ms_between(uint64_t a, uint64_t b)
{
    return b > a ? (double)(b - a) / 1e6 : 0.0;
}

static void set_err(llm_err *e, const char *field, const char *fmt, const char *arg)
{
    if (!e)
        return;
    snprintf(e->field, sizeof(e->field), "%s", field ? field : "");
    snprintf(e->msg, sizeof(e->msg), fmt, arg ? arg : "");
}

/* A ring of recent samples (milliseconds) for percentiles. */
typedef struct ring {
    double *v;
    int cap, n, at;
} ring;

static void ring_add(ring *r, double x)
{
    if (!r->v)
        return;
    r->v[r->at] = x;
    r->at = (r->at + 1) % r->cap;
    if (r->n < r->cap)
        r->n++;
}

static int dcmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static json_t *ring_json(const ring *r)
{
    double *s;
    json_t *o;

    if (!r->n)
        return json_pack("{s:i}", "n", 0);
    s = malloc(sizeof(double) * (size_t)r->n);
    if (!s)
        return json_object();
    memcpy(s, r->v, sizeof(double) * (size_t)r->n);
    qsort(s, (size_t)r->n, sizeof(double), dcmp);
#define PCT(p) s[(int)((p) / 100.0 * (r->n - 1) + 0.5)]
    o = json_pack("{s:i,s:f,s:f,s:f,s:f}", "n", r->n, "p50_ms", PCT(50), "p90_ms", PCT(90), "p99_ms", PCT(99),
                  "max_ms", s[r->n - 1]);
#undef PCT
    free(s);
    return o;
}

/* ---- requests --------------------------------------------------------------------------------- */

/* Shared with other threads (under e->mu) so they can cancel by id. */
typedef struct req_handle {
    uint64_t id;
    char principal[80];
    atomic_bool cancel;
    struct req_handle *next;
} req_handle;

typedef struct eng_req {
    llm_sitem it;                 /* first: the scheduler's view */
    struct eng_req *next, *prev;  /* live list */
    struct eng_req *in_next;      /* inbox */
    req_handle *h;
    llm_req_kind kind;
    json_t *params;
    char principal[80];
    uint32_t uid;
    int64_t proc_id;
    llm_cb cb;
    bool stream;
    llm_gen *gen;
    bool tools;
    bool want_logprobs;
    /* the prompt as submitted */
    int32_t *p_fresh;             /* rendered as a new conversation */
    int n_fresh;
    int32_t *p_cont;              /* chat: rendered as a continuation of a context */
    int n_cont;
    char ctx_name[65];
    bool has_ctx;
    bool ctx_exists;
    /* the sequence */
    int32_t *tok;
    int n_tok, cap_tok;
    int n_prompt;
    int prompt_done;              /* prompt tokens charged to the client */
    int32_t seq;                  /* KV sequence, -1 when not resident */
    int n_kv;                     /* tokens whose K/V are computed (resident or in the snapshot) */
    llm_snap *snap;               /* while preempted */
    int32_t last_token;
    bool started;
    bool force_preempt;
    int since_preempt;
    int preempt_every;            /* testing: this request's own knob, 0 = the engine's */
    bool ignore_eos;              /* benchmarks: never pick an end-of-generation token */
    /* numbers for the result */
    int cached_tokens, preemptions, restores, recomputes, disk_restores;
    int n_out;
    uint64_t t_submit, t_admit, t_first, t_last;
    uint64_t step_submit, step_admit, step_first;
} eng_req;

static eng_req *req_of(llm_sitem *it)
{
    return (eng_req *)it;
}

typedef struct eng_cmd {
    llm_cmd cmd;
    json_t *params;
    char principal[80];
    uint32_t uid;
    int64_t proc_id;
    bool admin;
    llm_cb cb;
    struct eng_cmd *next;
} eng_cmd;

/* Per-client latency samples for sched.stats. */
typedef struct eng_client {
    llm_sclient *cl;
    ring ttft, tbt;
    int32_t *last_tok;            /* tokens of its last finished request */
    int n_last;
    struct eng_client *next;
} eng_client;

typedef enum { RESUME_AUTO = 0, RESUME_RESTORE, RESUME_RECOMPUTE } resume_mode;
static const char *const resume_names[] = {"auto", "restore", "recompute"};

struct llm_engine {
    const llm_model *m;
    const llm_model_info *info;
    const llm_text *text;
    char model_name[128];
    llm_kv *kv;
    const llm_backend *be;   /* the forward's backend */
    llm_ctx *ctx;
    llm_sched *sched;
    llm_prefix *prefix;           /* NULL when disabled */
    llm_snapstore *snaps;
    llm_ctxstore *ctxs;
    llm_service_opts o;
    int n_vocab, bt, cap_T, cap_running;
    /* engine knobs (sched.set) */
    int preempt_every;
    resume_mode resume;
    /* thread and inbox */
    pthread_t th;
    bool th_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    eng_req *in_head, *in_tail;
    eng_cmd *cmd_head, *cmd_tail;
    req_handle *handles;
    uint64_t next_id;
    json_t *pub_stats;
    /* engine-thread state */
    eng_req *live;
    int n_live;
    eng_client *clients;
    uint64_t step_no;
    llm_sitem **items;            /* the last plan, best first (NULL: finished since) */
    int cap_items, n_items;
    int32_t *b_tok, *b_seq, *b_pos;
    uint8_t *b_want;
    eng_req **b_req;              /* request of each batch row */
    float *logits;
    int cap_logits_rows;
    ring ttft, tbt, step_ms;
    uint64_t t_last_publish;
    /* cost model (EWMA) */
    double copy_bps;              /* host copy of K/V, bytes/s */
    double disk_bps;              /* reading a spilled snapshot, bytes/s */
    double prefill_tps;           /* tokens/s of the forward on big chunks */
    /* counters */
    uint64_t n_requests, n_finished, n_cancelled, n_failed, tokens_in, tokens_out;
    uint64_t preemptions, restores, recomputes, disk_restores, mem_preemptions, admissions_failed;
    uint64_t prefix_hit_tokens;
    double busy_s;
};

static void ring_init(ring *r, int cap)
{
    r->v = calloc((size_t)cap, sizeof(double));
    r->cap = cap;
    r->n = r->at = 0;
}

static eng_client *client_of(llm_engine *e, llm_sclient *cl)
{
    eng_client *c;

    for (c = e->clients; c; c = c->next)
        if (c->cl == cl)
            return c;
    c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->cl = cl;
    ring_init(&c->ttft, CLIENT_RING_N);
    ring_init(&c->tbt, CLIENT_RING_N);
    c->next = e->clients;
    e->clients = c;
    return c;
}

static int tok_push(eng_req *r, int32_t t)
{
    if (r->n_tok == r->cap_tok) {
        int cap = r->cap_tok ? r->cap_tok * 2 : 256;
        int32_t *v = realloc(r->tok, sizeof(int32_t) * (size_t)cap);
        if (!v)
            return AIOS_ENOMEM;
        r->tok = v;
        r->cap_tok = cap;
    }
    r->tok[r->n_tok++] = t;
    return 0;
}

static int tok_append(eng_req *r, const int32_t *t, int n)
{
    for (int i = 0; i < n; i++)
        if (tok_push(r, t[i]) < 0)
            return AIOS_ENOMEM;
    return 0;
}

static void req_free(eng_req *r)
{
    if (!r)
        return;
    llm_gen_free(r->gen);
    json_decref(r->params);
    free(r->p_fresh);
    free(r->p_cont);
    free(r->tok);
    free(r);
}

/* ---- the model fingerprint (contexts are only valid for the same model) ---- */

static void fingerprint(const llm_engine *e, char *out, size_t cap)
{
    llm_kv_stats ks;

    llm_kv_get_stats(e->kv, &ks);
    snprintf(out, cap, "%s/%s/L%d/E%d/KV%d/V%d/%llu/%zu", e->info->arch_name, e->info->name, e->info->n_layer,
             e->info->n_embd, e->info->n_head_kv * e->info->head_dim, e->info->n_vocab,
             (unsigned long long)e->info->file_bytes, ks.block_bytes / (size_t)ks.block_tokens);
}

/* ---- creation ---------------------------------------------------------------------------------- */

static void *engine_main(void *arg);

static int apply_knobs(llm_engine *e, const json_t *params, llm_err *err)
{
    const json_t *v;

    if ((v = json_object_get(params, "preempt_every")) != NULL) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 1000000) {
            set_err(err, "preempt_every", "'preempt_every' must be an integer >= 0 (0 = off)%s", NULL);
            return AIOS_EINVAL;
        }
        e->preempt_every = (int)json_integer_value(v);
    }
    if ((v = json_object_get(params, "resume")) != NULL) {
        int found = -1;
        for (int i = 0; i < 3; i++)
            if (json_is_string(v) && strcmp(json_string_value(v), resume_names[i]) == 0)
                found = i;
        if (found < 0) {
            set_err(err, "resume", "'resume' must be auto, restore or recompute%s", NULL);
            return AIOS_EINVAL;
        }
        e->resume = (resume_mode)found;
    }
    return 0;
}

static int clamp_conf(llm_engine *e, llm_sched_conf *c)
{
    if (c->max_batch_tokens > e->cap_T)
        c->max_batch_tokens = e->cap_T;
    if (c->max_running > e->cap_running)
        c->max_running = e->cap_running;
    if (c->max_running > c->max_batch_tokens)
        c->max_running = c->max_batch_tokens;
    return 0;
}

int llm_engine_new(const llm_model *m, const llm_text *t, const llm_service_opts *o, llm_engine **out,
                   char *err, size_t errlen)
{
    llm_engine *e = calloc(1, sizeof(*e));
    llm_sched_conf sc;
    char path[4096], fp[512];
    llm_err le;
    int rc;

    *out = NULL;
    if (!e)
        return AIOS_ENOMEM;
    e->m = m;
    e->info = llm_model_get_info(m);
    e->text = t;
    e->o = *o;
    e->n_vocab = e->info->n_vocab;
    e->cap_T = 512;
    e->cap_running = 256;
    {
        /* the model's id: the file name without .gguf */
        const char *base = o->model && strrchr(o->model, '/') ? strrchr(o->model, '/') + 1 : o->model ? o->model : "model";
        size_t bl = strlen(base);
        if (bl > 5 && strcmp(base + bl - 5, ".gguf") == 0)
            bl -= 5;
        snprintf(e->model_name, sizeof(e->model_name), "%.*s", (int)bl, base);
    }
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->cv, NULL);
    e->copy_bps = 2e9;
    e->disk_bps = 3e8;
    e->prefill_tps = 50;
    ring_init(&e->ttft, RING_N);
    ring_init(&e->tbt, RING_N);
    ring_init(&e->step_ms, RING_N);

    if ((rc = llm_kv_new(m, e->o.kv_bytes, e->o.block_tokens, LLM_KV_F16, &e->kv)) < 0) {
        snprintf(err, errlen, "cannot allocate the KV cache (%zu MiB): %s", e->o.kv_bytes >> 20, aios_strerror(rc));
        goto out_free;
    }
    {
        llm_kv_stats ks;
        llm_kv_get_stats(e->kv, &ks);
        e->bt = ks.block_tokens;
    }
    if (!(e->be = llm_backend_find(e->o.backend ? e->o.backend : "cpu"))) {
        char names[128];
        llm_backend_names(names, sizeof(names));
        snprintf(err, errlen, "no backend '%s' in this build (it has: %s)", e->o.backend, names);
        rc = AIOS_ENOTSUP;
        goto out_free;
    }
    if ((rc = e->be->init()) < 0 || (rc = e->be->ctx_new(m, e->kv, e->o.threads, e->cap_T, &e->ctx)) < 0) {
        snprintf(err, errlen, "cannot create the forward context on '%s': %s", e->be->name, aios_strerror(rc));
        goto out_free;
    }
    llm_sched_conf_default(&sc);
    if (e->o.sched) {
        if ((rc = llm_sched_conf_apply(&sc, e->o.sched, le.field, sizeof(le.field), le.msg, sizeof(le.msg))) < 0 ||
            (rc = apply_knobs(e, e->o.sched, &le)) < 0) {
            snprintf(err, errlen, "bad scheduler setting '%s': %s", le.field, le.msg);
            goto out_free;
        }
    }
    clamp_conf(e, &sc);
    if ((rc = llm_sched_new(&sc, &e->sched)) < 0)
        goto out_nomem;
    if (!e->o.no_prefix_cache && (rc = llm_prefix_new(e->kv, &e->prefix)) < 0)
        goto out_nomem;
    snprintf(path, sizeof(path), "%s/snapshots", e->o.state_dir);
    if ((rc = llm_snapstore_new(path, e->o.snap_host_bytes, e->o.snap_disk_bytes, e->o.zstd_level, &e->snaps)) < 0)
        goto out_nomem;
    snprintf(path, sizeof(path), "%s/contexts", e->o.state_dir);
    fingerprint(e, fp, sizeof(fp));
    if ((rc = llm_ctxstore_new(path, fp, e->o.snap_host_bytes / 4, e->o.zstd_level, &e->ctxs)) < 0) {
        snprintf(err, errlen, "cannot open the context store '%s': %s", path, aios_strerror(rc));
        goto out_free;
    }
    e->b_tok = malloc(sizeof(int32_t) * (size_t)e->cap_T);
    e->b_seq = malloc(sizeof(int32_t) * (size_t)e->cap_T);
    e->b_pos = malloc(sizeof(int32_t) * (size_t)e->cap_T);
    e->b_want = malloc((size_t)e->cap_T);
    e->b_req = malloc(sizeof(eng_req *) * (size_t)e->cap_T);
    if (!e->b_tok || !e->b_seq || !e->b_pos || !e->b_want || !e->b_req)
        goto out_nomem;
    if (pthread_create(&e->th, NULL, engine_main, e) != 0) {
        rc = AIOS_ESYS;
        snprintf(err, errlen, "cannot start the engine thread");
        goto out_free;
    }
    e->th_started = true;
    *out = e;
    return 0;
out_nomem:
    rc = AIOS_ENOMEM;
    snprintf(err, errlen, "out of memory starting the engine");
out_free:
    llm_engine_free(e);
    return rc;
}

void llm_engine_stop(llm_engine *e)
{
    if (!e || !e->th_started)
        return;
    pthread_mutex_lock(&e->mu);
    e->stop = true;
    pthread_cond_signal(&e->cv);
    pthread_mutex_unlock(&e->mu);
    pthread_join(e->th, NULL);
    e->th_started = false;
}

void llm_engine_free(llm_engine *e)
{
    if (!e)
        return;
    llm_engine_stop(e);
    while (e->clients) {
        eng_client *c = e->clients;
        e->clients = c->next;
        free(c->ttft.v);
        free(c->tbt.v);
        free(c->last_tok);
        free(c);
    }
    while (e->handles) {
        req_handle *h = e->handles;
        e->handles = h->next;
        free(h);
    }
    llm_prefix_free(e->prefix);
    llm_ctxstore_free(e->ctxs);
    llm_snapstore_free(e->snaps);
    llm_sched_free(e->sched);
    if (e->be)
        e->be->ctx_free(e->ctx);
    llm_kv_free(e->kv);
    json_decref(e->pub_stats);
    free(e->items);
    free(e->b_tok);
    free(e->b_seq);
    free(e->b_pos);
    free(e->b_want);
    free(e->b_req);
    free(e->logits);
    free(e->ttft.v);
    free(e->tbt.v);
    free(e->step_ms.v);
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->cv);
    free(e);
}

/* ---- submission (any thread) -------------------------------------------------------------------- */

/* The field a decode-parameter message names ('max_tokens' must ...). */
static void field_from_msg(const char *msg, char *field, size_t cap)
{
    const char *a = strchr(msg, '\''), *b = a ? strchr(a + 1, '\'') : NULL;
    static const char *const keys[] = {"max_tokens", "max_completion_tokens", "temperature", "top_p", "top_k",
                                       "min_p", "seed", "stop", "logprobs", "top_logprobs", "repeat_penalty",
                                       "frequency_penalty", "presence_penalty", "repeat_last_n",
                                       "penalty_last_n", "tools", "tool_choice", "response_format"};

    field[0] = 0;
    if (a && b && (size_t)(b - a - 1) < cap)
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
            if (strlen(keys[i]) == (size_t)(b - a - 1) && memcmp(keys[i], a + 1, (size_t)(b - a - 1)) == 0) {
                snprintf(field, cap, "%s", keys[i]);
                return;
            }
    if (strstr(msg, "tool"))
        snprintf(field, cap, "tools");
    else if (strstr(msg, "schema") || strstr(msg, "response_format"))
        snprintf(field, cap, "response_format");
    else if (strstr(msg, "stop"))
        snprintf(field, cap, "stop");
}

/* The prompt of llm.complete: a string, or an array of token ids. */
static int complete_prompt(const llm_engine *e, const json_t *p, int32_t **ids, int *n, llm_err *err)
{
    size_t i;
    const json_t *v;

    *ids = NULL;
    *n = 0;
    if (json_is_string(p))
        return llm_text_tokenize(e->text, json_string_value(p), json_string_length(p), false, ids, n);
    if (!json_is_array(p)) {
        set_err(err, "prompt", "'prompt' must be a string or an array of token ids%s", NULL);
        return AIOS_EINVAL;
    }
    *ids = malloc(sizeof(int32_t) * (json_array_size(p) + 1));
    if (!*ids)
        return AIOS_ENOMEM;
    json_array_foreach(p, i, v) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= e->n_vocab) {
            free(*ids);
            *ids = NULL;
            set_err(err, "prompt", "'prompt' token ids must be integers in [0, n_vocab)%s", NULL);
            return AIOS_EINVAL;
        }
        (*ids)[i] = (int32_t)json_integer_value(v);
    }
    *n = (int)json_array_size(p);
    return 0;
}

int llm_engine_submit(llm_engine *e, llm_req_kind kind, const json_t *params, const llm_caller *who, bool stream,
                      const llm_cb *cb, uint64_t *id, llm_err *err)
{
    eng_req *r = calloc(1, sizeof(*r));
    req_handle *h = calloc(1, sizeof(*h));
    const char *ctx = json_string_value(json_object_get(params, "context"));
    char msg[400];
    uint64_t new_id;
    int rc;

    memset(err, 0, sizeof(*err));
    if (!r || !h) {
        free(r);
        free(h);
        return AIOS_ENOMEM;
    }
    r->kind = kind;
    r->params = json_deep_copy(params);
    snprintf(r->principal, sizeof(r->principal), "%s", who->principal ? who->principal : "");
    r->uid = who->uid;
    r->proc_id = who->proc_id;
    r->cb = *cb;
    r->stream = stream;
    r->seq = -1;
    r->last_token = -1;
    r->t_submit = now_ns();
    msg[0] = 0;
    if (ctx) {
        if (!llm_ctx_name_ok(ctx)) {
            set_err(err, "context", "'context' must be 1 to 64 of A-Z a-z 0-9 . _ - (not starting with '.')%s",
                    NULL);
            rc = AIOS_EINVAL;
            goto out_fail;
        }
        snprintf(r->ctx_name, sizeof(r->ctx_name), "%s", ctx);
        r->has_ctx = true;
    }
    if (kind == LLM_REQ_CHAT) {
        const json_t *msgs = json_object_get(params, "messages");
        if ((rc = llm_text_chat_tokens(e->text, msgs, true, false, &r->p_fresh, &r->n_fresh, msg, sizeof(msg))) < 0 ||
            (r->has_ctx &&
             (rc = llm_text_chat_tokens(e->text, msgs, true, true, &r->p_cont, &r->n_cont, msg, sizeof(msg))) < 0)) {
            set_err(err, "messages", "%s", msg[0] ? msg : "cannot render the messages");
            goto out_fail;
        }
    } else {
        if ((rc = complete_prompt(e, json_object_get(params, "prompt"), &r->p_fresh, &r->n_fresh, err)) < 0)
            goto out_fail;
    }
    if (r->n_fresh >= e->info->n_ctx_train) {
        snprintf(msg, sizeof(msg), "%d", r->n_fresh);
        set_err(err, kind == LLM_REQ_CHAT ? "messages" : "prompt",
                "the prompt has %s tokens, more than the model's context", msg);
        rc = AIOS_ELIMIT;
        goto out_fail;
    }
    if (r->n_fresh == 0 && !r->has_ctx) {
        set_err(err, kind == LLM_REQ_CHAT ? "messages" : "prompt", "the prompt is empty%s", NULL);
        rc = AIOS_EINVAL;
        goto out_fail;
    }
    rc = llm_gen_from_request(params, llm_text_gvocab(e->text), e->o.max_tokens, &r->gen, msg, sizeof(msg));
    if (rc < 0) {
        field_from_msg(msg, err->field, sizeof(err->field));
        snprintf(err->msg, sizeof(err->msg), "%s", msg[0] ? msg : aios_strerror(rc));
        goto out_fail;
    }
    r->tools = json_object_get(params, "tools") != NULL;
    r->preempt_every = (int)json_integer_value(json_object_get(params, "preempt_every"));
    r->ignore_eos = json_is_true(json_object_get(params, "ignore_eos"));
    r->want_logprobs = json_is_true(json_object_get(params, "logprobs"));

    pthread_mutex_lock(&e->mu);
    if (e->stop) {
        pthread_mutex_unlock(&e->mu);
        set_err(err, "", "the daemon is shutting down%s", NULL);
        rc = AIOS_EUNAVAIL;
        goto out_fail;
    }
    r->it.id = h->id = new_id = ++e->next_id;
    snprintf(h->principal, sizeof(h->principal), "%s", r->principal);
    atomic_init(&h->cancel, false);
    h->next = e->handles;
    e->handles = h;
    r->h = h;
    if (e->in_tail)
        e->in_tail->in_next = r;
    else
        e->in_head = r;
    e->in_tail = r;
    pthread_cond_signal(&e->cv);
    pthread_mutex_unlock(&e->mu);
    /* r belongs to the engine thread now (it may already have ended) */
    if (id)
        *id = new_id;
    return 0;
out_fail:
    if (!err->msg[0])
        set_err(err, "", "%s", aios_strerror(rc));
    free(h);
    req_free(r);
    return rc;
}

int llm_engine_cancel(llm_engine *e, uint64_t id, const llm_caller *who)
{
    int rc = AIOS_ENOENT;

    pthread_mutex_lock(&e->mu);
    for (req_handle *h = e->handles; h; h = h->next)
        if (h->id == id) {
            if (who && !who->admin && strcmp(h->principal, who->principal ? who->principal : "") != 0) {
                rc = AIOS_EPERM;
                break;
            }
            atomic_store(&h->cancel, true);
            pthread_cond_signal(&e->cv);
            rc = 0;
            break;
        }
    pthread_mutex_unlock(&e->mu);
    return rc;
}

int llm_engine_command(llm_engine *e, llm_cmd cmd, const json_t *params, const llm_caller *who, const llm_cb *cb,
                       llm_err *err)
{
    eng_cmd *c = calloc(1, sizeof(*c));

    if (!c)
        return AIOS_ENOMEM;
    c->cmd = cmd;
    c->params = params ? json_deep_copy(params) : json_object();
    snprintf(c->principal, sizeof(c->principal), "%s", who && who->principal ? who->principal : "");
    c->uid = who ? who->uid : 0;
    c->proc_id = who ? who->proc_id : 0;
    c->admin = who ? who->admin : false;
    c->cb = *cb;
    pthread_mutex_lock(&e->mu);
    if (e->stop) {
        pthread_mutex_unlock(&e->mu);
        json_decref(c->params);
        free(c);
        set_err(err, "", "the daemon is shutting down%s", NULL);
        return AIOS_EUNAVAIL;
    }
    if (e->cmd_tail)
        e->cmd_tail->next = c;
    else
        e->cmd_head = c;
    e->cmd_tail = c;
    pthread_cond_signal(&e->cv);
    pthread_mutex_unlock(&e->mu);
    return 0;
}

json_t *llm_engine_stats(llm_engine *e)
{
    json_t *o;

    pthread_mutex_lock(&e->mu);
    o = e->pub_stats ? json_deep_copy(e->pub_stats) : json_object();
    pthread_mutex_unlock(&e->mu);
    return o;
}

/* ---- request life on the engine thread ------------------------------------------------------------- */

static void live_add(llm_engine *e, eng_req *r)
{
    r->prev = NULL;
    r->next = e->live;
    if (e->live)
        e->live->prev = r;
    e->live = r;
    e->n_live++;
}

static void live_remove(llm_engine *e, eng_req *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        e->live = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->next = r->prev = NULL;
    e->n_live--;
}

static void handle_remove(llm_engine *e, req_handle *h)
{
    pthread_mutex_lock(&e->mu);
    for (req_handle **l = &e->handles; *l; l = &(*l)->next)
        if (*l == h) {
            *l = h->next;
            break;
        }
    pthread_mutex_unlock(&e->mu);
    free(h);
}

/* Release the sequence's blocks and its snapshot. */
static void release_state(llm_engine *e, eng_req *r)
{
    if (r->seq >= 0) {
        llm_kv_seq_free(e->kv, r->seq);
        r->seq = -1;
    }
    if (r->snap) {
        llm_snap_drop(e->snaps, r->snap);
        r->snap = NULL;
    }
}

/* Export the resident sequence into a packed image (meta, tokens, decode
 * state, K/V).  n_tokens: how many of r->tok to record. */
static int image_of_seq(llm_engine *e, int32_t seq, const int32_t *tok, int n_tokens, json_t *meta,
                        const llm_gen *gen, void **buf, size_t *len)
{
    llm_image_view v = {0}, w;
    size_t kv_len = seq >= 0 ? llm_kv_seq_export_size(e->kv, seq) : 0;
    void *gbuf = NULL;
    uint64_t t0;
    int rc;

    v.meta = meta;
    v.tokens = tok;
    v.n_tokens = (uint32_t)n_tokens;
    if (gen) {
        v.gen_len = llm_gen_save(gen, NULL, 0);
        gbuf = malloc(v.gen_len ? v.gen_len : 1);
        if (!gbuf)
            return AIOS_ENOMEM;
        llm_gen_save(gen, gbuf, v.gen_len);
        v.gen = gbuf;
    }
    v.kv = NULL;           /* reserved, exported in place below */
    v.kv_len = kv_len;
    rc = llm_image_pack(&v, buf, len);
    free(gbuf);
    if (rc < 0)
        return rc;
    if (kv_len) {
        if ((rc = llm_image_unpack(*buf, *len, &w)) < 0) {
            free(*buf);
            return rc;
        }
        json_decref(w.meta);
        t0 = now_ns();
        rc = llm_kv_seq_export(e->kv, seq, (void *)w.kv, kv_len);
        if (rc < 0) {
            free(*buf);
            *buf = NULL;
            return rc;
        }
        t0 = now_ns() - t0;
        if (t0 > 0 && kv_len > (1u << 20))
            e->copy_bps = 0.7 * e->copy_bps + 0.3 * ((double)kv_len / ((double)t0 / 1e9));
    }
    return 0;
}

/* Preempt a running request: its state goes to the snapshot store, its
 * blocks are freed. */
static int preempt(llm_engine *e, eng_req *r, bool memory)
{
    void *buf;
    size_t len;
    json_t *meta;
    int rc;

    if (r->seq >= 0) {
        meta = json_pack("{s:I,s:i}", "request", (json_int_t)r->it.id, "kv_tokens", r->n_kv);
        rc = image_of_seq(e, r->seq, r->tok, r->n_tok, meta, r->gen, &buf, &len);
        json_decref(meta);
        if (rc == 0)
            rc = llm_snap_put(e->snaps, buf, len, &r->snap);
        if (rc < 0) {
            /* no snapshot: the state will be recomputed from the tokens */
            AIOS_LOG(AIOS_LOG_WARN, "llm", "cannot snapshot request %llu: %s (will recompute)",
                     (unsigned long long)r->it.id, aios_strerror(rc));
            r->snap = NULL;
        }
        llm_kv_seq_free(e->kv, r->seq);
        r->seq = -1;
    }
    llm_sched_stopped(e->sched, &r->it, now_ns(), true);
    r->preemptions++;
    r->since_preempt = 0;
    e->preemptions++;
    if (memory)
        e->mem_preemptions++;
    return 0;
}

/* The image KV a request could be restored from: its snapshot, or for a
 * request continuing a context, the context's image. */
static int restore_source(llm_engine *e, eng_req *r, const void **img, size_t *len, bool *on_disk,
                          llm_image_view *v)
{
    int rc;

    *on_disk = false;
    if (r->snap) {
        if ((rc = llm_snap_get(e->snaps, r->snap, img, len, on_disk)) < 0)
            return rc;
    } else if (r->has_ctx && r->ctx_exists && !r->started) {
        if ((rc = llm_ctxstore_get(e->ctxs, r->principal, r->ctx_name, img, len)) < 0)
            return rc;
    } else {
        return AIOS_ENOENT;
    }
    return llm_image_unpack(*img, *len, v);
}

static int blocks_for(int bt, int tokens)
{
    return (tokens + bt - 1) / bt;
}

/* Make room for n blocks: evict cached prefix blocks first. */
static bool make_room(llm_engine *e, int n)
{
    llm_kv_stats ks;

    llm_kv_get_stats(e->kv, &ks);
    if (ks.blocks_free >= n)
        return true;
    if (e->prefix)
        llm_prefix_evict(e->prefix, n - ks.blocks_free);
    llm_kv_get_stats(e->kv, &ks);
    return ks.blocks_free >= n;
}

/*
 * Admit a request to the running set: build its sequence from cached
 * prefix blocks, then decide with the cost model between restoring the
 * rest of its computed state from an image and recomputing it.
 */
static int admit(llm_engine *e, eng_req *r)
{
    int limit = r->n_tok - 1;           /* at least one token is fed to get logits */
    int matched = 0, cached_kv, img_kv = 0, rc;
    const void *img = NULL;
    size_t img_len = 0;
    bool on_disk = false, have_img = false;
    llm_image_view v = {0};
    int32_t *blocks = NULL;
    double cost_restore = INFINITY, cost_recompute;
    uint64_t now = now_ns();

    if (limit < 0)
        limit = 0;
    if (r->snap || (r->has_ctx && r->ctx_exists && !r->started)) {
        rc = restore_source(e, r, &img, &img_len, &on_disk, &v);
        if (rc == 0) {
            have_img = true;
            img_kv = v.kv_len > 0 ? (int)json_integer_value(json_object_get(v.meta, "kv_tokens")) : 0;
            if (img_kv < 0)
                img_kv = 0;
            if (img_kv > limit)
                img_kv = limit;   /* imported, then cut back to leave a token to feed */
        } else {
            AIOS_LOG(AIOS_LOG_WARN, "llm", "request %llu: cannot read its saved state: %s (recomputing)",
                     (unsigned long long)r->it.id, aios_strerror(rc));
        }
    }
    /* cached prefix blocks */
    if (e->prefix && limit >= e->bt) {
        blocks = malloc(sizeof(int32_t) * (size_t)(limit / e->bt + 1));
        if (!blocks) {
            rc = AIOS_ENOMEM;
            goto out;
        }
        matched = llm_prefix_match(e->prefix, r->tok, limit, blocks, limit / e->bt);
    }
    cached_kv = matched * e->bt;
    /* the cost model: copy the image's K/V back (from memory or disk), or
     * compute what the cache lacks */
    if (have_img && img_kv > cached_kv)
        cost_restore = (double)v.kv_len / e->copy_bps + (on_disk ? (double)img_len / e->disk_bps : 0.0);
    cost_recompute = (double)((have_img ? img_kv : r->n_kv) - cached_kv) / e->prefill_tps;
    if (cost_recompute < 0)
        cost_recompute = 0;
    if (have_img && img_kv > cached_kv &&
        (e->resume == RESUME_RESTORE || (e->resume == RESUME_AUTO && cost_restore < cost_recompute))) {
        /* restore: import the image's K/V */
        uint64_t t0;
        if (!make_room(e, blocks_for(e->bt, (int)json_integer_value(json_object_get(v.meta, "kv_tokens"))) + 1)) {
            rc = AIOS_ENOSPC;
            goto out;
        }
        t0 = now_ns();
        rc = llm_kv_seq_import(e->kv, v.kv, v.kv_len, &r->seq);
        if (rc < 0)
            goto out;
        t0 = now_ns() - t0;
        if (t0 > 0 && v.kv_len > (1u << 20))
            e->copy_bps = 0.7 * e->copy_bps + 0.3 * ((double)v.kv_len / ((double)t0 / 1e9));
        if (llm_kv_seq_len(e->kv, r->seq) > img_kv && (rc = llm_kv_seq_truncate(e->kv, r->seq, img_kv)) < 0)
            goto out;
        r->n_kv = img_kv;
        if (!r->started)
            r->cached_tokens = img_kv;   /* a context's state counts as cached prompt */
        r->restores++;
        e->restores++;
        if (on_disk) {
            r->disk_restores++;
            e->disk_restores++;
        }
    } else {
        if (matched > 0) {
            if (!make_room(e, 1)) {
                rc = AIOS_ENOSPC;
                goto out;
            }
            rc = llm_kv_seq_new_from_blocks(e->kv, blocks, matched, &r->seq);
        } else {
            rc = llm_kv_seq_new(e->kv, &r->seq);
        }
        if (rc < 0)
            goto out;
        if (r->started && (have_img ? img_kv : r->n_kv) > cached_kv) {
            r->recomputes++;
            e->recomputes++;
        }
        r->n_kv = cached_kv;
        if (!r->started) {
            r->cached_tokens = cached_kv;
            e->prefix_hit_tokens += (uint64_t)cached_kv;
        }
    }
    /* the decode state of a preempted request comes back from its image */
    if (r->snap && have_img && v.gen_len > 0 && (rc = llm_gen_restore(r->gen, v.gen, v.gen_len)) < 0) {
        AIOS_LOG(AIOS_LOG_ERROR, "llm", "request %llu: bad decode state in its snapshot: %s",
                 (unsigned long long)r->it.id, aios_strerror(rc));
        llm_kv_seq_free(e->kv, r->seq);
        r->seq = -1;
        goto out;
    }
    if (r->snap) {
        llm_snap_drop(e->snaps, r->snap);
        r->snap = NULL;
    }
    if (!r->started) {
        r->started = true;
        r->t_admit = now;
        r->step_admit = e->step_no;
    }
    llm_sched_started(e->sched, &r->it, now);
    rc = 0;
out:
    json_decref(v.meta);
    free(blocks);
    if (rc < 0 && r->seq >= 0) {
        llm_kv_seq_free(e->kv, r->seq);
        r->seq = -1;
    }
    return rc;
}

/* The last conversation state of a client (for ctx.snapshot). */
static void remember_last(llm_engine *e, eng_req *r, const int32_t *pending, int n_pending)
{
    eng_client *c = client_of(e, r->it.cl);
    int32_t *v;

    if (!c)
        return;
    v = malloc(sizeof(int32_t) * (size_t)(r->n_kv + n_pending + 1));
    if (!v)
        return;
    memcpy(v, r->tok, sizeof(int32_t) * (size_t)r->n_kv);
    memcpy(v + r->n_kv, pending, sizeof(int32_t) * (size_t)n_pending);
    free(c->last_tok);
    c->last_tok = v;
    c->n_last = r->n_kv + n_pending;
}

/* The tokens that close the turn after the last step: the last sampled token
 * (not yet fed) and, for chats, the end of the assistant turn. */
static int closing_tokens(llm_engine *e, eng_req *r, int32_t last, int32_t **out, int *n)
{
    int32_t *v = NULL, *sfx = NULL;
    int k = 0, ns = 0, rc;
    int32_t te = llm_text_turn_end(e->text);
    const char *suffix = llm_text_turn_suffix(e->text);

    *out = NULL;
    *n = 0;
    if (r->kind == LLM_REQ_CHAT && suffix[0] &&
        (rc = llm_text_tokenize(e->text, suffix, strlen(suffix), true, &sfx, &ns)) < 0)
        return rc;
    v = malloc(sizeof(int32_t) * (size_t)(ns + 3));
    if (!v) {
        free(sfx);
        return AIOS_ENOMEM;
    }
    if (last >= 0)
        v[k++] = last;
    if (r->kind == LLM_REQ_CHAT) {
        if (te >= 0 && last != te)
            v[k++] = te;
        for (int i = 0; i < ns; i++)
            v[k++] = sfx[i];
    }
    free(sfx);
    *out = v;
    *n = k;
    return 0;
}

/* Save the request's final state under its context name. */
static int save_context(llm_engine *e, eng_req *r, const int32_t *pending, int n_pending)
{
    int32_t *all;
    json_t *meta;
    void *buf;
    size_t len;
    int rc;

    if (r->seq < 0)
        return AIOS_EINTERNAL;
    all = malloc(sizeof(int32_t) * (size_t)(r->n_kv + n_pending + 1));
    if (!all)
        return AIOS_ENOMEM;
    memcpy(all, r->tok, sizeof(int32_t) * (size_t)r->n_kv);
    memcpy(all + r->n_kv, pending, sizeof(int32_t) * (size_t)n_pending);
    meta = json_pack("{s:i,s:s,s:s}", "kv_tokens", r->n_kv, "kind", r->kind == LLM_REQ_CHAT ? "chat" : "complete",
                     "owner", r->principal);
    rc = image_of_seq(e, r->seq, all, r->n_kv + n_pending, meta, NULL, &buf, &len);
    json_decref(meta);
    if (rc == 0)
        rc = llm_ctxstore_put(e->ctxs, r->principal, r->ctx_name, buf, len, (uint32_t)(r->n_kv + n_pending));
    free(all);
    return rc;
}

/* End a request: answer, account, release everything. */
static void finish(llm_engine *e, eng_req *r, int rc, int32_t last_token, const llm_err *why)
{
    uint64_t now = now_ns();
    json_t *res = NULL;
    llm_err err = {{0}, {0}};

    if (rc == 0) {
        size_t tl;
        const char *text = llm_gen_text(r->gen, &tl);
        llm_finish f = llm_gen_finish_reason(r->gen);
        int n_out = llm_gen_n_tokens(r->gen);
        double decode_ms = r->t_first ? ms_between(r->t_first, now) : 0;
        json_t *ctxinfo = NULL;

        if (r->has_ctx || r->it.cl) {
            int32_t *pend = NULL;
            int np = 0;
            if (closing_tokens(e, r, last_token, &pend, &np) == 0) {
                if (r->it.cl)
                    remember_last(e, r, pend, np);
                if (r->has_ctx) {
                    int src = save_context(e, r, pend, np);
                    if (src < 0)
                        AIOS_LOG(AIOS_LOG_WARN, "llm", "cannot save context '%s': %s", r->ctx_name,
                                 aios_strerror(src));
                    else
                        ctxinfo = json_pack("{s:s,s:i}", "name", r->ctx_name, "tokens", r->n_kv + np);
                }
            }
            free(pend);
        }
        res = json_pack("{s:s%,s:s,s:{s:i,s:i,s:i,s:i},s:{s:f,s:f,s:f,s:f},s:{s:I,s:I,s:I},s:i,s:I,s:s}",
                        "text", text, tl, "finish_reason", llm_finish_name(f) ? llm_finish_name(f) : "stop",
                        "usage", "prompt_tokens", r->n_prompt, "completion_tokens", n_out, "total_tokens",
                        r->n_prompt + n_out, "cached_tokens", r->cached_tokens, "timings", "queue_ms",
                        ms_between(r->t_submit, r->t_admit ? r->t_admit : now), "ttft_ms",
                        ms_between(r->t_submit, r->t_first ? r->t_first : now), "total_ms",
                        ms_between(r->t_submit, now), "decode_tokens_per_s",
                        decode_ms > 0 && n_out > 1 ? (n_out - 1) / (decode_ms / 1000.0) : 0.0, "steps", "queued",
                        (json_int_t)(r->step_admit - r->step_submit), "to_first_token",
                        (json_int_t)(r->step_first ? r->step_first - r->step_submit : 0), "total",
                        (json_int_t)(e->step_no - r->step_submit), "preemptions", r->preemptions, "request_id",
                        (json_int_t)r->it.id, "model", e->model_name);
        if (res) {
            json_object_set_new(json_object_get(res, "timings"), "restores", json_integer(r->restores));
            json_object_set_new(json_object_get(res, "timings"), "recomputes", json_integer(r->recomputes));
            if (ctxinfo)
                json_object_set_new(res, "context", ctxinfo);
            if (r->kind == LLM_REQ_CHAT) {
                json_t *msg = json_pack("{s:s,s:s%}", "role", "assistant", "content", text, tl);
                const json_t *calls = llm_gen_tool_calls(r->gen);
                if (calls && msg) {
                    json_object_set(msg, "tool_calls", (json_t *)calls);
                    json_object_set(res, "tool_calls", (json_t *)calls);
                }
                json_object_set_new(res, "message", msg);
            }
        } else {
            json_decref(ctxinfo);
        }
        e->n_finished++;
        e->tokens_out += (uint64_t)n_out;
        if (e->o.account)
            e->o.account(r->proc_id, (uint64_t)r->n_prompt, (uint64_t)n_out);
    } else {
        if (why)
            err = *why;
        if (rc == AIOS_ECANCELED)
            e->n_cancelled++;
        else
            e->n_failed++;
        if (e->o.account && r->started)
            e->o.account(r->proc_id, (uint64_t)r->prompt_done, (uint64_t)llm_gen_n_tokens(r->gen));
    }
    release_state(e, r);
    if (r->it.cl)
        llm_sched_leave(e->sched, &r->it, now);
    live_remove(e, r);
    handle_remove(e, r->h);
    r->h = NULL;
    if (!res && rc == 0) {
        rc = AIOS_ENOMEM;
        set_err(&err, "", "out of memory building the result%s", NULL);
    }
    r->cb.done(r->cb.ud, rc, res, &err);
    req_free(r);
}

/* A new request enters the engine: resolve its context and tokens. */
static void arrive(llm_engine *e, eng_req *r)
{
    uint64_t now = now_ns();
    llm_err err = {{0}, {0}};
    int rc = 0;

    live_add(e, r);
    e->n_requests++;
    r->step_submit = e->step_no;
    r->it.cl = llm_sched_client(e->sched, r->principal, r->uid);
    if (!r->it.cl) {
        set_err(&err, "", "out of memory%s", NULL);
        finish(e, r, AIOS_ENOMEM, -1, &err);
        return;
    }
    r->it.prio = e->o.priority_of ? e->o.priority_of(r->proc_id) : 0;
    llm_sched_arrive(e->sched, &r->it, now);
    if (r->has_ctx && llm_ctxstore_exists(e->ctxs, r->principal, r->ctx_name)) {
        const void *img;
        size_t len;
        llm_image_view v;

        rc = llm_ctxstore_get(e->ctxs, r->principal, r->ctx_name, &img, &len);
        if (rc == 0)
            rc = llm_image_unpack(img, len, &v);
        if (rc < 0) {
            set_err(&err, "context",
                    rc == AIOS_ECONFLICT ? "context '%s' was made with another model" : "context '%s' cannot be read",
                    r->ctx_name);
            finish(e, r, rc, -1, &err);
            return;
        }
        r->ctx_exists = true;
        rc = tok_append(r, v.tokens, (int)v.n_tokens);
        json_decref(v.meta);
        if (rc == 0)
            rc = r->kind == LLM_REQ_CHAT ? tok_append(r, r->p_cont, r->n_cont) : tok_append(r, r->p_fresh, r->n_fresh);
    } else {
        rc = tok_append(r, r->p_fresh, r->n_fresh);
    }
    if (rc < 0) {
        set_err(&err, "", "out of memory%s", NULL);
        finish(e, r, rc, -1, &err);
        return;
    }
    r->n_prompt = r->n_tok;
    if (r->n_tok == 0) {
        set_err(&err, "prompt", "nothing to continue from: the prompt is empty and context '%s' is new",
                r->ctx_name);
        finish(e, r, AIOS_EINVAL, -1, &err);
        return;
    }
    if (r->n_tok >= e->info->n_ctx_train) {
        set_err(&err, "context", "the conversation is longer than the model's context (%s)", r->ctx_name);
        finish(e, r, AIOS_ELIMIT, -1, &err);
        return;
    }
}

/* ---- the step ------------------------------------------------------------------------------------------ */

static int held_blocks(llm_engine *e, eng_req *r)
{
    const int32_t *b;
    int n = 0;

    if (r->seq >= 0 && llm_kv_seq_blocks(e->kv, r->seq, &b, &n) < 0)
        n = 0;
    return n;
}

/* A waiting request whose prompt shares more full blocks with a request
 * that is still prefilling them than the cache holds: it waits, so the
 * blocks are computed once and shared. */
static bool waits_for_prefix(llm_engine *e, eng_req *r)
{
    int cached;

    if (!e->prefix || r->started || r->n_tok < 2 * e->bt)
        return false;
    cached = llm_prefix_peek(e->prefix, r->tok, r->n_tok - 1);
    for (eng_req *o = e->live; o; o = o->next) {
        int common = 0, lim;
        if (o == r || !o->it.running || o->n_kv >= o->n_prompt)
            continue;
        lim = r->n_tok - 1 < o->n_prompt ? r->n_tok - 1 : o->n_prompt;
        while (common < lim && r->tok[common] == o->tok[common])
            common++;
        if (common / e->bt > cached && o->n_kv < (common / e->bt) * e->bt)
            return true;
    }
    return false;
}

static int ensure_logits(llm_engine *e, int rows)
{
    if (rows <= e->cap_logits_rows)
        return 0;
    float *l = realloc(e->logits, sizeof(float) * (size_t)rows * (size_t)e->n_vocab);
    if (!l)
        return AIOS_ENOMEM;
    e->logits = l;
    e->cap_logits_rows = rows;
    return 0;
}

/* Plan the step and apply it: preemptions, then admissions. */
static void plan(llm_engine *e)
{
    llm_kv_stats ks;
    const llm_sched_conf *sc = llm_sched_get_conf(e->sched);
    int n = 0, avail;
    uint64_t now = now_ns();

    e->n_items = 0;
    if (e->n_live > e->cap_items) {
        int cap = e->n_live * 2;
        llm_sitem **v = realloc(e->items, sizeof(*v) * (size_t)cap);
        if (!v)
            return;
        e->items = v;
        e->cap_items = cap;
    }
    llm_kv_get_stats(e->kv, &ks);
    /* a request that could never fit in the whole cache fails now */
    for (eng_req *r = e->live, *next; r; r = next) {
        next = r->next;
        if (!r->it.running && blocks_for(e->bt, r->n_tok + 1) > ks.blocks_total) {
            llm_err err;
            set_err(&err, "", "the request needs more KV cache than the daemon has (llm.kv_mib)%s", NULL);
            finish(e, r, AIOS_ENOSPC, -1, &err);
        }
    }
    if (e->n_live == 0)
        return;
    avail = ks.blocks_free + (e->prefix ? llm_prefix_evictable(e->prefix) : 0);
    for (eng_req *r = e->live; r; r = r->next) {
        int pending = r->n_tok - r->n_kv;
        r->it.blocks_have = held_blocks(e, r);
        if (r->it.running) {
            int chunk = pending < sc->max_batch_tokens ? pending : sc->max_batch_tokens;
            int more = r->seq >= 0 ? llm_kv_blocks_needed(e->kv, r->seq, chunk) : blocks_for(e->bt, chunk);
            r->it.blocks_need = r->it.blocks_have + (more > 0 ? more : 0);
            avail += r->it.blocks_have;
            r->it.blocked = false;
        } else {
            int cached = e->prefix ? llm_prefix_peek(e->prefix, r->tok, r->n_tok - 1) : 0;
            r->it.blocks_need = blocks_for(e->bt, r->n_tok + 1) - cached;
            r->it.blocked = waits_for_prefix(e, r);
        }
        if (e->o.priority_of)
            r->it.prio = e->o.priority_of(r->proc_id);
        e->items[n++] = &r->it;
    }
    e->n_items = n;
    llm_sched_plan(e->sched, e->items, n, avail, now);
    /* the test knob: preempt every N tokens regardless of the policy */
    for (int i = 0; i < n; i++) {
        eng_req *r = req_of(e->items[i]);
        if (r->force_preempt && r->it.running) {
            r->it.selected = false;
            r->force_preempt = false;
        }
    }
    for (int i = 0; i < n; i++) {
        eng_req *r = req_of(e->items[i]);
        if (r->it.running && !r->it.selected)
            preempt(e, r, r->it.no_room);
    }
    for (int i = 0; i < n; i++) {
        eng_req *r = req_of(e->items[i]);
        if (!r->it.running && r->it.selected) {
            int rc;
            /* one admitted earlier in this step may be about to compute the
             * same prefix: wait for it and share its blocks */
            if (waits_for_prefix(e, r)) {
                r->it.selected = false;
                continue;
            }
            rc = admit(e, r);
            if (rc < 0) {
                r->it.selected = false;
                e->admissions_failed++;
                if (rc == AIOS_ENOSPC && r->it.blocks_need > ks.blocks_total) {
                    llm_err err;
                    set_err(&err, "", "the request needs more KV cache than the daemon has (llm.kv_mib)%s", NULL);
                    e->items[i] = NULL;
                    finish(e, r, AIOS_ENOSPC, -1, &err);
                } else if (rc != AIOS_ENOSPC) {
                    llm_err err;
                    set_err(&err, "", "cannot start the request: %s", aios_strerror(rc));
                    e->items[i] = NULL;
                    finish(e, r, rc, -1, &err);
                }
            }
        }
    }
}

/* Stream a step's text (and logprobs) to the client. */
static void stream_step(llm_engine *e, eng_req *r, const llm_gen_step *st)
{
    json_t *chunk;

    if (!r->stream || !r->cb.stream || (st->text_len == 0 && !r->want_logprobs))
        return;
    chunk = json_pack("{s:s%,s:i}", "text", st->text ? st->text : "", st->text_len, "token", st->token);
    if (!chunk)
        return;
    if (r->want_logprobs && st->token >= 0) {
        json_t *top = json_array();
        json_object_set_new(chunk, "logprob", json_real(st->info.logprob));
        for (int i = 0; i < st->info.n_top; i++)
            json_array_append_new(top, json_pack("{s:i,s:f}", "token", st->info.top[i].token, "logprob",
                                                 st->info.top[i].logprob));
        json_object_set_new(chunk, "top_logprobs", top);
    }
    if (r->cb.stream(r->cb.ud, chunk) < 0)
        atomic_store(&r->h->cancel, true);
    (void)e;
}

/* One step; false when nothing could run (all waiting for memory). */
static bool step(llm_engine *e)
{
    const llm_sched_conf *sc;
    int nb = 0, budget, n_want = 0, rc;
    uint64_t t0, t1;
    llm_batch b;

    plan(e);
    sc = llm_sched_get_conf(e->sched);
    budget = sc->max_batch_tokens;
    /* the batch: decode tokens first, then prefill chunks in plan order */
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < e->n_items; i++) {
            eng_req *r = e->items[i] ? req_of(e->items[i]) : NULL;
            int pending, chunk;
            if (!r || !r->it.running || r->seq < 0)
                continue;
            pending = r->n_tok - r->n_kv;
            if (pending <= 0 || (pass == 0) != (pending == 1))
                continue;
            chunk = pending < budget - nb ? pending : budget - nb;
            if (chunk <= 0)
                continue;
            for (int k = 0; k < chunk; k++) {
                e->b_tok[nb] = r->tok[r->n_kv + k];
                e->b_seq[nb] = r->seq;
                e->b_pos[nb] = r->n_kv + k;
                e->b_want[nb] = k == chunk - 1 && chunk == pending;
                e->b_req[nb] = r;
                n_want += e->b_want[nb];
                nb++;
            }
        }
    if (nb == 0)
        return false;
    /* blocks for the batch: evict cached blocks, then preempt the worst runners */
    for (;;) {
        llm_kv_stats ks;
        int need = 0;
        eng_req *victim = NULL;

        for (int i = 0; i < nb;) {
            int j = i;
            while (j < nb && e->b_req[j] == e->b_req[i])
                j++;
            need += llm_kv_blocks_needed(e->kv, e->b_seq[i], j - i);
            i = j;
        }
        if (make_room(e, need))
            break;
        llm_kv_get_stats(e->kv, &ks);
        /* the last request in the batch in plan order is the least entitled */
        for (int i = e->n_items - 1; i >= 0 && !victim; i--) {
            eng_req *r = e->items[i] ? req_of(e->items[i]) : NULL;
            if (!r)
                continue;
            for (int k = 0; k < nb && !victim; k++)
                if (e->b_req[k] == r)
                    victim = r;
        }
        if (!victim)
            return false;
        /* drop its rows and preempt it */
        {
            int w = 0;
            n_want = 0;
            for (int k = 0; k < nb; k++) {
                if (e->b_req[k] == victim)
                    continue;
                e->b_tok[w] = e->b_tok[k];
                e->b_seq[w] = e->b_seq[k];
                e->b_pos[w] = e->b_pos[k];
                e->b_want[w] = e->b_want[k];
                e->b_req[w] = e->b_req[k];
                n_want += e->b_want[w];
                w++;
            }
            nb = w;
        }
        preempt(e, victim, true);
        if (nb == 0)
            return false;
    }
    if (ensure_logits(e, n_want) < 0)
        return false;
    b.n = nb;
    b.tokens = e->b_tok;
    b.seq = e->b_seq;
    b.pos = e->b_pos;
    b.want_logits = e->b_want;
    t0 = now_ns();
    rc = e->be->forward(e->ctx, &b, e->logits);
    t1 = now_ns();
    e->step_no++;
    e->busy_s += (double)(t1 - t0) / 1e9;
    ring_add(&e->step_ms, (double)(t1 - t0) / 1e6);
    if (rc < 0) {
        /* should not happen (blocks were checked): fail the batch's requests */
        llm_err err;
        AIOS_LOG(AIOS_LOG_ERROR, "llm", "forward failed: %s", aios_strerror(rc));
        set_err(&err, "", "the model failed on this request: %s", aios_strerror(rc));
        for (int k = 0; k < nb; k++) {
            eng_req *r = e->b_req[k];
            if (!r)
                continue;
            for (int j = k + 1; j < nb; j++)
                if (e->b_req[j] == r)
                    e->b_req[j] = NULL;
            finish(e, r, rc, -1, &err);
        }
        return true;
    }
    if (nb >= 16)
        e->prefill_tps = 0.8 * e->prefill_tps + 0.2 * ((double)nb / ((double)(t1 - t0) / 1e9));
    /* results: per request in batch order */
    {
        int li = 0;
        for (int k = 0; k < nb;) {
            eng_req *r = e->b_req[k];
            int j = k, n_in = 0;
            bool want = false;
            while (j < nb && e->b_req[j] == r) {
                if (e->b_pos[j] < r->n_prompt && e->b_pos[j] >= r->prompt_done)
                    n_in++;
                want |= e->b_want[j] != 0;
                j++;
            }
            r->n_kv += j - k;
            if ((r->n_kv < r->n_prompt ? r->n_kv : r->n_prompt) > r->prompt_done)
                r->prompt_done = r->n_kv < r->n_prompt ? r->n_kv : r->n_prompt;
            e->tokens_in += (uint64_t)n_in;
            k = j;
            if (!want) {
                llm_sched_charge(e->sched, &r->it, n_in, 0, t1);
                continue;
            }
            {
                float *lg = e->logits + (size_t)li * (size_t)e->n_vocab;
                llm_gen_step st;
                eng_client *c = client_of(e, r->it.cl);

                li++;
                if (r->ignore_eos) {
                    int ne;
                    const int32_t *eog = llm_text_eog(e->text, &ne);
                    for (int v = 0; v < ne; v++)
                        lg[eog[v]] = -INFINITY;
                }
                rc = llm_gen_next(r->gen, lg, &st);
                llm_sched_charge(e->sched, &r->it, n_in, 1, t1);
                if (rc < 0) {
                    llm_err err;
                    set_err(&err, "", "decoding failed: %s", aios_strerror(rc));
                    finish(e, r, rc, -1, &err);
                    continue;
                }
                if (!r->t_first) {
                    r->t_first = t1;
                    r->step_first = e->step_no;
                    ring_add(&e->ttft, ms_between(r->t_submit, t1));
                    if (c)
                        ring_add(&c->ttft, ms_between(r->t_submit, t1));
                } else {
                    ring_add(&e->tbt, ms_between(r->t_last, t1));
                    if (c)
                        ring_add(&c->tbt, ms_between(r->t_last, t1));
                }
                r->t_last = t1;
                stream_step(e, r, &st);
                if (st.finish != LLM_FINISH_NONE) {
                    finish(e, r, 0, st.token, NULL);
                    continue;
                }
                r->n_out++;
                if (tok_push(r, st.token) < 0) {
                    llm_err err;
                    set_err(&err, "", "out of memory%s", NULL);
                    finish(e, r, AIOS_ENOMEM, -1, &err);
                    continue;
                }
                if (r->n_tok >= e->info->n_ctx_train) {
                    llm_gen_finish(r->gen, LLM_FINISH_LENGTH, &st);
                    stream_step(e, r, &st);
                    finish(e, r, 0, r->tok[--r->n_tok], NULL);
                    continue;
                }
                {
                    int pe = r->preempt_every > 0 ? r->preempt_every : e->preempt_every;
                    if (pe > 0 && ++r->since_preempt >= pe)
                        r->force_preempt = true;
                }
            }
        }
    }
    return true;
}

/* ---- commands ----------------------------------------------------------------------------------------- */

static json_t *sched_stats(llm_engine *e)
{
    llm_kv_stats ks;
    llm_snapstore_stats ss;
    llm_prefix_stats ps = {0};
    uint64_t cm, cd, cc;
    json_t *agents = json_array(), *running = json_array(), *o;
    int n_wait = 0, n_run = 0, n_pre = 0;

    llm_kv_get_stats(e->kv, &ks);
    llm_snapstore_get_stats(e->snaps, &ss);
    if (e->prefix)
        llm_prefix_get_stats(e->prefix, &ps);
    llm_ctxstore_usage(e->ctxs, &cm, &cd, &cc);
    for (eng_req *r = e->live; r; r = r->next) {
        if (r->it.running) {
            n_run++;
            json_array_append_new(running, json_pack("{s:I,s:s,s:i,s:i,s:i}", "id", (json_int_t)r->it.id, "agent",
                                                     r->principal, "tokens", r->n_tok, "generated", r->n_out,
                                                     "preemptions", r->preemptions));
        } else if (r->snap || r->started) {
            n_pre++;
        } else {
            n_wait++;
        }
    }
    for (llm_sclient *cl = llm_sched_clients(e->sched); cl; cl = cl->next) {
        eng_client *c = client_of(e, cl);
        json_array_append_new(agents,
                              json_pack("{s:s,s:i,s:f,s:f,s:I,s:I,s:I,s:I,s:i,s:i,s:o,s:o}", "agent", cl->principal,
                                        "uid", (int)cl->uid, "vtc", cl->vtc, "uid_vtc", cl->owner->vtc, "tokens_in",
                                        (json_int_t)cl->tokens_in, "tokens_out", (json_int_t)cl->tokens_out,
                                        "requests", (json_int_t)cl->requests, "preemptions",
                                        (json_int_t)cl->preemptions, "live", cl->n_live, "running", cl->n_running,
                                        "ttft", c ? ring_json(&c->ttft) : json_object(), "tbt",
                                        c ? ring_json(&c->tbt) : json_object()));
    }
    o = json_pack("{s:o,s:{s:i,s:i,s:i},s:o,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "config",
                  llm_sched_conf_json(llm_sched_get_conf(e->sched)), "queues", "waiting", n_wait, "running", n_run,
                  "preempted", n_pre, "running_set", running, "steps", (json_int_t)e->step_no, "requests",
                  (json_int_t)e->n_requests, "finished", (json_int_t)e->n_finished, "cancelled",
                  (json_int_t)e->n_cancelled, "failed", (json_int_t)e->n_failed, "preemptions",
                  (json_int_t)e->preemptions, "restores", (json_int_t)e->restores, "recomputes",
                  (json_int_t)e->recomputes);
    if (!o)
        return json_object();
    json_object_set_new(o, "preempt_every", json_integer(e->preempt_every));
    json_object_set_new(o, "resume", json_string(resume_names[e->resume]));
    json_object_set_new(o, "memory_preemptions", json_integer((json_int_t)e->mem_preemptions));
    json_object_set_new(o, "disk_restores", json_integer((json_int_t)e->disk_restores));
    json_object_set_new(o, "agents", agents);
    json_object_set_new(o, "ttft", ring_json(&e->ttft));
    json_object_set_new(o, "tbt", ring_json(&e->tbt));
    json_object_set_new(o, "step", ring_json(&e->step_ms));
    json_object_set_new(o, "tokens", json_pack("{s:I,s:I,s:I}", "in", (json_int_t)e->tokens_in, "out",
                                               (json_int_t)e->tokens_out, "prefix_hits",
                                               (json_int_t)e->prefix_hit_tokens));
    json_object_set_new(o, "kv", json_pack("{s:i,s:i,s:i,s:i,s:I,s:i}", "blocks_total", ks.blocks_total,
                                           "blocks_used", ks.blocks_used, "blocks_free", ks.blocks_free,
                                           "block_tokens", ks.block_tokens, "block_bytes",
                                           (json_int_t)ks.block_bytes, "sequences", ks.n_seqs));
    json_object_set_new(o, "prefix_cache", json_pack("{s:b,s:I,s:I,s:I,s:I,s:I}", "enabled", e->prefix != NULL,
                                                     "blocks", (json_int_t)ps.entries, "cached_only",
                                                     (json_int_t)ps.cached_only, "lookups", (json_int_t)ps.lookups,
                                                     "hit_blocks", (json_int_t)ps.hit_blocks, "evictions",
                                                     (json_int_t)ps.evictions));
    json_object_set_new(o, "snapshots",
                        json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:f,s:f}", "host", (json_int_t)ss.n_host, "disk",
                                  (json_int_t)ss.n_disk, "host_bytes", (json_int_t)ss.host_bytes, "disk_bytes",
                                  (json_int_t)ss.disk_bytes, "spills", (json_int_t)ss.spills, "loads",
                                  (json_int_t)ss.loads, "lost", (json_int_t)ss.lost, "puts", (json_int_t)ss.puts,
                                  "spill_mb_s", ss.spill_mb_s, "load_mb_s", ss.load_mb_s));
    json_object_set_new(o, "contexts", json_pack("{s:I,s:I,s:I}", "count", (json_int_t)cc, "memory_bytes",
                                                 (json_int_t)cm, "disk_bytes", (json_int_t)cd));
    json_object_set_new(o, "cost_model", json_pack("{s:f,s:f,s:f}", "copy_mb_s", e->copy_bps / 1e6, "disk_mb_s",
                                                   e->disk_bps / 1e6, "prefill_tokens_s", e->prefill_tps));
    json_object_set_new(o, "busy_s", json_real(e->busy_s));
    return o;
}

static void publish(llm_engine *e, bool force)
{
    uint64_t now = now_ns();
    json_t *s, *old;
    llm_kv_stats ks;

    if (!force && now - e->t_last_publish < STATS_PUBLISH_NS)
        return;
    e->t_last_publish = now;
    llm_kv_get_stats(e->kv, &ks);
    s = json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:i,s:i,s:i,s:I}", "model", e->model_name, "policy",
                  llm_policy_name(llm_sched_get_conf(e->sched)->policy), "requests", (json_int_t)e->n_requests,
                  "finished", (json_int_t)e->n_finished, "cancelled", (json_int_t)e->n_cancelled, "tokens_in",
                  (json_int_t)e->tokens_in, "tokens_out", (json_int_t)e->tokens_out, "steps",
                  (json_int_t)e->step_no, "live", e->n_live, "kv_blocks_used", ks.blocks_used, "kv_blocks_total",
                  ks.blocks_total, "preemptions", (json_int_t)e->preemptions);
    pthread_mutex_lock(&e->mu);
    old = e->pub_stats;
    e->pub_stats = s;
    pthread_mutex_unlock(&e->mu);
    json_decref(old);
}

/* ctx.* ---------------------------------------------------------------------------------------------- */

/* An image of a token list whose K/V comes from the prefix cache when the
 * cache still holds its blocks (the rest is left to recompute). */
static int image_from_tokens(llm_engine *e, const int32_t *tok, int n, const char *owner, void **buf,
                             size_t *len)
{
    int matched = 0, rc;
    int32_t seq = -1, *blocks = NULL;
    json_t *meta;

    if (e->prefix && n >= e->bt) {
        blocks = malloc(sizeof(int32_t) * (size_t)(n / e->bt + 1));
        if (!blocks)
            return AIOS_ENOMEM;
        matched = llm_prefix_match(e->prefix, tok, n, blocks, n / e->bt);
        if (matched > 0 && llm_kv_seq_new_from_blocks(e->kv, blocks, matched, &seq) < 0) {
            matched = 0;
            seq = -1;
        }
    }
    meta = json_pack("{s:i,s:s,s:s}", "kv_tokens", matched * e->bt, "kind", "complete", "owner", owner);
    rc = image_of_seq(e, seq, tok, n, meta, NULL, buf, len);
    json_decref(meta);
    if (seq >= 0)
        llm_kv_seq_free(e->kv, seq);
    free(blocks);
    return rc;
}

static int ctx_err(llm_err *err, int rc, const char *field, const char *name)
{
    static const struct {
        int rc;
        const char *fmt;
    } msgs[] = {
        {AIOS_ENOENT, "you have no context '%s'"},
        {AIOS_ECONFLICT, "context '%s' was made with another model"},
        {AIOS_ECORRUPT, "context '%s' is damaged (checksum or format)"},
        {AIOS_EEXIST, "you already have a context '%s'"},
    };
    for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++)
        if (msgs[i].rc == rc) {
            set_err(err, field, msgs[i].fmt, name);
            return rc;
        }
    set_err(err, field, "context operation failed: %s", aios_strerror(rc));
    return rc;
}

/* Copy owner's context `from` to `to` (the image is duplicated). */
static int ctx_copy(llm_engine *e, const char *owner, const char *from, const char *to, uint32_t *n_tokens)
{
    const void *img;
    size_t len;
    void *dup;
    llm_image_view v;
    int rc;

    if ((rc = llm_ctxstore_get(e->ctxs, owner, from, &img, &len)) < 0)
        return rc;
    if ((rc = llm_image_unpack(img, len, &v)) < 0)
        return rc;
    *n_tokens = v.n_tokens;
    json_decref(v.meta);
    dup = malloc(len);
    if (!dup)
        return AIOS_ENOMEM;
    memcpy(dup, img, len);
    return llm_ctxstore_put(e->ctxs, owner, to, dup, len, *n_tokens);
}

static eng_req *find_req(llm_engine *e, uint64_t id)
{
    for (eng_req *r = e->live; r; r = r->next)
        if (r->it.id == id)
            return r;
    return NULL;
}

static int cmd_ctx(llm_engine *e, eng_cmd *c, json_t **res, llm_err *err)
{
    const char *name = json_string_value(json_object_get(c->params, "name"));
    const char *as = json_string_value(json_object_get(c->params, "as"));
    const char *from = json_string_value(json_object_get(c->params, "from"));
    const json_t *rid = json_object_get(c->params, "request_id");
    uint32_t n_tokens = 0;
    void *buf = NULL;
    size_t len = 0;
    int rc;

    if (c->cmd == LLM_CMD_CTX_LIST) {
        *res = json_pack("{s:o}", "contexts", llm_ctxstore_list(e->ctxs, c->principal));
        return 0;
    }
    if (!llm_ctx_name_ok(name)) {
        set_err(err, "name", "'name' must be 1 to 64 of A-Z a-z 0-9 . _ - (not starting with '.')%s", NULL);
        return AIOS_EINVAL;
    }
    if (as && !llm_ctx_name_ok(as)) {
        set_err(err, "as", "'as' must be 1 to 64 of A-Z a-z 0-9 . _ - (not starting with '.')%s", NULL);
        return AIOS_EINVAL;
    }
    switch (c->cmd) {
    case LLM_CMD_CTX_SNAPSHOT:
        if (from) {
            if (!llm_ctx_name_ok(from))
                return ctx_err(err, AIOS_ENOENT, "from", from);
            if ((rc = ctx_copy(e, c->principal, from, name, &n_tokens)) < 0)
                return ctx_err(err, rc, "from", from);
        } else if (rid) {
            eng_req *r = find_req(e, (uint64_t)json_integer_value(rid));
            json_t *meta;
            if (!r || strcmp(r->principal, c->principal) != 0) {
                set_err(err, "request_id", "you have no request in flight with this id%s", NULL);
                return AIOS_ENOENT;
            }
            if (r->seq < 0) {
                set_err(err, "request_id", "the request is not resident now; try again%s", NULL);
                return AIOS_EAGAIN;
            }
            meta = json_pack("{s:i,s:s,s:s}", "kv_tokens", r->n_kv, "kind",
                             r->kind == LLM_REQ_CHAT ? "chat" : "complete", "owner", r->principal);
            rc = image_of_seq(e, r->seq, r->tok, r->n_tok, meta, NULL, &buf, &len);
            json_decref(meta);
            n_tokens = (uint32_t)r->n_tok;
            if (rc < 0 || (rc = llm_ctxstore_put(e->ctxs, c->principal, name, buf, len, n_tokens)) < 0)
                return ctx_err(err, rc, "name", name);
        } else {
            eng_client *cl = NULL;
            for (eng_client *x = e->clients; x; x = x->next)
                if (strcmp(x->cl->principal, c->principal) == 0)
                    cl = x;
            if (!cl || !cl->last_tok) {
                set_err(err, "name", "nothing to snapshot: you have made no llm call yet%s", NULL);
                return AIOS_ENOENT;
            }
            n_tokens = (uint32_t)cl->n_last;
            if ((rc = image_from_tokens(e, cl->last_tok, cl->n_last, c->principal, &buf, &len)) < 0 ||
                (rc = llm_ctxstore_put(e->ctxs, c->principal, name, buf, len, n_tokens)) < 0)
                return ctx_err(err, rc, "name", name);
        }
        *res = json_pack("{s:s,s:i}", "name", name, "tokens", (int)n_tokens);
        return 0;
    case LLM_CMD_CTX_RESTORE: {
        const void *img;
        llm_image_view v;
        int32_t seq = -1;
        int warmed = 0;
        char *text = NULL;
        const char *target = as ? as : name;

        if ((rc = llm_ctxstore_get(e->ctxs, c->principal, name, &img, &len)) < 0)
            return ctx_err(err, rc, "name", name);
        if ((rc = llm_image_unpack(img, len, &v)) < 0)
            return ctx_err(err, AIOS_ECORRUPT, "name", name);
        n_tokens = v.n_tokens;
        /* swap the state in: its full blocks enter the prefix cache */
        if (v.kv_len > 0 && e->prefix) {
            int kvt = (int)json_integer_value(json_object_get(v.meta, "kv_tokens"));
            if (make_room(e, blocks_for(e->bt, kvt) + 1) && llm_kv_seq_import(e->kv, v.kv, v.kv_len, &seq) == 0) {
                warmed = kvt / e->bt;
                llm_kv_seq_free(e->kv, seq);
            }
        }
        llm_text_detokenize(e->text, v.tokens, (int)v.n_tokens, true, &text, NULL);
        {
            /* it becomes the caller's last conversation state */
            llm_sclient *scl = llm_sched_client(e->sched, c->principal, c->uid);
            eng_client *cl = scl ? client_of(e, scl) : NULL;
            if (cl) {
                int32_t *t = malloc(sizeof(int32_t) * (v.n_tokens + 1));
                if (t) {
                    memcpy(t, v.tokens, sizeof(int32_t) * v.n_tokens);
                    free(cl->last_tok);
                    cl->last_tok = t;
                    cl->n_last = (int)v.n_tokens;
                }
            }
        }
        json_decref(v.meta);
        if (as && strcmp(as, name) != 0 && (rc = ctx_copy(e, c->principal, name, as, &n_tokens)) < 0) {
            free(text);
            return ctx_err(err, rc, "as", as);
        }
        *res = json_pack("{s:s,s:i,s:I,s:i,s:s}", "name", target, "tokens", (int)n_tokens, "bytes", (json_int_t)len,
                         "warm_blocks", warmed, "text", text ? text : "");
        free(text);
        return 0;
    }
    case LLM_CMD_CTX_FORK:
        if (!as) {
            set_err(err, "as", "'as' names the new context%s", NULL);
            return AIOS_EINVAL;
        }
        if (llm_ctxstore_exists(e->ctxs, c->principal, as))
            return ctx_err(err, AIOS_EEXIST, "as", as);
        if ((rc = ctx_copy(e, c->principal, name, as, &n_tokens)) < 0)
            return ctx_err(err, rc, "name", name);
        *res = json_pack("{s:s,s:s,s:i}", "name", name, "as", as, "tokens", (int)n_tokens);
        return 0;
    case LLM_CMD_CTX_DROP:
        if ((rc = llm_ctxstore_drop(e->ctxs, c->principal, name)) < 0)
            return ctx_err(err, rc, "name", name);
        *res = json_pack("{s:s,s:b}", "name", name, "dropped", 1);
        return 0;
    default:
        return AIOS_EINVAL;
    }
}

static void run_command(llm_engine *e, eng_cmd *c)
{
    json_t *res = NULL;
    llm_err err;
    int rc = 0;

    memset(&err, 0, sizeof(err));
    switch (c->cmd) {
    case LLM_CMD_SCHED_STATS:
        res = sched_stats(e);
        break;
    case LLM_CMD_SCHED_SET: {
        llm_sched_conf sconf = *llm_sched_get_conf(e->sched);
        int pe = e->preempt_every;
        resume_mode rm = e->resume;
        rc = llm_sched_conf_apply(&sconf, c->params, err.field, sizeof(err.field), err.msg, sizeof(err.msg));
        if (rc == 0)
            rc = apply_knobs(e, c->params, &err);
        if (rc < 0) {
            e->preempt_every = pe;
            e->resume = rm;
            break;
        }
        clamp_conf(e, &sconf);
        llm_sched_set_conf(e->sched, &sconf);
        if (json_is_true(json_object_get(c->params, "clear_prefix_cache")) && e->prefix)
            llm_prefix_clear(e->prefix);
        AIOS_LOG(AIOS_LOG_INFO, "llm", "scheduler: policy %s, quantum %d, max_running %d, max_batch_tokens %d",
                 llm_policy_name(sconf.policy), sconf.quantum, sconf.max_running, sconf.max_batch_tokens);
        res = llm_sched_conf_json(&sconf);
        json_object_set_new(res, "preempt_every", json_integer(e->preempt_every));
        json_object_set_new(res, "resume", json_string(resume_names[e->resume]));
        break;
    }
    case LLM_CMD_CTX_SNAPSHOT:
    case LLM_CMD_CTX_RESTORE:
    case LLM_CMD_CTX_FORK:
    case LLM_CMD_CTX_LIST:
    case LLM_CMD_CTX_DROP:
        rc = cmd_ctx(e, c, &res, &err);
        break;
    default:
        rc = AIOS_EINVAL;
        set_err(&err, "", "unknown engine command%s", NULL);
        break;
    }
    if (rc < 0) {
        json_decref(res);
        res = NULL;
    }
    c->cb.done(c->cb.ud, rc, res, &err);
}

/* ---- the thread -------------------------------------------------------------------------------------------- */

static void *engine_main(void *arg)
{
    llm_engine *e = arg;

    for (;;) {
        eng_req *in;
        eng_cmd *cmds;
        bool stop, any_cancel = false;

        pthread_mutex_lock(&e->mu);
        for (;;) {
            any_cancel = false;
            for (req_handle *h = e->handles; h && !any_cancel; h = h->next)
                any_cancel = atomic_load(&h->cancel);
            if (e->stop || e->in_head || e->cmd_head || any_cancel || e->n_live > 0)
                break;
            pthread_mutex_unlock(&e->mu);
            publish(e, true);
            pthread_mutex_lock(&e->mu);
            if (e->stop || e->in_head || e->cmd_head || e->n_live > 0)
                break;
            pthread_cond_wait(&e->cv, &e->mu);
        }
        in = e->in_head;
        e->in_head = e->in_tail = NULL;
        cmds = e->cmd_head;
        e->cmd_head = e->cmd_tail = NULL;
        stop = e->stop;
        pthread_mutex_unlock(&e->mu);

        while (in) {
            eng_req *r = in;
            in = r->in_next;
            r->in_next = NULL;
            arrive(e, r);
        }
        /* cancellations (from llm.cancel, $/cancel, a vanished client) */
        for (eng_req *r = e->live, *next; r; r = next) {
            next = r->next;
            if (stop || atomic_load(&r->h->cancel)) {
                llm_err err;
                llm_gen_step st;
                set_err(&err, "", stop ? "the daemon is shutting down%s" : "cancelled%s", NULL);
                llm_gen_finish(r->gen, LLM_FINISH_CANCELLED, &st);
                finish(e, r, AIOS_ECANCELED, -1, &err);
            }
        }
        while (cmds) {
            eng_cmd *c = cmds;
            cmds = c->next;
            if (stop) {
                llm_err err;
                set_err(&err, "", "the daemon is shutting down%s", NULL);
                c->cb.done(c->cb.ud, AIOS_EUNAVAIL, NULL, &err);
            } else {
                run_command(e, c);
            }
            json_decref(c->params);
            free(c);
        }
        if (stop)
            break;
        if (e->n_live > 0 && !step(e)) {
            /* everything waits for memory that running requests will free,
             * or for a shared prefix: do not spin */
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 2000000;
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            pthread_mutex_lock(&e->mu);
            if (!e->in_head && !e->cmd_head && !e->stop)
                pthread_cond_timedwait(&e->cv, &e->mu, &ts);
            pthread_mutex_unlock(&e->mu);
        }
        publish(e, false);
    }
    publish(e, true);
    return NULL;
}

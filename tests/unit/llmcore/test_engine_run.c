/*
 * test_engine_run.c - the engine with the real default model at the token
 * level: prefix hashes agree with the KV cache and shared blocks give the
 * same logits; batched generation equals one-at-a-time; preemption every
 * N tokens (restore and recompute) changes nothing; cancellation and many
 * mixed requests leave no block, snapshot or request behind.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aios/error.h"
#include "aios/llm.h"
#include "grammar_fixture.h"
#include "llmcore/engine.h"
#include "llmcore/prefix.h"
#include "llmcore/service_text.h"

/* ---- the model, loaded once per test process ---- */

static llm_model *g_model;
static llm_text *g_text;

static void load(void)
{
    g_model = gf_model();
    g_text = gf_text();
}

/* ---- prefix cache against the real KV cache ---- */

Test(engine_prefix, hashes_match_and_shared_blocks_give_the_same_logits, .timeout = 120)
{
    llm_kv *kv;
    llm_ctx *ctx;
    llm_prefix *p;
    int32_t s1, s2, s3, tok[41], seqv[41], pos[41], blocks[4];
    const int32_t *bl;
    int nb, n_vocab;
    float *l1, *l2;
    llm_batch b;

    load();
    n_vocab = llm_model_get_info(g_model)->n_vocab;
    cr_assert_eq(llm_kv_new(g_model, 32u << 20, 16, LLM_KV_F16, &kv), 0);
    cr_assert_eq(llm_ctx_new(g_model, kv, 2, 64, &ctx), 0);
    cr_assert_eq(llm_prefix_new(kv, &p), 0);
    l1 = malloc(sizeof(float) * (size_t)n_vocab);
    l2 = malloc(sizeof(float) * (size_t)n_vocab);
    for (int i = 0; i < 41; i++)
        tok[i] = 100 + i * 37 % 5000;
    /* 40 tokens: two full blocks and a partial one */
    cr_assert_eq(llm_kv_seq_new(kv, &s1), 0);
    for (int i = 0; i < 40; i++) {
        seqv[i] = s1;
        pos[i] = i;
    }
    b = (llm_batch){40, tok, seqv, pos, NULL};
    uint8_t want[40] = {0};
    b.want_logits = want;
    cr_assert_eq(llm_forward(ctx, &b, NULL), 0);
    cr_assert_eq(llm_kv_seq_blocks(kv, s1, &bl, &nb), 0);
    cr_assert_eq(nb, 3);
    uint64_t h = 0, kh;
    for (int k = 0; k < 2; k++) {
        h = llm_prefix_block_hash(tok + 16 * k, 16, h);
        cr_assert(llm_kv_block_hash(kv, bl[k], &kh));
        cr_assert_eq(h, kh, "block %d: our chained hash is the cache's", k);
        cr_assert_eq(llm_kv_block_refcount(kv, bl[k]), 2, "sequence + cache");
    }
    /* the next token of s1 and of a sequence built on the cached blocks */
    int32_t t40 = tok[40];
    int32_t p40 = 40;
    b = (llm_batch){1, &t40, &s1, &p40, NULL};
    cr_assert_eq(llm_forward(ctx, &b, l1), 0);
    cr_assert_eq(llm_prefix_match(p, tok, 40, blocks, 4), 2);
    cr_assert_eq(llm_kv_seq_new_from_blocks(kv, blocks, 2, &s2), 0);
    for (int i = 32; i < 40; i++) {
        int32_t pi = i;
        b = (llm_batch){1, &tok[i], &s2, &pi, NULL};
        uint8_t no = 0;
        b.want_logits = &no;
        cr_assert_eq(llm_forward(ctx, &b, NULL), 0);
    }
    b = (llm_batch){1, &t40, &s2, &p40, NULL};
    cr_assert_eq(llm_forward(ctx, &b, l2), 0);
    cr_assert(memcmp(l1, l2, sizeof(float) * (size_t)n_vocab) == 0, "shared prefix: bit-identical logits");
    /* a different first block matches nothing */
    int32_t other[40];
    memcpy(other, tok, sizeof(other));
    other[3] ^= 1;
    cr_assert_eq(llm_prefix_match(p, other, 40, blocks, 4), 0);
    /* eviction: only blocks nobody else holds go */
    cr_assert_eq(llm_prefix_evictable(p), 0);
    llm_kv_seq_free(kv, s1);
    llm_kv_seq_free(kv, s2);
    cr_assert_geq(llm_prefix_evictable(p), 2);
    cr_assert_eq(llm_kv_seq_new(kv, &s3), 0);
    llm_prefix_clear(p);
    llm_kv_seq_free(kv, s3);
    llm_kv_stats ks;
    llm_kv_get_stats(kv, &ks);
    cr_assert_eq(ks.blocks_used, 0, "every block back: %d used", ks.blocks_used);
    llm_prefix_free(p);
    llm_ctx_free(ctx);
    llm_kv_free(kv);
    free(l1);
    free(l2);
}

/* ---- the engine through its callbacks ---- */

typedef struct coll {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int32_t toks[256];
    int n;
    bool done;
    int rc;
    json_t *result;
} coll;

static void coll_init(coll *c)
{
    memset(c, 0, sizeof(*c));
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
}

static int coll_stream(void *ud, json_t *chunk)
{
    coll *c = ud;
    pthread_mutex_lock(&c->mu);
    if (c->n < 256)
        c->toks[c->n++] = (int32_t)json_integer_value(json_object_get(chunk, "token"));
    pthread_mutex_unlock(&c->mu);
    json_decref(chunk);
    return 0;
}

static void coll_done(void *ud, int rc, json_t *result, const llm_err *e)
{
    coll *c = ud;
    (void)e;
    pthread_mutex_lock(&c->mu);
    c->rc = rc;
    c->result = result;
    c->done = true;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static void coll_wait(coll *c)
{
    pthread_mutex_lock(&c->mu);
    while (!c->done)
        pthread_cond_wait(&c->cv, &c->mu);
    pthread_mutex_unlock(&c->mu);
}

static void coll_free(coll *c)
{
    json_decref(c->result);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
}

static char g_dir[64];

static llm_engine *engine(const char *sched_json)
{
    llm_service_opts o;
    llm_engine *e;
    char err[256];
    json_error_t je;
    json_t *sched = sched_json ? json_loads(sched_json, 0, &je) : NULL;

    load();
    snprintf(g_dir, sizeof(g_dir), "/tmp/aios-engine-XXXXXX");
    cr_assert_not_null(mkdtemp(g_dir));
    memset(&o, 0, sizeof(o));
    o.model = gf_model_path();
    o.state_dir = g_dir;
    o.threads = 2;
    o.kv_bytes = 64u << 20;
    o.block_tokens = 16;
    o.max_tokens = 16;
    o.snap_host_bytes = 64u << 20;
    o.snap_disk_bytes = 256u << 20;
    o.zstd_level = 1;
    o.sched = sched;
    cr_assert_eq(llm_engine_new(g_model, g_text, &o, &e, err, sizeof(err)), 0, "%s", err);
    json_decref(sched);
    return e;
}

static void engine_done(llm_engine *e)
{
    char cmd[128];
    llm_engine_free(e);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
    cr_assert_eq(system(cmd), 0);
}

static const llm_caller who_a = {"agent:a", 0, 0, false};

static void submit(llm_engine *e, coll *c, const char *req_json, const llm_caller *who, uint64_t *id)
{
    json_error_t je;
    json_t *p = json_loads(req_json, 0, &je);
    llm_cb cb = {c, coll_stream, coll_done};
    llm_err err;
    int rc;

    cr_assert_not_null(p, "%s", je.text);
    coll_init(c);
    rc = llm_engine_submit(e, LLM_REQ_COMPLETE, p, who ? who : &who_a, true, &cb, id, &err);
    cr_assert_eq(rc, 0, "submit: %s (%s)", err.msg, err.field);
    json_decref(p);
}

/* Run a command and wait for its answer (new reference). */
static json_t *command(llm_engine *e, llm_cmd cmd, const char *params_json)
{
    coll c;
    json_error_t je;
    json_t *p = json_loads(params_json ? params_json : "{}", 0, &je), *r;
    llm_cb cb = {&c, NULL, coll_done};
    llm_err err;
    llm_caller admin = {"uid:0", 0, 0, true};

    coll_init(&c);
    cr_assert_eq(llm_engine_command(e, cmd, p, &admin, &cb, &err), 0);
    coll_wait(&c);
    cr_assert_eq(c.rc, 0, "command failed");
    json_decref(p);
    r = json_incref(c.result);
    coll_free(&c);
    return r;
}

static const char *const prompts[3] = {
    "{\"prompt\":[504,3158,282,2356,314],\"max_tokens\":10,\"temperature\":0}",
    "{\"prompt\":[1350,2402,253,655],\"max_tokens\":10,\"temperature\":0}",
    "{\"prompt\":[378,1314,28,2354,30,1034,346],\"max_tokens\":10,\"temperature\":0.9,\"seed\":7}",
};

static void run_all(llm_engine *e, coll *c, bool together)
{
    for (int i = 0; i < 3; i++) {
        submit(e, &c[i], prompts[i], NULL, NULL);
        if (!together)
            coll_wait(&c[i]);
    }
    for (int i = 0; i < 3; i++) {
        coll_wait(&c[i]);
        cr_assert_eq(c[i].rc, 0);
        cr_assert_eq(c[i].n, 10, "prompt %d: %d tokens", i, c[i].n);
    }
}

static void same_tokens(coll *ref, coll *got, const char *what)
{
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(ref[i].n, got[i].n, "%s: prompt %d length", what, i);
        for (int k = 0; k < ref[i].n; k++)
            cr_assert_eq(ref[i].toks[k], got[i].toks[k], "%s: prompt %d differs at token %d", what, i, k);
        cr_assert_str_eq(json_string_value(json_object_get(ref[i].result, "text")),
                         json_string_value(json_object_get(got[i].result, "text")));
    }
}

Test(engine_run, batched_equals_alone_and_preemption_is_exact, .timeout = 600)
{
    llm_engine *e = engine("{\"policy\":\"fifo\"}");
    coll alone[3], batch[3], pre[3];
    static const char *const knobs[] = {
        "{\"preempt_every\":1,\"resume\":\"restore\",\"policy\":\"rr\",\"quantum\":3}",
        "{\"preempt_every\":3,\"resume\":\"recompute\",\"policy\":\"fair\"}",
        "{\"preempt_every\":7,\"resume\":\"auto\",\"policy\":\"priority\"}",
    };
    json_t *st;

    run_all(e, alone, false);
    run_all(e, batch, true);
    same_tokens(alone, batch, "batched");
    for (size_t k = 0; k < sizeof(knobs) / sizeof(knobs[0]); k++) {
        json_decref(command(e, LLM_CMD_SCHED_SET, knobs[k]));
        run_all(e, pre, true);
        same_tokens(alone, pre, knobs[k]);
        for (int i = 0; i < 3; i++) {
            cr_assert_geq(json_integer_value(json_object_get(pre[i].result, "preemptions")), 1, "%s", knobs[k]);
            coll_free(&pre[i]);
        }
    }
    st = command(e, LLM_CMD_SCHED_STATS, NULL);
    cr_assert_gt(json_integer_value(json_object_get(st, "restores")), 0);
    cr_assert_gt(json_integer_value(json_object_get(st, "recomputes")), 0);
    json_decref(st);
    for (int i = 0; i < 3; i++) {
        coll_free(&alone[i]);
        coll_free(&batch[i]);
    }
    engine_done(e);
}

/* Blocks and snapshots held once nothing runs (cached prefix blocks are
 * dropped first). */
static void assert_empty(llm_engine *e)
{
    json_t *st, *kv, *sn, *q;

    json_decref(command(e, LLM_CMD_SCHED_SET, "{\"clear_prefix_cache\":true}"));
    st = command(e, LLM_CMD_SCHED_STATS, NULL);
    kv = json_object_get(st, "kv");
    sn = json_object_get(st, "snapshots");
    q = json_object_get(st, "queues");
    cr_assert_eq(json_integer_value(json_object_get(kv, "blocks_used")), 0, "leaked KV blocks: %s",
                 json_dumps(kv, 0));
    cr_assert_eq(json_integer_value(json_object_get(kv, "sequences")), 0);
    cr_assert_eq(json_integer_value(json_object_get(sn, "host")) + json_integer_value(json_object_get(sn, "disk")), 0,
                 "leaked snapshots");
    cr_assert_eq(json_integer_value(json_object_get(q, "waiting")) + json_integer_value(json_object_get(q, "running")) +
                     json_integer_value(json_object_get(q, "preempted")),
                 0);
    json_decref(st);
}

Test(engine_run, cancel_and_mixed_requests_leave_nothing_behind, .timeout = 900)
{
    /* AIOS_STRESS=N runs N requests (bench/ctxswitch/stress.sh: 10,000) */
    int n = getenv("AIOS_STRESS") && atoi(getenv("AIOS_STRESS")) > 0 ? atoi(getenv("AIOS_STRESS")) : 200;
    llm_engine *e = engine("{\"policy\":\"fair\",\"max_running\":64,\"max_batch_tokens\":256,\"preempt_every\":2}");
    coll *c = calloc((size_t)n, sizeof(coll));
    uint64_t *ids = calloc((size_t)n, sizeof(uint64_t));
    llm_caller who[3] = {{"agent:a", 0, 0, false}, {"agent:b", 0, 0, false}, {"agent:c", 1000, 0, false}};
    char req[256];
    int finished = 0, cancelled = 0;

    srand(42);
    for (int i = 0; i < n; i++) {
        int kind = rand() % 4;
        snprintf(req, sizeof(req), "{\"prompt\":[%d,%d,%d],\"max_tokens\":%d,\"temperature\":%s,\"seed\":%d}",
                 100 + i % 50, 200 + i % 7, 300 + i % 11, 1 + rand() % 3, kind == 1 ? "0.8" : "0", i);
        submit(e, &c[i], req, &who[i % 3], &ids[i]);
        if (kind == 2)
            llm_engine_cancel(e, ids[i], &who[i % 3]);    /* before it ran, or while it runs */
        if (kind == 3 && i > 0)
            llm_engine_cancel(e, ids[i - 1], &who[(i - 1) % 3]);
    }
    /* someone else's request cannot be cancelled */
    cr_assert_eq(llm_engine_cancel(e, ids[n - 1], &who[(n - 2) % 3]) == AIOS_EPERM ||
                     llm_engine_cancel(e, ids[n - 1], &who[(n - 2) % 3]) == AIOS_ENOENT,
                 true);
    for (int i = 0; i < n; i++) {
        coll_wait(&c[i]);
        if (c[i].rc == 0)
            finished++;
        else if (c[i].rc == AIOS_ECANCELED)
            cancelled++;
        else
            cr_assert_fail("request %d failed: %d", i, c[i].rc);
        coll_free(&c[i]);
    }
    cr_assert_eq(finished + cancelled, n);
    cr_assert_gt(finished, n / 4);
    cr_assert_gt(cancelled, n / 8);
    assert_empty(e);
    free(c);
    free(ids);
    engine_done(e);
}

Test(engine_run, sixteen_agents_share_one_copy_of_a_system_prompt, .timeout = 900)
{
    llm_engine *e = engine("{\"policy\":\"fair\",\"max_running\":16,\"max_batch_tokens\":256}");
    coll c[16];
    char *req = malloc(20000), *p;
    llm_caller who[16];
    char names[16][32];
    json_t *st;
    int bt = 16, n_sys = 1000;

    /* a 1,000-token "system prompt" shared by all, then 2 tokens of each agent */
    for (int a = 0; a < 16; a++) {
        p = req + sprintf(req, "{\"prompt\":[");
        for (int i = 0; i < n_sys; i++)
            p += sprintf(p, "%d,", 1000 + (i * 7919) % 20000);
        sprintf(p, "%d,%d],\"max_tokens\":1,\"temperature\":0}", 30 + a, 40 + a);
        snprintf(names[a], sizeof(names[a]), "agent:s%d", a);
        who[a] = (llm_caller){names[a], 0, 0, false};
        submit(e, &c[a], req, &who[a], NULL);
    }
    /* while they run (and after), the shared blocks exist once */
    int max_used = 0;
    for (int a = 0; a < 16; a++) {
        st = command(e, LLM_CMD_SCHED_STATS, NULL);
        int used = (int)json_integer_value(json_object_get(json_object_get(st, "kv"), "blocks_used"));
        if (used > max_used)
            max_used = used;
        json_decref(st);
        coll_wait(&c[a]);
        cr_assert_eq(c[a].rc, 0);
    }
    int cached = 0;
    for (int a = 0; a < 16; a++) {
        cached += (int)json_integer_value(json_object_get(json_object_get(c[a].result, "usage"), "cached_tokens"));
        coll_free(&c[a]);
    }
    st = command(e, LLM_CMD_SCHED_STATS, NULL);
    /* one copy: 62 full blocks of the prompt, plus each agent's own tail
     * block; 16 copies would be 16 x 63 */
    cr_assert_leq(max_used, n_sys / bt + 1 + 16 * 2, "blocks in use peaked at %d", max_used);
    cr_assert_geq(cached, 15 * (n_sys / bt) * bt, "15 agents reused the prompt's blocks (%d tokens)", cached);
    json_decref(st);
    free(req);
    assert_empty(e);
    engine_done(e);
}

/*
 * test_sched.c - the scheduling policies on their own (no model): the
 * order each policy gives, protection of running items, VTC counters and
 * the lift of returning clients, aging, work conservation under a block
 * budget, parameter checking, and a simulated flood for the fairness
 * bounds documented in docs/SCHEDULER.md.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "aios/error.h"
#include "llmcore/sched.h"

#define MS 1000000ull

static llm_sched *mk(llm_policy p, int max_running)
{
    llm_sched_conf c;
    llm_sched *s;

    llm_sched_conf_default(&c);
    c.policy = p;
    c.max_running = max_running;
    c.quantum = 4;
    c.aging_s = 1.0;
    cr_assert_eq(llm_sched_new(&c, &s), 0);
    return s;
}

static void item(llm_sched *s, llm_sitem *it, uint64_t id, const char *who, uint32_t uid, int prio, uint64_t t)
{
    memset(it, 0, sizeof(*it));
    it->id = id;
    it->cl = llm_sched_client(s, who, uid);
    cr_assert_not_null(it->cl);
    it->prio = prio;
    it->blocks_need = 1;
    llm_sched_arrive(s, it, t);
}

/* Plan, then apply it the way the engine does (stop the unselected,
 * start the selected); returns the ids selected in plan order. */
static int step(llm_sched *s, llm_sitem **v, int n, int blocks, uint64_t t, uint64_t *sel)
{
    int k = 0;

    llm_sched_plan(s, v, n, blocks, t);
    for (int i = 0; i < n; i++)
        if (v[i]->running && !v[i]->selected)
            llm_sched_stopped(s, v[i], t, true);
    for (int i = 0; i < n; i++)
        if (v[i]->selected) {
            llm_sched_started(s, v[i], t);
            sel[k++] = v[i]->id;
        }
    return k;
}

static bool has(const uint64_t *sel, int k, uint64_t id)
{
    for (int i = 0; i < k; i++)
        if (sel[i] == id)
            return true;
    return false;
}

Test(sched, policy_names_round_trip, .timeout = 5)
{
    for (int p = 0; p < LLM_POLICY__N; p++) {
        llm_policy q;
        cr_assert_eq(llm_policy_parse(llm_policy_name((llm_policy)p), &q), 0);
        cr_assert_eq((int)q, p);
    }
    llm_policy q;
    cr_assert_eq(llm_policy_parse("lottery", &q), AIOS_EINVAL);
}

Test(sched, conf_apply_checks_fields, .timeout = 5)
{
    llm_sched_conf c, before;
    char field[64], msg[256];
    json_t *p;

    llm_sched_conf_default(&c);
    before = c;
    p = json_pack("{s:s,s:i}", "policy", "rr", "quantum", 0);
    cr_assert_eq(llm_sched_conf_apply(&c, p, field, sizeof(field), msg, sizeof(msg)), AIOS_EINVAL);
    cr_assert_str_eq(field, "quantum");
    cr_assert(memcmp(&c, &before, sizeof(c)) == 0, "a failed apply changes nothing");
    json_decref(p);
    p = json_pack("{s:s}", "policy", "nope");
    cr_assert_eq(llm_sched_conf_apply(&c, p, field, sizeof(field), msg, sizeof(msg)), AIOS_EINVAL);
    cr_assert_str_eq(field, "policy");
    json_decref(p);
    p = json_pack("{s:s,s:i,s:f,s:b}", "policy", "priority", "max_running", 3, "aging_s", 2.5, "fair_by_uid", 1);
    cr_assert_eq(llm_sched_conf_apply(&c, p, field, sizeof(field), msg, sizeof(msg)), 0);
    cr_assert_eq(c.policy, LLM_POLICY_PRIORITY);
    cr_assert_eq(c.max_running, 3);
    cr_assert_float_eq(c.aging_s, 2.5, 1e-9);
    cr_assert(c.fair_by_uid);
    json_decref(p);
}

Test(sched, fifo_keeps_arrival_order_and_never_displaces, .timeout = 5)
{
    llm_sched *s = mk(LLM_POLICY_FIFO, 2);
    llm_sitem it[4], *v[4];
    uint64_t sel[4];
    int k;

    for (int i = 0; i < 4; i++) {
        item(s, &it[i], (uint64_t)i + 1, i % 2 ? "agent:b" : "agent:a", 0, i == 3 ? 20 : 0, (uint64_t)i * MS);
        v[i] = &it[i];
    }
    k = step(s, v, 4, 100, 10 * MS, sel);
    cr_assert_eq(k, 2);
    cr_assert(has(sel, k, 1) && has(sel, k, 2));
    /* priorities do not matter to fifo, and running items keep their slots */
    for (int round = 0; round < 5; round++) {
        llm_sched_charge(s, &it[0], 0, 1, (11 + (uint64_t)round) * MS);
        llm_sched_charge(s, &it[1], 0, 1, (11 + (uint64_t)round) * MS);
        k = step(s, v, 4, 100, (12 + (uint64_t)round) * MS, sel);
        cr_assert(has(sel, k, 1) && has(sel, k, 2) && !has(sel, k, 4));
    }
    llm_sched_free(s);
}

Test(sched, rr_rotates_after_the_quantum, .timeout = 5)
{
    llm_sched *s = mk(LLM_POLICY_RR, 2);
    llm_sitem it[3], *v[3];
    uint64_t sel[3], t = 10 * MS;
    int runs[3] = {0, 0, 0};

    for (int i = 0; i < 3; i++) {
        item(s, &it[i], (uint64_t)i + 1, "agent:x", 0, 0, (uint64_t)i * MS);
        v[i] = &it[i];
    }
    /* 3 items, 2 slots, quantum 4 tokens: over 24 steps everyone runs and
     * nobody waits more than a quantum and a half */
    int waited[3] = {0, 0, 0}, max_wait = 0;
    for (int stepn = 0; stepn < 24; stepn++) {
        int k = step(s, v, 3, 100, t, sel);
        cr_assert_eq(k, 2);
        for (int i = 0; i < 3; i++) {
            if (it[i].running) {
                runs[i]++;
                waited[i] = 0;
                llm_sched_charge(s, &it[i], 0, 1, t + MS / 2);
            } else if (++waited[i] > max_wait) {
                max_wait = waited[i];
            }
        }
        t += MS;
    }
    for (int i = 0; i < 3; i++)
        cr_assert_geq(runs[i], 14, "item %d ran %d of 24 steps", i, runs[i]);
    cr_assert_leq(max_wait, 4 + 2, "longest wait %d steps", max_wait);
    llm_sched_free(s);
}

Test(sched, priority_prefers_high_and_ages_the_low, .timeout = 5)
{
    llm_sched *s = mk(LLM_POLICY_PRIORITY, 1);
    llm_sitem lo, hi, *v[2] = {&lo, &hi};
    uint64_t sel[2];
    int k;

    item(s, &lo, 1, "agent:lo", 0, 0, 0);
    k = step(s, v, 1, 100, 1 * MS, sel);
    cr_assert_eq(k, 1);
    llm_sched_charge(s, &lo, 0, 1, 2 * MS);
    /* a high-priority item displaces the running low one at once */
    item(s, &hi, 2, "agent:hi", 0, 5, 3 * MS);
    k = step(s, v, 2, 100, 4 * MS, sel);
    cr_assert_eq(k, 1);
    cr_assert_eq(sel[0], 2);
    cr_assert(!lo.running && hi.running);
    /* the low one waits 5 levels x 1 s of aging and then wins */
    uint64_t t = 5 * MS;
    int steps_to_win = 0;
    while (!lo.running && steps_to_win < 200) {
        llm_sched_charge(s, &hi, 0, 1, t);
        t += 50 * MS;
        step(s, v, 2, 100, t, sel);
        steps_to_win++;
    }
    cr_assert(lo.running, "aging never let the low-priority item run");
    cr_assert_geq((double)t / 1e9, 5.0, "it won only after waiting about 5 s (%.2f s)", (double)t / 1e9);
    cr_assert_leq((double)t / 1e9, 5.2);
    llm_sched_free(s);
}

Test(sched, fair_serves_the_least_served_client, .timeout = 5)
{
    llm_sched *s = mk(LLM_POLICY_FAIR, 1);
    llm_sitem a1, a2, b1, *v[3] = {&a1, &a2, &b1};
    uint64_t sel[3];
    int k;

    item(s, &a1, 1, "agent:a", 0, 0, 0);
    item(s, &a2, 2, "agent:a", 0, 0, 1);
    item(s, &b1, 3, "agent:b", 0, 0, 2);
    k = step(s, v, 3, 100, MS, sel);
    cr_assert_eq(k, 1);
    cr_assert_eq(sel[0], 1, "ties go to the earliest arrival");
    /* a1 runs its quantum (4 tokens); then b (least served) gets the slot */
    for (int i = 0; i < 4; i++) {
        llm_sched_charge(s, &a1, 0, 1, (2 + (uint64_t)i) * MS);
        k = step(s, v, 3, 100, (3 + (uint64_t)i) * MS, sel);
    }
    cr_assert_eq(sel[0], 3, "agent b has the smallest counter");
    cr_assert_float_eq(a1.cl->vtc, 4 * 2.0, 1e-9, "w_out = 2 per generated token");
    llm_sched_free(s);
}

Test(sched, fair_lifts_a_returning_client, .timeout = 5)
{
    llm_sched *s = mk(LLM_POLICY_FAIR, 4);
    llm_sitem a, b, *v[2] = {&a, &b};
    uint64_t sel[2];

    item(s, &a, 1, "agent:a", 0, 0, 0);
    step(s, v, 1, 100, MS, sel);
    llm_sched_charge(s, &a, 100, 50, 2 * MS);     /* 100 in + 50 out = 200 */
    cr_assert_float_eq(a.cl->vtc, 200.0, 1e-9);
    /* b was idle all along: it arrives at the current minimum, no credit */
    item(s, &b, 2, "agent:b", 0, 0, 3 * MS);
    cr_assert_float_eq(b.cl->vtc, 200.0, 1e-9);
    llm_sched_leave(s, &b, 4 * MS);
    llm_sched_leave(s, &a, 4 * MS);
    /* nobody backlogged: a returning client keeps its own counter */
    item(s, &b, 3, "agent:b", 0, 0, 5 * MS);
    cr_assert_float_eq(b.cl->vtc, 200.0, 1e-9);
    llm_sched_free(s);
}

Test(sched, fair_by_uid_shares_between_owners_first, .timeout = 5)
{
    llm_sched *s = mk(LLM_POLICY_FAIR, 1);
    llm_sched_conf c = *llm_sched_get_conf(s);
    llm_sitem u1a, u1b, u2, *v[3] = {&u1a, &u1b, &u2};
    uint64_t sel[3];

    c.fair_by_uid = true;
    c.quantum = 1;
    llm_sched_set_conf(s, &c);
    item(s, &u1a, 1, "agent:u1a", 1000, 0, 0);
    item(s, &u1b, 2, "agent:u1b", 1000, 0, 1);
    item(s, &u2, 3, "agent:u2", 2000, 0, 2);
    /* uid 1000 has two agents, uid 2000 one: over many steps uid 2000's agent
     * gets about half of the slots, not a third */
    int runs[3] = {0, 0, 0};
    for (int i = 0; i < 300; i++) {
        step(s, v, 3, 100, (uint64_t)(i + 1) * MS, sel);
        for (int j = 0; j < 3; j++)
            if (v[j]->running) {
                runs[v[j]->id - 1]++;
                llm_sched_charge(s, v[j], 0, 1, (uint64_t)(i + 1) * MS + 1);
            }
    }
    cr_assert(runs[2] >= 140 && runs[2] <= 160, "uid 2000 ran %d of 300 steps", runs[2]);
    cr_assert(abs(runs[0] - runs[1]) <= 2, "the two agents of uid 1000 share evenly (%d, %d)", runs[0], runs[1]);
    llm_sched_free(s);
}

Test(sched, plan_is_work_conserving_under_a_block_budget, .timeout = 5)
{
    llm_sched *s = mk(LLM_POLICY_FIFO, 8);
    llm_sitem big, small1, small2, *v[3] = {&big, &small1, &small2};
    uint64_t sel[3];
    int k;

    item(s, &big, 1, "agent:a", 0, 0, 0);
    item(s, &small1, 2, "agent:a", 0, 0, 1);
    item(s, &small2, 3, "agent:a", 0, 0, 2);
    big.blocks_need = 50;
    small1.blocks_need = 10;
    small2.blocks_need = 10;
    k = step(s, v, 3, 30, MS, sel);
    cr_assert_eq(k, 2, "the head does not fit, the next two do");
    cr_assert(has(sel, k, 2) && has(sel, k, 3) && !has(sel, k, 1));
    /* a blocked item (waiting for a shared prefix) is skipped too */
    llm_sched_stopped(s, &small1, 2 * MS, false);
    llm_sched_stopped(s, &small2, 2 * MS, false);
    small1.blocked = true;
    k = step(s, v, 3, 100, 3 * MS, sel);
    cr_assert(has(sel, k, 1) && has(sel, k, 3) && !has(sel, k, 2));
    llm_sched_free(s);
}

/*
 * The documented fairness bound: one agent floods (20 items), another
 * keeps one item at a time; 4 slots, quantum 8.  Under fair the light
 * agent's items start within quantum + 1 steps of arriving and are never
 * displaced; under fifo they wait behind the flood.
 */
static int light_wait(llm_policy p, int *max_preempt)
{
    llm_sched *s = mk(p, 4);
    llm_sched_conf c = *llm_sched_get_conf(s);
    llm_sitem flood[20], light, *v[21];
    uint64_t sel[21], t = MS;
    int worst = 0, waiting = -1, left = 0;

    c.quantum = 8;
    llm_sched_set_conf(s, &c);
    for (int i = 0; i < 20; i++) {
        item(s, &flood[i], (uint64_t)i + 1, "agent:flood", 0, 0, (uint64_t)i);
        flood[i].run_tokens = 0;
        v[i] = &flood[i];
    }
    int out[20] = {0};
    uint64_t lid = 100;
    bool light_live = false;
    *max_preempt = 0;
    for (int stepn = 0; stepn < 400; stepn++) {
        int n = 0;
        if (!light_live && stepn % 10 == 0) {
            item(s, &light, lid++, "agent:light", 0, 0, t);
            light_live = true;
            waiting = 0;
            left = 6;
        }
        for (int i = 0; i < 20; i++)
            if (out[i] < 40)
                v[n++] = &flood[i];
        if (light_live)
            v[n++] = &light;
        if (n == 0)
            break;
        step(s, v, n, 1000, t, sel);
        t += MS;
        for (int i = 0; i < n; i++) {
            if (!v[i]->running)
                continue;
            llm_sched_charge(s, v[i], 0, 1, t);
            if (v[i] == &light) {
                waiting = -1;
                if (--left == 0) {
                    llm_sched_leave(s, &light, t);
                    light_live = false;
                }
            } else if (++out[v[i] - flood] == 40) {
                llm_sched_leave(s, v[i], t);
            }
        }
        if (light_live && waiting >= 0 && ++waiting > worst)
            worst = waiting;
    }
    *max_preempt = (int)llm_sched_client(s, "agent:light", 0)->preemptions;
    llm_sched_free(s);
    return worst;
}

Test(sched, fair_bounds_the_light_agents_wait, .timeout = 10)
{
    int pre_fair, pre_fifo;
    int w_fair = light_wait(LLM_POLICY_FAIR, &pre_fair);
    int w_fifo = light_wait(LLM_POLICY_FIFO, &pre_fifo);

    cr_assert_leq(w_fair, 8 + 1, "fair: light waited %d steps (bound quantum + 1 = 9)", w_fair);
    cr_assert_eq(pre_fair, 0, "fair never displaces the light agent");
    cr_assert_gt(w_fifo, 3 * w_fair, "fifo makes it wait behind the flood (%d vs %d)", w_fifo, w_fair);
}

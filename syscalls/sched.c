/*
 * sched.c - the sched.* syscalls: switch the LLM scheduler's policy and
 * parameters at run time, and read its statistics (queues, running set,
 * preemptions, per-agent service, TTFT and time-between-tokens
 * percentiles).  Handlers queue a command to the engine thread, which
 * answers between two steps.  Loop thread.
 */
#include "aios/error.h"
#include "aios/kernel.h"
#include "aios/llm.h"
#include "syscalls/llm_int.h"

static int sched_set(kern_call *c, json_t *params, json_t **result)
{
    (void)result;
    /* the policy is the machine owner's choice, not an agent's (even one
     * that root runs) */
    if (kern_call_identity(c)->agent[0])
        return kern_call_set_error(c, AIOS_EPERM, NULL, "agent '%s' may not change the scheduler",
                                   kern_call_identity(c)->agent);
    return sys__llm_command(c, LLM_CMD_SCHED_SET, params);
}

static int sched_stats(kern_call *c, json_t *params, json_t **result)
{
    (void)result;
    return sys__llm_command(c, LLM_CMD_SCHED_STATS, params);
}

const sys_method sys_sched_methods[] = {
    {"sched.set", sched_set, SYS_F_ADMIN | SYS_F_MUTATES,
     "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{"
     "\"policy\":{\"enum\":[\"fifo\",\"rr\",\"priority\",\"fair\"]},"
     "\"quantum\":{\"type\":\"integer\",\"minimum\":1,\"description\":"
     "  \"rr: tokens per turn; fair: tokens a request keeps its slot before it may be displaced\"},"
     "\"aging_s\":{\"type\":\"number\",\"minimum\":0.001,\"description\":"
     "  \"priority: seconds of waiting that add one priority level\"},"
     "\"w_in\":{\"type\":\"number\",\"minimum\":0,\"description\":\"fair: weight of a prompt token\"},"
     "\"w_out\":{\"type\":\"number\",\"minimum\":0,\"description\":\"fair: weight of a generated token\"},"
     "\"fair_by_uid\":{\"type\":\"boolean\",\"description\":\"fair: share between owner uids first, then agents\"},"
     "\"max_running\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":256,\"description\":"
     "  \"sequences in one step\"},"
     "\"max_batch_tokens\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":512,\"description\":"
     "  \"tokens in one step (decode + prefill chunks)\"},"
     "\"preempt_every\":{\"type\":\"integer\",\"minimum\":0,\"description\":"
     "  \"testing: preempt every request after this many generated tokens (0 = off)\"},"
     "\"resume\":{\"enum\":[\"auto\",\"restore\",\"recompute\"],\"description\":"
     "  \"how preempted state comes back: the cost model's choice, or forced\"},"
     "\"clear_prefix_cache\":{\"type\":\"boolean\",\"description\":\"drop every cached prefix block\"}}}",
     "{policy, quantum, aging_s, w_in, w_out, fair_by_uid, max_running, max_batch_tokens, preempt_every, resume}",
     "EPERM EINVAL EUNAVAIL", "switch the LLM scheduling policy or its parameters at run time"},
    {"sched.stats", sched_stats, 0, "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{}}",
     "{config, queues, running_set, steps, requests, preemptions, restores, recomputes, agents: [{agent, vtc, "
     "tokens_in, tokens_out, ttft, tbt, ...}], ttft, tbt, step, kv, prefix_cache, snapshots, contexts, cost_model}",
     "EUNAVAIL", "the LLM scheduler's queues, service per agent and latency percentiles"},
};

const size_t sys_sched_count = sizeof(sys_sched_methods) / sizeof(sys_sched_methods[0]);

/*
 * llm.c - the llm.* syscalls and the kernel's "llm" subsystem: loads the
 * model at start-up and drives the LLM service (include/aios/llm.h).
 *
 * Handlers run on the loop thread and only queue work: generations answer
 * later (KERN_ASYNC) from the engine thread, streaming $/stream chunks on
 * the way; $/cancel and a client's disconnect cancel the request.  The
 * shared bridge (sys__llm_bridge) is also used by sched.c and ctx.c.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aios/error.h"
#include "aios/kernel.h"
#include "aios/llm.h"
#include "aios/log.h"
#include "syscalls/llm_int.h"

/* ---- the bridge between kern_call and the service's callbacks ------------------------------ */

static int on_stream(void *ud, json_t *chunk)
{
    kern_call *c = ud;

    if (!kern_call_streaming(c)) {
        json_decref(chunk);
        return kern_call_cancelled(c) ? AIOS_ECANCELED : 0;
    }
    return kern_call_stream(c, chunk);
}

static void on_done(void *ud, int rc, json_t *result, const llm_err *e)
{
    kern_call *c = ud;

    if (rc == 0) {
        kern_call_finish(c, result);
        return;
    }
    json_decref(result);
    if (e && e->msg[0])
        kern_call_set_error(c, rc, e->field[0] ? e->field : NULL, "%s", e->msg);
    kern_call_fail(c, rc);
}

void sys__llm_caller(kern_call *c, llm_caller *who)
{
    const kern_identity *id = kern_call_identity(c);

    who->principal = id->principal;
    who->uid = (uint32_t)id->uid;
    who->proc_id = id->proc_id;
    /* a connection bound to an agent acts as that agent, even for root */
    who->admin = id->admin && id->agent[0] == '\0';
}

int sys__llm_fail(kern_call *c, int rc, const llm_err *e)
{
    if (e && e->msg[0])
        return kern_call_set_error(c, rc, e->field[0] ? e->field : NULL, "%s", e->msg);
    return rc;
}

int sys__llm_command(kern_call *c, llm_cmd cmd, json_t *params)
{
    llm_caller who;
    llm_cb cb = {.ud = c, .stream = NULL, .done = on_done};
    llm_err e;
    int rc;

    sys__llm_caller(c, &who);
    kern_call_ref(c);
    rc = llm_service_command(cmd, params, &who, &cb, &e);
    if (rc < 0) {
        kern_call_unref(c);
        return sys__llm_fail(c, rc, &e);
    }
    /* the done callback (maybe already run) answers and drops the reference */
    kern_call_unref(c);
    return KERN_ASYNC;
}

/* ---- generations ------------------------------------------------------------------------------ */

static void cancel_request(kern_call *c, void *arg)
{
    llm_caller who;

    sys__llm_caller(c, &who);
    who.admin = true;
    llm_service_cancel((uint64_t)(uintptr_t)arg, &who);
}

static int generate(kern_call *c, json_t *params, llm_req_kind kind)
{
    llm_caller who;
    llm_cb cb = {.ud = c, .stream = on_stream, .done = on_done};
    llm_err e;
    uint64_t id = 0;
    int rc;

    sys__llm_caller(c, &who);
    /* the service's callbacks own one reference until done runs */
    kern_call_ref(c);
    rc = llm_service_submit(kind, params, &who, kern_call_streaming(c), &cb, &id, &e);
    if (rc < 0) {
        kern_call_unref(c);
        return sys__llm_fail(c, rc, &e);
    }
    kern_call_on_cancel(c, cancel_request, (void *)(uintptr_t)id);
    /* the handler's own async reference is not needed: done answers */
    kern_call_unref(c);
    return KERN_ASYNC;
}

static int llm_complete(kern_call *c, json_t *params, json_t **result)
{
    (void)result;
    return generate(c, params, LLM_REQ_COMPLETE);
}

static int llm_chat(kern_call *c, json_t *params, json_t **result)
{
    (void)result;
    return generate(c, params, LLM_REQ_CHAT);
}

static int llm_cancel(kern_call *c, json_t *params, json_t **result)
{
    llm_caller who;
    json_int_t id = json_integer_value(json_object_get(params, "request_id"));
    int rc;

    sys__llm_caller(c, &who);
    rc = llm_service_cancel((uint64_t)id, &who);
    if (rc == AIOS_ENOENT)
        return kern_call_set_error(c, rc, "request_id", "no generation %lld in flight", (long long)id);
    if (rc == AIOS_EPERM)
        return kern_call_set_error(c, rc, "request_id", "generation %lld belongs to another agent", (long long)id);
    if (rc < 0)
        return rc;
    *result = json_pack("{s:I,s:b}", "request_id", id, "cancelled", 1);
    return 0;
}

static int llm_models(kern_call *c, json_t *params, json_t **result)
{
    (void)result;
    return sys__llm_command(c, LLM_CMD_MODELS, params);
}

static int llm_tokenize(kern_call *c, json_t *params, json_t **result)
{
    (void)result;
    return sys__llm_command(c, LLM_CMD_TOKENIZE, params);
}

static int llm_detokenize(kern_call *c, json_t *params, json_t **result)
{
    (void)result;
    return sys__llm_command(c, LLM_CMD_DETOKENIZE, params);
}

/* ---- the table ---------------------------------------------------------------------------------- */

/* Decoding keys shared by llm.complete and llm.chat (OpenAI names). */
#define DECODE_PROPS                                                                                          \
    "\"max_tokens\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":1048576,"                                 \
    "  \"description\":\"tokens to generate at most (default llm.max_tokens)\"},"                            \
    "\"max_completion_tokens\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":1048576},"                    \
    "\"temperature\":{\"type\":\"number\",\"minimum\":0,\"maximum\":100,"                                     \
    "  \"description\":\"0 = greedy (default 1)\"},"                                                          \
    "\"top_p\":{\"type\":\"number\",\"minimum\":0,\"maximum\":1},"                                            \
    "\"top_k\":{\"type\":\"integer\",\"minimum\":0},"                                                         \
    "\"min_p\":{\"type\":\"number\",\"minimum\":0,\"maximum\":1},"                                            \
    "\"seed\":{\"type\":\"integer\",\"description\":\"fixed seed: the same request gives the same output\"}," \
    "\"stop\":{\"type\":[\"string\",\"array\",\"null\"],\"description\":\"stop string(s), up to 16\"},"      \
    "\"stream\":{\"type\":\"boolean\",\"default\":true,\"description\":\"send $/stream chunks {text, token}\"}," \
    "\"response_format\":{\"type\":\"object\",\"description\":"                                              \
    "  \"{type: text|json_object|json_schema, json_schema: {name, schema, strict}}\"},"                       \
    "\"logprobs\":{\"type\":\"boolean\"},"                                                                    \
    "\"top_logprobs\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":20},"                                   \
    "\"repeat_penalty\":{\"type\":\"number\"},"                                                               \
    "\"frequency_penalty\":{\"type\":\"number\"},"                                                            \
    "\"presence_penalty\":{\"type\":\"number\"},"                                                             \
    "\"repeat_last_n\":{\"type\":\"integer\"},"                                                               \
    "\"penalty_last_n\":{\"type\":\"integer\"},"                                                              \
    "\"context\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":64,\"description\":"                     \
    "  \"a named context of yours: continue from its state and save the new state under it\"},"                  \
    "\"preempt_every\":{\"type\":\"integer\",\"minimum\":0,\"description\":"                                    \
    "  \"testing: preempt this request after every N generated tokens (snapshot and resume)\"},"                 \
    "\"ignore_eos\":{\"type\":\"boolean\",\"description\":"                                                   \
    "  \"benchmarks: never end at an end-of-generation token (only max_tokens or stop ends)\"}"

#define RESULT_COMMON \
    "{text, finish_reason, usage: {prompt_tokens, completion_tokens, total_tokens, cached_tokens}, timings, steps, preemptions, request_id, model, context?"

const sys_method sys_llm_methods[] = {
    {"llm.complete", llm_complete, SYS_F_STREAM | SYS_F_CANCEL,
     "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"prompt\"],\"properties\":{"
     "\"prompt\":{\"type\":[\"string\",\"array\"],\"description\":\"text, or an array of token ids\"}," DECODE_PROPS
     "}}",
     RESULT_COMMON "}", "EUNAVAIL EINVAL ELIMIT ENOSPC ECONFLICT ECANCELED",
     "generate a continuation of a prompt on the shared model (streams tokens)"},
    {"llm.chat", llm_chat, SYS_F_STREAM | SYS_F_CANCEL,
     "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"messages\"],\"properties\":{"
     "\"messages\":{\"type\":\"array\",\"minItems\":1,\"items\":{\"type\":\"object\"},"
     "  \"description\":\"[{role: system|user|assistant|tool, content}]\"},"
     "\"tools\":{\"type\":\"array\",\"description\":\"OpenAI function tools; the answer may be tool_calls\"},"
     "\"tool_choice\":{\"type\":[\"string\",\"object\"]},"
     "\"parallel_tool_calls\":{\"type\":\"boolean\"}," DECODE_PROPS "}}",
     RESULT_COMMON ", message: {role, content, tool_calls?}, tool_calls?}", "EUNAVAIL EINVAL ELIMIT ENOSPC ECONFLICT ECANCELED",
     "answer a conversation with the model's chat template (streams tokens)"},
    {"llm.cancel", llm_cancel, SYS_F_MUTATES,
     "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"request_id\"],\"properties\":{"
     "\"request_id\":{\"type\":\"integer\",\"minimum\":1,\"description\":\"request_id of a generation\"}}}",
     "{request_id, cancelled}", "ENOENT EPERM EUNAVAIL",
     "cancel one of your generations in flight (from any connection)"},
    {"llm.models", llm_models, 0, "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{}}",
     "{available, reason?, models: [{id, path, arch, weight_type, n_vocab, n_ctx, n_params, tokenizer, chat_template, "
     "load_s, ...}]}",
     "", "the loaded model, or why there is none"},
    {"llm.tokenize", llm_tokenize, SYS_F_WORKER,
     "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"text\"],\"properties\":{"
     "\"text\":{\"type\":\"string\"},"
     "\"special\":{\"type\":\"boolean\",\"default\":false,\"description\":\"parse control-token names\"}}}",
     "{tokens, count, tokenizer}", "EUNAVAIL", "text to the model's token ids"},
    {"llm.detokenize", llm_detokenize, SYS_F_WORKER,
     "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"tokens\"],\"properties\":{"
     "\"tokens\":{\"type\":\"array\",\"items\":{\"type\":\"integer\"}},"
     "\"special\":{\"type\":\"boolean\",\"default\":false,\"description\":\"include control tokens' names\"}}}",
     "{text}", "EUNAVAIL EINVAL", "token ids back to text"},
};

const size_t sys_llm_count = sizeof(sys_llm_methods) / sizeof(sys_llm_methods[0]);

/* ---- the subsystem ------------------------------------------------------------------------------------- */

#define DEFAULT_MODEL_FILE "SmolLM2-135M-Instruct.Q4_1.gguf"

/* The model: the `model` key; without it the default model in the data
 * folder, then in ~/.local/share/aios/models; else none. */
static char *pick_model(void)
{
    const char *m = kern_config_str("model", NULL), *home = getenv("HOME");
    char *p = NULL;

    if (m && *m)
        return strdup(m);
    if (asprintf(&p, "%s/models/%s", kern_data_dir(), DEFAULT_MODEL_FILE) >= 0 && access(p, R_OK) == 0)
        return p;
    free(p);
    p = NULL;
    if (home && asprintf(&p, "%s/.local/share/aios/models/%s", home, DEFAULT_MODEL_FILE) >= 0 &&
        access(p, R_OK) == 0)
        return p;
    free(p);
    AIOS_LOG(AIOS_LOG_WARN, "llm",
             "no model configured and no default model (%s) in '%s/models' or '~/.local/share/aios/models': "
             "running without an LLM (run `make model`, or pass --model PATH)",
             DEFAULT_MODEL_FILE, kern_data_dir());
    return strdup("none");
}

/* Scheduler keys from the config ("sched.policy", ...) as sched.set params. */
static json_t *sched_config(void)
{
    static const char *const ints[] = {"quantum", "max_running", "max_batch_tokens", "preempt_every"};
    static const char *const dbls[] = {"aging_s", "w_in", "w_out"};
    json_t *o = json_object();
    char key[64];

    if (kern_config_str("sched.policy", NULL))
        json_object_set_new(o, "policy", json_string(kern_config_str("sched.policy", "fair")));
    if (kern_config_str("sched.resume", NULL))
        json_object_set_new(o, "resume", json_string(kern_config_str("sched.resume", "auto")));
    if (kern_config_str("sched.fair_by_uid", NULL))
        json_object_set_new(o, "fair_by_uid", json_boolean(kern_config_bool("sched.fair_by_uid", false)));
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        snprintf(key, sizeof(key), "sched.%s", ints[i]);
        if (kern_config_str(key, NULL))
            json_object_set_new(o, ints[i], json_integer(kern_config_int(key, 0)));
    }
    for (size_t i = 0; i < sizeof(dbls) / sizeof(dbls[0]); i++) {
        snprintf(key, sizeof(key), "sched.%s", dbls[i]);
        if (kern_config_str(key, NULL))
            json_object_set_new(o, dbls[i], json_real(kern_config_double(key, 0)));
    }
    return o;
}

static int llm_subsys_init(void)
{
    llm_service_opts o;
    char *model = pick_model(), *state = NULL;
    json_t *sched = sched_config();
    int rc;

    memset(&o, 0, sizeof(o));
    if (asprintf(&state, "%s/llm", kern_data_dir()) < 0)
        state = NULL;
    o.model = model;
    o.state_dir = state;
    o.backend = kern_config_str("llm.backend", "cpu");
    o.threads = (int)kern_config_int("llm.threads", 0);
    o.kv_bytes = (size_t)kern_config_int("llm.kv_mib", 256) << 20;
    o.block_tokens = (int)kern_config_int("llm.block_tokens", 16);
    o.max_tokens = (int)kern_config_int("llm.max_tokens", 256);
    o.snap_host_bytes = (size_t)kern_config_int("snapshot.host_mib", 512) << 20;
    o.snap_disk_bytes = (size_t)kern_config_int("snapshot.disk_mib", 4096) << 20;
    o.zstd_level = (int)kern_config_int("snapshot.zstd_level", 1);
    o.no_prefix_cache = !kern_config_bool("llm.prefix_cache", true);
    o.sched = sched;
    o.priority_of = kern_proc_priority;
    o.account = kern_proc_account_tokens;
    rc = llm_service_start(&o);
    json_decref(sched);
    free(model);
    free(state);
    if (rc < 0) {
        /* the daemon runs on without an LLM; llm.models says why */
        llm_service_free();
        return AIOS_EUNAVAIL;
    }
    return 0;
}

static void llm_subsys_stop(void)
{
    llm_service_stop();
}

static void llm_subsys_fini(void)
{
    llm_service_free();
}

static json_t *llm_subsys_stats(void)
{
    return llm_service_stats();
}

const kern_subsys kern_subsys_llm = {
    .name = "llm",
    .init = llm_subsys_init,
    .stop = llm_subsys_stop,
    .fini = llm_subsys_fini,
    .optional = true,
    .reload = NULL,
    .stats = llm_subsys_stats,
};

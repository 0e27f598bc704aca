/*
 * ctx.c - the ctx.* syscalls: named, persistent conversation states (the
 * tokens and K/V cache of a conversation) that belong to the agent that
 * made them.  llm.complete / llm.chat continue and update one with
 * "context": NAME; these calls snapshot, restore, fork, list and drop
 * them.  Handlers queue a command to the engine thread.  Loop thread.
 */
#include "aios/kernel.h"
#include "aios/llm.h"
#include "syscalls/llm_int.h"

#define NAME_SCHEMA "{\"type\":\"string\",\"minLength\":1,\"maxLength\":64}"

static int ctx_snapshot(kern_call *c, json_t *params, json_t **result)
{
    (void)result;
    return sys__llm_command(c, LLM_CMD_CTX_SNAPSHOT, params);
}

static int ctx_restore(kern_call *c, json_t *params, json_t **result)
{
    (void)result;
    return sys__llm_command(c, LLM_CMD_CTX_RESTORE, params);
}

static int ctx_fork(kern_call *c, json_t *params, json_t **result)
{
    (void)result;
    return sys__llm_command(c, LLM_CMD_CTX_FORK, params);
}

static int ctx_list(kern_call *c, json_t *params, json_t **result)
{
    (void)result;
    return sys__llm_command(c, LLM_CMD_CTX_LIST, params);
}

static int ctx_drop(kern_call *c, json_t *params, json_t **result)
{
    (void)result;
    return sys__llm_command(c, LLM_CMD_CTX_DROP, params);
}

const sys_method sys_ctx_methods[] = {
    {"ctx.snapshot", ctx_snapshot, SYS_F_MUTATES,
     "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"name\"],\"properties\":{"
     "\"name\":" NAME_SCHEMA ","
     "\"from\":{\"type\":\"string\",\"description\":\"copy this context of yours (default: your last conversation)\"},"
     "\"request_id\":{\"type\":\"integer\",\"minimum\":1,\"description\":\"snapshot a generation of yours in flight\"}}}",
     "{name, tokens}", "ENOENT EINVAL EAGAIN EUNAVAIL",
     "save a conversation state (your last one, a request in flight, or a copy) under a name, persistently"},
    {"ctx.restore", ctx_restore, SYS_F_MUTATES,
     "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"name\"],\"properties\":{"
     "\"name\":" NAME_SCHEMA ","
     "\"as\":{\"type\":\"string\",\"description\":\"also copy it under this name\"}}}",
     "{name, tokens, bytes, warm_blocks, text}", "ENOENT ECONFLICT ECORRUPT EUNAVAIL",
     "bring a saved context back: its K/V into the cache, it becomes your current conversation"},
    {"ctx.fork", ctx_fork, SYS_F_MUTATES,
     "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"name\",\"as\"],\"properties\":{"
     "\"name\":" NAME_SCHEMA ",\"as\":" NAME_SCHEMA "}}",
     "{name, as, tokens}", "ENOENT EEXIST EUNAVAIL", "copy a context so two continuations can grow from one state"},
    {"ctx.list", ctx_list, 0, "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{}}",
     "{contexts: [{name, tokens, bytes, file_bytes, created, updated, in_memory, same_model}]}", "EUNAVAIL",
     "your saved contexts with their size and token count"},
    {"ctx.drop", ctx_drop, SYS_F_MUTATES,
     "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"name\"],\"properties\":{"
     "\"name\":" NAME_SCHEMA "}}",
     "{name, dropped}", "ENOENT EUNAVAIL", "delete one of your contexts"},
};

const size_t sys_ctx_count = sizeof(sys_ctx_methods) / sizeof(sys_ctx_methods[0]);

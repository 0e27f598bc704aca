/*
 * grammar_tools.c - tool-call and request-level grammars.
 *
 * Builds the JSON schema a tool call must match from the OpenAI `tools` and
 * `tool_choice` values (one call: {"name": <tool>, "arguments": <that tool's
 * parameters>}, an anyOf over tools; parallel calls: an array of those),
 * compiles response_format, and turns the generated call text back into
 * OpenAI `tool_calls`.  Each tool's parameters are placed under the
 * wrapper's $defs with their local $refs rewritten, so schemas that use
 * "#/$defs/..." keep working.  Runs on the caller's thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aios/error.h"
#include "llmcore/grammar_int.h"

#define TOOLS_MAX 64
#define PARALLEL_MAX 8

/* Rewrite every local "$ref": "#/..." under j to point below prefix. */
static int rewrite_refs(json_t *j, const char *prefix)
{
    const char *k;
    json_t *v;
    size_t i;

    if (json_is_object(j)) {
        json_object_foreach(j, k, v) {
            if (strcmp(k, "$ref") == 0 && json_is_string(v)) {
                const char *r = json_string_value(v);
                if (r[0] == '#') {
                    size_t n = strlen(prefix) + strlen(r) + 1;
                    char *nr = malloc(n);
                    if (!nr)
                        return AIOS_ENOMEM;
                    snprintf(nr, n, "%s%s", prefix, r + 1);
                    json_string_set(v, nr);
                    free(nr);
                }
            } else if (rewrite_refs(v, prefix) < 0) {
                return AIOS_ENOMEM;
            }
        }
    } else if (json_is_array(j)) {
        json_array_foreach(j, i, v) {
            if (rewrite_refs(v, prefix) < 0)
                return AIOS_ENOMEM;
        }
    }
    return 0;
}

static const char *tool_name(const json_t *tool)
{
    const json_t *fn = json_object_get(tool, "function");
    return json_string_value(json_object_get(fn ? fn : tool, "name"));
}

json_t *llm_grammar_tools_schema(const json_t *tools, const json_t *tool_choice, bool parallel,
                                 char *err, size_t errlen)
{
    const char *only = NULL;
    json_t *defs = NULL, *alts = NULL, *root = NULL;
    size_t i;
    const json_t *tool;

    if (err && errlen)
        err[0] = 0;
    if (!json_is_array(tools) || json_array_size(tools) == 0 ||
        json_array_size(tools) > TOOLS_MAX) {
        snprintf(err, errlen, "'tools' must be an array of 1 to %d tools", TOOLS_MAX);
        return NULL;
    }
    if (json_is_object(tool_choice)) {
        only = json_string_value(
            json_object_get(json_object_get(tool_choice, "function"), "name"));
        if (!only) {
            snprintf(err, errlen, "'tool_choice' must name a function");
            return NULL;
        }
    }
    defs = json_object();
    alts = json_array();
    if (!defs || !alts)
        goto out_fail;
    json_array_foreach(tools, i, tool) {
        const char *name = tool_name(tool);
        const json_t *fn = json_object_get(tool, "function");
        const json_t *params = json_object_get(fn ? fn : tool, "parameters");
        char key[32], prefix[48];
        json_t *p, *call;

        if (!name || !*name) {
            snprintf(err, errlen, "tools[%zu] has no function name", i);
            goto out_fail;
        }
        for (size_t k = 0; k < i; k++)
            if (strcmp(tool_name(json_array_get(tools, k)), name) == 0) {
                snprintf(err, errlen, "tool '%s' is listed twice", name);
                goto out_fail;
            }
        if (only && strcmp(only, name) != 0)
            continue;
        snprintf(key, sizeof(key), "tool%zu", i);
        snprintf(prefix, sizeof(prefix), "#/$defs/%s", key);
        p = params ? json_deep_copy(params) : json_pack("{s:s}", "type", "object");
        if (!p || rewrite_refs(p, prefix) < 0 || json_object_set_new(defs, key, p) < 0)
            goto out_fail;
        call = json_pack("{s:s, s:{s:{s:s}, s:{s:s}}, s:[s,s], s:b}", "type", "object",
                         "properties", "name", "const", name, "arguments", "$ref", prefix,
                         "required", "name", "arguments", "additionalProperties", 0);
        if (!call || json_array_append_new(alts, call) < 0)
            goto out_fail;
    }
    if (json_array_size(alts) == 0) {
        snprintf(err, errlen, "'tool_choice' names '%s', which is not in 'tools'", only);
        goto out_fail;
    }
    if (parallel) {
        root = json_pack("{s:o, s:s, s:{s:O}, s:i, s:i}", "$defs", defs, "type", "array",
                         "items", "anyOf", alts, "minItems", 1, "maxItems", PARALLEL_MAX);
        json_decref(alts);
    } else {
        root = json_pack("{s:o, s:o}", "$defs", defs, "anyOf", alts);
    }
    if (!root)
        snprintf(err, errlen, "out of memory");
    return root;

out_fail:
    if (err && errlen && !err[0])
        snprintf(err, errlen, "out of memory");
    json_decref(defs);
    json_decref(alts);
    return NULL;
}

int llm_grammar_from_tools(const llm_gvocab *v, const json_t *tools, const json_t *tool_choice,
                           bool parallel, const llm_grammar_opts *opts, llm_grammar **out,
                           char *err, size_t errlen)
{
    const char *mode = json_string_value(tool_choice);
    bool auto_mode = !tool_choice || json_is_null(tool_choice) || (mode && !strcmp(mode, "auto"));
    json_t *schema;
    int rc;

    *out = NULL;
    if (mode && strcmp(mode, "none") == 0)
        return 0;
    if (mode && strcmp(mode, "auto") != 0 && strcmp(mode, "required") != 0) {
        snprintf(err, errlen, "unknown 'tool_choice' '%s'", mode);
        return AIOS_EINVAL;
    }
    schema = llm_grammar_tools_schema(tools, tool_choice, parallel, err, errlen);
    if (!schema)
        return AIOS_EINVAL;
    rc = llm_grammar__build(v, schema, auto_mode, opts, out, err, errlen);
    json_decref(schema);
    return rc;
}

int llm_grammar_from_request(const llm_gvocab *v, const json_t *request, llm_grammar **out,
                             bool *is_tools, char *err, size_t errlen)
{
    const json_t *rf = json_object_get(request, "response_format");
    const json_t *tools = json_object_get(request, "tools");
    const json_t *choice = json_object_get(request, "tool_choice");
    const char *type = json_string_value(json_object_get(rf, "type"));
    const char *ws = json_string_value(json_object_get(rf, "whitespace"));
    llm_grammar_opts opts = {0};
    bool want_tools;

    *out = NULL;
    *is_tools = false;
    if (err && errlen)
        err[0] = 0;
    if (ws && strcmp(ws, "flexible") == 0)
        opts.ws_max = 16;
    else if (ws && strcmp(ws, "compact") != 0) {
        snprintf(err, errlen, "response_format.whitespace must be 'compact' or 'flexible'");
        return AIOS_EINVAL;
    }
    want_tools = json_array_size(tools) > 0 &&
                 !(json_is_string(choice) && strcmp(json_string_value(choice), "none") == 0);
    if (rf && !json_is_null(rf) && (!json_is_object(rf) || !type)) {
        snprintf(err, errlen, "response_format must be an object with a 'type'");
        return AIOS_EINVAL;
    }
    if (type && strcmp(type, "text") != 0 && want_tools) {
        snprintf(err, errlen, "response_format together with tools is not supported");
        return AIOS_ENOTSUP;
    }
    if (want_tools) {
        *is_tools = true;
        return llm_grammar_from_tools(v, tools, choice,
                                      json_is_true(json_object_get(request, "parallel_tool_calls")),
                                      &opts, out, err, errlen);
    }
    if (!type || strcmp(type, "text") == 0)
        return 0;
    if (strcmp(type, "json_object") == 0)
        return llm_grammar_any_json(v, true, &opts, out);
    if (strcmp(type, "json_schema") == 0) {
        const json_t *schema = json_object_get(json_object_get(rf, "json_schema"), "schema");
        if (!schema) {
            snprintf(err, errlen, "response_format.json_schema.schema is missing");
            return AIOS_EINVAL;
        }
        return llm_grammar_from_schema(v, schema, &opts, out, err, errlen);
    }
    snprintf(err, errlen, "unknown response_format type '%s'", type);
    return AIOS_EINVAL;
}

/* One {"name","arguments"} object -> an OpenAI tool call. */
static json_t *one_call(const json_t *c, size_t idx, uint64_t h)
{
    const char *name = json_string_value(json_object_get(c, "name"));
    const json_t *args = json_object_get(c, "arguments");
    char id[32], *astr;
    json_t *r;

    if (!name || !args)
        return NULL;
    astr = json_dumps(args, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!astr)
        return NULL;
    snprintf(id, sizeof(id), "call_%08llx%02zx", (unsigned long long)(h & 0xffffffffu), idx);
    r = json_pack("{s:s, s:s, s:{s:s, s:s}}", "id", id, "type", "function", "function", "name",
                  name, "arguments", astr);
    free(astr);
    return r;
}

int llm_grammar_parse_tool_calls(const char *text, size_t len, json_t **tool_calls)
{
    json_error_t je;
    json_t *doc, *calls;
    uint64_t h = 1469598103934665603ull;

    *tool_calls = NULL;
    if (len == 0 || (text[0] != '{' && text[0] != '['))
        return AIOS_ENOENT;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)text[i]) * 1099511628211ull;
    doc = json_loadb(text, len, 0, &je);
    if (!doc)
        return AIOS_EPARSE;
    calls = json_array();
    if (!calls) {
        json_decref(doc);
        return AIOS_ENOMEM;
    }
    if (json_is_object(doc)) {
        json_t *c = one_call(doc, 0, h);
        if (!c || json_array_append_new(calls, c) < 0)
            goto out_fail;
    } else {
        size_t i;
        json_t *c;
        json_array_foreach(doc, i, c) {
            json_t *oc = one_call(c, i, h);
            if (!oc || json_array_append_new(calls, oc) < 0)
                goto out_fail;
        }
    }
    json_decref(doc);
    *tool_calls = calls;
    return 0;

out_fail:
    json_decref(doc);
    json_decref(calls);
    return AIOS_EPARSE;
}

/*
 * tools.h - tools: manifests, the registry, argument checking, building the
 * sandbox policy of a call, and the built-in tools that run in the daemon.
 *
 * A tool is a manifest (JSON files in tools/manifests/, or registered with
 * tool.register):
 *   {
 *     "name": "shell",                       [a-z][a-z0-9_]{0,47}
 *     "description": "what it does, for people and the LLM",
 *     "parameters": { JSON Schema of the arguments, type object },
 *     "run": {"argv": ["/bin/sh", "-c", "{command}"], "stdin": "{input}"}
 *          | {"builtin": "calculator"},
 *     "policy": { sandbox policy keys: network, limits, env, binds,
 *                 require, cwd, drain, system_binds }
 *   }
 * Templates: an argv element that is exactly "{p}" becomes the argument p
 * (strings as they are, numbers and booleans as JSON text, an array of
 * strings spliced in as several elements, an absent optional argument drops
 * the element); "{p}" inside a longer element is replaced by its text;
 * "{{" and "}}" are literal braces.  Arguments are checked against the
 * parameter schema (aios_jschema_check) before anything runs.
 *
 * Ownership: manifests are reference counted (tool_manifest_ref/unref);
 * the registry holds one reference per entry and hands out new ones.  The
 * registry is thread-safe (a read-write lock), so the LLM engine can render
 * tool descriptions from its own thread.
 */
#ifndef AIOS_TOOLS_H
#define AIOS_TOOLS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "aios/sandbox.h"

typedef struct tool_manifest tool_manifest;
typedef struct tool_registry tool_registry;

/* The built-in tools that run inside the daemon (no process). */
#define TOOL_BUILTIN_MAP(X)                                                    \
    X(calculator, "exact arithmetic on rationals of big integers")            \
    X(fs_read, "read a file of LSFS with the caller's rights")                 \
    X(fs_write, "write a file of LSFS with the caller's rights")               \
    X(fs_search, "search LSFS (keywords and meaning) with the caller's rights")

/* ---- manifests ----------------------------------------------------------- */

/*
 * Check and load a manifest.  On error returns AIOS_EINVAL with the dotted
 * field ("parameters.properties.x.type", "run.argv.2", ...) and a message.
 * *out has one reference.
 */
int tool_manifest_parse(const json_t *j, tool_manifest **out, char *field, size_t field_len,
                        char *msg, size_t msg_len);

tool_manifest *tool_manifest_ref(tool_manifest *m);
void tool_manifest_unref(tool_manifest *m);

const char *tool_manifest_name(const tool_manifest *m);
/* The built-in's name, or NULL for a sandboxed program. */
const char *tool_manifest_builtin(const tool_manifest *m);
/* Whether the manifest asks for network access. */
bool tool_manifest_network(const tool_manifest *m);
/* The manifest as loaded (borrowed; valid while m is). */
const json_t *tool_manifest_json(const tool_manifest *m);
/* The tool as an LLM function description:
 * {"type":"function","function":{"name","description","parameters"}}. */
json_t *tool_manifest_llm(const tool_manifest *m);

/* Check args (an object; defaults from the schema are filled in place)
 * against the parameter schema.  AIOS_EINVAL with the offending path. */
int tool_check_args(const tool_manifest *m, json_t *args, char *path, size_t path_len,
                    char *msg, size_t msg_len);

/*
 * The sandbox policy of one call: base (the daemon's defaults), then the
 * manifest's policy (its env is added to base's, not replacing it), then
 * argv and stdin from the templates.  out is initialised here (free it with
 * sbx_policy_clear); *stdin_out is malloc'd or NULL.
 */
int tool_build_policy(const tool_manifest *m, const json_t *args, const sbx_policy *base,
                      sbx_policy *out, char **stdin_out, size_t *stdin_len, char *msg,
                      size_t msg_len);

/* ---- registry ------------------------------------------------------------ */

int tool_registry_new(tool_registry **out);
void tool_registry_free(tool_registry *r);

/*
 * Load every *.json manifest of dir.  Files that do not parse are logged and
 * skipped.  builtin marks them as shipped with aios (they cannot be replaced
 * or removed through tool.register).  Returns the number loaded, or a
 * negative code when dir cannot be read.
 */
int tool_registry_load_dir(tool_registry *r, const char *dir, bool builtin);

/* Add m (the registry takes a new reference).  AIOS_EEXIST when the name is
 * taken and !replace; AIOS_EPERM when it is taken by a built-in. */
int tool_registry_add(tool_registry *r, tool_manifest *m, bool builtin, bool replace);

/* Remove a registered tool; AIOS_ENOENT, or AIOS_EPERM for a built-in. */
int tool_registry_remove(tool_registry *r, const char *name);

/* A new reference to the tool, or NULL. */
tool_manifest *tool_registry_get(tool_registry *r, const char *name);

/* [{name, description, kind: "builtin"|"sandbox", shipped, network}] sorted by
 * name (new reference). */
json_t *tool_registry_list(tool_registry *r);

/* Every tool as an LLM function description (new reference). */
json_t *tool_registry_llm(tool_registry *r);

size_t tool_registry_count(tool_registry *r);

/* ---- built-ins ----------------------------------------------------------- */

/*
 * The calculator: evaluate expr exactly.  *result is
 * {expression, value: "n" | "p/q", numerator, denominator, integer,
 *  decimal (at most scale fractional digits, rounded), exact}.
 * AIOS_EINVAL (syntax, division by zero) or AIOS_ELIMIT (too large), with a
 * message naming the position.
 */
int tool_calculate(const char *expr, int scale, json_t **result, char *err, size_t err_len);

/* ---- the daemon's tool service (tools/service.c) -------------------------- */

/* The registry of the running daemon (NULL before init); any thread. */
tool_registry *tool_service_registry(void);

/* The daemon's sandbox spawning context (loop thread). */
sbx_ctx *tool_service_sbx(void);

/* Tools rendered for the LLM (new reference; [] before init).  Any thread. */
json_t *tool_service_llm_tools(void);

#endif /* AIOS_TOOLS_H */

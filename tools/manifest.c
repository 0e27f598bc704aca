/*
 * manifest.c - tool manifests: validation, argument checking, templates,
 * the sandbox policy of a call, the LLM rendering.
 *
 * A manifest is checked in two steps: a JSON Schema of the manifest format
 * (so errors name the field), then what a schema cannot say: the parameter
 * schema must itself be a valid schema of an object, template placeholders
 * must name declared parameters, the policy must parse as a sandbox policy
 * with only the keys a tool may set, built-ins must exist.
 *
 * Manifests are immutable once parsed and reference counted; any thread.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aios/error.h"
#include "aios/jschema.h"
#include "aios/log.h"
#include "tools/tools_int.h"

/* The manifest format. */
static const char manifest_schema_text[] =
    "{\"type\":\"object\",\"additionalProperties\":false,"
    "\"required\":[\"name\",\"description\",\"parameters\",\"run\"],\"properties\":{"
    "\"name\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":48},"
    "\"description\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":2000},"
    "\"version\":{\"type\":\"string\",\"maxLength\":32},"
    "\"parameters\":{\"type\":\"object\"},"
    "\"run\":{\"type\":\"object\",\"additionalProperties\":false,"
    "  \"minProperties\":1,\"properties\":{"
    "  \"builtin\":{\"type\":\"string\"},"
    "  \"argv\":{\"type\":\"array\",\"minItems\":1,\"maxItems\":256,"
    "    \"items\":{\"type\":\"string\",\"maxLength\":65536}},"
    "  \"stdin\":{\"type\":\"string\",\"maxLength\":65536}}},"
    "\"policy\":{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{"
    "  \"network\":{\"type\":\"boolean\"},"
    "  \"limits\":{\"type\":\"object\"},"
    "  \"env\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\"}},"
    "  \"binds\":{\"type\":\"array\"},"
    "  \"require\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},"
    "  \"cwd\":{\"type\":\"string\"},"
    "  \"drain\":{\"type\":\"boolean\"},"
    "  \"system_binds\":{\"type\":\"boolean\"}}}}}";

/* The parsed manifest schema, loaded once. */
static json_t *g_schema;

static void load_schema(void)
{
    g_schema = json_loads(manifest_schema_text, 0, NULL);
}

static const json_t *the_schema(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;

    pthread_once(&once, load_schema);
    return g_schema;
}

static const char *const builtins[] = {
#define TOOL__BUILTIN_NAME(name, desc) #name,
    TOOL_BUILTIN_MAP(TOOL__BUILTIN_NAME)
#undef TOOL__BUILTIN_NAME
};

static bool name_ok(const char *s)
{
    if (!s || !(*s >= 'a' && *s <= 'z'))
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return false;
    return true;
}

static int bad(char *field, size_t fl, char *msg, size_t ml, const char *f, const char *m)
{
    if (field && fl)
        snprintf(field, fl, "%s", f);
    if (msg && ml)
        snprintf(msg, ml, "%s", m);
    return AIOS_EINVAL;
}

/*
 * Walk a template string: call fn for each {placeholder} name.  Returns
 * false on an unbalanced brace.
 */
static bool scan_placeholders(const char *t, bool (*fn)(void *, const char *, size_t), void *arg)
{
    for (const char *p = t; *p; p++) {
        if (p[0] == '{' && p[1] == '{') {
            p++;
            continue;
        }
        if (p[0] == '}' && p[1] == '}') {
            p++;
            continue;
        }
        if (*p == '}')
            return false;
        if (*p == '{') {
            const char *e = strchr(p + 1, '}');

            if (!e || e == p + 1)
                return false;
            if (!fn(arg, p + 1, (size_t)(e - p - 1)))
                return false;
            p = e;
        }
    }
    return true;
}

static bool is_declared(void *arg, const char *name, size_t len)
{
    const json_t *props = arg;
    char buf[128];

    if (len >= sizeof(buf))
        return false;
    memcpy(buf, name, len);
    buf[len] = '\0';
    return json_object_get(props, buf) != NULL;
}

static void manifest_free(tool_manifest *m)
{
    if (!m)
        return;
    free(m->name);
    free(m->builtin);
    json_decref(m->json);
    free(m);
}

int tool_manifest_parse(const json_t *j, tool_manifest **out, char *field, size_t fl, char *msg,
                        size_t ml)
{
    char path[256] = "", err[256] = "", f2[300];
    const json_t *schema = the_schema();
    tool_manifest *m;
    json_t *run, *params, *props, *policy;
    const char *name, *builtin;
    int rc;

    *out = NULL;
    if (field && fl)
        field[0] = '\0';
    if (!schema)
        return bad(field, fl, msg, ml, "", "the manifest schema did not load");
    rc = aios_jschema_check(schema, j, path, sizeof(path), err, sizeof(err));
    if (rc < 0)
        return bad(field, fl, msg, ml, path, err);
    name = json_string_value(json_object_get(j, "name"));
    if (!name_ok(name))
        return bad(field, fl, msg, ml, "name",
                   "a tool name is a lower-case letter, then letters, digits or '_'");

    /* parameters: a valid schema of an object */
    params = json_object_get(j, "parameters");
    if (aios_jschema_validate_schema(params, err, sizeof(err)) < 0)
        return bad(field, fl, msg, ml, "parameters", err);
    if (!json_is_string(json_object_get(params, "type")) ||
        strcmp(json_string_value(json_object_get(params, "type")), "object") != 0)
        return bad(field, fl, msg, ml, "parameters.type",
                   "the parameters must be described as an object");
    props = json_object_get(params, "properties");

    /* run: exactly one of builtin and argv */
    run = json_object_get(j, "run");
    builtin = json_string_value(json_object_get(run, "builtin"));
    if (builtin && (json_object_get(run, "argv") || json_object_get(run, "stdin")))
        return bad(field, fl, msg, ml, "run", "a built-in takes neither argv nor stdin");
    if (!builtin && !json_object_get(run, "argv"))
        return bad(field, fl, msg, ml, "run", "run needs argv or builtin");
    if (builtin) {
        size_t i;

        for (i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++)
            if (strcmp(builtin, builtins[i]) == 0)
                break;
        if (i == sizeof(builtins) / sizeof(builtins[0]))
            return bad(field, fl, msg, ml, "run.builtin", "no such built-in tool");
    } else {
        size_t i;
        json_t *a;

        json_array_foreach(json_object_get(run, "argv"), i, a) {
            if (!scan_placeholders(json_string_value(a), is_declared, props)) {
                snprintf(f2, sizeof(f2), "run.argv.%zu", i);
                return bad(field, fl, msg, ml, f2,
                           "a {placeholder} must name a declared parameter; write {{ for '{'");
            }
        }
        if (json_string_value(json_object_get(run, "stdin")) &&
            !scan_placeholders(json_string_value(json_object_get(run, "stdin")), is_declared,
                               props))
            return bad(field, fl, msg, ml, "run.stdin",
                       "a {placeholder} must name a declared parameter");
        if (json_string_value(json_array_get(json_object_get(run, "argv"), 0))[0] != '/')
            return bad(field, fl, msg, ml, "run.argv.0",
                       "the program must be an absolute path inside the sandbox");
    }

    /* policy: must be a valid sandbox policy */
    policy = json_object_get(j, "policy");
    if (policy) {
        sbx_policy p;
        char pf[64];

        sbx_policy_init(&p);
        rc = sbx_policy_update(&p, policy, pf, sizeof(pf), err, sizeof(err));
        sbx_policy_clear(&p);
        if (rc < 0) {
            snprintf(f2, sizeof(f2), "policy.%s", pf);
            return bad(field, fl, msg, ml, f2, err);
        }
    }

    m = calloc(1, sizeof(*m));
    if (!m)
        return AIOS_ENOMEM;
    atomic_init((_Atomic int *)&m->refs, 1);
    m->json = json_deep_copy(j);
    m->name = strdup(name);
    m->builtin = builtin ? strdup(builtin) : NULL;
    if (!m->json || !m->name || (builtin && !m->builtin)) {
        manifest_free(m);
        return AIOS_ENOMEM;
    }
    m->params = json_object_get(m->json, "parameters");
    run = json_object_get(m->json, "run");
    m->argv = json_object_get(run, "argv");
    m->stdin_tpl = json_object_get(run, "stdin");
    m->policy = json_object_get(m->json, "policy");
    m->network = json_is_true(json_object_get(m->policy, "network"));
    *out = m;
    return 0;
}

tool_manifest *tool_manifest_ref(tool_manifest *m)
{
    if (m)
        atomic_fetch_add((_Atomic int *)&m->refs, 1);
    return m;
}

void tool_manifest_unref(tool_manifest *m)
{
    if (m && atomic_fetch_sub((_Atomic int *)&m->refs, 1) == 1)
        manifest_free(m);
}

const char *tool_manifest_name(const tool_manifest *m)
{
    return m->name;
}

const char *tool_manifest_builtin(const tool_manifest *m)
{
    return m->builtin;
}

bool tool_manifest_network(const tool_manifest *m)
{
    return m->network;
}

const json_t *tool_manifest_json(const tool_manifest *m)
{
    return m->json;
}

json_t *tool_manifest_llm(const tool_manifest *m)
{
    return json_pack("{s:s,s:{s:s,s:O,s:O}}", "type", "function", "function", "name", m->name,
                     "description", json_object_get(m->json, "description"), "parameters",
                     m->params);
}

int tool_check_args(const tool_manifest *m, json_t *args, char *path, size_t pl, char *msg,
                    size_t ml)
{
    char p[256] = "";
    int rc;

    if (!json_is_object(args)) {
        if (path && pl)
            snprintf(path, pl, "args");
        if (msg && ml)
            snprintf(msg, ml, "the arguments must be an object");
        return AIOS_EINVAL;
    }
    rc = aios_jschema_check(m->params, args, p, sizeof(p), msg, ml);
    if (rc < 0) {
        if (path && pl)
            snprintf(path, pl, "args%s%s", p[0] ? "." : "", p);
        return AIOS_EINVAL;
    }
    return aios_jschema_apply_defaults(m->params, args);
}

/* ---- templates ----------------------------------------------------------- */

/* A value as argument text: strings as they are, others as compact JSON. */
static char *value_text(const json_t *v)
{
    if (json_is_string(v))
        return strdup(json_string_value(v));
    return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

/* Expand embedded placeholders of t into a malloc'd string. */
static char *expand(const char *t, const json_t *args)
{
    size_t cap = strlen(t) + 64, n = 0;
    char *out = malloc(cap);

    if (!out)
        return NULL;
    for (const char *p = t; *p; p++) {
        const char *piece = p;
        size_t plen = 1;
        char *val = NULL;

        if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}')) {
            p++;
        } else if (*p == '{') {
            const char *e = strchr(p + 1, '}');
            char name[128];
            size_t nl = e ? (size_t)(e - p - 1) : 0;
            json_t *v;

            if (!e || nl >= sizeof(name)) {
                free(out);
                return NULL;
            }
            memcpy(name, p + 1, nl);
            name[nl] = '\0';
            v = json_object_get(args, name);
            val = v && !json_is_null(v) ? value_text(v) : strdup("");
            if (!val) {
                free(out);
                return NULL;
            }
            piece = val;
            plen = strlen(val);
            p = e;
        }
        if (n + plen + 1 > cap) {
            char *nb;

            cap = (n + plen + 1) * 2;
            nb = realloc(out, cap);
            if (!nb) {
                free(val);
                free(out);
                return NULL;
            }
            out = nb;
        }
        memcpy(out + n, piece, plen);
        n += plen;
        free(val);
    }
    out[n] = '\0';
    return out;
}

/* If t is exactly "{name}", the argument it names (may be NULL), else
 * *whole = false. */
static const json_t *whole_placeholder(const char *t, const json_t *args, bool *whole)
{
    size_t n = strlen(t);
    char name[128];

    *whole = false;
    if (n < 3 || t[0] != '{' || t[n - 1] != '}' || t[1] == '{' || n - 2 >= sizeof(name) ||
        memchr(t + 1, '{', n - 2) || memchr(t + 1, '}', n - 2))
        return NULL;
    *whole = true;
    memcpy(name, t + 1, n - 2);
    name[n - 2] = '\0';
    return json_object_get(args, name);
}

static int build_argv(const tool_manifest *m, const json_t *args, sbx_policy *out, char *msg,
                      size_t ml)
{
    size_t cap = json_array_size(m->argv) + 16, n = 0, i;
    char **argv = calloc(cap + 1, sizeof(char *));
    json_t *t;
    int rc = 0;

    if (!argv)
        return AIOS_ENOMEM;
    json_array_foreach(m->argv, i, t) {
        bool whole;
        const json_t *v = whole_placeholder(json_string_value(t), args, &whole);
        size_t k;
        json_t *item;

        if (whole && (!v || json_is_null(v)))
            continue;  /* absent optional argument: no element */
        if (whole && json_is_array(v)) {
            json_array_foreach(v, k, item) {
                if (n + 1 >= cap) {
                    char **nv;

                    cap *= 2;
                    nv = realloc(argv, (cap + 1) * sizeof(char *));
                    if (!nv) {
                        rc = AIOS_ENOMEM;
                        goto out;
                    }
                    argv = nv;
                }
                argv[n++] = value_text(item);
                if (!argv[n - 1]) {
                    rc = AIOS_ENOMEM;
                    goto out;
                }
            }
            continue;
        }
        if (n + 1 >= cap) {
            char **nv;

            cap *= 2;
            nv = realloc(argv, (cap + 1) * sizeof(char *));
            if (!nv) {
                rc = AIOS_ENOMEM;
                goto out;
            }
            argv = nv;
        }
        argv[n++] = whole ? value_text(v) : expand(json_string_value(t), args);
        if (!argv[n - 1]) {
            rc = AIOS_ENOMEM;
            goto out;
        }
        if (strlen(argv[n - 1]) != (whole && json_is_string(v) ? json_string_length(v)
                                                                : strlen(argv[n - 1]))) {
            rc = AIOS_EINVAL;
            snprintf(msg, ml, "arguments may not contain NUL bytes");
            goto out;
        }
    }
    argv[n] = NULL;
    if (n == 0) {
        rc = AIOS_EINVAL;
        snprintf(msg, ml, "the command line came out empty");
        goto out;
    }
    rc = sbx_policy_set_argv(out, (const char *const *)argv, n);
out:
    for (size_t k = 0; k < n; k++)
        free(argv[k]);
    free(argv);
    return rc;
}

int tool_build_policy(const tool_manifest *m, const json_t *args, const sbx_policy *base,
                      sbx_policy *out, char **stdin_out, size_t *stdin_len, char *msg, size_t ml)
{
    char field[64];
    json_t *pol = NULL;
    int rc;

    *stdin_out = NULL;
    *stdin_len = 0;
    if (m->builtin) {
        snprintf(msg, ml, "'%s' is a built-in and runs without a sandbox", m->name);
        return AIOS_EINVAL;
    }
    if ((rc = sbx_policy_copy(out, base)) < 0)
        return rc;
    if (m->policy) {
        const char *key;
        json_t *v;

        pol = json_deep_copy(m->policy);
        if (!pol) {
            rc = AIOS_ENOMEM;
            goto out_fail;
        }
        /* the manifest's env adds to the daemon's */
        json_object_foreach(json_object_get(pol, "env"), key, v) {
            if ((rc = sbx_policy_setenv(out, key, json_string_value(v))) < 0)
                goto out_fail;
        }
        json_object_del(pol, "env");
        rc = sbx_policy_update(out, pol, field, sizeof(field), msg, ml);
        if (rc < 0)
            goto out_fail;
    }
    if ((rc = build_argv(m, args, out, msg, ml)) < 0)
        goto out_fail;
    if (json_is_string(m->stdin_tpl)) {
        *stdin_out = expand(json_string_value(m->stdin_tpl), args);
        if (!*stdin_out) {
            rc = AIOS_ENOMEM;
            goto out_fail;
        }
        *stdin_len = strlen(*stdin_out);
    }
    json_decref(pol);
    return 0;
out_fail:
    json_decref(pol);
    sbx_policy_clear(out);
    return rc;
}

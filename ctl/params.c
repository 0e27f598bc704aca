/*
 * params.c - parameters for `aiosctl call METHOD ...` from command-line
 * words: either one JSON object or KEY=VALUE pairs read with the help of
 * the method's parameter schema (so name=123 stays a string where the
 * schema wants a string, and caps=fs,llm becomes a list).
 * Single-threaded; pure functions.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl_int.h"

/* Whether JSON type name `want` accepts value v. */
static bool type_accepts(const char *want, const json_t *v)
{
    static const struct {
        const char *name;
        json_type type;
    } types[] = {
        {"string", JSON_STRING}, {"object", JSON_OBJECT}, {"array", JSON_ARRAY},
        {"boolean", JSON_TRUE},  {"boolean", JSON_FALSE}, {"null", JSON_NULL},
        {"integer", JSON_INTEGER}, {"number", JSON_INTEGER}, {"number", JSON_REAL},
    };

    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(types[i].name, want) == 0 && json_typeof(v) == types[i].type)
            return true;
    /* 3.0 is an integer for JSON Schema */
    if (strcmp(want, "integer") == 0 && json_is_real(v)) {
        double d = json_real_value(v);
        return d == (double)(long long)d;
    }
    return false;
}

/* Whether the schema's "type" (string or list; absent = anything) allows v. */
static bool schema_accepts(const json_t *prop, const json_t *v)
{
    const json_t *type = json_object_get(prop, "type"), *e;
    size_t i;

    if (!type)
        return true;
    if (json_is_string(type))
        return type_accepts(json_string_value(type), v);
    json_array_foreach(type, i, e) {
        if (json_is_string(e) && type_accepts(json_string_value(e), v))
            return true;
    }
    return false;
}

/* A readable form of the schema's type for messages. */
static void type_text(const json_t *prop, char *buf, size_t len)
{
    const json_t *type = json_object_get(prop, "type"), *e;
    size_t i, off = 0;

    buf[0] = '\0';
    if (json_is_string(type)) {
        snprintf(buf, len, "%s", json_string_value(type));
        return;
    }
    json_array_foreach(type, i, e) {
        int n = snprintf(buf + off, len - off, "%s%s", i ? " or " : "", json_string_value(e) ?: "?");
        if (n < 0 || (size_t)n >= len - off)
            break;
        off += (size_t)n;
    }
    if (!buf[0])
        snprintf(buf, len, "a value");
}

/* The value of KEY=VALUE for a parameter with schema prop (may be NULL). */
static json_t *value_for(const json_t *prop, const char *key, const char *text, char *err, size_t errlen)
{
    json_error_t je;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &je), *s;
    char tt[64];

    if (v && schema_accepts(prop, v))
        return v;
    json_decref(v);
    s = json_string(text);
    if (!s) {
        snprintf(err, errlen, "parameter '%s': the value is not valid UTF-8", key);
        return NULL;
    }
    if (schema_accepts(prop, s))
        return s;
    json_decref(s);
    /* a list of strings may be written a,b,c */
    {
        json_t *arr = json_array(), *t = json_string("");
        const json_t *items = json_object_get(prop, "items");
        bool list_ok = schema_accepts(prop, arr) && (!items || schema_accepts(items, t));
        json_decref(t);
        if (list_ok) {
            const char *p = text;
            while (*p) {
                size_t n = strcspn(p, ",");
                json_array_append_new(arr, json_stringn(p, n));
                p += n;
                if (*p == ',')
                    p++;
            }
            return arr;
        }
        json_decref(arr);
    }
    type_text(prop, tt, sizeof(tt));
    snprintf(err, errlen, "parameter '%s' needs %s, got '%s'", key, tt, text);
    return NULL;
}

json_t *ctl_params_from_words(const json_t *schema, int argc, char **argv, char *err, size_t errlen)
{
    const json_t *props = json_object_get(schema, "properties");
    json_t *params;

    err[0] = '\0';
    if (argc == 1 && (argv[0][0] == '{' || argv[0][0] == '[')) {
        json_error_t je;
        params = json_loads(argv[0], 0, &je);
        if (!params) {
            snprintf(err, errlen, "params are not valid JSON: %s (column %d)", je.text, je.column);
            return NULL;
        }
        if (!json_is_object(params)) {
            snprintf(err, errlen, "params must be a JSON object such as '{\"id\": 3}'");
            json_decref(params);
            return NULL;
        }
        return params;
    }
    params = json_object();
    for (int i = 0; i < argc; i++) {
        const char *eq = strchr(argv[i], '=');
        char key[128];
        json_t *v;

        if (!eq || eq == argv[i] || (size_t)(eq - argv[i]) >= sizeof(key)) {
            snprintf(err, errlen, "expected KEY=VALUE or one JSON object, got '%s'", argv[i]);
            goto out_fail;
        }
        snprintf(key, sizeof(key), "%.*s", (int)(eq - argv[i]), argv[i]);
        if (json_object_get(params, key)) {
            snprintf(err, errlen, "parameter '%s' given twice", key);
            goto out_fail;
        }
        v = value_for(json_object_get(props, key), key, eq + 1, err, errlen);
        if (!v)
            goto out_fail;
        json_object_set_new(params, key, v);
    }
    return params;
out_fail:
    json_decref(params);
    return NULL;
}

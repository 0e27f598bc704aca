/*
 * jschema.c - a small JSON Schema checker for the subset in jschema.h.
 *
 * Keywords are rows in one table: each names the JSON types it may hold in
 * a schema and the function that checks a value against it, so validating
 * a schema and checking a value walk the same table.  Errors carry the
 * dotted path of the offending member.  No global state; any thread.
 */
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "aios/error.h"
#include "aios/jschema.h"

#define MAX_DEPTH 64

typedef struct {
    const json_t *root;   /* for $ref */
    char path[512];
    char msg[256];
    int depth;
} ctx;

static int bad(ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int bad(ctx *c, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(c->msg, sizeof(c->msg), fmt, ap);
    va_end(ap);
    return AIOS_EINVAL;
}

static int bad_schema(ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int bad_schema(ctx *c, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(c->msg, sizeof(c->msg), fmt, ap);
    va_end(ap);
    return AIOS_ECORRUPT;
}

/* ---- paths ---------------------------------------------------------------- */

static size_t path_push_key(ctx *c, const char *key)
{
    size_t n = strlen(c->path);
    snprintf(c->path + n, sizeof(c->path) - n, "%s%s", n ? "." : "", key);
    return n;
}

static size_t path_push_index(ctx *c, size_t i)
{
    size_t n = strlen(c->path);
    snprintf(c->path + n, sizeof(c->path) - n, "[%zu]", i);
    return n;
}

static void path_pop(ctx *c, size_t n)
{
    c->path[n] = '\0';
}

/* ---- types ---------------------------------------------------------------- */

static bool is_integral(const json_t *v)
{
    double d;

    if (json_is_integer(v))
        return true;
    if (!json_is_real(v))
        return false;
    d = json_real_value(v);
    return isfinite(d) && floor(d) == d;
}

static const char *type_of(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL: return "number";
    case JSON_TRUE: case JSON_FALSE: return "boolean";
    default: return "null";
    }
}

static bool type_matches(const char *t, const json_t *v)
{
    if (strcmp(t, "number") == 0)
        return json_is_number(v);
    if (strcmp(t, "integer") == 0)
        return is_integral(v);
    return strcmp(t, type_of(v)) == 0;
}

static bool known_type(const char *t)
{
    static const char *const names[] = {"object", "array", "string", "integer",
                                        "number", "boolean", "null"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(t, names[i]) == 0)
            return true;
    return false;
}

/* JSON equality that treats 1 and 1.0 as equal, as JSON Schema does. */
static bool json_same(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b))
        return json_number_value(a) == json_number_value(b);
    return json_equal((json_t *)a, (json_t *)b);
}

static size_t utf8_len(const char *s, size_t n)
{
    size_t cps = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xc0) != 0x80)
            cps++;
    return cps;
}

static double num(const json_t *v)
{
    return json_number_value(v);
}

/* ---- the keyword table ----------------------------------------------------- */

static int check(ctx *c, const json_t *schema, const json_t *v);

typedef int (*kw_fn)(ctx *c, const json_t *kwval, const json_t *schema, const json_t *v);

static int kw_type(ctx *c, const json_t *k, const json_t *s, const json_t *v)
{
    size_t i;
    const json_t *t;

    if (json_is_string(k)) {
        if (!type_matches(json_string_value(k), v))
            return bad(c, "must be %s %s", strchr("aeiou", json_string_value(k)[0]) ? "an" : "a",
                       json_string_value(k));
        return 0;
    }
    json_array_foreach(k, i, t) {
        if (type_matches(json_string_value(t), v))
            return 0;
    }
    return bad(c, "has the wrong type (%s)", type_of(v));
}

static int kw_properties(ctx *c, const json_t *k, const json_t *s, const json_t *v)
{
    const char *key;
    const json_t *sub;
    int rc;

    if (!json_is_object(v))
        return 0;
    json_object_foreach((json_t *)k, key, sub) {
        const json_t *m = json_object_get(v, key);
        if (m) {
            size_t n = path_push_key(c, key);
            if ((rc = check(c, sub, m)) < 0)
                return rc;
            path_pop(c, n);
        }
    }
    return 0;
}

static int kw_required(ctx *c, const json_t *k, const json_t *s, const json_t *v)
{
    size_t i;
    const json_t *name;

    if (!json_is_object(v))
        return 0;
    json_array_foreach(k, i, name) {
        if (!json_object_get(v, json_string_value(name))) {
            path_push_key(c, json_string_value(name));
            return bad(c, "is required");
        }
    }
    return 0;
}

static int kw_additional(ctx *c, const json_t *k, const json_t *s, const json_t *v)
{
    const json_t *props = json_object_get(s, "properties");
    const char *key;
    const json_t *m;
    int rc;

    if (!json_is_object(v) || json_is_true(k))
        return 0;
    json_object_foreach((json_t *)v, key, m) {
        if (props && json_object_get(props, key))
            continue;
        size_t n = path_push_key(c, key);
        if (json_is_false(k))
            return bad(c, "is not a known parameter");
        if ((rc = check(c, k, m)) < 0)
            return rc;
        path_pop(c, n);
    }
    return 0;
}

static int kw_items(ctx *c, const json_t *k, const json_t *s, const json_t *v)
{
    size_t i;
    const json_t *m;
    int rc;

    if (!json_is_array(v))
        return 0;
    json_array_foreach(v, i, m) {
        size_t n = path_push_index(c, i);
        if ((rc = check(c, k, m)) < 0)
            return rc;
        path_pop(c, n);
    }
    return 0;
}

static int kw_min_items(ctx *c, const json_t *k, const json_t *s, const json_t *v)
{
    if (json_is_array(v) && json_array_size(v) < (size_t)json_integer_value(k))
        return bad(c, "must have at least %lld items", (long long)json_integer_value(k));
    return 0;
}

static int kw_max_items(ctx *c, const json_t *k, const json_t *s, const json_t *v)
{
    if (json_is_array(v) && json_array_size(v) > (size_t)json_integer_value(k))
        return bad(c, "must have at most %lld items", (long long)json_integer_value(k));
    return 0;
}

static int kw_unique(ctx *c, const json_t *k, const json_t *s, const json_t *v)
{
    if (!json_is_array(v) || !json_is_true(k))
        return 0;
    for (size_t i = 0; i < json_array_size(v); i++)
        for (size_t j = i + 1; j < json_array_size(v); j++)
            if (json_same(json_array_get(v, i), json_array_get(v, j)))
                return bad(c, "items must be unique (%zu and %zu are equal)", i, j);
    return 0;
}

static int kw_min_props(ctx *c, const json_t *k, const json_t *s, const json_t *v)
{
    if (json_is_object(v) && json_object_size(v) < (size_t)json_integer_value(k))
        return bad(c, "must have at least %lld members", (long long)json_integer_value(k));
    return 0;
}

static int kw_max_props(ctx *c, const json_t *k, const json_t *s, const json_t *v)
{
    if (json_is_object(v) && json_object_size(v) > (size_t)json_integer_value(k))
        return bad(c, "must have at most %lld members", (long long)json_integer_value(k));
    return 0;
}

static int kw_enum(ctx *c, const json_t *k, const json_t *s, const json_t *v)
{
    size_t i;
    const json_t *e;
    char list[160] = "";

    json_array_foreach(k, i, e) {
        if (json_same(e, v))
            return 0;
    }
    json_array_foreach(k, i, e) {
        size_t n = strlen(list);
        if (n > sizeof(list) - 24) {
            snprintf(list + n, sizeof(list) - n, ", ...");
            break;
        }
        if (json_is_string(e))
            snprintf(list + n, sizeof(list) - n, "%s'%s'", i ? ", " : "", json_string_value(e));
        else
            snprintf(list + n, sizeof(list) - n, "%s%s", i ? ", " : "", type_of(e));
    }
    return bad(c, "must be one of %s", list);
}

static int kw_const(ctx *c, const json_t *k, const json_t *s, const json_t *v)
{
    return json_same(k, v) ? 0 : bad(c, "must equal the constant value");
}

static int kw_minimum(ctx *c, const json_t *k, const json_t *s, const json_t *v)
{
    if (json_is_number(v) && num(v) < num(k))
        return bad(c, "must be >= %g", num(k));
    return 0;
}

static int kw_maximum(ctx *c, const json_t *k, const json_t *s, const json_t *v)
{
    if (json_is_number(v) && num(v) > num(k))
        return bad(c, "must be <= %g", num(k));
    return 0;
}

static int kw_xminimum(ctx *c, const json_t *k, const json_t *s, const json_t *v)
{
    if (json_is_number(v) && num(v) <= num(k))
        return bad(c, "must be > %g", num(k));
    return 0;
}

static int kw_xmaximum(ctx *c, const json_t *k, const json_t *s, const json_t *v)
{
    if (json_is_number(v) && num(v) >= num(k))
        return bad(c, "must be < %g", num(k));
    return 0;
}

static int kw_multiple(ctx *c, const json_t *k, const json_t *s, const json_t *v)
{
    double q;

    if (!json_is_number(v))
        return 0;
    q = num(v) / num(k);
    if (fabs(q - nearbyint(q)) > 1e-9 * fmax(1.0, fabs(q)))
        return bad(c, "must be a multiple of %g", num(k));
    return 0;
}

static int kw_min_len(ctx *c, const json_t *k, const json_t *s, const json_t *v)
{
    if (json_is_string(v) &&
        utf8_len(json_string_value(v), json_string_length(v)) < (size_t)json_integer_value(k))
        return bad(c, "must be at least %lld characters", (long long)json_integer_value(k));
    return 0;
}

static int kw_max_len(ctx *c, const json_t *k, const json_t *s, const json_t *v)
{
    if (json_is_string(v) &&
        utf8_len(json_string_value(v), json_string_length(v)) > (size_t)json_integer_value(k))
        return bad(c, "must be at most %lld characters", (long long)json_integer_value(k));
    return 0;
}

/* Check v against sub without disturbing the error state; true if it conforms. */
static bool conforms(ctx *c, const json_t *sub, const json_t *v, int *err)
{
    ctx t = *c;
    int rc = check(&t, sub, v);

    if (rc == AIOS_ECORRUPT) {
        *c = t;
        *err = rc;
    }
    return rc == 0;
}

static int kw_any_of(ctx *c, const json_t *k, const json_t *s, const json_t *v)
{
    size_t i;
    const json_t *sub;
    int err = 0;

    json_array_foreach(k, i, sub) {
        if (conforms(c, sub, v, &err))
            return 0;
        if (err)
            return err;
    }
    return bad(c, "matches none of the allowed forms");
}

static int kw_one_of(ctx *c, const json_t *k, const json_t *s, const json_t *v)
{
    size_t i, hits = 0;
    const json_t *sub;
    int err = 0;

    json_array_foreach(k, i, sub) {
        if (conforms(c, sub, v, &err))
            hits++;
        if (err)
            return err;
    }
    if (hits == 1)
        return 0;
    return bad(c, hits ? "matches more than one of the allowed forms" : "matches none of the allowed forms");
}

static int kw_all_of(ctx *c, const json_t *k, const json_t *s, const json_t *v)
{
    size_t i;
    const json_t *sub;
    int rc;

    json_array_foreach(k, i, sub) {
        if ((rc = check(c, sub, v)) < 0)
            return rc;
    }
    return 0;
}

static int kw_not(ctx *c, const json_t *k, const json_t *s, const json_t *v)
{
    int err = 0;

    if (conforms(c, k, v, &err))
        return bad(c, "matches a form that is not allowed");
    return err;
}

static const json_t *resolve_ref(const json_t *root, const char *ref)
{
    static const struct {
        const char *prefix, *member;
    } places[] = {{"#/$defs/", "$defs"}, {"#/definitions/", "definitions"}};

    if (strcmp(ref, "#") == 0)
        return root;
    for (size_t i = 0; i < 2; i++) {
        size_t n = strlen(places[i].prefix);
        if (strncmp(ref, places[i].prefix, n) == 0) {
            const json_t *defs = json_object_get(root, places[i].member);
            return defs ? json_object_get(defs, ref + n) : NULL;
        }
    }
    return NULL;
}

static int kw_ref(ctx *c, const json_t *k, const json_t *s, const json_t *v)
{
    const json_t *target = resolve_ref(c->root, json_string_value(k));

    if (!target)
        return bad_schema(c, "unresolvable $ref '%s'", json_string_value(k));
    return check(c, target, v);
}

enum { T_OBJ = 1, T_ARR = 2, T_STR = 4, T_INT = 8, T_NUM = 16, T_BOOL = 32, T_ANY = 64 };

typedef struct {
    const char *name;
    unsigned holds;   /* JSON types allowed as the keyword's value in a schema */
    kw_fn fn;         /* NULL: annotation */
    int kind;         /* 0 plain, 1 schema, 2 map of schemas, 3 list of schemas */
} keyword;

static const keyword keywords[] = {
    {"type", T_STR | T_ARR, kw_type, 0},
    {"properties", T_OBJ, kw_properties, 2},
    {"required", T_ARR, kw_required, 0},
    {"additionalProperties", T_BOOL | T_OBJ, kw_additional, 1},
    {"items", T_OBJ | T_BOOL, kw_items, 1},
    {"minItems", T_INT, kw_min_items, 0},
    {"maxItems", T_INT, kw_max_items, 0},
    {"uniqueItems", T_BOOL, kw_unique, 0},
    {"minProperties", T_INT, kw_min_props, 0},
    {"maxProperties", T_INT, kw_max_props, 0},
    {"enum", T_ARR, kw_enum, 0},
    {"const", T_ANY, kw_const, 0},
    {"minimum", T_NUM, kw_minimum, 0},
    {"maximum", T_NUM, kw_maximum, 0},
    {"exclusiveMinimum", T_NUM, kw_xminimum, 0},
    {"exclusiveMaximum", T_NUM, kw_xmaximum, 0},
    {"multipleOf", T_NUM, kw_multiple, 0},
    {"minLength", T_INT, kw_min_len, 0},
    {"maxLength", T_INT, kw_max_len, 0},
    {"anyOf", T_ARR, kw_any_of, 3},
    {"oneOf", T_ARR, kw_one_of, 3},
    {"allOf", T_ARR, kw_all_of, 3},
    {"not", T_OBJ, kw_not, 1},
    {"$ref", T_STR, kw_ref, 0},
    {"$defs", T_OBJ, NULL, 2},
    {"definitions", T_OBJ, NULL, 2},
    {"title", T_STR, NULL, 0},
    {"description", T_STR, NULL, 0},
    {"default", T_ANY, NULL, 0},
    {"examples", T_ARR, NULL, 0},
    {"format", T_STR, NULL, 0},
    {"$schema", T_STR, NULL, 0},
    {"$id", T_STR, NULL, 0},
    {"$comment", T_STR, NULL, 0},
};

#define N_KEYWORDS (sizeof(keywords) / sizeof(keywords[0]))

static const keyword *find_kw(const char *name)
{
    for (size_t i = 0; i < N_KEYWORDS; i++)
        if (strcmp(keywords[i].name, name) == 0)
            return &keywords[i];
    return NULL;
}

static int check(ctx *c, const json_t *schema, const json_t *v)
{
    const char *key;
    const json_t *kval;
    int rc = 0;

    if (json_is_true(schema))
        return 0;
    if (json_is_false(schema))
        return bad(c, "is not allowed");
    if (!json_is_object(schema))
        return bad_schema(c, "a schema must be an object or a boolean");
    if (++c->depth > MAX_DEPTH) {
        c->depth--;
        return bad_schema(c, "schema nests too deeply (or $ref loops)");
    }
    json_object_foreach((json_t *)schema, key, kval) {
        const keyword *kw = find_kw(key);
        if (!kw) {
            rc = bad_schema(c, "unsupported keyword '%s'", key);
            break;
        }
        if (kw->fn && (rc = kw->fn(c, kval, schema, v)) < 0)
            break;
    }
    c->depth--;
    return rc;
}

static void copy_out(const char *src, char *dst, size_t len)
{
    if (dst && len) {
        strncpy(dst, src, len - 1);
        dst[len - 1] = '\0';
    }
}

int aios_jschema_check(const json_t *schema, const json_t *value, char *path_out,
                       size_t path_len, char *msg_out, size_t msg_len)
{
    ctx c = {.root = schema};
    int rc = check(&c, schema, value);

    copy_out(rc ? c.path : "", path_out, path_len);
    copy_out(rc ? c.msg : "", msg_out, msg_len);
    return rc;
}

/* ---- schema validation ------------------------------------------------------ */

static bool holds(unsigned mask, const json_t *v)
{
    if (mask & T_ANY)
        return true;
    switch (json_typeof(v)) {
    case JSON_OBJECT: return mask & T_OBJ;
    case JSON_ARRAY: return mask & T_ARR;
    case JSON_STRING: return mask & T_STR;
    case JSON_INTEGER: return mask & (T_INT | T_NUM);
    case JSON_REAL: return mask & T_NUM;
    case JSON_TRUE: case JSON_FALSE: return mask & T_BOOL;
    default: return false;
    }
}

static int vschema(ctx *c, const json_t *s);

static int vkeyword(ctx *c, const keyword *kw, const json_t *k)
{
    const char *key;
    const json_t *sub;
    size_t i;
    int rc;

    if (!holds(kw->holds, k))
        return bad_schema(c, "'%s' has a value of the wrong type", kw->name);
    if (kw->holds & T_INT && json_is_integer(k) && json_integer_value(k) < 0)
        return bad_schema(c, "'%s' must not be negative", kw->name);
    if (strcmp(kw->name, "type") == 0) {
        if (json_is_string(k) && !known_type(json_string_value(k)))
            return bad_schema(c, "unknown type '%s'", json_string_value(k));
        json_array_foreach(k, i, sub) {
            if (!json_is_string(sub) || !known_type(json_string_value(sub)))
                return bad_schema(c, "'type' lists an unknown type");
        }
        if (json_is_array(k) && json_array_size(k) == 0)
            return bad_schema(c, "'type' is an empty list");
    }
    if (strcmp(kw->name, "required") == 0) {
        json_array_foreach(k, i, sub) {
            if (!json_is_string(sub))
                return bad_schema(c, "'required' must list strings");
        }
    }
    if (strcmp(kw->name, "multipleOf") == 0 && json_number_value(k) <= 0)
        return bad_schema(c, "'multipleOf' must be positive");
    if (strcmp(kw->name, "$ref") == 0 && !resolve_ref(c->root, json_string_value(k)))
        return bad_schema(c, "unresolvable $ref '%s'", json_string_value(k));
    switch (kw->kind) {
    case 1:
        return vschema(c, k);
    case 2:
        json_object_foreach((json_t *)k, key, sub) {
            if ((rc = vschema(c, sub)) < 0)
                return rc;
        }
        return 0;
    case 3:
        if (json_array_size(k) == 0)
            return bad_schema(c, "'%s' is an empty list", kw->name);
        json_array_foreach(k, i, sub) {
            if ((rc = vschema(c, sub)) < 0)
                return rc;
        }
        return 0;
    default:
        return 0;
    }
}

static int vschema(ctx *c, const json_t *s)
{
    const char *key;
    const json_t *k;
    int rc = 0;

    if (json_is_boolean(s))
        return 0;
    if (!json_is_object(s))
        return bad_schema(c, "a schema must be an object or a boolean");
    if (++c->depth > MAX_DEPTH) {
        c->depth--;
        return bad_schema(c, "schema nests too deeply");
    }
    json_object_foreach((json_t *)s, key, k) {
        const keyword *kw = find_kw(key);
        if (!kw) {
            rc = bad_schema(c, "unsupported keyword '%s'", key);
            break;
        }
        if ((rc = vkeyword(c, kw, k)) < 0)
            break;
    }
    c->depth--;
    return rc;
}

int aios_jschema_validate_schema(const json_t *schema, char *msg_out, size_t msg_len)
{
    ctx c = {.root = schema};
    int rc = vschema(&c, schema);

    copy_out(rc ? c.msg : "", msg_out, msg_len);
    return rc;
}

/* ---- defaults ----------------------------------------------------------------- */

static int defaults(const json_t *schema, json_t *value, int depth)
{
    const json_t *props = json_object_get(schema, "properties");
    const char *key;
    json_t *sub;

    if (!json_is_object(props) || !json_is_object(value) || depth > MAX_DEPTH)
        return 0;
    json_object_foreach((json_t *)props, key, sub) {
        json_t *m = json_object_get(value, key);
        const json_t *d = json_object_get(sub, "default");
        if (!m && d) {
            if (json_object_set_new(value, key, json_deep_copy(d)) < 0)
                return AIOS_ENOMEM;
        } else if (m && json_is_object(m)) {
            int rc = defaults(sub, m, depth + 1);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

int aios_jschema_apply_defaults(const json_t *schema, json_t *value)
{
    return defaults(schema, value, 0);
}

/*
 * jsonschema_check.c - independent JSON Schema validation for tests (see
 * jsonschema_check.h).  A direct recursive reading of the keywords; slow
 * and simple on purpose.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonschema_check.h"

static bool fail(char *why, size_t n, const char *msg, const char *kw)
{
    if (why && n)
        snprintf(why, n, "%s (%s)", msg, kw);
    return false;
}

static const json_t *resolve(const json_t *root, const char *ref)
{
    const json_t *at = root;
    char buf[512];
    char *save = NULL, *tok;

    if (strcmp(ref, "#") == 0)
        return root;
    if (strncmp(ref, "#/", 2) != 0 || strlen(ref) >= sizeof(buf))
        return NULL;
    strcpy(buf, ref + 2);
    for (tok = strtok_r(buf, "/", &save); tok && at; tok = strtok_r(NULL, "/", &save)) {
        if (json_is_array(at))
            at = json_array_get(at, (size_t)atoi(tok));
        else
            at = json_object_get(at, tok);
    }
    return at;
}

static size_t codepoints(const char *s, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xc0) != 0x80)
            k++;
    return k;
}

static bool all_digits(const char *s, int n)
{
    for (int i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

static bool valid_date(const char *s)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, m, d;

    if (strlen(s) < 10 || s[4] != '-' || s[7] != '-' || !all_digits(s, 4) ||
        !all_digits(s + 5, 2) || !all_digits(s + 8, 2))
        return false;
    y = atoi(s);
    m = atoi(s + 5);
    d = atoi(s + 8);
    if (y < 1 || m < 1 || m > 12 || d < 1)
        return false;
    int lim = mdays[m - 1] + (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
    return d <= lim;
}

static bool valid_time(const char *s)
{
    /* HH:MM:SS then Z or +hh:mm / -hh:mm */
    if (strlen(s) < 9 || s[2] != ':' || s[5] != ':' || !all_digits(s, 2) ||
        !all_digits(s + 3, 2) || !all_digits(s + 6, 2))
        return false;
    if (atoi(s) > 23 || atoi(s + 3) > 59 || atoi(s + 6) > 59)
        return false;
    return strcmp(s + 8, "Z") == 0 || strcmp(s + 8, "z") == 0 ||
           (strlen(s + 8) == 6 && (s[8] == '+' || s[8] == '-'));
}

static bool valid_format(const char *f, const char *s)
{
    if (strcmp(f, "date") == 0)
        return strlen(s) == 10 && valid_date(s);
    if (strcmp(f, "time") == 0)
        return valid_time(s);
    if (strcmp(f, "date-time") == 0)
        return strlen(s) > 11 && valid_date(s) && (s[10] == 'T' || s[10] == 't') &&
               valid_time(s + 11);
    if (strcmp(f, "uuid") == 0) {
        if (strlen(s) != 36)
            return false;
        for (int i = 0; i < 36; i++) {
            bool dash = i == 8 || i == 13 || i == 18 || i == 23;
            char c = s[i];
            bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
            if (dash ? c != '-' : !hex)
                return false;
        }
        return true;
    }
    return true; /* unknown formats only annotate */
}

static bool type_is(const char *t, const json_t *v)
{
    if (strcmp(t, "string") == 0)
        return json_is_string(v);
    if (strcmp(t, "number") == 0)
        return json_is_number(v);
    if (strcmp(t, "integer") == 0)
        return json_is_integer(v) ||
               (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)));
    if (strcmp(t, "boolean") == 0)
        return json_is_boolean(v);
    if (strcmp(t, "null") == 0)
        return json_is_null(v);
    if (strcmp(t, "object") == 0)
        return json_is_object(v);
    if (strcmp(t, "array") == 0)
        return json_is_array(v);
    return false;
}

/* jansson compares 1 and 1.0 as different; JSON Schema does not. */
static bool same(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b))
        return json_number_value(a) == json_number_value(b);
    return json_equal(a, b);
}

bool tv_validate(const json_t *root, const json_t *s, const json_t *v, char *why, size_t n)
{
    const json_t *k, *t;

    if (json_is_true(s))
        return true;
    if (json_is_false(s))
        return fail(why, n, "false schema", "false");
    if (!json_is_object(s))
        return fail(why, n, "bad schema", "?");
    if ((k = json_object_get(s, "$ref"))) {
        const json_t *target = resolve(root, json_string_value(k));
        if (!target)
            return fail(why, n, "unresolved", "$ref");
        return tv_validate(root, target, v, why, n);
    }
    if (json_is_true(json_object_get(s, "nullable")) && json_is_null(v))
        return true;
    if ((k = json_object_get(s, "const")) && !same(k, v))
        return fail(why, n, "not the const", "const");
    if ((k = json_object_get(s, "enum"))) {
        size_t i;
        const json_t *e;
        bool hit = false;
        json_array_foreach(k, i, e) hit = hit || same(e, v);
        if (!hit)
            return fail(why, n, "not in enum", "enum");
    }
    if ((k = json_object_get(s, "anyOf"))) {
        size_t i;
        const json_t *a;
        bool hit = false;
        json_array_foreach(k, i, a) hit = hit || tv_validate(root, a, v, NULL, 0);
        if (!hit)
            return fail(why, n, "no alternative matches", "anyOf");
    }
    if ((k = json_object_get(s, "oneOf"))) {
        size_t i, hits = 0;
        const json_t *a;
        json_array_foreach(k, i, a) hits += tv_validate(root, a, v, NULL, 0);
        if (hits != 1)
            return fail(why, n, "not exactly one alternative", "oneOf");
    }
    if ((k = json_object_get(s, "allOf"))) {
        size_t i;
        const json_t *a;
        json_array_foreach(k, i, a) if (!tv_validate(root, a, v, why, n)) return false;
    }
    if ((t = json_object_get(s, "type"))) {
        bool ok = false;
        if (json_is_string(t)) {
            ok = type_is(json_string_value(t), v);
        } else {
            size_t i;
            const json_t *e;
            json_array_foreach(t, i, e) ok = ok || type_is(json_string_value(e), v);
        }
        if (!ok)
            return fail(why, n, "wrong type", "type");
    }
    if (json_is_string(v)) {
        size_t len = codepoints(json_string_value(v), json_string_length(v));
        if ((k = json_object_get(s, "minLength")) && (json_int_t)len < json_integer_value(k))
            return fail(why, n, "too short", "minLength");
        if ((k = json_object_get(s, "maxLength")) && (json_int_t)len > json_integer_value(k))
            return fail(why, n, "too long", "maxLength");
        if ((k = json_object_get(s, "format")) &&
            !valid_format(json_string_value(k), json_string_value(v)))
            return fail(why, n, "bad format", "format");
    }
    if (json_is_number(v)) {
        double x = json_number_value(v);
        if ((k = json_object_get(s, "minimum")) && x < json_number_value(k))
            return fail(why, n, "below", "minimum");
        if ((k = json_object_get(s, "maximum")) && x > json_number_value(k))
            return fail(why, n, "above", "maximum");
        if ((k = json_object_get(s, "exclusiveMinimum")) && json_is_number(k) &&
            x <= json_number_value(k))
            return fail(why, n, "not above", "exclusiveMinimum");
        if ((k = json_object_get(s, "exclusiveMaximum")) && json_is_number(k) &&
            x >= json_number_value(k))
            return fail(why, n, "not below", "exclusiveMaximum");
    }
    if (json_is_array(v)) {
        const json_t *prefix = json_object_get(s, "prefixItems");
        const json_t *items = json_object_get(s, "items");
        const json_t *rest = items;
        size_t i;
        const json_t *e;
        if (json_is_array(items)) {
            prefix = items;
            rest = json_object_get(s, "additionalItems");
        }
        if ((k = json_object_get(s, "minItems")) && (json_int_t)json_array_size(v) < json_integer_value(k))
            return fail(why, n, "too few", "minItems");
        if ((k = json_object_get(s, "maxItems")) && (json_int_t)json_array_size(v) > json_integer_value(k))
            return fail(why, n, "too many", "maxItems");
        json_array_foreach(v, i, e) {
            const json_t *is = i < json_array_size(prefix) ? json_array_get(prefix, i) : rest;
            if (is && !tv_validate(root, is, e, why, n))
                return false;
        }
    }
    if (json_is_object(v)) {
        const json_t *props = json_object_get(s, "properties");
        const json_t *addl = json_object_get(s, "additionalProperties");
        const char *key;
        const json_t *e;
        size_t i;
        json_array_foreach(json_object_get(s, "required"), i, e) {
            if (!json_object_get(v, json_string_value(e)))
                return fail(why, n, json_string_value(e), "required");
        }
        json_object_foreach((json_t *)v, key, e) {
            const json_t *ps = json_object_get(props, key);
            if (ps) {
                if (!tv_validate(root, ps, e, why, n))
                    return false;
            } else if (addl && !tv_validate(root, addl, e, why, n)) {
                return fail(why, n, key, "additionalProperties");
            }
        }
    }
    return true;
}

/*
 * test_manifest.c - tool manifests: the shipped ones load, bad ones are
 * refused naming the field, arguments are checked against the schema (with
 * defaults), templates expand, call policies layer correctly, and the
 * registry keeps names, replacement rules and the LLM rendering.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "aios/error.h"
#include "aios/tools.h"

static json_t *J(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);

    cr_assert_not_null(j, "test json: %s: %s", e.text, text);
    return j;
}

static tool_manifest *parse_ok(const char *text)
{
    char field[256], msg[256];
    tool_manifest *m = NULL;
    json_t *j = J(text);
    int rc = tool_manifest_parse(j, &m, field, sizeof(field), msg, sizeof(msg));

    cr_assert_eq(rc, 0, "%s: %s", field, msg);
    json_decref(j);
    return m;
}

static void parse_bad(const char *text, const char *want_field)
{
    char field[256] = "?", msg[256] = "";
    tool_manifest *m = NULL;
    json_t *j = J(text);
    int rc = tool_manifest_parse(j, &m, field, sizeof(field), msg, sizeof(msg));

    cr_assert_eq(rc, AIOS_EINVAL, "accepted: %s", text);
    cr_assert_null(m);
    cr_assert_str_eq(field, want_field, "field '%s' (%s) for %s", field, msg, text);
    cr_assert(msg[0]);
    json_decref(j);
}

#define OKP "\"parameters\":{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}}}"

Test(tool_manifest, shipped_manifests_load, .timeout = 10)
{
    tool_registry *r;
    static const char *const names[] = {"calculator", "fs_read", "fs_search", "fs_write",
                                        "http_get", "python", "shell"};
    json_t *list;

    cr_assert_eq(tool_registry_new(&r), 0);
    cr_assert_eq(tool_registry_load_dir(r, "tools/manifests", true), 7);
    list = tool_registry_list(r);
    cr_assert_eq(json_array_size(list), 7);
    for (size_t i = 0; i < 7; i++)
        cr_assert_str_eq(json_string_value(json_object_get(json_array_get(list, i), "name")),
                         names[i]);
    json_decref(list);
    list = tool_registry_llm(r);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(list, 6), "type")),
                     "function");
    cr_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(json_array_get(list, 6), "function"), "name")),
                     "shell");
    json_decref(list);
    cr_assert_eq(tool_registry_load_dir(r, "/no/such/folder", true), AIOS_ENOENT);
    tool_registry_free(r);
}

Test(tool_manifest, refuses_bad_ones, .timeout = 10)
{
    parse_bad("{\"description\":\"d\"," OKP ",\"run\":{\"builtin\":\"calculator\"}}", "name");
    parse_bad("{\"name\":\"Bad-Name\",\"description\":\"d\"," OKP
              ",\"run\":{\"builtin\":\"calculator\"}}",
              "name");
    parse_bad("{\"name\":\"t\",\"description\":\"d\",\"parameters\":{\"type\":\"array\"},"
              "\"run\":{\"builtin\":\"calculator\"}}",
              "parameters.type");
    parse_bad("{\"name\":\"t\",\"description\":\"d\",\"parameters\":{\"type\":\"object\","
              "\"bogus\":1},\"run\":{\"builtin\":\"calculator\"}}",
              "parameters");
    parse_bad("{\"name\":\"t\",\"description\":\"d\"," OKP ",\"run\":{}}", "run");
    parse_bad("{\"name\":\"t\",\"description\":\"d\"," OKP
              ",\"run\":{\"builtin\":\"calculator\",\"argv\":[\"/bin/x\"]}}",
              "run");
    parse_bad("{\"name\":\"t\",\"description\":\"d\"," OKP ",\"run\":{\"builtin\":\"nope\"}}",
              "run.builtin");
    parse_bad("{\"name\":\"t\",\"description\":\"d\"," OKP
              ",\"run\":{\"argv\":[\"/bin/echo\",\"{a}\",\"{zzz}\"]}}",
              "run.argv.2");
    parse_bad("{\"name\":\"t\",\"description\":\"d\"," OKP
              ",\"run\":{\"argv\":[\"/bin/echo\",\"{a\"]}}",
              "run.argv.1");
    parse_bad("{\"name\":\"t\",\"description\":\"d\"," OKP ",\"run\":{\"argv\":[\"echo\"]}}",
              "run.argv.0");
    parse_bad("{\"name\":\"t\",\"description\":\"d\"," OKP
              ",\"run\":{\"argv\":[\"/bin/echo\"]},\"policy\":{\"uid\":0}}",
              "policy.uid");
    parse_bad("{\"name\":\"t\",\"description\":\"d\"," OKP
              ",\"run\":{\"argv\":[\"/bin/echo\"]},\"policy\":{\"limits\":{\"wall_ms\":-5}}}",
              "policy.limits.wall_ms");
    parse_bad("{\"name\":\"t\",\"description\":\"d\"," OKP
              ",\"run\":{\"argv\":[\"/bin/echo\"]},\"policy\":{\"require\":[\"magic\"]}}",
              "policy.require.0");
    parse_bad("{\"name\":\"t\",\"description\":\"\"," OKP ",\"run\":{\"argv\":[\"/bin/e\"]}}",
              "description");
}

Test(tool_manifest, arguments_are_checked, .timeout = 10)
{
    tool_registry *r;
    tool_manifest *m;
    char path[256], msg[256];
    json_t *args;

    cr_assert_eq(tool_registry_new(&r), 0);
    cr_assert_eq(tool_registry_load_dir(r, "tools/manifests", true), 7);
    m = tool_registry_get(r, "shell");
    cr_assert_not_null(m);
    args = J("{}");
    cr_assert_eq(tool_check_args(m, args, path, sizeof(path), msg, sizeof(msg)), AIOS_EINVAL);
    json_decref(args);
    args = J("{\"command\":5}");
    cr_assert_eq(tool_check_args(m, args, path, sizeof(path), msg, sizeof(msg)), AIOS_EINVAL);
    cr_assert_str_eq(path, "args.command");
    json_decref(args);
    args = J("{\"command\":\"ls\",\"extra\":1}");
    cr_assert_eq(tool_check_args(m, args, path, sizeof(path), msg, sizeof(msg)), AIOS_EINVAL);
    cr_assert(strstr(path, "extra"), "%s", path);
    json_decref(args);
    args = J("[1]");
    cr_assert_eq(tool_check_args(m, args, path, sizeof(path), msg, sizeof(msg)), AIOS_EINVAL);
    json_decref(args);
    tool_manifest_unref(m);

    m = tool_registry_get(r, "calculator");
    args = J("{\"expression\":\"1+1\"}");
    cr_assert_eq(tool_check_args(m, args, path, sizeof(path), msg, sizeof(msg)), 0);
    cr_assert_eq(json_integer_value(json_object_get(args, "scale")), 20, "default applied");
    json_decref(args);
    args = J("{\"expression\":\"1+1\",\"scale\":5000}");
    cr_assert_eq(tool_check_args(m, args, path, sizeof(path), msg, sizeof(msg)), AIOS_EINVAL);
    cr_assert_str_eq(path, "args.scale");
    json_decref(args);
    tool_manifest_unref(m);
    tool_registry_free(r);
}

Test(tool_manifest, templates_and_policy, .timeout = 10)
{
    tool_manifest *m = parse_ok(
        "{\"name\":\"t\",\"description\":\"d\",\"parameters\":{\"type\":\"object\",\"properties\":{"
        "\"a\":{\"type\":\"string\"},\"b\":{\"type\":\"integer\"},\"list\":{\"type\":\"array\"},"
        "\"opt\":{\"type\":\"string\"},\"flag\":{\"type\":\"boolean\"}}},"
        "\"run\":{\"argv\":[\"/bin/echo\",\"{a}\",\"x{b}y\",\"{list}\",\"{{lit}}\",\"{opt}\","
        "\"{flag}\"],\"stdin\":\"in:{a}\"},"
        "\"policy\":{\"env\":{\"EXTRA\":\"1\"},\"limits\":{\"wall_ms\":1234},\"network\":false}}");
    json_t *args = J("{\"a\":\"one two\",\"b\":2,\"list\":[\"p\",\"q\"],\"flag\":true}");
    sbx_policy base, p;
    char *in = NULL, msg[256];
    size_t in_len = 0;
    static const char *const want[] = {"/bin/echo", "one two", "x2y", "p", "q", "{lit}", "true"};
    bool has_path = false, has_extra = false;

    sbx_policy_init(&base);
    cr_assert_eq(sbx_policy_setenv(&base, "PATH", "/usr/bin:/bin"), 0);
    base.limits.stdout_cap = 777;
    cr_assert_eq(tool_build_policy(m, args, &base, &p, &in, &in_len, msg, sizeof(msg)), 0, "%s",
                 msg);
    cr_assert_eq(p.argc, 7);
    for (size_t i = 0; i < 7; i++)
        cr_assert_str_eq(p.argv[i], want[i], "argv[%zu]", i);
    cr_assert_str_eq(in, "in:one two");
    cr_assert_eq(in_len, strlen("in:one two"));
    cr_assert_eq(p.limits.wall_ms, 1234);
    cr_assert_eq(p.limits.stdout_cap, 777, "the base's limits stay unless overridden");
    for (size_t i = 0; i < p.envc; i++) {
        has_path |= strcmp(p.env[i], "PATH=/usr/bin:/bin") == 0;
        has_extra |= strcmp(p.env[i], "EXTRA=1") == 0;
    }
    cr_assert(has_path && has_extra, "the manifest's env adds to the base's");
    free(in);
    sbx_policy_clear(&p);
    sbx_policy_clear(&base);
    json_decref(args);
    tool_manifest_unref(m);
}

Test(tool_manifest, registry_rules, .timeout = 10)
{
    tool_registry *r;
    tool_manifest *a = parse_ok("{\"name\":\"alpha\",\"description\":\"first\"," OKP
                                ",\"run\":{\"argv\":[\"/bin/true\"]}}");
    tool_manifest *a2 = parse_ok("{\"name\":\"alpha\",\"description\":\"second\"," OKP
                                 ",\"run\":{\"argv\":[\"/bin/true\"]}}");
    tool_manifest *b = parse_ok("{\"name\":\"beta\",\"description\":\"shipped\"," OKP
                                ",\"run\":{\"builtin\":\"calculator\"}}");
    tool_manifest *got;

    cr_assert_eq(tool_registry_new(&r), 0);
    cr_assert_eq(tool_registry_add(r, a, false, false), 0);
    cr_assert_eq(tool_registry_add(r, a2, false, false), AIOS_EEXIST);
    cr_assert_eq(tool_registry_add(r, a2, false, true), 0);
    got = tool_registry_get(r, "alpha");
    cr_assert_str_eq(json_string_value(json_object_get(tool_manifest_json(got), "description")),
                     "second");
    tool_manifest_unref(got);
    cr_assert_eq(tool_registry_add(r, b, true, false), 0);
    cr_assert_eq(tool_registry_add(r, b, false, true), AIOS_EPERM, "shipped tools stay");
    cr_assert_eq(tool_registry_remove(r, "beta"), AIOS_EPERM);
    cr_assert_eq(tool_registry_remove(r, "alpha"), 0);
    cr_assert_eq(tool_registry_remove(r, "alpha"), AIOS_ENOENT);
    cr_assert_null(tool_registry_get(r, "alpha"));
    cr_assert_eq(tool_registry_count(r), 1);
    cr_assert_str_eq(tool_manifest_builtin(b), "calculator");
    tool_registry_free(r);
    tool_manifest_unref(a);
    tool_manifest_unref(a2);
    tool_manifest_unref(b);
}

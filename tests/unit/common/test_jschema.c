/* test_jschema.c - the schema checker: types, paths, messages, bad schemas. */
#include <criterion/criterion.h>
#include <string.h>

#include "aios/error.h"
#include "aios/jschema.h"

static const char *SCHEMA =
    "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"messages\"],"
    "\"properties\":{"
    "\"messages\":{\"type\":\"array\",\"minItems\":1,\"items\":{\"type\":\"object\","
    "  \"required\":[\"role\",\"content\"],\"properties\":{"
    "  \"role\":{\"enum\":[\"system\",\"user\",\"assistant\",\"tool\"]},"
    "  \"content\":{\"type\":\"string\",\"maxLength\":5}}}},"
    "\"temperature\":{\"type\":\"number\",\"minimum\":0,\"maximum\":2,\"default\":1},"
    "\"max_tokens\":{\"type\":\"integer\",\"exclusiveMinimum\":0},"
    "\"stop\":{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"array\",\"items\":{\"type\":\"string\"}}]},"
    "\"opt\":{\"$ref\":\"#/$defs/o\"}},"
    "\"$defs\":{\"o\":{\"type\":\"object\",\"properties\":{\"k\":{\"type\":\"integer\",\"default\":3}}}}}";

static int chk(const char *value, char *path, char *msg)
{
    json_error_t e;
    json_t *s = json_loads(SCHEMA, 0, &e), *v = json_loads(value, JSON_DECODE_ANY, &e);
    int rc;

    cr_assert_not_null(s, "%s", e.text);
    cr_assert_not_null(v, "%s", value);
    rc = aios_jschema_check(s, v, path, 128, msg, 128);
    json_decref(s);
    json_decref(v);
    return rc;
}

Test(jschema, accepts_valid)
{
    char p[128], m[128];
    cr_assert_eq(chk("{\"messages\":[{\"role\":\"user\",\"content\":\"héllo\"}],\"temperature\":1.5,"
                     "\"max_tokens\":4.0,\"stop\":[\"a\"],\"opt\":{\"k\":2}}", p, m), 0, "%s %s", p, m);
    cr_assert_eq(chk("{\"messages\":[{\"role\":\"tool\",\"content\":\"\"}],\"stop\":\"x\"}", p, m), 0);
}

Test(jschema, reports_path_and_message)
{
    char p[128], m[128];
    cr_assert_eq(chk("{\"messages\":[{\"role\":\"user\",\"content\":\"a\"},{\"role\":\"bot\",\"content\":\"b\"}]}", p, m),
                 AIOS_EINVAL);
    cr_assert_str_eq(p, "messages[1].role");
    cr_assert(strstr(m, "one of 'system'"), "%s", m);
    cr_assert_eq(chk("{}", p, m), AIOS_EINVAL);
    cr_assert_str_eq(p, "messages");
    cr_assert_str_eq(m, "is required");
    cr_assert_eq(chk("{\"messages\":[{\"role\":\"user\",\"content\":\"toolong\"}]}", p, m), AIOS_EINVAL);
    cr_assert_str_eq(p, "messages[0].content");
    cr_assert_eq(chk("{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"temperature\":\"hot\"}", p, m),
                 AIOS_EINVAL);
    cr_assert_str_eq(p, "temperature");
    cr_assert_str_eq(m, "must be a number");
    cr_assert_eq(chk("{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"max_tokens\":1.5}", p, m), AIOS_EINVAL);
    cr_assert_eq(chk("{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"max_tokens\":0}", p, m), AIOS_EINVAL);
    cr_assert_eq(chk("{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"bogus\":1}", p, m), AIOS_EINVAL);
    cr_assert_str_eq(p, "bogus");
    cr_assert_eq(chk("{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"stop\":[1]}", p, m), AIOS_EINVAL);
    cr_assert_eq(chk("{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"opt\":{\"k\":\"x\"}}", p, m), AIOS_EINVAL);
    cr_assert_str_eq(p, "opt.k");
    cr_assert_eq(chk("[]", p, m), AIOS_EINVAL);
    cr_assert_str_eq(p, "");
}

Test(jschema, rejects_bad_schemas)
{
    static const char *bad[] = {
        "{\"type\":\"strng\"}", "{\"tpye\":\"string\"}", "{\"minLength\":-1}",
        "{\"properties\":{\"a\":{\"type\":1}}}", "{\"$ref\":\"#/$defs/none\"}",
        "{\"anyOf\":[]}", "{\"required\":[1]}", "{\"multipleOf\":0}", "3",
    };
    char m[128];
    json_error_t e;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *s = json_loads(bad[i], JSON_DECODE_ANY, &e);
        cr_assert_not_null(s);
        cr_assert_eq(aios_jschema_validate_schema(s, m, sizeof(m)), AIOS_ECORRUPT, "%s accepted", bad[i]);
        cr_assert(m[0]);
        json_decref(s);
    }
    json_t *s = json_loads(SCHEMA, 0, &e);
    cr_assert_eq(aios_jschema_validate_schema(s, m, sizeof(m)), 0, "%s", m);
    json_decref(s);
}

Test(jschema, ref_loop_is_bounded)
{
    json_error_t e;
    json_t *s = json_loads("{\"$ref\":\"#\"}", 0, &e), *v = json_integer(1);
    cr_assert_eq(aios_jschema_check(s, v, NULL, 0, NULL, 0), AIOS_ECORRUPT);
    json_decref(s);
    json_decref(v);
}

Test(jschema, defaults)
{
    json_error_t e;
    json_t *s = json_loads(SCHEMA, 0, &e), *v = json_loads("{\"opt\":{}}", 0, &e);
    cr_assert_eq(aios_jschema_apply_defaults(s, v), 0);
    cr_assert_eq(json_number_value(json_object_get(v, "temperature")), 1.0);
    json_decref(s);
    json_decref(v);
}

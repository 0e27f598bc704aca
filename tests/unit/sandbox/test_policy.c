/*
 * test_policy.c - sandbox policies: defaults, JSON round trip, rejection of
 * bad keys and values with the offending field named.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "aios/error.h"
#include "aios/sandbox.h"

static int update(sbx_policy *p, const char *text, char *field, size_t fl)
{
    json_error_t e;
    json_t *j = json_loads(text, JSON_ALLOW_NUL, &e);
    char msg[256];
    int rc;

    cr_assert_not_null(j, "test json: %s", e.text);
    rc = sbx_policy_update(p, j, field, fl, msg, sizeof(msg));
    json_decref(j);
    return rc;
}

Test(sbx_policy, layer_tables, .timeout = 5)
{
    cr_assert_eq(sbx_layer_from_name("seccomp"), SBX_L_SECCOMP);
    cr_assert_str_eq(sbx_layer_name(SBX_L_USERNS), "userns");
    cr_assert_eq(sbx_layer_from_name("nope"), -1);
    cr_assert_null(sbx_layer_name(SBX_L_COUNT));
    for (int i = 0; i < SBX_L_COUNT; i++) {
        cr_assert_eq(sbx_layer_from_name(sbx_layer_name(i)), i);
        cr_assert_not_null(sbx_layer_desc(i));
    }
    cr_assert_eq(sbx_state_from_name("applied"), SBX_ST_APPLIED);
    cr_assert_str_eq(sbx_state_name(SBX_ST_UNAVAILABLE), "unavailable");
}

Test(sbx_policy, defaults_and_roundtrip, .timeout = 5)
{
    sbx_policy a, b;
    char field[64];
    json_t *ja, *jb;

    sbx_policy_init(&a);
    cr_assert(a.system_binds);
    cr_assert(!a.network);
    cr_assert(a.require & (1u << SBX_L_SECCOMP));
    cr_assert(!(a.require & (1u << SBX_L_CGROUP)));
    cr_assert_eq(update(&a,
                        "{\"argv\":[\"/bin/echo\",\"hi\"],\"env\":{\"A\":\"1\",\"B\":\"x=y\"},"
                        "\"cwd\":\"/work\",\"binds\":[\"/opt\",{\"src\":\"/srv/d\",\"dst\":\"/data\","
                        "\"rw\":true}],\"limits\":{\"wall_ms\":1500,\"nproc\":7},"
                        "\"require\":[\"seccomp\",\"caps\"],\"hostname\":\"box\"}",
                        field, sizeof(field)),
                 0);
    cr_assert_eq(a.argc, 2);
    cr_assert_str_eq(a.argv[1], "hi");
    cr_assert_null(a.argv[2]);
    cr_assert_eq(a.envc, 2);
    cr_assert_eq(a.nbinds, 2);
    cr_assert_str_eq(a.binds[0].dst, "/opt");
    cr_assert(a.binds[1].rw);
    cr_assert_eq(a.limits.wall_ms, 1500);
    cr_assert_eq(a.limits.nproc, 7);
    cr_assert_eq(a.require, (1u << SBX_L_SECCOMP) | (1u << SBX_L_CAPS));

    /* to JSON and back gives the same JSON */
    ja = sbx_policy_to_json(&a);
    sbx_policy_init(&b);
    cr_assert_eq(sbx_policy_update(&b, ja, field, sizeof(field), NULL, 0), 0);
    jb = sbx_policy_to_json(&b);
    cr_assert(json_equal(ja, jb));
    json_decref(ja);
    json_decref(jb);

    /* deep copy, then setenv replaces */
    sbx_policy_clear(&b);
    cr_assert_eq(sbx_policy_copy(&b, &a), 0);
    cr_assert_eq(sbx_policy_setenv(&b, "A", "2"), 0);
    cr_assert_eq(b.envc, 2);
    cr_assert_str_eq(b.env[0], "A=2");
    cr_assert_str_eq(a.env[0], "A=1");
    sbx_policy_clear(&a);
    sbx_policy_clear(&b);
    sbx_policy_clear(NULL);
}

Test(sbx_policy, rejects_with_field, .timeout = 5)
{
    static const struct {
        const char *json, *field;
    } bad[] = {
        {"{\"argv\":[]}", "argv"},
        {"{\"argv\":[\"\"]}", "argv"},
        {"{\"argv\":[\"/bin/sh\",3]}", "argv.1"},
        {"{\"argv\":[\"a\\u0000b\"]}", "argv.0"},
        {"{\"env\":{\"1BAD\":\"x\"}}", "env.1BAD"},
        {"{\"env\":{\"A\":5}}", "env.A"},
        {"{\"cwd\":\"relative\"}", "cwd"},
        {"{\"binds\":[\"/usr/../etc\"]}", "binds.0"},
        {"{\"binds\":[{\"src\":\"/x\",\"dst\":\"/proc/1\"}]}", "binds.0"},
        {"{\"binds\":[\"/\"]}", "binds.0"},
        {"{\"workdir\":\"/\"}", "workdir"},
        {"{\"limits\":{\"wall_ms\":-1}}", "limits.wall_ms"},
        {"{\"limits\":{\"bogus\":1}}", "limits.bogus"},
        {"{\"require\":[\"seccomp\",\"magic\"]}", "require.1"},
        {"{\"uid\":0}", "uid"},
        {"{\"hostname\":\"bad host\"}", "hostname"},
        {"{\"network\":\"yes\"}", "network"},
        {"{\"surprise\":1}", "surprise"},
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        sbx_policy p;
        char field[64];

        sbx_policy_init(&p);
        cr_assert_eq(update(&p, bad[i].json, field, sizeof(field)), AIOS_EINVAL, "%s",
                     bad[i].json);
        cr_assert_str_eq(field, bad[i].field, "%s: field '%s'", bad[i].json, field);
        sbx_policy_clear(&p);
    }
}

/*
 * test_spawn.c - real programs in the real sandbox through sbx_spawn:
 * output and exit codes, stdin, layers, the exact environment, timeouts that
 * kill the whole tree, output caps, cancellation, required layers, the warm
 * pool.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>

#include "aios/error.h"
#include "tests/unit/sandbox/sbx_test.h"

static const char *jstr(json_t *r, const char *k)
{
    return json_string_value(json_object_get(r, k));
}

static long long jint(json_t *r, const char *k)
{
    return json_integer_value(json_object_get(r, k));
}

static const char *layer(json_t *r, const char *name)
{
    return json_string_value(json_object_get(json_object_get(r, "layers"), name));
}

Test(sbx_spawn, output_and_exit_code, .timeout = 30)
{
    json_t *r = sbx_test_run(
        "{\"argv\":[\"/bin/sh\",\"-c\",\"echo out; echo err >&2; exit 3\"]}", NULL, NULL, NULL);

    cr_assert_not_null(r);
    cr_assert_eq(jint(r, "exit_code"), 3);
    cr_assert_str_eq(jstr(r, "stdout"), "out\n");
    cr_assert_str_eq(jstr(r, "stderr"), "err\n");
    cr_assert(json_is_null(json_object_get(r, "signal")));
    cr_assert(!json_is_true(json_object_get(r, "timed_out")));
    cr_assert_null(json_object_get(r, "error"));
    json_decref(r);
}

Test(sbx_spawn, stdin_is_passed, .timeout = 30)
{
    sbx_test_opts o = {.stdin_data = "line one\nline two\n"};
    json_t *r = sbx_test_run("{\"argv\":[\"/usr/bin/wc\",\"-l\"]}", &o, NULL, NULL);

    cr_assert_not_null(r);
    cr_assert_eq(jint(r, "exit_code"), 0);
    cr_assert_str_eq(jstr(r, "stdout"), "2\n");
    json_decref(r);
}

Test(sbx_spawn, environment_is_exactly_the_policy, .timeout = 30)
{
    json_t *r = sbx_test_run("{\"argv\":[\"/usr/bin/env\"],\"env\":{\"ONLY\":\"this\"}}", NULL,
                             NULL, NULL);

    cr_assert_not_null(r);
    cr_assert_str_eq(jstr(r, "stdout"), "ONLY=this\n");
    json_decref(r);
}

Test(sbx_spawn, layers_hold, .timeout = 30)
{
    static const char *const always[] = {"userns", "pidns", "mntns", "netns", "ipcns",
                                         "utsns", "root", "proc", "dev", "session",
                                         "fds", "env", "rlimits", "caps", "no_new_privs",
                                         "seccomp"};
    json_t *r = sbx_test_run(
        "{\"argv\":[\"/bin/sh\",\"-c\",\"grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):' "
        "/proc/self/status; id -u; ls /; cat /etc/shadow 2>&1 || true\"]}",
        NULL, NULL, NULL);
    const char *out;

    cr_assert_not_null(r);
    out = jstr(r, "stdout");
    cr_assert(strstr(out, "CapEff:\t0000000000000000"), "%s", out);
    cr_assert(strstr(out, "CapBnd:\t0000000000000000"), "%s", out);
    cr_assert(strstr(out, "NoNewPrivs:\t1"), "%s", out);
    cr_assert(strstr(out, "Seccomp:\t2"), "%s", out);
    cr_assert(strstr(out, "1000\n"), "%s", out);
    cr_assert(strstr(out, "No such file"), "/etc/shadow must not exist: %s", out);
    cr_assert(!strstr(out, "root\n") && !strstr(out, "home\n"), "%s", out);
    for (size_t i = 0; i < sizeof(always) / sizeof(always[0]); i++)
        cr_assert_str_eq(layer(r, always[i]), "applied", "layer %s", always[i]);
    /* a layer that is not applied is reported, never silently missing */
    for (int i = 0; i < SBX_L_COUNT; i++)
        cr_assert(json_is_string(json_object_get(json_object_get(r, "layers"),
                                                 sbx_layer_name(i))));
    json_decref(r);
}

Test(sbx_spawn, timeout_kills_the_whole_tree, .timeout = 30)
{
    json_t *r = sbx_test_run(
        "{\"argv\":[\"/bin/sh\",\"-c\",\"(setsid sleep 60 &); sleep 60 & sleep 60\"],"
        "\"limits\":{\"wall_ms\":1500}}",
        NULL, NULL, NULL);
    json_t *sb;
    unsigned host_uid;

    cr_assert_not_null(r);
    cr_assert(json_is_true(json_object_get(r, "timed_out")));
    cr_assert_eq(jint(r, "signal"), SIGKILL);
    cr_assert(json_number_value(json_object_get(r, "wall_ms")) < 5000);
    sb = json_object_get(r, "sandbox");
    host_uid = (unsigned)json_integer_value(json_object_get(sb, "host_uid"));
    cr_assert(host_uid != 0);
    /* nothing of the tool's uid is left, not even the setsid'd grandchild */
    if (sbx_test_is_root())
        cr_assert_eq(sbx_test_count_uid(host_uid), 0);
    json_decref(r);
}

Test(sbx_spawn, output_cap_holds, .timeout = 30)
{
    size_t streamed = 0;
    json_t *r = sbx_test_run(
        "{\"argv\":[\"/bin/sh\",\"-c\",\"yes xxxxxxxxxxxxxxxx & yes yyyyyyyy >&2; wait\"],"
        "\"limits\":{\"wall_ms\":5000,\"stdout_cap\":4096,\"stderr_cap\":1000}}",
        NULL, NULL, &streamed);

    cr_assert_not_null(r);
    cr_assert(json_is_true(json_object_get(r, "stdout_truncated")));
    cr_assert(json_is_true(json_object_get(r, "stderr_truncated")));
    cr_assert_eq(strlen(jstr(r, "stdout")), 4096);
    cr_assert_eq(strlen(jstr(r, "stderr")), 1000);
    cr_assert_eq(streamed, 5096);
    /* the tool dies of the closed pipe long before the wall clock */
    cr_assert(!json_is_true(json_object_get(r, "timed_out")));
    json_decref(r);
}

Test(sbx_spawn, drain_counts_everything, .timeout = 30)
{
    json_t *r = sbx_test_run(
        "{\"argv\":[\"/bin/sh\",\"-c\",\"head -c 20000000 /dev/zero\"],\"drain\":true,"
        "\"limits\":{\"wall_ms\":10000,\"stdout_cap\":1024}}",
        NULL, NULL, NULL);

    cr_assert_not_null(r);
    cr_assert_eq(jint(r, "exit_code"), 0);
    cr_assert(json_is_true(json_object_get(r, "stdout_truncated")));
    cr_assert_eq(jint(r, "stdout_bytes"), 20000000);
    json_decref(r);
}

Test(sbx_spawn, cancel_kills, .timeout = 30)
{
    /* cancelled once the tool runs (the sandbox may take a while to build
     * on a loaded machine; a cancel before the tool starts has no signal) */
    sbx_test_opts o = {.cancel_after_ms = 50, .cancel_after_output = true};
    json_t *r = sbx_test_run("{\"argv\":[\"/bin/sh\",\"-c\",\"echo up; exec /bin/sleep 60\"]}", &o, NULL, NULL);

    cr_assert_not_null(r);
    cr_assert(json_is_true(json_object_get(r, "cancelled")));
    cr_assert_eq(jint(r, "signal"), SIGKILL);
    cr_assert(json_number_value(json_object_get(r, "wall_ms")) < 5000);
    json_decref(r);
}

Test(sbx_spawn, missing_program, .timeout = 30)
{
    json_t *r = sbx_test_run("{\"argv\":[\"/no/such/tool\"]}", NULL, NULL, NULL);

    cr_assert_not_null(r);
    cr_assert_str_eq(jstr(r, "error_code"), "ENOENT");
    cr_assert_str_eq(jstr(r, "error_stage"), "exec");
    json_decref(r);
}

Test(sbx_spawn, required_layer_missing_is_an_error, .timeout = 30)
{
    /* a cgroup folder that does not exist: the cgroup layer is unavailable */
    json_t *r = sbx_test_run("{\"argv\":[\"/usr/bin/true\"],\"require\":[\"seccomp\",\"cgroup\"],"
                             "\"cgroup_parent\":\"/aios-test-no-such-cgroup\"}",
                             NULL, NULL, NULL);

    cr_assert_not_null(r);
    cr_assert_str_eq(jstr(r, "error_code"), "ESANDBOX");
    cr_assert_str_eq(jstr(r, "error_stage"), "cgroup");
    cr_assert(json_is_null(json_object_get(r, "exit_code")));
    json_decref(r);
}

Test(sbx_spawn, not_required_layer_is_reported, .timeout = 30)
{
    json_t *r = sbx_test_run("{\"argv\":[\"/usr/bin/true\"],"
                             "\"cgroup_parent\":\"/aios-test-no-such-cgroup\"}",
                             NULL, NULL, NULL);

    cr_assert_not_null(r);
    cr_assert_eq(jint(r, "exit_code"), 0);
    cr_assert_str_eq(layer(r, "cgroup"), "unavailable");
    json_decref(r);
}

Test(sbx_spawn, workdir_and_binds, .timeout = 30)
{
    char dir[] = "/tmp/aios-sbx-test-XXXXXX", pol[1024], path[256];
    json_t *r;
    FILE *f;

    cr_assert_not_null(mkdtemp(dir));
    chmod(dir, 0777);
    snprintf(path, sizeof(path), "%s/in.txt", dir);
    f = fopen(path, "w");
    fputs("hello from the host\n", f);
    fclose(f);
    snprintf(pol, sizeof(pol),
             "{\"argv\":[\"/bin/sh\",\"-c\",\"cat /data/in.txt; echo made > /data/out.txt; "
             "echo $? ; touch /usr/x 2>&1; echo w > /work/f && cat /work/f\"],"
             "\"binds\":[{\"src\":\"%s\",\"dst\":\"/data\",\"rw\":true}]}",
             dir);
    r = sbx_test_run(pol, NULL, NULL, NULL);
    cr_assert_not_null(r);
    cr_assert(strstr(jstr(r, "stdout"), "hello from the host"), "%s", jstr(r, "stdout"));
    cr_assert(strstr(jstr(r, "stdout"), "Read-only file system"), "%s", jstr(r, "stdout"));
    cr_assert(strstr(jstr(r, "stdout"), "w\n"), "%s", jstr(r, "stdout"));
    snprintf(path, sizeof(path), "%s/out.txt", dir);
    cr_assert_eq(access(path, F_OK), 0, "the rw bind must let the tool write");
    json_decref(r);
    unlink(path);
    snprintf(path, sizeof(path), "%s/in.txt", dir);
    unlink(path);
    rmdir(dir);
}

Test(sbx_spawn, warm_pool_serves_a_call, .timeout = 60)
{
    sbx_test_opts o = {.pool = 1, .runs = 1};
    json_t *r = sbx_test_run("{\"argv\":[\"/bin/sh\",\"-c\",\"echo warm $((6*7))\"]}", &o, NULL,
                             NULL);

    cr_assert_not_null(r);
    cr_assert(json_is_true(json_object_get(r, "warm")));
    cr_assert_str_eq(jstr(r, "stdout"), "warm 42\n");
    cr_assert_str_eq(layer(r, "seccomp"), "applied");
    cr_assert_str_eq(layer(r, "root"), "applied");
    json_decref(r);
}

Test(sbx_spawn, bad_policy_is_refused_before_spawn, .timeout = 10)
{
    int rc = 0;
    json_t *r = sbx_test_run("{\"argv\":[\"/bin/true\"],\"uid\":0}", NULL, &rc, NULL);

    cr_assert_null(r);
    cr_assert_eq(rc, AIOS_EINVAL);
}

Test(sbx_spawn, memory_limit_kills_and_is_reported, .timeout = 60)
{
    /* 300 MiB touched against a 64 MiB cgroup limit (the address-space
     * limit is higher, so the cgroup is what stops it) */
    json_t *r = sbx_test_run(
        "{\"argv\":[\"/usr/bin/python3\",\"-c\",\"b = bytearray(300 << 20); print('survived')\"],"
        "\"limits\":{\"mem_bytes\":67108864,\"as_bytes\":1073741824,\"wall_ms\":20000}}",
        NULL, NULL, NULL);

    cr_assert_not_null(r);
    if (strcmp(layer(r, "cgroup"), "applied") != 0) {
        json_decref(r);
        cr_skip_test("no usable cgroup hierarchy here (%s)", layer(r, "cgroup"));
    }
    cr_assert(!strstr(jstr(r, "stdout"), "survived"), "%s", jstr(r, "stdout"));
    cr_assert_eq(jint(r, "signal"), SIGKILL);
    cr_assert(json_is_true(json_object_get(r, "oom_killed")), "the OOM kill must be reported");
    json_decref(r);
}

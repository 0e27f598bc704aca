/*
 * service.c - the tools subsystem of aiosd (kernel/subsys.def: tools).
 *
 * Owns the daemon's tool registry (shipped manifests from tools.dir, tools
 * registered at run time from <data>/tools), the sandbox spawning context
 * (aios-exec next to aiosd or sandbox.exec) with its warm pool, and the base
 * policy every sandboxed call starts from.  Configuration keys:
 *   tools.dir          shipped manifests (default <aiosd's folder>/../tools/manifests)
 *   tools.network      tools granted network, comma-separated, or "*" (default none)
 *   tools.wall_ms      default wall-clock limit (10000)
 *   tools.stdout_cap   bytes of stdout kept (1048576); tools.stderr_cap (262144)
 *   sandbox.exec       the aios-exec program
 *   sandbox.pool       warm sandboxes kept ready (2; 0 = none)
 *   sandbox.uid_base   first host uid for tools when aiosd runs as root (327680)
 *   sandbox.uid_count  how many (1024)
 *   sandbox.cgroup_parent  cgroup to create sandboxes under (default: aiosd's own)
 *   sandbox.require    layers every call requires, comma-separated (default:
 *                      every layer but cgroup, cgroupns, nested_userns, and
 *                      landlock where the kernel lacks it)
 * init/stop/fini run on the loop thread; the registry is thread-safe.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "aios/error.h"
#include "aios/kernel.h"
#include "aios/log.h"
#include "tools/service_int.h"

static tool_registry *g_registry;
static sbx_ctx *g_sbx;
static sbx_policy g_base;
static bool g_base_ok;
static char g_network[1024];
static char g_user_dir[PATH_MAX];

tool_registry *tool_service_registry(void)
{
    return g_registry;
}

sbx_ctx *tool_service_sbx(void)
{
    return g_sbx;
}

const sbx_policy *tool__service_base(void)
{
    return g_base_ok ? &g_base : NULL;
}

const char *tool__service_user_dir(void)
{
    return g_user_dir;
}

json_t *tool_service_llm_tools(void)
{
    return g_registry ? tool_registry_llm(g_registry) : json_array();
}

bool tool__network_granted(const char *name)
{
    size_t n = strlen(name);

    if (strcmp(g_network, "*") == 0)
        return true;
    for (const char *p = g_network; *p;) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);

        while (l && (*p == ' '))
            p++, l--;
        while (l && p[l - 1] == ' ')
            l--;
        if (l == n && strncmp(p, name, n) == 0)
            return true;
        if (!e)
            break;
        p = e + 1;
    }
    return false;
}

/* <aiosd's folder>/../tools/manifests */
static void default_tools_dir(char *buf, size_t len)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    char *slash;

    buf[0] = '\0';
    if (n <= 0)
        return;
    self[n] = '\0';
    slash = strrchr(self, '/');
    if (!slash)
        return;
    *slash = '\0';
    if (snprintf(buf, len, "%s/../tools/manifests", self) >= (int)len)
        buf[0] = '\0';
}

/* The base policy: sandbox defaults, the configured requirements and
 * limits, a small fixed environment. */
static int base_policy(void)
{
    const char *req = kern_config_str("sandbox.require", NULL);
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, 1u);
    int rc;

    sbx_policy_init(&g_base);
    g_base_ok = true;
    if (abi > 0)
        g_base.require |= 1u << SBX_L_LANDLOCK;
    if (req && *req) {
        char buf[512], *save = NULL;
        uint32_t mask = 0;

        snprintf(buf, sizeof(buf), "%s", req);
        for (char *t = strtok_r(buf, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
            int l = sbx_layer_from_name(t);

            if (strcmp(t, "all") == 0) {
                mask = SBX_REQUIRE_ALL;
            } else if (l < 0) {
                aios_log(AIOS_LOG_ERROR, "tools", "sandbox.require: unknown layer '%s'", t);
                return AIOS_EINVAL;
            } else {
                mask |= 1u << l;
            }
        }
        g_base.require = mask;
    }
    {
        const char *cgp = kern_config_str("sandbox.cgroup_parent", NULL);

        if (cgp && *cgp && !(g_base.cgroup_parent = strdup(cgp)))
            return AIOS_ENOMEM;
    }
    g_base.limits.wall_ms = (uint64_t)kern_config_int("tools.wall_ms", 10000);
    g_base.limits.stdout_cap = (uint64_t)kern_config_int("tools.stdout_cap", 1 << 20);
    g_base.limits.stderr_cap = (uint64_t)kern_config_int("tools.stderr_cap", 256 * 1024);
    if ((rc = sbx_policy_setenv(&g_base, "PATH", "/usr/local/bin:/usr/bin:/bin")) < 0 ||
        (rc = sbx_policy_setenv(&g_base, "HOME", "/work")) < 0 ||
        (rc = sbx_policy_setenv(&g_base, "LANG", "C.UTF-8")) < 0 ||
        (rc = sbx_policy_setenv(&g_base, "TMPDIR", "/tmp")) < 0)
        return rc;
    return 0;
}

static int tools_init(void)
{
    char dir[PATH_MAX];
    const char *cfg_dir = kern_config_str("tools.dir", NULL);
    sbx_config sc = {0};
    int rc, n;

    if ((rc = tool_registry_new(&g_registry)) < 0)
        return rc;
    if ((rc = base_policy()) < 0)
        return rc;
    snprintf(g_network, sizeof(g_network), "%s", kern_config_str("tools.network", ""));
    if (cfg_dir && *cfg_dir)
        snprintf(dir, sizeof(dir), "%s", cfg_dir);
    else
        default_tools_dir(dir, sizeof(dir));
    n = dir[0] ? tool_registry_load_dir(g_registry, dir, true) : AIOS_ENOENT;
    if (n < 0)
        aios_log(AIOS_LOG_WARN, "tools", "no shipped tools in '%s': %s", dir, aios_strerror(n));
    else
        aios_log(AIOS_LOG_INFO, "tools", "%d tools from '%s'", n, dir);
    snprintf(g_user_dir, sizeof(g_user_dir), "%s/tools", kern_data_dir());
    n = tool_registry_load_dir(g_registry, g_user_dir, false);
    if (n > 0)
        aios_log(AIOS_LOG_INFO, "tools", "%d registered tools from '%s'", n, g_user_dir);

    sc.exec_path = kern_config_str("sandbox.exec", NULL);
    if (sc.exec_path && !*sc.exec_path)
        sc.exec_path = NULL;
    sc.pool_size = (unsigned)kern_config_int("sandbox.pool", 2);
    sc.uid_base = (uid_t)kern_config_int("sandbox.uid_base", 0x50000);
    sc.uid_count = (unsigned)kern_config_int("sandbox.uid_count", 1024);
    sc.timing = kern_config_bool("sandbox.timing", false);
    rc = sbx_ctx_new(kern_loop(), &sc, &g_sbx);
    if (rc < 0) {
        /* built-ins still work; sandboxed tools answer EUNAVAIL */
        aios_log(AIOS_LOG_ERROR, "tools", "no sandbox: cannot find aios-exec (%s): %s",
                 sc.exec_path ? sc.exec_path : "next to aiosd", aios_strerror(rc));
        g_sbx = NULL;
    } else if (sc.pool_size) {
        /* keep sandboxes of the shell tool's shape warm */
        tool_manifest *m = tool_registry_get(g_registry, "shell");
        sbx_policy p;
        char *in = NULL;
        size_t in_len = 0;
        char msg[128];
        json_t *args = json_pack("{s:s}", "command", "true");

        if (m && tool_build_policy(m, args, &g_base, &p, &in, &in_len, msg, sizeof(msg)) == 0) {
            sbx_ctx_prewarm(g_sbx, &p);
            sbx_policy_clear(&p);
        }
        free(in);
        json_decref(args);
        tool_manifest_unref(m);
    }
    return 0;
}

static void tools_stop(void)
{
    if (g_sbx)
        sbx_ctx_close(g_sbx);
    g_sbx = NULL;
}

static void tools_fini(void)
{
    tool_registry_free(g_registry);
    g_registry = NULL;
    if (g_base_ok)
        sbx_policy_clear(&g_base);
    g_base_ok = false;
}

static json_t *tools_stats(void)
{
    return json_pack("{s:i,s:o}", "tools", g_registry ? (int)tool_registry_count(g_registry) : 0,
                     "sandbox", g_sbx ? sbx_ctx_stats(g_sbx) : json_null());
}

const kern_subsys kern_subsys_tools = {
    .name = "tools",
    .init = tools_init,
    .stop = tools_stop,
    .fini = tools_fini,
    .optional = true,
    .stats = tools_stats,
};

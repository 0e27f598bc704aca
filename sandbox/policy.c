/*
 * policy.c - sandbox policies: defaults, JSON in and out, validation, and
 * the layer and state name tables.
 *
 * The same code runs in the daemon (to reject a bad policy before anything
 * is spawned) and in aios-exec (which trusts nothing it reads from its
 * policy pipe).  Owns the strings of an sbx_policy.  No threads, no global
 * state: callable from any thread.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aios/error.h"
#include "aios/sandbox.h"

/* ---- names -------------------------------------------------------------- */

static const char *const layer_names[] = {
#define SBX__LAYER_NAME(id, name, desc) name,
    SBX_LAYER_MAP(SBX__LAYER_NAME)
#undef SBX__LAYER_NAME
};

static const char *const layer_descs[] = {
#define SBX__LAYER_DESC(id, name, desc) desc,
    SBX_LAYER_MAP(SBX__LAYER_DESC)
#undef SBX__LAYER_DESC
};

static const char *const state_names[] = {"none", "applied", "unavailable", "failed", "off"};

const char *sbx_layer_name(int layer)
{
    return (layer >= 0 && layer < SBX_L_COUNT) ? layer_names[layer] : NULL;
}

const char *sbx_layer_desc(int layer)
{
    return (layer >= 0 && layer < SBX_L_COUNT) ? layer_descs[layer] : NULL;
}

int sbx_layer_from_name(const char *name)
{
    for (int i = 0; name && i < SBX_L_COUNT; i++)
        if (strcmp(name, layer_names[i]) == 0)
            return i;
    return -1;
}

const char *sbx_state_name(int state)
{
    return (state >= 0 && state <= SBX_ST_OFF) ? state_names[state] : "none";
}

int sbx_state_from_name(const char *name)
{
    for (int i = 0; name && i <= SBX_ST_OFF; i++)
        if (strcmp(name, state_names[i]) == 0)
            return i;
    return -1;
}

/* ---- defaults ----------------------------------------------------------- */

#define MiB (1024ull * 1024ull)

/* Everything but the layers a plain machine may lack (cgroup controllers,
 * landlock, cgroupns on old kernels) and the nested-userns sysctl, which the
 * seccomp filter covers as well. */
#define SBX_REQUIRE_DEFAULT                                                    \
    (SBX_REQUIRE_ALL & ~((1u << SBX_L_CGROUP) | (1u << SBX_L_LANDLOCK) |        \
                         (1u << SBX_L_CGROUPNS) | (1u << SBX_L_NOUSERNS)))

void sbx_policy_init(sbx_policy *p)
{
    memset(p, 0, sizeof(*p));
    p->system_binds = true;
    p->require = SBX_REQUIRE_DEFAULT;
    p->uid = 1000;
    p->gid = 1000;
    p->limits = (sbx_limits){
        .wall_ms = 10000,
        .cpu_ms = 10000,
        .as_bytes = 1024 * MiB,
        .fsize_bytes = 64 * MiB,
        .nofile = 256,
        .nproc = 64,
        .mem_bytes = 512 * MiB,
        .pids = 64,
        .cpu_pct = 100,
        .work_bytes = 64 * MiB,
        .tmp_bytes = 64 * MiB,
        .stdout_cap = 1 * MiB,
        .stderr_cap = 256 * 1024,
    };
}

static void free_strv(char **v)
{
    if (!v)
        return;
    for (size_t i = 0; v[i]; i++)
        free(v[i]);
    free(v);
}

void sbx_policy_clear(sbx_policy *p)
{
    if (!p)
        return;
    free_strv(p->argv);
    free_strv(p->env);
    free(p->cwd);
    for (size_t i = 0; i < p->nbinds; i++) {
        free(p->binds[i].src);
        free(p->binds[i].dst);
    }
    free(p->binds);
    free(p->workdir);
    free(p->hostname);
    free(p->cgroup_parent);
    memset(p, 0, sizeof(*p));
}

/* ---- validation helpers ------------------------------------------------- */

/* Set the field and message of an error; returns AIOS_EINVAL. */
static int bad(char *field, size_t field_len, char *msg, size_t msg_len, const char *f,
               const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static int bad(char *field, size_t field_len, char *msg, size_t msg_len, const char *f,
               const char *fmt, ...)
{
    va_list ap;

    if (field && field_len)
        snprintf(field, field_len, "%s", f);
    if (msg && msg_len) {
        va_start(ap, fmt);
        vsnprintf(msg, msg_len, fmt, ap);
        va_end(ap);
    }
    return AIOS_EINVAL;
}

/* A JSON string without embedded NULs, or NULL. */
static const char *clean_str(const json_t *v)
{
    const char *s = json_string_value(v);

    if (!s || strlen(s) != json_string_length(v))
        return NULL;
    return s;
}

/* An absolute, normalised path: starts with '/', no "." or ".." components,
 * no empty components except a single trailing one is refused too. */
static bool path_ok(const char *s)
{
    const char *c;

    if (!s || s[0] != '/' || strlen(s) >= 4096)
        return false;
    if (strcmp(s, "/") == 0)
        return true;
    c = s + 1;
    for (;;) {
        const char *e = strchr(c, '/');
        size_t n = e ? (size_t)(e - c) : strlen(c);

        if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
            return false;
        if (!e)
            return true;
        c = e + 1;
    }
}

static bool env_name_ok(const char *s)
{
    if (!s || !*s || strlen(s) > 255 || (*s >= '0' && *s <= '9'))
        return false;
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
              (*s >= '0' && *s <= '9') || *s == '_'))
            return false;
    return true;
}

static bool hostname_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;

    if (n == 0 || n > 63)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9') || *s == '-' || *s == '.'))
            return false;
    return true;
}

/* Paths a bind may not cover inside: the sandbox's own mounts. */
static bool dst_reserved(const char *d)
{
    static const char *const reserved[] = {"/", "/proc", "/dev", "/work", "/tmp", "/etc"};

    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
        if (strcmp(d, reserved[i]) == 0)
            return true;
    return strncmp(d, "/proc/", 6) == 0 || strncmp(d, "/dev/", 5) == 0;
}

static int set_str(char **dst, const char *s)
{
    char *c = s ? strdup(s) : NULL;

    if (s && !c)
        return AIOS_ENOMEM;
    free(*dst);
    *dst = c;
    return 0;
}

/* ---- limits table ------------------------------------------------------- */

typedef struct {
    const char *key;
    size_t off;
    uint64_t max;
} limit_row;

#define LIM(k, m) {#k, offsetof(sbx_limits, k), (m)}
static const limit_row limit_rows[] = {
    LIM(wall_ms, 24ull * 3600 * 1000),
    LIM(cpu_ms, 24ull * 3600 * 1000),
    LIM(as_bytes, 1ull << 46),
    LIM(fsize_bytes, 1ull << 46),
    LIM(nofile, 1u << 20),
    LIM(nproc, 1u << 20),
    LIM(mem_bytes, 1ull << 46),
    LIM(pids, 1u << 20),
    LIM(cpu_pct, 100000),
    LIM(work_bytes, 1ull << 40),
    LIM(tmp_bytes, 1ull << 40),
    LIM(stdout_cap, 1ull << 32),
    LIM(stderr_cap, 1ull << 32),
};
#undef LIM
#define N_LIMITS (sizeof(limit_rows) / sizeof(limit_rows[0]))

static int update_limits(sbx_limits *l, const json_t *j, char *field, size_t fl, char *msg,
                         size_t ml)
{
    const char *key;
    json_t *v;
    char f[64];

    if (!json_is_object(j))
        return bad(field, fl, msg, ml, "limits", "limits must be an object");
    json_object_foreach((json_t *)j, key, v) {
        size_t i;

        for (i = 0; i < N_LIMITS; i++)
            if (strcmp(key, limit_rows[i].key) == 0)
                break;
        snprintf(f, sizeof(f), "limits.%s", key);
        if (i == N_LIMITS)
            return bad(field, fl, msg, ml, f, "unknown limit '%s'", key);
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            (uint64_t)json_integer_value(v) > limit_rows[i].max)
            return bad(field, fl, msg, ml, f, "must be an integer from 0 to %llu",
                       (unsigned long long)limit_rows[i].max);
        *(uint64_t *)((char *)l + limit_rows[i].off) = (uint64_t)json_integer_value(v);
    }
    return 0;
}

/* ---- update from JSON --------------------------------------------------- */

#define MAX_ARGS 4096
#define MAX_ARG_BYTES (1u << 20)
#define MAX_BINDS 64

static int update_argv(sbx_policy *p, const json_t *v, char *field, size_t fl, char *msg,
                       size_t ml)
{
    size_t n = json_array_size(v), total = 0;
    const char **tmp;
    int rc;

    if (!json_is_array(v) || n == 0 || n > MAX_ARGS)
        return bad(field, fl, msg, ml, "argv", "argv must be a non-empty array of strings");
    tmp = calloc(n, sizeof(*tmp));
    if (!tmp)
        return AIOS_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        tmp[i] = clean_str(json_array_get(v, i));
        if (!tmp[i]) {
            char f[32];

            snprintf(f, sizeof(f), "argv.%zu", i);
            free(tmp);
            return bad(field, fl, msg, ml, f, "must be a string without NUL bytes");
        }
        total += strlen(tmp[i]) + 1;
    }
    if (!tmp[0][0] || total > MAX_ARG_BYTES) {
        free(tmp);
        return bad(field, fl, msg, ml, "argv", "argv[0] empty or arguments over %u bytes",
                   MAX_ARG_BYTES);
    }
    rc = sbx_policy_set_argv(p, tmp, n);
    free(tmp);
    return rc;
}

static int update_env(sbx_policy *p, const json_t *v, char *field, size_t fl, char *msg,
                      size_t ml)
{
    const char *key;
    json_t *val;
    char f[300];
    int rc;

    if (!json_is_object(v))
        return bad(field, fl, msg, ml, "env", "env must be an object of strings");
    /* env replaces the whole environment */
    free_strv(p->env);
    p->env = NULL;
    p->envc = 0;
    json_object_foreach((json_t *)v, key, val) {
        const char *s = clean_str(val);

        snprintf(f, sizeof(f), "env.%s", key);
        if (!env_name_ok(key))
            return bad(field, fl, msg, ml, f, "bad environment variable name");
        if (!s || strlen(s) > MAX_ARG_BYTES)
            return bad(field, fl, msg, ml, f, "must be a string without NUL bytes");
        if ((rc = sbx_policy_setenv(p, key, s)) < 0)
            return rc;
    }
    return 0;
}

static int update_binds(sbx_policy *p, const json_t *v, char *field, size_t fl, char *msg,
                        size_t ml)
{
    size_t n = json_array_size(v);
    sbx_bind *b;
    char f[48];

    if (!json_is_array(v) || n > MAX_BINDS)
        return bad(field, fl, msg, ml, "binds", "binds must be an array of at most %d",
                   MAX_BINDS);
    b = calloc(n ? n : 1, sizeof(*b));
    if (!b)
        return AIOS_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(v, i);
        const char *src, *dst;
        json_t *rw;

        snprintf(f, sizeof(f), "binds.%zu", i);
        if (json_is_string(e)) {
            src = dst = clean_str(e);
            rw = NULL;
        } else if (json_is_object(e)) {
            src = clean_str(json_object_get(e, "src"));
            dst = json_object_get(e, "dst") ? clean_str(json_object_get(e, "dst")) : src;
            rw = json_object_get(e, "rw");
            if (rw && !json_is_boolean(rw))
                goto out_bad;
        } else {
            goto out_bad;
        }
        if (!path_ok(src) || !path_ok(dst) || dst_reserved(dst))
            goto out_bad;
        b[i].src = strdup(src);
        b[i].dst = strdup(dst);
        b[i].rw = rw && json_is_true(rw);
        if (!b[i].src || !b[i].dst) {
            for (size_t k = 0; k <= i; k++) {
                free(b[k].src);
                free(b[k].dst);
            }
            free(b);
            return AIOS_ENOMEM;
        }
        continue;
out_bad:
        for (size_t k = 0; k < i; k++) {
            free(b[k].src);
            free(b[k].dst);
        }
        free(b);
        return bad(field, fl, msg, ml, f,
                   "a bind is \"/path\" or {\"src\": \"/path\", \"dst\": \"/path\", \"rw\": "
                   "bool} with absolute normalised paths, not on /, /proc, /dev, /etc, "
                   "/work or /tmp");
    }
    for (size_t i = 0; i < p->nbinds; i++) {
        free(p->binds[i].src);
        free(p->binds[i].dst);
    }
    free(p->binds);
    p->binds = b;
    p->nbinds = n;
    return 0;
}

static int update_require(sbx_policy *p, const json_t *v, char *field, size_t fl, char *msg,
                          size_t ml)
{
    uint32_t req = 0;
    size_t i;
    json_t *e;

    if (!json_is_array(v))
        return bad(field, fl, msg, ml, "require", "require must be an array of layer names");
    json_array_foreach(v, i, e) {
        const char *s = json_string_value(e);
        int l = sbx_layer_from_name(s);

        if (s && strcmp(s, "all") == 0) {
            req = SBX_REQUIRE_ALL;
            continue;
        }
        if (l < 0) {
            char f[32];

            snprintf(f, sizeof(f), "require.%zu", i);
            return bad(field, fl, msg, ml, f, "unknown layer '%s'", s ? s : "?");
        }
        req |= 1u << l;
    }
    p->require = req;
    return 0;
}

static int get_bool(const json_t *v, bool *out, const char *f, char *field, size_t fl,
                    char *msg, size_t ml)
{
    if (!json_is_boolean(v))
        return bad(field, fl, msg, ml, f, "must be true or false");
    *out = json_is_true(v);
    return 0;
}

static int get_id(const json_t *v, unsigned *out, const char *f, char *field, size_t fl,
                  char *msg, size_t ml)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        json_integer_value(v) > 0x7ffffffe)
        return bad(field, fl, msg, ml, f, "must be an id from 0 to 2147483646");
    *out = (unsigned)json_integer_value(v);
    return 0;
}

int sbx_policy_update(sbx_policy *p, const json_t *j, char *field, size_t fl, char *msg,
                      size_t ml)
{
    const char *key;
    json_t *v;
    int rc = 0;

    if (field && fl)
        field[0] = '\0';
    if (msg && ml)
        msg[0] = '\0';
    if (!json_is_object(j))
        return bad(field, fl, msg, ml, "", "a policy must be a JSON object");
    json_object_foreach((json_t *)j, key, v) {
        unsigned id;

        if (strcmp(key, "argv") == 0) {
            rc = update_argv(p, v, field, fl, msg, ml);
        } else if (strcmp(key, "env") == 0) {
            rc = update_env(p, v, field, fl, msg, ml);
        } else if (strcmp(key, "cwd") == 0) {
            if (!path_ok(clean_str(v)))
                return bad(field, fl, msg, ml, "cwd", "cwd must be an absolute path");
            rc = set_str(&p->cwd, json_string_value(v));
        } else if (strcmp(key, "network") == 0) {
            rc = get_bool(v, &p->network, key, field, fl, msg, ml);
        } else if (strcmp(key, "system_binds") == 0) {
            rc = get_bool(v, &p->system_binds, key, field, fl, msg, ml);
        } else if (strcmp(key, "drain") == 0) {
            rc = get_bool(v, &p->drain, key, field, fl, msg, ml);
        } else if (strcmp(key, "binds") == 0) {
            rc = update_binds(p, v, field, fl, msg, ml);
        } else if (strcmp(key, "workdir") == 0) {
            if (json_is_null(v)) {
                rc = set_str(&p->workdir, NULL);
            } else {
                if (!path_ok(clean_str(v)) || strcmp(json_string_value(v), "/") == 0)
                    return bad(field, fl, msg, ml, "workdir",
                               "workdir must be an absolute normalised host path or null");
                rc = set_str(&p->workdir, json_string_value(v));
            }
        } else if (strcmp(key, "limits") == 0) {
            rc = update_limits(&p->limits, v, field, fl, msg, ml);
        } else if (strcmp(key, "require") == 0) {
            rc = update_require(p, v, field, fl, msg, ml);
        } else if (strcmp(key, "uid") == 0) {
            if ((rc = get_id(v, &id, key, field, fl, msg, ml)) == 0)
                p->uid = id;
        } else if (strcmp(key, "gid") == 0) {
            if ((rc = get_id(v, &id, key, field, fl, msg, ml)) == 0)
                p->gid = id;
        } else if (strcmp(key, "host_uid") == 0) {
            if ((rc = get_id(v, &id, key, field, fl, msg, ml)) == 0)
                p->host_uid = id;
        } else if (strcmp(key, "host_gid") == 0) {
            if ((rc = get_id(v, &id, key, field, fl, msg, ml)) == 0)
                p->host_gid = id;
        } else if (strcmp(key, "hostname") == 0) {
            if (!hostname_ok(json_string_value(v)))
                return bad(field, fl, msg, ml, "hostname",
                           "hostname must be 1-63 letters, digits, '-' or '.'");
            rc = set_str(&p->hostname, json_string_value(v));
        } else if (strcmp(key, "cgroup_parent") == 0) {
            if (json_is_null(v)) {
                rc = set_str(&p->cgroup_parent, NULL);
            } else {
                if (!path_ok(clean_str(v)))
                    return bad(field, fl, msg, ml, "cgroup_parent",
                               "cgroup_parent must be an absolute path");
                rc = set_str(&p->cgroup_parent, json_string_value(v));
            }
        } else {
            return bad(field, fl, msg, ml, key, "unknown policy key '%s'", key);
        }
        if (rc < 0)
            return rc;
    }
    if (p->uid == 0 || p->gid == 0)
        return bad(field, fl, msg, ml, p->uid == 0 ? "uid" : "gid",
                   "the tool may not run as uid or gid 0");
    return 0;
}

/* ---- to JSON ------------------------------------------------------------ */

json_t *sbx_policy_to_json(const sbx_policy *p)
{
    json_t *j = json_object(), *a, *o;

    if (!j)
        return NULL;
    a = json_array();
    for (size_t i = 0; i < p->argc; i++)
        json_array_append_new(a, json_string(p->argv[i]));
    json_object_set_new(j, "argv", a);
    o = json_object();
    for (size_t i = 0; i < p->envc; i++) {
        const char *eq = strchr(p->env[i], '=');
        char name[256];
        size_t n = eq ? (size_t)(eq - p->env[i]) : 0;

        if (!eq || n >= sizeof(name))
            continue;
        memcpy(name, p->env[i], n);
        name[n] = '\0';
        json_object_set_new(o, name, json_string(eq + 1));
    }
    json_object_set_new(j, "env", o);
    if (p->cwd)
        json_object_set_new(j, "cwd", json_string(p->cwd));
    json_object_set_new(j, "network", json_boolean(p->network));
    json_object_set_new(j, "system_binds", json_boolean(p->system_binds));
    json_object_set_new(j, "drain", json_boolean(p->drain));
    a = json_array();
    for (size_t i = 0; i < p->nbinds; i++)
        json_array_append_new(a, json_pack("{s:s,s:s,s:b}", "src", p->binds[i].src, "dst",
                                           p->binds[i].dst, "rw", p->binds[i].rw));
    json_object_set_new(j, "binds", a);
    json_object_set_new(j, "workdir", p->workdir ? json_string(p->workdir) : json_null());
    o = json_object();
    for (size_t i = 0; i < N_LIMITS; i++)
        json_object_set_new(
            o, limit_rows[i].key,
            json_integer((json_int_t)*(const uint64_t *)((const char *)&p->limits +
                                                         limit_rows[i].off)));
    json_object_set_new(j, "limits", o);
    a = json_array();
    for (int l = 0; l < SBX_L_COUNT; l++)
        if (p->require & (1u << l))
            json_array_append_new(a, json_string(sbx_layer_name(l)));
    json_object_set_new(j, "require", a);
    json_object_set_new(j, "uid", json_integer(p->uid));
    json_object_set_new(j, "gid", json_integer(p->gid));
    if (p->host_uid)
        json_object_set_new(j, "host_uid", json_integer(p->host_uid));
    if (p->host_gid)
        json_object_set_new(j, "host_gid", json_integer(p->host_gid));
    if (p->hostname)
        json_object_set_new(j, "hostname", json_string(p->hostname));
    if (p->cgroup_parent)
        json_object_set_new(j, "cgroup_parent", json_string(p->cgroup_parent));
    return j;
}

/* ---- copies and edits --------------------------------------------------- */

static char **dup_strv(char *const *v, size_t n)
{
    char **c = calloc(n + 1, sizeof(*c));

    if (!c)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        c[i] = strdup(v[i]);
        if (!c[i]) {
            free_strv(c);
            return NULL;
        }
    }
    return c;
}

int sbx_policy_set_argv(sbx_policy *p, const char *const *argv, size_t argc)
{
    char **v = dup_strv((char *const *)argv, argc);

    if (!v)
        return AIOS_ENOMEM;
    free_strv(p->argv);
    p->argv = v;
    p->argc = argc;
    return 0;
}

int sbx_policy_setenv(sbx_policy *p, const char *name, const char *value)
{
    size_t nl = strlen(name);
    char *e = malloc(nl + strlen(value) + 2);
    char **v;

    if (!e)
        return AIOS_ENOMEM;
    sprintf(e, "%s=%s", name, value);
    for (size_t i = 0; i < p->envc; i++) {
        if (strncmp(p->env[i], name, nl) == 0 && p->env[i][nl] == '=') {
            free(p->env[i]);
            p->env[i] = e;
            return 0;
        }
    }
    v = realloc(p->env, (p->envc + 2) * sizeof(*v));
    if (!v) {
        free(e);
        return AIOS_ENOMEM;
    }
    v[p->envc++] = e;
    v[p->envc] = NULL;
    p->env = v;
    return 0;
}

int sbx_policy_copy(sbx_policy *dst, const sbx_policy *src)
{
    *dst = *src;
    dst->argv = NULL;
    dst->env = NULL;
    dst->cwd = dst->workdir = dst->hostname = dst->cgroup_parent = NULL;
    dst->binds = NULL;
    dst->nbinds = 0;
    if (src->argv && !(dst->argv = dup_strv(src->argv, src->argc)))
        goto out_nomem;
    if (src->env && !(dst->env = dup_strv(src->env, src->envc)))
        goto out_nomem;
    if (set_str(&dst->cwd, src->cwd) || set_str(&dst->workdir, src->workdir) ||
        set_str(&dst->hostname, src->hostname) ||
        set_str(&dst->cgroup_parent, src->cgroup_parent))
        goto out_nomem;
    if (src->nbinds) {
        dst->binds = calloc(src->nbinds, sizeof(*dst->binds));
        if (!dst->binds)
            goto out_nomem;
        for (size_t i = 0; i < src->nbinds; i++) {
            dst->nbinds = i + 1;
            dst->binds[i].rw = src->binds[i].rw;
            if (set_str(&dst->binds[i].src, src->binds[i].src) ||
                set_str(&dst->binds[i].dst, src->binds[i].dst))
                goto out_nomem;
        }
    }
    return 0;
out_nomem:
    sbx_policy_clear(dst);
    return AIOS_ENOMEM;
}

/*
 * path.c - LSFS path rules: normalisation, the namespace, names and types.
 *
 * A path is absolute and normalised: one slash between components, no "."
 * or "..", no trailing slash, at most LSFS_PATH_MAX bytes, components at
 * most LSFS_NAME_MAX bytes with no control characters.  Callers may also
 * write "~/x" or a relative "x" for a path in their own home.  Every path
 * lives under /home, /shared or /mnt.
 *
 * Threads: any; pure functions.
 */
#include <ctype.h>
#include <fnmatch.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "lsfs/lsfs_int.h"

static const char *const top_levels[] = {"home", "shared", "mnt"};

int lsfs__path_norm(lsfs_db *db, const lsfs_actor *a, const char *p, const char *field,
                    char *out, size_t outlen)
{
    char buf[LSFS_PATH_MAX * 2];
    size_t o = 0;
    const char *s, *e;
    bool top_ok = false;

    if (!p || !*p)
        return lsfs__err(db, AIOS_EINVAL, field, "the path is empty");
    if (p[0] == '~' && (p[1] == '/' || p[1] == 0)) {
        if (snprintf(buf, sizeof buf, "%s%s", a->home, p + 1) >= (int)sizeof buf)
            return lsfs__err(db, AIOS_ETOOBIG, field, "the path is too long");
    } else if (p[0] != '/') {
        if (snprintf(buf, sizeof buf, "%s/%s", a->home, p) >= (int)sizeof buf)
            return lsfs__err(db, AIOS_ETOOBIG, field, "the path is too long");
    } else if (snprintf(buf, sizeof buf, "%s", p) >= (int)sizeof buf) {
        return lsfs__err(db, AIOS_ETOOBIG, field, "the path is too long");
    }

    for (s = buf; *s;) {
        while (*s == '/')
            s++;
        if (!*s)
            break;
        e = s;
        while (*e && *e != '/')
            e++;
        size_t n = (size_t)(e - s);
        if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
            return lsfs__err(db, AIOS_EINVAL, field,
                             "'.' and '..' are not allowed in paths ('%s')", p);
        if (n > LSFS_NAME_MAX)
            return lsfs__err(db, AIOS_ETOOBIG, field, "a name in '%.80s' is longer than %d bytes",
                             p, LSFS_NAME_MAX);
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
                return lsfs__err(db, AIOS_EINVAL, field,
                                 "control characters are not allowed in paths");
        if (o == 0) {
            for (size_t i = 0; i < sizeof top_levels / sizeof top_levels[0]; i++)
                if (strlen(top_levels[i]) == n && memcmp(top_levels[i], s, n) == 0)
                    top_ok = true;
            if (!top_ok)
                return lsfs__err(db, AIOS_EINVAL, field,
                                 "'%.200s' is outside the namespace: paths live under /home, "
                                 "/shared or /mnt", p);
        }
        if (o + 1 + n + 1 > outlen || o + 1 + n >= LSFS_PATH_MAX)
            return lsfs__err(db, AIOS_ETOOBIG, field, "the path is longer than %d bytes",
                             LSFS_PATH_MAX - 1);
        out[o++] = '/';
        memcpy(out + o, s, n);
        o += n;
        s = e;
    }
    if (o == 0) {
        if (outlen < 2)
            return lsfs__err(db, AIOS_ETOOBIG, field, "the path is too long");
        out[o++] = '/';
    }
    out[o] = 0;
    return 0;
}

void lsfs__path_parent(const char *path, char *out, size_t outlen)
{
    const char *slash = strrchr(path, '/');
    size_t n;

    if (!slash || slash == path) {
        snprintf(out, outlen, "/");
        return;
    }
    n = (size_t)(slash - path);
    if (n >= outlen)
        n = outlen - 1;
    memcpy(out, path, n);
    out[n] = 0;
}

const char *lsfs__path_name(const char *path)
{
    const char *slash = strrchr(path, '/');

    return slash ? slash + 1 : path;
}

bool lsfs__path_under(const char *path, const char *prefix)
{
    size_t n = strlen(prefix);

    if (n == 1 && prefix[0] == '/')
        return path[0] == '/';
    return strncmp(path, prefix, n) == 0 && (path[n] == 0 || path[n] == '/');
}

bool lsfs__path_mount(const char *path, char *name_out, size_t nlen, const char **rel_out)
{
    const char *s, *e;

    if (strncmp(path, "/mnt/", 5) != 0 || !path[5])
        return false;
    s = path + 5;
    e = strchr(s, '/');
    if (!e)
        e = s + strlen(s);
    if ((size_t)(e - s) >= nlen)
        return false;
    memcpy(name_out, s, (size_t)(e - s));
    name_out[e - s] = 0;
    if (rel_out)
        *rel_out = *e ? e + 1 : e;
    return true;
}

/* Extension -> mime type; the first matching row wins. */
static const struct {
    const char *ext;
    const char *mime;
} mime_table[] = {
    {"txt", "text/plain"},        {"md", "text/markdown"},       {"markdown", "text/markdown"},
    {"rst", "text/x-rst"},        {"html", "text/html"},         {"htm", "text/html"},
    {"css", "text/css"},          {"csv", "text/csv"},           {"tsv", "text/tab-separated-values"},
    {"xml", "text/xml"},          {"json", "application/json"},  {"yaml", "text/yaml"},
    {"yml", "text/yaml"},         {"toml", "text/x-toml"},       {"ini", "text/plain"},
    {"conf", "text/plain"},       {"cfg", "text/plain"},         {"log", "text/plain"},
    {"c", "text/x-c"},            {"h", "text/x-c"},             {"cc", "text/x-c++"},
    {"cpp", "text/x-c++"},        {"hpp", "text/x-c++"},         {"py", "text/x-python"},
    {"sh", "text/x-shellscript"}, {"js", "text/javascript"},     {"ts", "text/x-typescript"},
    {"go", "text/x-go"},          {"rs", "text/x-rust"},         {"java", "text/x-java"},
    {"rb", "text/x-ruby"},        {"pl", "text/x-perl"},         {"sql", "text/x-sql"},
    {"tex", "text/x-tex"},        {"mk", "text/x-makefile"},     {"pdf", "application/pdf"},
    {"png", "image/png"},         {"jpg", "image/jpeg"},         {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},         {"svg", "image/svg+xml"},      {"gz", "application/gzip"},
    {"zst", "application/zstd"},  {"tar", "application/x-tar"},  {"zip", "application/zip"},
    {"bin", "application/octet-stream"},
};

const char *lsfs__mime_of(const char *name, const char **ext_out)
{
    const char *dot = strrchr(name, '.');
    const char *ext = dot && dot != name ? dot + 1 : "";

    if (ext_out)
        *ext_out = ext;
    if (!*ext)
        return strcasecmp(name, "Makefile") == 0 ? "text/x-makefile" : "text/plain";
    for (size_t i = 0; i < sizeof mime_table / sizeof mime_table[0]; i++)
        if (strcasecmp(mime_table[i].ext, ext) == 0)
            return mime_table[i].mime;
    return "application/octet-stream";
}

bool lsfs__glob(const char *pattern, const char *name)
{
    return fnmatch(pattern, name, 0) == 0;
}

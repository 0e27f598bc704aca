/*
 * cmds_fs.c - aiosctl's `fs` command: the semantic file system (LSFS) for
 * people.  One row per subcommand (ls, cat, put, rm, mkdir, mv, stat,
 * history, diff, rollback, search, summarize); each builds the fs.* call's
 * parameters from its words and prints the result as a table or plain text
 * (`--json`: the raw result).  Paths are LSFS paths (~/..., /shared/...,
 * /mnt/NAME/...), never host paths, except the local FILE of `put`.
 * Single-threaded.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "aios/error.h"
#include "aios/util.h"
#include "ctl/ctl_int.h"

typedef struct fs_sub {
    const char *name;
    const char *args;     /* synopsis after "fs NAME" */
    int min, max;         /* words after the subcommand (max -1: any) */
    int (*fn)(ctl_ctx *x, int argc, char **argv);   /* argv[0] is the subcommand */
} fs_sub;

/* "2026-11-27T09:44:58.701Z" -> "2026-11-27 09:44:58" */
static void short_time(const char *iso, char *buf, size_t len)
{
    snprintf(buf, len, "%.19s", iso ? iso : "-");
    if (strlen(buf) > 10 && buf[10] == 'T')
        buf[10] = ' ';
}

/* Call method and print the raw result with --json; else hand it back. */
static int call(ctl_ctx *x, const char *method, json_t *params, json_t **res)
{
    int rc = ctl_call(x, method, params, res);

    json_decref(params);
    if (rc == CTL_OK && x->json) {
        ctl_print_json(x, *res);
        json_decref(*res);
        *res = NULL;
    }
    return rc;
}

static int print_stat_line(ctl_ctx *x, const char *method, json_t *params)
{
    json_t *res = NULL;
    int rc = call(x, method, params, &res);

    if (rc == CTL_OK && res) {
        const char *type = ctl_jstr(res, "type");
        if (type && strcmp(type, "dir") == 0)
            printf("%s/\n", ctl_jstr(res, "path") ? ctl_jstr(res, "path") : "?");
        else
            printf("%s (version %lld)\n", ctl_jstr(res, "path") ? ctl_jstr(res, "path") : "?",
                   (long long)json_integer_value(json_object_get(res, "version")));
    }
    json_decref(res);
    return rc;
}

static int fs_ls(ctl_ctx *x, int argc, char **argv)
{
    static const char *const headers[] = {"NAME", "TYPE", "SIZE", "VERSION", "MODIFIED", "OWNER"};
    json_t *res = NULL, *e;
    size_t i;
    int rc = call(x, "fs.list", json_pack("{s:s}", "path", argc > 1 ? argv[1] : "~"), &res);

    if (rc != CTL_OK || !res)
        return rc;
    ctl_table *t = ctl_table_new(6, headers, "llrrll");
    json_array_foreach(json_object_get(res, "entries"), i, e) {
        char size[32], ver[24], when[32];
        const char *type = ctl_jstr(e, "type");
        bool dir = type && strcmp(type, "dir") == 0;
        char name[600];

        snprintf(name, sizeof(name), "%s%s", ctl_jstr(e, "name") ? ctl_jstr(e, "name") : "?", dir ? "/" : "");
        if (dir)
            snprintf(size, sizeof(size), "-");
        else
            ctl_fmt_bytes((double)json_integer_value(json_object_get(e, "size")), size, sizeof(size));
        snprintf(ver, sizeof(ver), "%lld", (long long)json_integer_value(json_object_get(e, "version")));
        short_time(ctl_jstr(e, "modified"), when, sizeof(when));
        const char *cells[6] = {name, type, size, dir ? "-" : ver, when, ctl_jstr(e, "owner")};
        ctl_table_add(t, cells);
    }
    if (ctl_table_rows(t))
        ctl_table_print(t, stdout);
    else
        printf("%s is empty\n", ctl_jstr(res, "path"));
    if (json_is_true(json_object_get(res, "truncated")))
        printf("(more entries not shown: use `call fs.list` with limit)\n");
    ctl_table_free(t);
    json_decref(res);
    return CTL_OK;
}

/* content_b64 -> bytes (OpenSSL's codec, as the daemon uses); *len gets
 * the size.  NULL when it is not base64. */
static unsigned char *unb64(const char *s, size_t *len)
{
    size_t n = strlen(s), pad = 0;
    unsigned char *out = malloc(n / 4 * 3 + 1);
    int got;

    if (!out || n % 4)
        return free(out), NULL;
    got = n ? EVP_DecodeBlock(out, (const unsigned char *)s, (int)n) : 0;
    if (got < 0)
        return free(out), NULL;
    while (pad < 2 && n > pad && s[n - 1 - pad] == '=')
        pad++;
    *len = (size_t)got - pad;
    return out;
}

static char *b64(const unsigned char *p, size_t n)
{
    char *out = malloc(4 * ((n + 2) / 3) + 1);

    if (out)
        EVP_EncodeBlock((unsigned char *)out, p, (int)n);
    return out;
}

static int fs_cat(ctl_ctx *x, int argc, char **argv)
{
    json_t *params = json_pack("{s:s}", "path", argv[1]), *res = NULL;
    int rc;

    if (argc > 2) {
        char *end;
        long v = strtol(argv[2], &end, 10);
        if (*end || v < 1) {
            json_decref(params);
            ctl_errorf(x, "fs cat: VERSION must be a positive number");
            return CTL_EUSAGE;
        }
        json_object_set_new(params, "version", json_integer(v));
    }
    if ((rc = call(x, "fs.read", params, &res)) != CTL_OK || !res)
        return rc;
    if (ctl_jstr(res, "content")) {
        fputs(ctl_jstr(res, "content"), stdout);
    } else if (ctl_jstr(res, "content_b64")) {
        size_t n;
        unsigned char *b = unb64(ctl_jstr(res, "content_b64"), &n);
        if (!b) {
            ctl_errorf(x, "fs cat: the daemon sent content_b64 that is not base64");
            json_decref(res);
            return CTL_EFAIL;
        }
        fwrite(b, 1, n, stdout);
        free(b);
    }
    fflush(stdout);
    json_decref(res);
    return CTL_OK;
}

/* All of a stream (a FILE or stdin) into memory. */
static unsigned char *slurp(FILE *f, size_t *len)
{
    size_t cap = 65536, n = 0, r;
    unsigned char *b = malloc(cap);

    while (b && (r = fread(b + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            unsigned char *nb = realloc(b, cap * 2);
            if (!nb) {
                free(b);
                return NULL;
            }
            b = nb;
            cap *= 2;
        }
    }
    *len = n;
    return b;
}

static int fs_put(ctl_ctx *x, int argc, char **argv)
{
    const char *src = argc > 2 ? argv[2] : "-";
    FILE *f = strcmp(src, "-") == 0 ? stdin : fopen(src, "rb");
    unsigned char *data;
    size_t n;
    json_t *params;

    if (!f) {
        ctl_errorf(x, "fs put: cannot read %s: %s", src, strerror(errno));
        return CTL_EUSAGE;
    }
    data = slurp(f, &n);
    if (f != stdin)
        fclose(f);
    if (!data) {
        ctl_errorf(x, "fs put: out of memory");
        return CTL_EFAIL;
    }
    params = json_pack("{s:s}", "path", argv[1]);
    if (!memchr(data, 0, n) && aios_utf8_valid((const char *)data, n)) {
        json_object_set_new(params, "content", json_stringn((const char *)data, n));
    } else {
        char *enc = b64(data, n);
        json_object_set_new(params, "content_b64", json_string(enc ? enc : ""));
        free(enc);
    }
    free(data);
    return print_stat_line(x, "fs.write", params);
}

static int fs_rm(ctl_ctx *x, int argc, char **argv)
{
    bool recursive = strcmp(argv[1], "-r") == 0;
    json_t *res = NULL;
    int rc;

    if (recursive && argc < 3) {
        ctl_errorf(x, "fs rm: which path?");
        return CTL_EUSAGE;
    }
    rc = call(x, "fs.delete", json_pack("{s:s,s:b}", "path", argv[recursive ? 2 : 1], "recursive", recursive), &res);
    if (rc == CTL_OK && res)
        printf("%s moved to the trash (`call fs.restore path=...` brings it back)\n", ctl_jstr(res, "path"));
    json_decref(res);
    return rc;
}

static int fs_mkdir(ctl_ctx *x, int argc, char **argv)
{
    (void)argc;
    return print_stat_line(x, "fs.mkdir", json_pack("{s:s,s:b}", "path", argv[1], "parents", 1));
}

static int fs_mv(ctl_ctx *x, int argc, char **argv)
{
    (void)argc;
    return print_stat_line(x, "fs.move", json_pack("{s:s,s:s}", "from", argv[1], "to", argv[2]));
}

static int fs_stat(ctl_ctx *x, int argc, char **argv)
{
    json_t *res = NULL;
    int rc = ctl_call(x, "fs.stat", json_pack("{s:s}", "path", argv[1]), &res);

    (void)argc;
    if (rc == CTL_OK)
        ctl_print_json(x, res);
    json_decref(res);
    return rc;
}

static int fs_history(ctl_ctx *x, int argc, char **argv)
{
    static const char *const headers[] = {"VERSION", "TIME", "SIZE", "OP", "AUTHOR", "SHA256"};
    json_t *res = NULL, *v;
    size_t i;
    int rc = call(x, "fs.history", json_pack("{s:s}", "path", argv[1]), &res);

    (void)argc;
    if (rc != CTL_OK || !res)
        return rc;
    ctl_table *t = ctl_table_new(6, headers, "rlrlll");
    json_array_foreach(json_object_get(res, "versions"), i, v) {
        char ver[24], when[32], size[32], sha[16];
        snprintf(ver, sizeof(ver), "%lld", (long long)json_integer_value(json_object_get(v, "version")));
        short_time(ctl_jstr(v, "time"), when, sizeof(when));
        ctl_fmt_bytes((double)json_integer_value(json_object_get(v, "size")), size, sizeof(size));
        snprintf(sha, sizeof(sha), "%.12s", ctl_jstr(v, "sha256") ? ctl_jstr(v, "sha256") : "");
        const char *cells[6] = {ver, when, size, ctl_jstr(v, "op"), ctl_jstr(v, "author"), sha};
        ctl_table_add(t, cells);
    }
    ctl_table_print(t, stdout);
    ctl_table_free(t);
    json_decref(res);
    return CTL_OK;
}

static int version_arg(ctl_ctx *x, const char *what, const char *s, long *out)
{
    char *end;

    *out = strtol(s, &end, 10);
    if (*end || *out < 1) {
        ctl_errorf(x, "fs %s: '%s' is not a version number", what, s);
        return CTL_EUSAGE;
    }
    return CTL_OK;
}

static int fs_diff(ctl_ctx *x, int argc, char **argv)
{
    json_t *params = json_pack("{s:s}", "path", argv[1]), *res = NULL;
    long v;
    int rc;

    for (int i = 2; i < argc; i++) {
        if ((rc = version_arg(x, "diff", argv[i], &v)) != CTL_OK) {
            json_decref(params);
            return rc;
        }
        json_object_set_new(params, i == 2 ? "from" : "to", json_integer(v));
    }
    if ((rc = call(x, "fs.diff", params, &res)) != CTL_OK || !res)
        return rc;
    fputs(ctl_jstr(res, "diff") ? ctl_jstr(res, "diff") : "", stdout);
    json_decref(res);
    return CTL_OK;
}

static int fs_rollback(ctl_ctx *x, int argc, char **argv)
{
    json_t *res = NULL;
    long v;
    int rc;

    (void)argc;
    if ((rc = version_arg(x, "rollback", argv[2], &v)) != CTL_OK)
        return rc;
    rc = call(x, "fs.rollback", json_pack("{s:s,s:I}", "path", argv[1], "version", (json_int_t)v), &res);
    if (rc == CTL_OK && res)
        printf("%s: version %lld now has the content of version %ld\n", ctl_jstr(res, "path"),
               (long long)json_integer_value(json_object_get(res, "version")), v);
    json_decref(res);
    return rc;
}

/* fs search [-k N] [-m MODE] [-p PREFIX] WORDS... */
static int fs_search(ctl_ctx *x, int argc, char **argv)
{
    static const char *const headers[] = {"SCORE", "PATH", "SNIPPET"};
    json_t *params = json_object(), *filters = json_object(), *res = NULL, *r;
    char query[4096] = "";
    size_t qlen = 0, i;
    int rc;

    for (int a = 1; a < argc; a++) {
        if ((strcmp(argv[a], "-k") == 0 || strcmp(argv[a], "-m") == 0 || strcmp(argv[a], "-p") == 0) &&
            a + 1 < argc) {
            const char *opt = argv[a++];
            if (opt[1] == 'k') {
                char *end;
                long k = strtol(argv[a], &end, 10);
                if (*end || k < 1) {
                    ctl_errorf(x, "fs search: -k needs a positive number");
                    rc = CTL_EUSAGE;
                    goto out;
                }
                json_object_set_new(params, "k", json_integer(k));
            } else if (opt[1] == 'm') {
                json_object_set_new(params, "mode", json_string(argv[a]));
            } else {
                json_object_set_new(filters, "path", json_string(argv[a]));
            }
            continue;
        }
        qlen += (size_t)snprintf(query + qlen, sizeof(query) - qlen, "%s%s", qlen ? " " : "", argv[a]);
        if (qlen >= sizeof(query)) {
            ctl_errorf(x, "fs search: the query is too long");
            rc = CTL_EUSAGE;
            goto out;
        }
    }
    if (!qlen) {
        ctl_errorf(x, "fs search: what should it find?");
        rc = CTL_EUSAGE;
        goto out;
    }
    json_object_set_new(params, "query", json_string(query));
    if (json_object_size(filters))
        json_object_set(params, "filters", filters);
    if ((rc = call(x, "fs.search", json_incref(params), &res)) != CTL_OK || !res)
        goto out;
    ctl_table *t = ctl_table_new(3, headers, "rll");
    json_array_foreach(json_object_get(res, "results"), i, r) {
        char score[32], snip[512];
        size_t k = 0;
        const char *s = ctl_jstr(r, "snippet") ? ctl_jstr(r, "snippet") : "";
        snprintf(score, sizeof(score), "%.4g", json_number_value(json_object_get(r, "score")));
        /* one line: newlines and tabs as spaces, the ** marks of matches kept */
        for (; *s && k + 1 < sizeof(snip); s++)
            snip[k++] = (*s == '\n' || *s == '\t' || *s == '\r') ? ' ' : *s;
        snip[k] = 0;
        const char *cells[3] = {score, ctl_jstr(r, "path"), snip};
        ctl_table_add(t, cells);
    }
    if (ctl_table_rows(t))
        ctl_table_print(t, stdout);
    else
        printf("nothing found\n");
    if (ctl_jstr(res, "fallback"))
        printf("(%s)\n", ctl_jstr(res, "fallback"));
    ctl_table_free(t);
out:
    json_decref(res);
    json_decref(params);
    json_decref(filters);
    return rc;
}

static int fs_summarize(ctl_ctx *x, int argc, char **argv)
{
    json_t *res = NULL;
    int rc;

    (void)argc;
    rc = call(x, "fs.summarize", json_pack("{s:s}", "path", argv[1]), &res);
    if (rc == CTL_OK && res)
        printf("%s\n", ctl_jstr(res, "summary") ? ctl_jstr(res, "summary") : "");
    json_decref(res);
    return rc;
}

static const fs_sub subs[] = {
    {"ls", "[PATH]", 0, 1, fs_ls},
    {"cat", "PATH [VERSION]", 1, 2, fs_cat},
    {"put", "PATH [FILE|-]", 1, 2, fs_put},
    {"rm", "[-r] PATH", 1, 2, fs_rm},
    {"mkdir", "PATH", 1, 1, fs_mkdir},
    {"mv", "FROM TO", 2, 2, fs_mv},
    {"stat", "PATH", 1, 1, fs_stat},
    {"history", "PATH", 1, 1, fs_history},
    {"diff", "PATH [FROM [TO]]", 1, 3, fs_diff},
    {"rollback", "PATH VERSION", 2, 2, fs_rollback},
    {"search", "[-k N] [-m keyword|semantic|hybrid] [-p PREFIX] QUERY...", 1, -1, fs_search},
    {"summarize", "PATH", 1, 1, fs_summarize},
};

static void sub_usage(FILE *f)
{
    for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
        fprintf(f, "  fs %s %s\n", subs[i].name, subs[i].args);
}

static int cmd_fs(ctl_ctx *x, int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        if (argc < 2) {
            ctl_errorf(x, "fs: which operation?");
            sub_usage(stderr);
            return CTL_EUSAGE;
        }
        sub_usage(stdout);
        return CTL_OK;
    }
    for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
        const fs_sub *s = &subs[i];
        int n = argc - 2;
        if (strcmp(argv[1], s->name) != 0)
            continue;
        if (n < s->min || (s->max >= 0 && n > s->max)) {
            ctl_errorf(x, "fs %s: usage: fs %s %s", s->name, s->name, s->args);
            return CTL_EUSAGE;
        }
        return s->fn(x, argc - 1, argv + 1);
    }
    ctl_errorf(x, "fs: no operation '%s'", argv[1]);
    sub_usage(stderr);
    return CTL_EUSAGE;
}

const ctl_cmd ctl_fs_cmds[] = {
    {"fs", "ls|cat|put|rm|mkdir|mv|stat|history|diff|rollback|search|summarize ...",
     "the semantic file system: files, versions and search", cmd_fs, CTL_COMP_NONE, 0,
     "  fs ls [PATH]                   a folder (default ~): name, type, size, version, modified, owner\n"
     "  fs cat PATH [VERSION]          a file's content (an older version with VERSION)\n"
     "  fs put PATH [FILE|-]           write a local file or stdin (default) as a new version\n"
     "  fs rm [-r] PATH                to the trash (recoverable until purged)\n"
     "  fs mkdir PATH                  a folder, with its parents\n"
     "  fs mv FROM TO                  move or rename (history stays)\n"
     "  fs stat PATH                   everything about a file, as JSON\n"
     "  fs history PATH                its versions\n"
     "  fs diff PATH [FROM [TO]]       unified diff (default: the last change)\n"
     "  fs rollback PATH VERSION       bring a version back (as a new version)\n"
     "  fs search [-k N] [-m MODE] [-p PREFIX] QUERY...\n"
     "                                 by keywords and meaning (MODE keyword, semantic, hybrid)\n"
     "  fs summarize PATH              a summary by the model (a file or a folder)\n"
     "  paths: ~/..., /home/AGENT/..., /shared/..., /mnt/NAME/...; the rest of fs.* with `call`\n"},
};

const size_t ctl_fs_ncmds = sizeof(ctl_fs_cmds) / sizeof(ctl_fs_cmds[0]);

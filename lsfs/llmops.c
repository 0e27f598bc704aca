/*
 * llmops.c - the LLM-powered file operations: fs.summarize, fs.group and
 * fs.join.
 *
 * Summaries are stored per file version (table summaries) and served from
 * there; a write makes the stored one stale, and lsfs_summaries_refresh()
 * (run in the background by the subsystem while a model is loaded) makes
 * the new one.  Long files are summarised in parts, then the parts are
 * summarised together.  fs.group clusters files with spherical k-means
 * (k-means++ seeding from a fixed seed, so results are reproducible) on
 * their mean chunk embedding, or on TF-IDF keyword vectors when no
 * embedding model is loaded, and names each group with the LLM or, without
 * one, by its top keywords.  fs.join writes the chosen files into a new one
 * (concatenated, or merged by the LLM) and records their paths and versions
 * as its sources.
 *
 * Threads: any worker thread (llm_service_chat blocks).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aios/llm.h"
#include "aios/log.h"
#include "lsfs/lsfs_int.h"

#define SUMMARY_PART_BYTES 6000
#define SUMMARY_MAX_PARTS 4
#define GROUP_MAX_FILES 500

static int llm_unavailable(lsfs_db *db)
{
    return lsfs__err(db, AIOS_EUNAVAIL, NULL, "unavailable: no language model is loaded");
}

/* One chat turn: system prompt + user text -> reply (malloc'd). */
static int ask(lsfs_db *db, const lsfs_actor *a, const char *system, const char *user,
               int max_tokens, char **reply)
{
    json_t *msgs = json_pack("[{s:s,s:s},{s:s,s:s}]", "role", "system", "content", system,
                             "role", "user", "content", user);
    json_t *opts = json_pack("{s:i,s:f,s:i}", "max_tokens", max_tokens, "temperature", 0.0,
                             "seed", 1);
    int rc = llm_service_chat(msgs, opts, a ? a->proc_id : 0, reply);

    json_decref(msgs);
    json_decref(opts);
    if (rc == AIOS_EUNAVAIL)
        return llm_unavailable(db);
    if (rc < 0)
        return lsfs__err(db, rc, NULL, "the language model failed: %s", aios_strerror(rc));
    /* trim */
    char *s = *reply, *e;
    while (*s == ' ' || *s == '\n' || *s == '\t')
        s++;
    memmove(*reply, s, strlen(s) + 1);
    e = *reply + strlen(*reply);
    while (e > *reply && (e[-1] == ' ' || e[-1] == '\n' || e[-1] == '\t'))
        *--e = 0;
    return 0;
}

/* ---- summaries ------------------------------------------------------------------------ */

static int summary_cached(lsfs_db *db, int64_t node, int64_t ver, char **text)
{
    sqlite3_stmt *st = lsfs__stmt(db, "SELECT text FROM summaries WHERE node=?1 AND ver=?2");
    int rc;

    *text = NULL;
    if (!st)
        return AIOS_EIO;
    sqlite3_bind_int64(st, 1, node);
    sqlite3_bind_int64(st, 2, ver);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *text = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : lsfs__sqlerr(db, rc, "summary");
}

static int summary_store(lsfs_db *db, int64_t node, int64_t ver, const char *text)
{
    sqlite3_stmt *st;
    int rc;

    if ((rc = lsfs__begin(db)) < 0)
        return rc;
    st = lsfs__stmt(db, "INSERT OR REPLACE INTO summaries(node,ver,text,model,time)"
                        " SELECT ?1,?2,?3,'llm',?4 WHERE EXISTS(SELECT 1 FROM versions"
                        " WHERE node=?1 AND ver=?2)");
    if (!st)
        return lsfs__end(db, AIOS_EIO);
    sqlite3_bind_int64(st, 1, node);
    sqlite3_bind_int64(st, 2, ver);
    sqlite3_bind_text(st, 3, text, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, lsfs__now_ms());
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    rc = rc == SQLITE_DONE ? 0 : lsfs__sqlerr(db, rc, "summary");
    return lsfs__end(db, rc);
}

static const char sys_file[] =
    "You summarize files for a file manager. Reply with a short, factual summary of the "
    "content in at most four sentences. Do not add a preamble.";

/* Make the summary of one file's head version (no rights check here). */
static int summarize_node(lsfs_db *db, const lsfs_actor *a, const lsfs__node *n, bool refresh,
                          char **text, bool *cached)
{
    char *data = NULL, *part = NULL, *joined = NULL;
    size_t len = 0;
    int rc;

    *cached = false;
    if (!refresh) {
        if ((rc = summary_cached(db, n->id, n->head, text)) < 0)
            return rc;
        if (*text) {
            *cached = true;
            return 0;
        }
    }
    if (!llm_service_available())
        return llm_unavailable(db);
    if (n->blob && (rc = lsfs__blob_get(db, n->blob, &data, &len)) < 0)
        return rc;
    if (!data || !lsfs__is_text(data, len)) {
        free(data);
        *text = strdup(len ? "(binary content)" : "(empty file)");
        return *text ? 0 : AIOS_ENOMEM;
    }
    if (len <= SUMMARY_PART_BYTES) {
        char *user = NULL;
        if (asprintf(&user, "File: %s\n\n%s", n->path, data) < 0) {
            free(data);
            return lsfs__err(db, AIOS_ENOMEM, NULL, "out of memory");
        }
        rc = ask(db, a, sys_file, user, 200, text);
        free(user);
    } else {
        /* summarise parts, then the parts together */
        size_t off = 0;
        int parts = 0;
        FILE *f;
        size_t jlen = 0;
        f = open_memstream(&joined, &jlen);
        rc = f ? 0 : AIOS_ENOMEM;
        while (rc == 0 && off < len && parts < SUMMARY_MAX_PARTS) {
            size_t n_bytes = len - off < SUMMARY_PART_BYTES ? len - off : SUMMARY_PART_BYTES;
            char *user = NULL;
            while (off + n_bytes < len && n_bytes > 0 &&
                   ((unsigned char)data[off + n_bytes] & 0xC0) == 0x80)
                n_bytes--;
            if (asprintf(&user, "File: %s (part %d)\n\n%.*s", n->path, parts + 1, (int)n_bytes,
                         data + off) < 0) {
                rc = AIOS_ENOMEM;
                break;
            }
            rc = ask(db, a, sys_file, user, 150, &part);
            free(user);
            if (rc == 0) {
                fprintf(f, "Part %d: %s\n", parts + 1, part);
                free(part);
                part = NULL;
            }
            off += n_bytes;
            parts++;
        }
        if (f)
            fclose(f);
        if (rc == 0) {
            char *user = NULL;
            if (asprintf(&user, "File: %s (%zu bytes%s). Summaries of its parts:\n%s", n->path,
                         len, off < len ? ", only the beginning was read" : "", joined) < 0)
                rc = AIOS_ENOMEM;
            else
                rc = ask(db, a, sys_file, user, 200, text);
            free(user);
        }
    }
    free(data);
    free(joined);
    if (rc < 0)
        return rc;
    if ((rc = summary_store(db, n->id, n->head, *text)) < 0)
        aios_log(AIOS_LOG_WARN, "lsfs", "cannot store the summary of '%s': %s", n->path,
                 lsfs_db_errmsg(db));
    return 0;
}

/* Summaries of several files, then one summary of them all. */
static int summarize_many(lsfs_db *db, const lsfs_actor *a, json_t *paths, const char *title,
                          bool refresh, json_t **out)
{
    json_t *files = json_array();
    char *all = NULL, *total = NULL;
    size_t alen = 0, i;
    json_t *v;
    FILE *f = open_memstream(&all, &alen);
    int rc = f ? 0 : AIOS_ENOMEM;

    json_array_foreach(paths, i, v) {
        char p[LSFS_PATH_MAX], *text = NULL;
        lsfs__node n;
        bool cached;
        if (rc < 0)
            break;
        if ((rc = lsfs__path_norm(db, a, json_string_value(v), "paths", p, sizeof p)) < 0 ||
            (rc = lsfs__node_get(db, p, &n)) < 0 || (rc = lsfs__node_follow(db, &n)) < 0 ||
            (rc = lsfs__need(db, a, &n, LSFS_PERM_READ, "paths")) < 0)
            break;
        if (n.kind != LSFS_KIND_FILE)
            continue;
        if ((rc = summarize_node(db, a, &n, refresh, &text, &cached)) < 0)
            break;
        json_array_append_new(files, json_pack("{s:s,s:I,s:s,s:b}", "path", n.path, "version",
                                               (json_int_t)n.head, "summary", text, "cached",
                                               cached));
        if (alen < 12000)
            fprintf(f, "- %s: %s\n", n.path, text);
        free(text);
    }
    if (f)
        fclose(f);
    if (rc == 0 && json_array_size(files) > 0) {
        char *user = NULL;
        if (asprintf(&user, "%s\n%s", title, all) < 0)
            rc = AIOS_ENOMEM;
        else
            rc = ask(db, a,
                     "You summarize groups of files. Reply with a short overview of what the "
                     "files contain together, in at most five sentences, without a preamble.",
                     user, 250, &total);
        free(user);
    }
    if (rc == 0)
        *out = json_pack("{s:s,s:o}", "summary", total ? total : "(no files)", "files", files);
    else
        json_decref(files);
    free(total);
    free(all);
    return rc;
}

/* Readable text files below a folder (up to max), as a JSON array of paths. */
static int files_below(lsfs_db *db, const lsfs_actor *a, const char *path, bool recursive,
                       int max, json_t **out)
{
    lsfs_list_req lr = {.path = path, .recursive = recursive, .type = "file", .limit = max};
    json_t *l = NULL, *arr = json_array(), *e;
    size_t i;
    int rc = lsfs_list(db, a, &lr, &l);

    if (rc < 0) {
        json_decref(arr);
        return rc;
    }
    json_array_foreach(json_object_get(l, "entries"), i, e)
        json_array_append(arr, json_object_get(e, "path"));
    json_decref(l);
    *out = arr;
    return 0;
}

int lsfs_summarize(lsfs_db *db, const lsfs_actor *a, const json_t *params, json_t **out)
{
    const char *path = json_string_value(json_object_get(params, "path"));
    const char *query = json_string_value(json_object_get(params, "query"));
    json_t *paths = json_object_get(params, "paths");
    bool refresh = json_is_true(json_object_get(params, "refresh"));
    char p[LSFS_PATH_MAX], title[LSFS_PATH_MAX + 64];
    lsfs__node n;
    int rc;

    lsfs__clear_err(db);
    *out = NULL;
    if (!!path + !!query + !!paths != 1)
        return lsfs__err(db, AIOS_EINVAL, "path", "give exactly one of path, paths or query");
    if (path) {
        if ((rc = lsfs__path_norm(db, a, path, "path", p, sizeof p)) < 0 ||
            (rc = lsfs__node_get(db, p, &n)) < 0 || (rc = lsfs__node_follow(db, &n)) < 0 ||
            (rc = lsfs__need(db, a, &n, LSFS_PERM_READ, "path")) < 0)
            return rc;
        if (n.kind == LSFS_KIND_FILE) {
            char *text = NULL;
            bool cached;
            if ((rc = summarize_node(db, a, &n, refresh, &text, &cached)) < 0)
                return rc;
            *out = json_pack("{s:s,s:I,s:s,s:b}", "path", n.path, "version", (json_int_t)n.head,
                             "summary", text, "cached", cached);
            free(text);
            return 0;
        }
        if (!llm_service_available())
            return llm_unavailable(db);
        json_t *list = NULL;
        if ((rc = files_below(db, a, n.path, true, 20, &list)) < 0)
            return rc;
        snprintf(title, sizeof title, "Folder %s holds these files:", n.path);
        rc = summarize_many(db, a, list, title, refresh, out);
        json_decref(list);
        if (rc == 0)
            json_object_set_new(*out, "path", json_string(n.path));
        return rc;
    }
    if (!llm_service_available())
        return llm_unavailable(db);
    if (paths) {
        if (!json_is_array(paths) || json_array_size(paths) == 0 || json_array_size(paths) > 50)
            return lsfs__err(db, AIOS_EINVAL, "paths", "paths lists 1 to 50 files");
        return summarize_many(db, a, paths, "These files were chosen together:", refresh, out);
    }
    /* search results: summarise what the best chunks say about the query */
    {
        lsfs_search_req sr = {.query = query, .mode = LSFS_SEARCH_HYBRID,
                              .k = (int)json_integer_value(json_object_get(params, "k"))};
        json_t *res = NULL, *r, *found = json_array();
        char *ctx = NULL, *text = NULL, *user = NULL;
        size_t clen = 0, i;
        FILE *f;
        if (sr.k <= 0 || sr.k > 10)
            sr.k = 5;
        if ((rc = lsfs_search(db, a, &sr, &res)) < 0) {
            json_decref(found);
            return rc;
        }
        f = open_memstream(&ctx, &clen);
        json_array_foreach(json_object_get(res, "results"), i, r) {
            json_t *c;
            size_t j;
            json_array_append(found, json_object_get(r, "path"));
            fprintf(f, "From %s:\n", json_string_value(json_object_get(r, "path")));
            json_array_foreach(json_object_get(r, "chunks"), j, c)
                fprintf(f, "%s\n", json_string_value(json_object_get(c, "snippet")));
        }
        fclose(f);
        json_decref(res);
        if (json_array_size(found) == 0) {
            *out = json_pack("{s:s,s:s,s:o}", "query", query, "summary", "(nothing found)",
                             "results", found);
            free(ctx);
            return 0;
        }
        if (asprintf(&user, "Question: %s\n\nSearch results:\n%s", query, ctx) < 0)
            rc = AIOS_ENOMEM;
        else
            rc = ask(db, a,
                     "You summarize search results. Say in at most five sentences what the "
                     "results say about the question. Do not add a preamble.",
                     user, 250, &text);
        free(user);
        free(ctx);
        if (rc == 0)
            *out = json_pack("{s:s,s:s,s:o}", "query", query, "summary", text, "results", found);
        else
            json_decref(found);
        free(text);
        return rc;
    }
}

int lsfs_summaries_refresh(lsfs_db *db, int max_files)
{
    sqlite3_stmt *st;
    json_t *ids = json_array();
    lsfs_actor sys;
    size_t i;
    json_t *v;
    int done = 0;

    lsfs__clear_err(db);
    if (!llm_service_available()) {
        json_decref(ids);
        return 0;
    }
    memset(&sys, 0, sizeof sys);
    snprintf(sys.principal, sizeof sys.principal, "%s", LSFS_SYSTEM_OWNER);
    sys.admin = true;
    st = lsfs__stmt(db, "SELECT n.id FROM nodes n WHERE n.deleted IS NULL AND n.kind=2"
                        " AND EXISTS(SELECT 1 FROM summaries s WHERE s.node=n.id)"
                        " AND NOT EXISTS(SELECT 1 FROM summaries s WHERE s.node=n.id"
                        "                AND s.ver=n.head) LIMIT ?1");
    if (!st) {
        json_decref(ids);
        return AIOS_EIO;
    }
    sqlite3_bind_int(st, 1, max_files > 0 ? max_files : 8);
    while (sqlite3_step(st) == SQLITE_ROW)
        json_array_append_new(ids, json_integer(sqlite3_column_int64(st, 0)));
    sqlite3_reset(st);
    json_array_foreach(ids, i, v) {
        lsfs__node n;
        char *text = NULL;
        bool cached;
        if (lsfs__node_by_id(db, json_integer_value(v), &n) < 0)
            continue;
        if (summarize_node(db, &sys, &n, true, &text, &cached) == 0)
            done++;
        free(text);
    }
    json_decref(ids);
    return done;
}

/* ---- grouping ----------------------------------------------------------------------------- */

typedef struct {
    char *path;
    int64_t id;
    char *text;                 /* first bytes, for keywords */
    float *vec;
} gfile;

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static float dotf(const float *a, const float *b, int d)
{
    float s = 0;

    for (int i = 0; i < d; i++)
        s += a[i] * b[i];
    return s;
}

static void normalize(float *v, int d)
{
    float n = sqrtf(dotf(v, v, d));

    if (n > 0)
        for (int i = 0; i < d; i++)
            v[i] /= n;
}

/* Spherical k-means with k-means++ seeding; assign[i] in 0..k-1. */
static void kmeans(gfile *f, size_t n, int d, int k, int *assign)
{
    float *cent = calloc((size_t)k * (size_t)d, sizeof(float));
    float *dist = malloc(n * sizeof(float));
    uint64_t seed = 0x9E3779B97F4A7C15ULL;

    if (!cent || !dist) {
        for (size_t i = 0; i < n; i++)
            assign[i] = (int)(i % (size_t)k);
        free(cent);
        free(dist);
        return;
    }
    memcpy(cent, f[0].vec, (size_t)d * sizeof(float));
    for (int c = 1; c < k; c++) {
        double total = 0;
        for (size_t i = 0; i < n; i++) {
            float best = 2;
            for (int j = 0; j < c; j++) {
                float dd = 1 - dotf(f[i].vec, cent + (size_t)j * (size_t)d, d);
                if (dd < best)
                    best = dd;
            }
            dist[i] = best * best;
            total += dist[i];
        }
        double r = total * (double)(rng_next(&seed) % 1000000) / 1e6;
        size_t pick = 0;
        for (size_t i = 0; i < n; i++) {
            r -= dist[i];
            if (r <= 0) {
                pick = i;
                break;
            }
            pick = i;
        }
        memcpy(cent + (size_t)c * (size_t)d, f[pick].vec, (size_t)d * sizeof(float));
    }
    for (size_t i = 0; i < n; i++)
        assign[i] = -1;
    for (int it = 0; it < 50; it++) {
        bool changed = false;
        for (size_t i = 0; i < n; i++) {
            int best = 0;
            float bs = -2;
            for (int j = 0; j < k; j++) {
                float s = dotf(f[i].vec, cent + (size_t)j * (size_t)d, d);
                if (s > bs) {
                    bs = s;
                    best = j;
                }
            }
            if (assign[i] != best) {
                assign[i] = best;
                changed = true;
            }
        }
        if (!changed)
            break;
        memset(cent, 0, (size_t)k * (size_t)d * sizeof(float));
        for (size_t i = 0; i < n; i++)
            for (int x = 0; x < d; x++)
                cent[(size_t)assign[i] * (size_t)d + (size_t)x] += f[i].vec[x];
        for (int j = 0; j < k; j++)
            normalize(cent + (size_t)j * (size_t)d, d);
    }
    free(cent);
    free(dist);
}

/* Mean of a file's chunk vectors (normalised); false when it has none. */
static bool file_vector(lsfs_db *db, int64_t id, float *out, int d)
{
    sqlite3_stmt *st = lsfs__stmt(db, "SELECT v.vec FROM vectors v JOIN chunks c ON c.id=v.chunk"
                                      " WHERE c.node=?1 AND v.model=?2");
    int n = 0;

    memset(out, 0, (size_t)d * sizeof(float));
    if (!st)
        return false;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, db->s->sem.model, -1, SQLITE_STATIC);
    while (sqlite3_step(st) == SQLITE_ROW) {
        const float *v = sqlite3_column_blob(st, 0);
        if (sqlite3_column_bytes(st, 0) != d * (int)sizeof(float))
            continue;
        for (int i = 0; i < d; i++)
            out[i] += v[i];
        n++;
    }
    sqlite3_reset(st);
    normalize(out, d);
    return n > 0;
}

/* A file-system-safe group name. */
static void clean_name(const char *in, char *out, size_t len)
{
    size_t o = 0;
    bool dash = false;

    for (const char *s = in; *s && o + 1 < len && o < 48; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
            out[o++] = (char)c;
            dash = false;
        } else if (o > 0 && !dash && (c == ' ' || c == '-' || c == '_')) {
            out[o++] = '-';
            dash = true;
        } else if (c == '\n') {
            break;
        }
    }
    while (o > 0 && out[o - 1] == '-')
        o--;
    out[o] = 0;
    if (!o)
        snprintf(out, len, "group");
}

int lsfs_group_files(lsfs_db *db, const lsfs_actor *a, const json_t *params, json_t **out)
{
    const char *path = json_string_value(json_object_get(params, "path"));
    const char *into = json_string_value(json_object_get(params, "into"));
    json_t *paths = json_object_get(params, "paths"), *list = NULL, *groups = NULL;
    int k = (int)json_integer_value(json_object_get(params, "k"));
    bool use_llm = llm_service_available(), use_emb = db->s->sem.emb != NULL;
    gfile *f = NULL;
    int *assign = NULL, d = 0, rc;
    size_t n = 0, i;
    json_t *v, *vocab = NULL;

    lsfs__clear_err(db);
    *out = NULL;
    if (paths) {
        if (!json_is_array(paths))
            return lsfs__err(db, AIOS_EINVAL, "paths", "paths is an array of file paths");
        list = json_deep_copy(paths);
    } else if ((rc = files_below(db, a, path ? path : "~", true, GROUP_MAX_FILES, &list)) < 0) {
        return rc;
    }
    f = calloc(json_array_size(list) + 1, sizeof *f);
    if (!f) {
        json_decref(list);
        return lsfs__err(db, AIOS_ENOMEM, NULL, "out of memory");
    }
    json_array_foreach(list, i, v) {
        char p[LSFS_PATH_MAX], *data = NULL;
        size_t len = 0;
        lsfs__node nd;
        if ((rc = lsfs__path_norm(db, a, json_string_value(v), "paths", p, sizeof p)) < 0 ||
            (rc = lsfs__node_get(db, p, &nd)) < 0 || (rc = lsfs__node_follow(db, &nd)) < 0 ||
            (rc = lsfs__need(db, a, &nd, LSFS_PERM_READ, "paths")) < 0)
            goto out;
        if (nd.kind != LSFS_KIND_FILE || !nd.blob)
            continue;
        if (lsfs__blob_get(db, nd.blob, &data, &len) < 0 || !lsfs__is_text(data, len)) {
            free(data);
            lsfs__clear_err(db);
            continue;
        }
        if (len > 8000)
            data[8000] = 0;
        f[n].path = strdup(nd.path);
        f[n].id = nd.id;
        f[n].text = data;
        n++;
    }
    if (n < 2) {
        rc = lsfs__err(db, AIOS_EINVAL, paths ? "paths" : "path",
                       "grouping needs at least two readable text files (found %zu)", n);
        goto out;
    }
    if (k <= 0) {
        k = (int)lround(sqrt((double)n / 2.0));
        if (k < 2)
            k = 2;
        if (k > 8)
            k = 8;
    }
    if ((size_t)k > n)
        k = (int)n;
    if (use_emb) {
        d = db->s->sem.dim;
        for (i = 0; i < n && use_emb; i++) {
            f[i].vec = malloc((size_t)d * sizeof(float));
            if (!f[i].vec) {
                rc = lsfs__err(db, AIOS_ENOMEM, NULL, "out of memory");
                goto out;
            }
            if (!file_vector(db, f[i].id, f[i].vec, d)) {
                lsfs__embed_node_now(db, f[i].id);
                if (!file_vector(db, f[i].id, f[i].vec, d))
                    use_emb = false;
            }
        }
    }
    if (!use_emb) {
        /* TF-IDF over each file's top keywords */
        json_t *kws = json_array(), *df = json_object();
        const char *key;
        vocab = json_object();
        for (i = 0; i < n; i++) {
            json_t *kw = lsfs__keywords(f[i].text, strlen(f[i].text), 24), *w;
            size_t j;
            json_array_foreach(kw, j, w) {
                const char *s = json_string_value(w);
                json_t *c = json_object_get(df, s);
                json_object_set_new(df, s, json_integer(c ? json_integer_value(c) + 1 : 1));
                if (!json_object_get(vocab, s) && json_object_size(vocab) < 4096)
                    json_object_set_new(vocab, s, json_integer((json_int_t)json_object_size(vocab)));
            }
            json_array_append_new(kws, kw);
        }
        d = (int)json_object_size(vocab);
        for (i = 0; i < n; i++) {
            json_t *w;
            size_t j;
            free(f[i].vec);
            f[i].vec = calloc((size_t)(d ? d : 1), sizeof(float));
            if (!f[i].vec) {
                json_decref(kws);
                json_decref(df);
                rc = lsfs__err(db, AIOS_ENOMEM, NULL, "out of memory");
                goto out;
            }
            json_array_foreach(json_array_get(kws, i), j, w) {
                key = json_string_value(w);
                json_t *ix = json_object_get(vocab, key);
                if (!ix)
                    continue;
                double idf = log((double)(n + 1) /
                                 (double)(1 + json_integer_value(json_object_get(df, key))));
                /* earlier keywords are more frequent in the file */
                f[i].vec[json_integer_value(ix)] = (float)((1.0 + idf) / (1.0 + 0.1 * (double)j));
            }
            normalize(f[i].vec, d);
        }
        json_decref(kws);
        json_decref(df);
    }
    assign = calloc(n, sizeof *assign);
    if (!assign) {
        rc = lsfs__err(db, AIOS_ENOMEM, NULL, "out of memory");
        goto out;
    }
    kmeans(f, n, d, k, assign);

    groups = json_array();
    for (int g = 0; g < k; g++) {
        json_t *files = json_array(), *kw;
        char *all = NULL, name[64];
        size_t alen = 0;
        FILE *mf = open_memstream(&all, &alen);
        for (i = 0; i < n; i++)
            if (assign[i] == g) {
                json_array_append_new(files, json_string(f[i].path));
                if (mf)
                    fprintf(mf, "%s\n%s\n", lsfs__path_name(f[i].path), f[i].text);
            }
        if (mf)
            fclose(mf);
        if (json_array_size(files) == 0) {
            json_decref(files);
            free(all);
            continue;
        }
        kw = lsfs__keywords(all ? all : "", all ? strlen(all) : 0, 5);
        free(all);
        {
            char fallback[128] = "";
            size_t j;
            json_t *w;
            json_array_foreach(kw, j, w) {
                if (j == 3)
                    break;
                size_t l = strlen(fallback);
                snprintf(fallback + l, sizeof fallback - l, "%s%s", l ? "-" : "",
                         json_string_value(w));
            }
            clean_name(fallback, name, sizeof name);
        }
        if (use_llm) {
            char *kj = json_dumps(kw, JSON_COMPACT), *fj = json_dumps(files, JSON_COMPACT);
            char *user = NULL, *reply = NULL;
            if (kj && fj && asprintf(&user, "Keywords: %s\nFiles: %s\nName this group of files "
                                            "in two to four words.", kj, fj) >= 0 &&
                ask(db, a, "You name groups of files. Reply with the name only.", user, 16,
                    &reply) == 0)
                clean_name(reply, name, sizeof name);
            lsfs__clear_err(db);
            free(user);
            free(reply);
            free(kj);
            free(fj);
        }
        /* names are unique within one answer */
        {
            char base[64];
            int dup = 1;
            size_t j;
            json_t *og;
            snprintf(base, sizeof base, "%s", name);
            for (bool clash = true; clash;) {
                clash = false;
                json_array_foreach(groups, j, og)
                    if (strcmp(json_string_value(json_object_get(og, "name")), name) == 0)
                        clash = true;
                if (clash)
                    snprintf(name, sizeof name, "%.40s-%d", base, ++dup);
            }
        }
        json_array_append_new(groups, json_pack("{s:s,s:o,s:o}", "name", name, "keywords", kw,
                                                "files", files));
    }
    if (into) {
        json_t *g;
        size_t gi;
        json_t *tmp = NULL;
        char dir[LSFS_PATH_MAX];
        if ((rc = lsfs_mkdir(db, a, into, true, &tmp)) < 0)
            goto out;
        snprintf(dir, sizeof dir, "%s", json_string_value(json_object_get(tmp, "path")));
        json_decref(tmp);
        json_array_foreach(groups, gi, g) {
            char gdir[LSFS_PATH_MAX + 80];
            size_t j;
            json_t *fp;
            snprintf(gdir, sizeof gdir, "%s/%s", dir, json_string_value(json_object_get(g, "name")));
            if ((rc = lsfs_mkdir(db, a, gdir, true, &tmp)) < 0)
                goto out;
            json_decref(tmp);
            json_array_foreach(json_object_get(g, "files"), j, fp) {
                char lp[LSFS_PATH_MAX + 400];
                snprintf(lp, sizeof lp, "%s/%s", gdir, lsfs__path_name(json_string_value(fp)));
                rc = lsfs_link(db, a, lp, json_string_value(fp), &tmp);
                json_decref(tmp);
                if (rc == AIOS_EEXIST)
                    rc = 0;
                if (rc < 0)
                    goto out;
            }
            json_object_set_new(g, "folder", json_string(gdir));
        }
    }
    *out = json_pack("{s:O,s:s,s:s,s:i}", "groups", groups, "named_by",
                     use_llm ? "llm" : "keywords", "method",
                     use_emb ? "kmeans-embeddings" : "kmeans-tfidf", "files", (int)n);
    rc = 0;
out:
    for (i = 0; i < n; i++) {
        free(f[i].path);
        free(f[i].text);
        free(f[i].vec);
    }
    free(f);
    free(assign);
    json_decref(list);
    json_decref(groups);
    json_decref(vocab);
    return rc;
}

/* ---- joining ---------------------------------------------------------------------------------- */

int lsfs_join(lsfs_db *db, const lsfs_actor *a, const json_t *params, json_t **out)
{
    json_t *paths = json_object_get(params, "paths"), *sources = json_array(), *v;
    const char *dest = json_string_value(json_object_get(params, "path"));
    const char *sep = json_string_value(json_object_get(params, "separator"));
    const char *mode = json_string_value(json_object_get(params, "mode"));
    char *buf = NULL, *merged = NULL, *srcj = NULL;
    size_t blen = 0, i;
    FILE *f = NULL;
    int rc = 0;

    lsfs__clear_err(db);
    *out = NULL;
    if (!sep)
        sep = "\n\n";
    if (!mode)
        mode = "concat";
    if (strcmp(mode, "concat") != 0 && strcmp(mode, "llm") != 0) {
        rc = lsfs__err(db, AIOS_EINVAL, "mode", "mode is 'concat' or 'llm'");
        goto out;
    }
    if (!json_is_array(paths) || json_array_size(paths) < 2 || json_array_size(paths) > 100) {
        rc = lsfs__err(db, AIOS_EINVAL, "paths", "join takes 2 to 100 files");
        goto out;
    }
    if (!dest) {
        rc = lsfs__err(db, AIOS_EINVAL, "path", "give the path of the new file");
        goto out;
    }
    if (strcmp(mode, "llm") == 0 && !llm_service_available()) {
        rc = llm_unavailable(db);
        goto out;
    }
    f = open_memstream(&buf, &blen);
    if (!f) {
        rc = lsfs__err(db, AIOS_ENOMEM, NULL, "out of memory");
        goto out;
    }
    json_array_foreach(paths, i, v) {
        char *data = NULL;
        size_t len = 0;
        json_t *meta = NULL;
        if (!json_is_string(v)) {
            rc = lsfs__err(db, AIOS_EINVAL, "paths", "paths holds file paths");
            goto out;
        }
        if ((rc = lsfs_read(db, a, json_string_value(v), 0, 0, -1, &data, &len, &meta)) < 0) {
            snprintf(db->errfield, sizeof db->errfield, "paths");
            goto out;
        }
        if (i > 0)
            fputs(sep, f);
        if (strcmp(mode, "llm") == 0)
            fprintf(f, "=== %s ===\n", json_string_value(json_object_get(meta, "path")));
        fwrite(data, 1, len, f);
        json_array_append_new(sources,
                              json_pack("{s:O,s:O}", "path", json_object_get(meta, "path"),
                                        "version", json_object_get(meta, "version")));
        free(data);
        json_decref(meta);
    }
    fclose(f);
    f = NULL;
    if (strcmp(mode, "llm") == 0) {
        if ((rc = ask(db, a,
                      "You merge documents. Combine the documents below into one coherent "
                      "document that keeps every fact, removes repetition and uses headings. "
                      "Reply with the merged document only.",
                      buf, 1024, &merged)) < 0)
            goto out;
    }
    srcj = json_dumps(sources, JSON_COMPACT);
    {
        lsfs_write_req req = {.data = merged ? merged : buf,
                              .len = merged ? strlen(merged) : blen,
                              .mode = LSFS_WRITE_REPLACE, .create = true,
                              .exclusive = !json_is_true(json_object_get(params, "overwrite")),
                              .sources = srcj};
        if ((rc = lsfs_write(db, a, dest, &req, out)) < 0)
            goto out;
        json_object_set(*out, "sources", sources);
        json_object_set_new(*out, "joined_by", json_string(mode));
    }
out:
    if (f)
        fclose(f);
    free(buf);
    free(merged);
    free(srcj);
    json_decref(sources);
    return rc;
}

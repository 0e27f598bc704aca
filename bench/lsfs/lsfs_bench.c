/*
 * lsfs_bench.c - LSFS benchmarks, in process (no socket in the way):
 *
 *   lsfs-bench ingest --data D --corpus C [--embed P|none] [--prefix /shared/corpus] [--limit N]
 *       write every file under C into LSFS; files/s, chunks/s (embedding
 *       included when a model is given: each write embeds its chunks)
 *   lsfs-bench search --data D --embed P --queries Q.tsv [--k 5] [--prefix /shared/corpus]
 *       run every query in keyword, semantic and hybrid mode; one JSON line
 *       per query and mode with the ranked corpus-relative paths and the time
 *   lsfs-bench mount --data D --host DIR [--embed P|none]
 *       index a host folder as a mount (batched transactions): files/s
 *   lsfs-bench scale --data D --embed P --queries Q.tsv --chunks N [--iters 3] [--sigma 0.02]
 *       grow an ingested store to N chunks with copies of the corpus (written
 *       without the encoder, their vectors = the originals' plus Gaussian
 *       noise, renormalised), then time queries: p50/p99 per mode
 *
 * Output ends with a RESULT line.  Single-threaded; the store's own encoder
 * threads do the embedding.
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "aios/embed.h"
#include "aios/error.h"
#include "aios/log.h"
#include "aios/lsfs.h"
#include "lsfs/lsfs_int.h"

static const char *arg(int argc, char **argv, const char *name, const char *def)
{
    for (int i = 2; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return argv[i + 1];
    return def;
}

static bool flag(int argc, char **argv, const char *name)
{
    for (int i = 2; i < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return true;
    return false;
}

static double cpu_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[n] = 0;
        *len = (size_t)n;
    }
    return buf;
}

/* Corpus-relative paths of every regular file under root, sorted. */
static void walk(const char *root, const char *rel, json_t *out)
{
    char path[4096];
    struct dirent **ents;
    int n;

    snprintf(path, sizeof path, "%s%s%s", root, *rel ? "/" : "", rel);
    n = scandir(path, &ents, NULL, alphasort);
    for (int i = 0; i < n; i++) {
        char child[4096], full[8192];
        struct stat sb;
        if (ents[i]->d_name[0] == '.') {
            free(ents[i]);
            continue;
        }
        snprintf(child, sizeof child, "%s%s%s", rel, *rel ? "/" : "", ents[i]->d_name);
        snprintf(full, sizeof full, "%s/%s", root, child);
        if (stat(full, &sb) == 0) {
            if (S_ISDIR(sb.st_mode))
                walk(root, child, out);
            else if (S_ISREG(sb.st_mode))
                json_array_append_new(out, json_string(child));
        }
        free(ents[i]);
    }
    free(ents);
}

static lsfs_store *open_store(const char *data, const char *embed)
{
    lsfs_options o = {.embed_model = embed};
    lsfs_store *s;
    int rc = lsfs_store_open(data, &o, &s);

    if (rc < 0) {
        fprintf(stderr, "cannot open store in %s: %s\n", data, aios_strerror(rc));
        exit(1);
    }
    return s;
}

static int64_t scalar(lsfs_db *db, const char *sql)
{
    sqlite3_stmt *st;
    int64_t v = -1;

    if (sqlite3_prepare_v2(lsfs_db_handle(db), sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* Write the corpus files under prefix; returns seconds spent. */
static int g_shard = 0, g_nshards = 1;

static double ingest_files(lsfs_db *db, const char *corpus, const char *prefix, json_t *files,
                           int limit, size_t *bytes)
{
    lsfs_actor admin;
    size_t i;
    json_t *v;
    double t0 = now_s();

    lsfs_actor_init(&admin, "", 0, true);
    *bytes = 0;
    json_array_foreach(files, i, v) {
        char src[8192], dst[4096];
        size_t len;
        char *data;
        json_t *out = NULL;
        if (limit > 0 && (int)i >= limit)
            break;
        if ((int)(i % (size_t)g_nshards) != g_shard)
            continue;
        snprintf(src, sizeof src, "%s/%s", corpus, json_string_value(v));
        snprintf(dst, sizeof dst, "%s/%s", prefix, json_string_value(v));
        if (!(data = slurp(src, &len)))
            continue;
        lsfs_write_req r = {.data = data, .len = len, .create = true};
        int rc = lsfs_write(db, &admin, dst, &r, &out);
        if (rc < 0)
            fprintf(stderr, "write %s: %s\n", dst, lsfs_db_errmsg(db));
        json_decref(out);
        *bytes += len;
        free(data);
    }
    return now_s() - t0;
}

static int cmd_ingest(int argc, char **argv)
{
    const char *data = arg(argc, argv, "--data", NULL), *corpus = arg(argc, argv, "--corpus", NULL);
    const char *embed = arg(argc, argv, "--embed", "none");
    const char *prefix = arg(argc, argv, "--prefix", "/shared/corpus");
    int limit = atoi(arg(argc, argv, "--limit", "0"));
    json_t *files = json_array();
    lsfs_store *s;
    lsfs_db *db;
    size_t bytes;
    int64_t c0, c1;
    double secs;
    int nfiles;

    if (!data || !corpus)
        return 2;
    if (sscanf(arg(argc, argv, "--shard", "0/1"), "%d/%d", &g_shard, &g_nshards) != 2 ||
        g_nshards < 1 || g_shard < 0 || g_shard >= g_nshards)
        return 2;
    walk(corpus, "", files);
    s = open_store(data, embed);
    db = lsfs_db_thread(s);
    c0 = scalar(db, "SELECT count(*) FROM chunks");
    secs = ingest_files(db, corpus, prefix, files, limit, &bytes);
    if (lsfs_store_has_embedder(s)) {
        /* chunks an interrupted earlier run left without vectors */
        double t0 = now_s();
        int n = lsfs_embed_backfill(db, 0);
        if (n > 0)
            printf("backfill: %d chunks embedded in %.1f s\n", n, now_s() - t0);
    }
    c1 = scalar(db, "SELECT count(*) FROM chunks");
    nfiles = limit > 0 && (size_t)limit < json_array_size(files) ? limit : (int)json_array_size(files);
    nfiles = (nfiles + g_nshards - 1 - g_shard) / g_nshards;
    printf("ingest: %d files, %lld chunks, %.1f MB in %.2f s (embeddings: %s)\n", nfiles,
           (long long)(c1 - c0), (double)bytes / 1e6, secs,
           lsfs_store_has_embedder(s) ? "yes" : "no");
    printf("RESULT ingest_files=%d ingest_chunks=%lld ingest_s=%.3f files_per_s=%.1f "
           "chunks_per_s=%.1f embed=%d\n", nfiles, (long long)(c1 - c0), secs, nfiles / secs,
           (double)(c1 - c0) / secs, lsfs_store_has_embedder(s));
    lsfs_store_close(s);
    json_decref(files);
    return 0;
}

/* Mount a host folder (bulk indexing in batched transactions). */
static int cmd_mount(int argc, char **argv)
{
    const char *data = arg(argc, argv, "--data", NULL), *host = arg(argc, argv, "--host", NULL);
    const char *embed = arg(argc, argv, "--embed", "none");
    lsfs_actor admin;
    lsfs_store *s;
    lsfs_db *db;
    json_t *out = NULL;
    double t0;
    int64_t chunks;

    if (!data || !host)
        return 2;
    lsfs_actor_init(&admin, "", 0, true);
    s = open_store(data, embed);
    db = lsfs_db_thread(s);
    t0 = now_s();
    if (lsfs_mount(db, &admin, host, "bench", "ro", &out) < 0) {
        fprintf(stderr, "mount: %s\n", lsfs_db_errmsg(db));
        return 1;
    }
    double secs = now_s() - t0;
    int files = (int)json_integer_value(json_object_get(out, "files"));
    chunks = scalar(db, "SELECT count(*) FROM chunks");
    printf("mount: %d files, %lld chunks in %.2f s (embeddings: %s)\n", files, (long long)chunks,
           secs, lsfs_store_has_embedder(s) ? "yes" : "no");
    printf("RESULT mount_files=%d mount_chunks=%lld mount_s=%.3f files_per_s=%.1f chunks_per_s=%.1f\n",
           files, (long long)chunks, secs, files / secs, (double)chunks / secs);
    json_decref(out);
    lsfs_store_close(s);
    return 0;
}

/* queries.tsv -> JSON array of [query, [relevant...]] */
static json_t *load_queries(const char *path)
{
    size_t len;
    char *txt = slurp(path, &len), *save = NULL, *line;
    json_t *q = json_array();

    if (!txt) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(1);
    }
    for (line = strtok_r(txt, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *tab = strchr(line, '\t');
        if (line[0] == '#' || !tab)
            continue;
        *tab = 0;
        json_t *rel = json_array();
        char *s2 = NULL;
        for (char *r = strtok_r(tab + 1, ",", &s2); r; r = strtok_r(NULL, ",", &s2))
            json_array_append_new(rel, json_string(r));
        json_array_append_new(q, json_pack("[s,o]", line, rel));
    }
    free(txt);
    return q;
}

static const char *const mode_names[] = {"keyword", "semantic", "hybrid"};

static int cmd_search(int argc, char **argv)
{
    const char *data = arg(argc, argv, "--data", NULL), *embed = arg(argc, argv, "--embed", NULL);
    const char *prefix = arg(argc, argv, "--prefix", "/shared/corpus");
    int k = atoi(arg(argc, argv, "--k", "5"));
    json_t *queries = load_queries(arg(argc, argv, "--queries", "bench/lsfs/queries.tsv"));
    lsfs_actor admin;
    lsfs_store *s;
    lsfs_db *db;
    size_t i, plen = strlen(prefix);
    json_t *q;

    if (!data || !embed)
        return 2;
    s = open_store(data, embed);
    db = lsfs_db_thread(s);
    lsfs_actor_init(&admin, "", 0, true);
    for (int mode = 0; mode < 3; mode++) {
        if (mode > 0 && !lsfs_store_has_embedder(s))
            break;
        json_array_foreach(queries, i, q) {
            lsfs_search_req r = {.query = json_string_value(json_array_get(q, 0)), .mode = mode,
                                 .k = k, .path_prefix = prefix, .exact = flag(argc, argv, "--exact"),
                                 .w_semantic = atof(arg(argc, argv, "--w-semantic", "0"))};
            json_t *out = NULL, *paths = json_array(), *res;
            size_t j;
            double t0 = now_s();
            int rc = lsfs_search(db, &admin, &r, &out);
            double ms = (now_s() - t0) * 1e3;
            if (rc < 0) {
                fprintf(stderr, "search: %s\n", lsfs_db_errmsg(db));
                return 1;
            }
            json_t *scores = json_array();
            json_array_foreach(json_object_get(out, "results"), j, res) {
                const char *p = json_string_value(json_object_get(res, "path"));
                json_array_append_new(paths, json_string(strlen(p) > plen ? p + plen + 1 : p));
                json_array_append(scores, json_object_get(res, "score"));
            }
            json_t *line = json_pack("{s:I,s:s,s:o,s:o,s:f}", "q", (json_int_t)i, "mode",
                                     mode_names[mode], "results", paths, "scores", scores, "ms", ms);
            char *txt = json_dumps(line, JSON_COMPACT);
            puts(txt);
            free(txt);
            json_decref(line);
            json_decref(out);
        }
    }
    lsfs_store_close(s);
    json_decref(queries);
    return 0;
}

/* ---- scale --------------------------------------------------------------------------- */

static double g_sigma = 0.02;
static uint64_t g_rng = 0x853c49e6748fea9bULL;

static double gauss(void)
{
    double u1, u2;

    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    u1 = ((double)(g_rng >> 11) + 1.0) / 9007199254740993.0;
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    u2 = (double)(g_rng >> 11) / 9007199254740992.0;
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

/* perturb(vec): vec + N(0, sigma^2) per dimension, renormalised. */
static void sql_perturb(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    int n = sqlite3_value_bytes(argv[0]) / (int)sizeof(float);
    const float *v = sqlite3_value_blob(argv[0]);
    float *o = malloc((size_t)n * sizeof(float));
    double norm = 0;

    (void)argc;
    for (int i = 0; i < n; i++) {
        o[i] = (float)(v[i] + g_sigma * gauss());
        norm += (double)o[i] * o[i];
    }
    norm = sqrt(norm);
    for (int i = 0; i < n; i++)
        o[i] = (float)(o[i] / norm);
    sqlite3_result_blob(ctx, o, n * (int)sizeof(float), free);
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double pct(double *v, int n, double p)
{
    int i = (int)ceil(p / 100.0 * n) - 1;

    return v[i < 0 ? 0 : i >= n ? n - 1 : i];
}

static int cmd_scale(int argc, char **argv)
{
    const char *data = arg(argc, argv, "--data", NULL), *embed = arg(argc, argv, "--embed", NULL);
    const char *corpus = arg(argc, argv, "--corpus", NULL);
    int64_t target = atoll(arg(argc, argv, "--chunks", "10000"));
    int iters = atoi(arg(argc, argv, "--iters", "3"));
    json_t *queries = load_queries(arg(argc, argv, "--queries", "bench/lsfs/queries.tsv"));
    json_t *files = json_array(), *q;
    lsfs_actor admin;
    lsfs_store *s;
    lsfs_db *db;
    int64_t chunks;
    double ingest_s = 0;
    size_t ingest_bytes = 0, i;
    int copies = 0, ingest_files_n = 0;

    if (!data || !embed || !corpus)
        return 2;
    g_sigma = atof(arg(argc, argv, "--sigma", "0.02"));
    walk(corpus, "", files);
    lsfs_actor_init(&admin, "", 0, true);

    /* grow without the encoder */
    s = open_store(data, "none");
    db = lsfs_db_thread(s);
    while ((chunks = scalar(db, "SELECT count(*) FROM chunks")) < target) {
        char prefix[64];
        size_t b;
        snprintf(prefix, sizeof prefix, "/shared/scale/r%03d", copies++);
        ingest_s += ingest_files(db, corpus, prefix, files, 0, &b);
        ingest_bytes += b;
        ingest_files_n += (int)json_array_size(files);
        fprintf(stderr, "scale: %lld chunks\n", (long long)scalar(db, "SELECT count(*) FROM chunks"));
    }
    if (copies)
        printf("grow: %d copies, %d files, %.1f MB in %.2f s without embeddings: %.1f files/s\n",
               copies, ingest_files_n, (double)ingest_bytes / 1e6, ingest_s,
               ingest_files_n / ingest_s);
    /* vectors of the copies: the originals' (same heading and body) + noise */
    {
        sqlite3 *h = lsfs_db_handle(db);
        char *err = NULL;
        double t0 = now_s();
        sqlite3_create_function(h, "perturb", 1, SQLITE_UTF8, NULL, sql_perturb, NULL, NULL);
        if (sqlite3_exec(h,
                         "BEGIN;"
                         "CREATE TEMP TABLE base AS SELECT c.thash AS thash, v.model AS model,"
                         "  v.vec AS vec FROM chunks c JOIN vectors v ON v.chunk=c.id"
                         "  GROUP BY c.thash;"
                         "CREATE INDEX temp.base_h ON base(thash);"
                         "INSERT INTO vectors(chunk,model,vec) SELECT c.id, b.model, perturb(b.vec)"
                         "  FROM chunks c JOIN base b ON b.thash=c.thash"
                         "  WHERE NOT EXISTS(SELECT 1 FROM vectors v WHERE v.chunk=c.id);"
                         "DROP TABLE base; COMMIT;",
                         NULL, NULL, &err) != SQLITE_OK) {
            fprintf(stderr, "vectors: %s\n", err);
            return 1;
        }
        printf("vectors: %lld of %lld chunks (%.1f s)\n",
               (long long)scalar(db, "SELECT count(*) FROM vectors"), (long long)chunks,
               now_s() - t0);
    }
    lsfs_store_close(s);

    /* query latency with the encoder and the rebuilt index */
    {
        double t0 = now_s();
        s = open_store(data, embed);
        printf("open + index rebuild: %.2f s\n", now_s() - t0);
    }
    db = lsfs_db_thread(s);
    /* an agent (not an admin): its rights are checked inside both retrievers;
     * everything here is in /shared, which everyone may read */
    lsfs_actor agent;
    lsfs_actor_init(&agent, "bench-agent", 1000, false);
    struct {
        const char *name;
        int mode;
        bool exact;
        const lsfs_actor *who;
    } runs[] = {{"keyword", LSFS_SEARCH_KEYWORD, false, &admin},
                {"semantic", LSFS_SEARCH_SEMANTIC, false, &admin},
                {"semantic_exact", LSFS_SEARCH_SEMANTIC, true, &admin},
                {"hybrid", LSFS_SEARCH_HYBRID, false, &admin},
                {"hybrid_exact", LSFS_SEARCH_HYBRID, true, &admin},
                {"hybrid_agent", LSFS_SEARCH_HYBRID, false, &agent}};
    int nq = (int)json_array_size(queries);
    double *lat = malloc(sizeof(double) * (size_t)(nq * iters));
    double *cpu = malloc(sizeof(double) * (size_t)(nq * iters));
    char result[2048];
    size_t ro = (size_t)snprintf(result, sizeof result, "RESULT chunks=%lld", (long long)chunks);
    /* the encoder alone, for the breakdown */
    if (lsfs_store_has_embedder(s)) {
        float *v = malloc(4096 * sizeof(float));
        int n = 0;
        json_array_foreach(queries, i, q) {
            const char *t[1] = {json_string_value(json_array_get(q, 0))};
            double t0 = now_s();
            lsfs__sem_embed(s, t, 1, v);
            lat[n++] = (now_s() - t0) * 1e3;
        }
        qsort(lat, (size_t)n, sizeof(double), cmp_d);
        printf("%-15s p50 %7.2f ms  p99 %7.2f ms\n", "query_embed", pct(lat, n, 50), pct(lat, n, 99));
        ro += (size_t)snprintf(result + ro, sizeof result - ro, " embed_p50_ms=%.2f", pct(lat, n, 50));
        free(v);
    }
    for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++) {
        int n = 0;
        double parts[4] = {0};
        static const char *const part_names[4] = {"embed_ms", "keyword_ms", "semantic_ms",
                                                  "assemble_ms"};
        if (runs[r].mode != LSFS_SEARCH_KEYWORD && !lsfs_store_has_embedder(s))
            continue;
        for (int it = 0; it < iters; it++)
            json_array_foreach(queries, i, q) {
                lsfs_search_req req = {.query = json_string_value(json_array_get(q, 0)),
                                       .mode = runs[r].mode, .k = 10, .exact = runs[r].exact};
                json_t *out = NULL;
                double t0 = now_s(), c0 = cpu_s();
                if (lsfs_search(db, runs[r].who, &req, &out) < 0) {
                    fprintf(stderr, "search: %s\n", lsfs_db_errmsg(db));
                    return 1;
                }
                cpu[n] = (cpu_s() - c0) * 1e3;
                lat[n++] = (now_s() - t0) * 1e3;
                for (int p = 0; p < 4; p++)
                    parts[p] += json_real_value(json_object_get(json_object_get(out, "timing"),
                                                                part_names[p]));
                json_decref(out);
            }
        qsort(lat, (size_t)n, sizeof(double), cmp_d);
        qsort(cpu, (size_t)n, sizeof(double), cmp_d);
        printf("%-15s wall p50 %7.2f ms  p99 %7.2f ms   cpu p50 %7.2f ms  p99 %7.2f ms  (n=%d)"
               "   mean wall: embed %.2f keyword %.2f vector %.2f assemble %.2f\n",
               runs[r].name, pct(lat, n, 50), pct(lat, n, 99), pct(cpu, n, 50), pct(cpu, n, 99), n,
               parts[0] / n, parts[1] / n, parts[2] / n, parts[3] / n);
        ro += (size_t)snprintf(result + ro, sizeof result - ro,
                               " %s_p50_ms=%.2f %s_p99_ms=%.2f %s_cpu_p50_ms=%.2f",
                               runs[r].name, pct(lat, n, 50), runs[r].name, pct(lat, n, 99),
                               runs[r].name, pct(cpu, n, 50));
    }
    puts(result);
    free(cpu);
    free(lat);
    lsfs_store_close(s);
    json_decref(queries);
    json_decref(files);
    return 0;
}

int main(int argc, char **argv)
{
    aios_log_set_level(AIOS_LOG_WARN);
    if (argc >= 2 && strcmp(argv[1], "ingest") == 0)
        return cmd_ingest(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "search") == 0)
        return cmd_search(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "scale") == 0)
        return cmd_scale(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "mount") == 0)
        return cmd_mount(argc, argv);
    fprintf(stderr, "usage: lsfs-bench ingest|search|scale --data DIR ... (see the source)\n");
    return 2;
}

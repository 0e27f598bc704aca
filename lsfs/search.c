/*
 * search.c - fs.search: keyword (FTS5 BM25), semantic (sentence vectors)
 * and hybrid (reciprocal-rank fusion) retrieval over file chunks.
 *
 * Both retrievers apply the same filters - path prefix, type, owner,
 * modified after, and the caller's read rights - inside the retrieval: the
 * keyword retriever in the SQL that ranks FTS5 matches, the vector
 * retriever through the index's filter callback over the set of allowed
 * files.  Each returns its top chunks; chunks are grouped by file (a file
 * ranks where its best chunk ranks) and, in hybrid mode, the two file
 * rankings are fused with RRF: score(f) = sum over lists of 1/(K + rank),
 * K = lsfs_options.rrf_k (60 by default, the constant of Cormack et al.,
 * which damps the weight of the very first ranks so that agreement between
 * the lists matters more than one list's top hit).  Per file the answer
 * lists its best chunks with FTS5 snippets (or a preview for chunks only
 * the vector retriever found).
 *
 * Threads: any, on the caller's connection.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aios/log.h"
#include "lsfs/lsfs_int.h"

#define SNIPPET_OPEN "**"
#define SNIPPET_CLOSE "**"

/* ---- reciprocal-rank fusion ---------------------------------------------------- */

static int cmp_ranked(const void *x, const void *y)
{
    const lsfs__ranked *a = x, *b = y;
    int ba, bb;

    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    ba = a->rank_a && (!a->rank_b || a->rank_a < a->rank_b) ? a->rank_a : a->rank_b;
    bb = b->rank_a && (!b->rank_b || b->rank_a < b->rank_b) ? b->rank_a : b->rank_b;
    if (ba != bb)
        return ba < bb ? -1 : 1;
    return a->key < b->key ? -1 : a->key > b->key;
}

int lsfs__rrf(const int64_t *a, size_t na, const int64_t *b, size_t nb, int k,
              lsfs__ranked **out, size_t *n_out)
{
    lsfs__ranked *r = calloc(na + nb + 1, sizeof *r);
    size_t n = 0;

    *out = NULL;
    *n_out = 0;
    if (!r)
        return AIOS_ENOMEM;
    for (int list = 0; list < 2; list++) {
        const int64_t *ids = list ? b : a;
        size_t cnt = list ? nb : na;
        int rank = 0;
        for (size_t i = 0; i < cnt; i++) {
            size_t j;
            for (j = 0; j < n; j++)
                if (r[j].key == ids[i])
                    break;
            if (j < n && (list ? r[j].rank_b : r[j].rank_a))
                continue; /* repeated within one list */
            rank++;
            if (j == n)
                r[n++].key = ids[i];
            if (list)
                r[j].rank_b = rank;
            else
                r[j].rank_a = rank;
            r[j].score += 1.0 / (double)(k + rank);
        }
    }
    qsort(r, n, sizeof *r, cmp_ranked);
    *out = r;
    *n_out = n;
    return 0;
}

/* ---- filters ----------------------------------------------------------------------- */

/* The filter clause shared by both retrievers (nodes aliased n). */
#define FILTERS                                                                          \
    " n.deleted IS NULL AND n.kind=2"                                                    \
    " AND (:prefix IS NULL OR n.path=:prefix OR"                                         \
    "      (n.path>:prefix||'/' AND n.path<:prefix||'0'))"                               \
    " AND (:type IS NULL OR n.mime=:type"                                                \
    "      OR (substr(:type,-1)='/' AND substr(n.mime,1,length(:type))=:type)"           \
    "      OR n.ext=ltrim(:type,'.') COLLATE NOCASE)"                                    \
    " AND (:owner IS NULL OR n.owner=:owner)"                                            \
    " AND n.mtime>:after"                                                                \
    " AND (:admin=1 OR lsfs_readable(:rctx, n.path, n.owner))"

typedef struct {
    const char *prefix;         /* NULL = any */
    const char *type;
    const char *owner;
    int64_t after;
    lsfs__rctx *rctx;           /* NULL = admin */
} filters;

static void bind_filters(sqlite3_stmt *st, const filters *f)
{
    int i;

    if ((i = sqlite3_bind_parameter_index(st, ":prefix")) && f->prefix)
        sqlite3_bind_text(st, i, f->prefix, -1, SQLITE_STATIC);
    if ((i = sqlite3_bind_parameter_index(st, ":type")) && f->type)
        sqlite3_bind_text(st, i, f->type, -1, SQLITE_STATIC);
    if ((i = sqlite3_bind_parameter_index(st, ":owner")) && f->owner)
        sqlite3_bind_text(st, i, f->owner, -1, SQLITE_STATIC);
    if ((i = sqlite3_bind_parameter_index(st, ":after")))
        sqlite3_bind_int64(st, i, f->after);
    if ((i = sqlite3_bind_parameter_index(st, ":admin")))
        sqlite3_bind_int(st, i, f->rctx ? 0 : 1);
    /* a bound pointer reads as NULL to SQL: only lsfs_readable() sees it */
    if ((i = sqlite3_bind_parameter_index(st, ":rctx")) && f->rctx)
        sqlite3_bind_pointer(st, i, f->rctx, "lsfs_rctx", NULL);
}

/* ---- one retriever's hits ------------------------------------------------------------- */

typedef struct {
    int64_t chunk, node;
    double score;               /* bm25 (lower is better, as FTS5 gives it) or cosine */
} hit;

typedef struct {
    hit *h;
    size_t n;
} hits;

static int keyword_hits(lsfs_db *db, const char *fts, const filters *f, int limit, hits *out)
{
    sqlite3_stmt *st;
    int rc;

    out->h = calloc((size_t)limit, sizeof *out->h);
    out->n = 0;
    if (!out->h)
        return lsfs__err(db, AIOS_ENOMEM, NULL, "out of memory");
    st = lsfs__stmt(db,
        "SELECT c.id, c.node, bm25(chunks_fts, 2.0, 1.0) AS s"
        " FROM chunks_fts JOIN chunks c ON c.id=chunks_fts.rowid JOIN nodes n ON n.id=c.node"
        " WHERE chunks_fts MATCH :q AND" FILTERS
        " ORDER BY s LIMIT :limit");
    if (!st)
        return AIOS_EIO;
    sqlite3_bind_text(st, sqlite3_bind_parameter_index(st, ":q"), fts, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, sqlite3_bind_parameter_index(st, ":limit"), limit);
    bind_filters(st, f);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && out->n < (size_t)limit) {
        out->h[out->n].chunk = sqlite3_column_int64(st, 0);
        out->h[out->n].node = sqlite3_column_int64(st, 1);
        out->h[out->n].score = sqlite3_column_double(st, 2);
        out->n++;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return lsfs__sqlerr(db, rc, "keyword search");
    return 0;
}

static bool allow_node(int64_t id, int64_t node, void *arg)
{
    int64_t v;

    (void)id;
    return lsfs__i64map_get(arg, node, &v);
}

static int semantic_hits(lsfs_db *db, const float *q, const filters *f, bool exact, int limit,
                         hits *out)
{
    lsfs__i64map allowed = {0};
    int64_t *ids = NULL;
    float *scores = NULL;
    size_t n = 0;
    bool filtered = f->rctx || f->prefix || f->type || f->owner || f->after > 0;
    sqlite3_stmt *st;
    int rc = 0;

    out->n = 0;
    out->h = calloc((size_t)limit, sizeof *out->h);
    ids = calloc((size_t)limit, sizeof *ids);
    scores = calloc((size_t)limit, sizeof *scores);
    if (!out->h || !ids || !scores) {
        rc = lsfs__err(db, AIOS_ENOMEM, NULL, "out of memory");
        goto out;
    }
    if (filtered) {
        st = lsfs__stmt(db, "SELECT n.id FROM nodes n WHERE" FILTERS);
        if (!st) {
            rc = AIOS_EIO;
            goto out;
        }
        bind_filters(st, f);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
            if (lsfs__i64map_put(&allowed, sqlite3_column_int64(st, 0), 1) < 0) {
                rc = SQLITE_NOMEM;
                break;
            }
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) {
            rc = lsfs__sqlerr(db, rc, "semantic filter");
            goto out;
        }
        rc = 0;
        if (allowed.live == 0)
            goto out;
    }
    rc = lsfs__sem_search(db->s, false, q, (size_t)limit, exact, filtered ? allow_node : NULL,
                          &allowed, ids, scores, &n);
    if (rc < 0) {
        lsfs__err(db, rc, NULL, "vector search failed: %s", aios_strerror(rc));
        goto out;
    }
    /* map chunks to files; chunks deleted since (not yet committed edits) drop out */
    st = lsfs__stmt(db, "SELECT c.node FROM chunks c JOIN nodes n ON n.id=c.node"
                        " WHERE c.id=?1 AND n.deleted IS NULL");
    if (!st) {
        rc = AIOS_EIO;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        sqlite3_bind_int64(st, 1, ids[i]);
        if (sqlite3_step(st) == SQLITE_ROW) {
            out->h[out->n].chunk = ids[i];
            out->h[out->n].node = sqlite3_column_int64(st, 0);
            out->h[out->n].score = scores[i];
            out->n++;
        }
        sqlite3_reset(st);
    }
out:
    lsfs__i64map_free(&allowed);
    free(ids);
    free(scores);
    return rc;
}

/* ---- assembling the answer ------------------------------------------------------------- */

static json_t *chunk_json(lsfs_db *db, const char *fts, int64_t chunk, const hit *kw,
                          const hit *sem)
{
    sqlite3_stmt *st = lsfs__stmt(db, "SELECT seq, start, len, heading, body FROM chunks"
                                      " WHERE id=?1");
    json_t *o = NULL;
    char *snip = NULL;

    if (!st)
        return NULL;
    sqlite3_bind_int64(st, 1, chunk);
    if (sqlite3_step(st) == SQLITE_ROW) {
        o = json_pack("{s:I,s:i,s:I,s:I,s:s}", "id", (json_int_t)chunk, "seq",
                      sqlite3_column_int(st, 0), "start",
                      (json_int_t)sqlite3_column_int64(st, 1), "length",
                      (json_int_t)sqlite3_column_int64(st, 2), "heading",
                      (const char *)sqlite3_column_text(st, 3));
        if (!kw)
            snip = lsfs__preview((const char *)sqlite3_column_text(st, 4),
                                 (size_t)sqlite3_column_bytes(st, 4), 240);
    }
    sqlite3_reset(st);
    if (!o)
        return NULL;
    if (kw && fts && *fts) {
        st = lsfs__stmt(db, "SELECT snippet(chunks_fts, 1, '" SNIPPET_OPEN "', '"
                            SNIPPET_CLOSE "', '...', 24) FROM chunks_fts"
                            " WHERE chunks_fts MATCH ?1 AND rowid=?2");
        if (st) {
            sqlite3_bind_text(st, 1, fts, -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 2, chunk);
            if (sqlite3_step(st) == SQLITE_ROW)
                snip = strdup((const char *)sqlite3_column_text(st, 0));
            sqlite3_reset(st);
        }
    }
    json_object_set_new(o, "snippet", json_string(snip ? snip : ""));
    free(snip);
    if (kw)
        json_object_set_new(o, "keyword_score", json_real(-kw->score));
    if (sem)
        json_object_set_new(o, "semantic_score", json_real(sem->score));
    return o;
}

static const hit *find_hit(const hits *h, int64_t chunk)
{
    for (size_t i = 0; i < h->n; i++)
        if (h->h[i].chunk == chunk)
            return &h->h[i];
    return NULL;
}

/* First-seen order of files in a hit list (best chunk first). */
static int files_of(const hits *h, int64_t **out, size_t *n)
{
    int64_t *f = malloc((h->n + 1) * sizeof *f);
    size_t k = 0;

    if (!f)
        return AIOS_ENOMEM;
    for (size_t i = 0; i < h->n; i++) {
        size_t j;
        for (j = 0; j < k; j++)
            if (f[j] == h->h[i].node)
                break;
        if (j == k)
            f[k++] = h->h[i].node;
    }
    *out = f;
    *n = k;
    return 0;
}

typedef struct {
    int64_t chunk;
    double score;
} cand;

static int cmp_cand(const void *x, const void *y)
{
    const cand *a = x, *b = y;

    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    return a->chunk < b->chunk ? -1 : a->chunk > b->chunk;
}

/* The JSON of one result file: metadata, best chunks, scores. */
static json_t *file_json(lsfs_db *db, const char *fts, const lsfs__ranked *r, const hits *kw,
                         const hits *sem, int mode, int per_file, int rrf_k)
{
    cand c[64];
    size_t nc = 0;
    lsfs__node n;
    json_t *o, *chunks;

    if (lsfs__node_by_id(db, r->key, &n) < 0)
        return NULL;
    /* candidate chunks of this file from both lists, fused at chunk level */
    for (int list = 0; list < 2; list++) {
        const hits *h = list ? sem : kw;
        int rank = 0;
        for (size_t i = 0; i < h->n; i++) {
            rank++;
            if (h->h[i].node != r->key)
                continue;
            size_t j;
            for (j = 0; j < nc; j++)
                if (c[j].chunk == h->h[i].chunk)
                    break;
            if (j == nc) {
                if (nc == 64)
                    continue;
                c[nc].chunk = h->h[i].chunk;
                c[nc++].score = 0;
            }
            c[j].score += 1.0 / (double)(rrf_k + rank);
        }
    }
    qsort(c, nc, sizeof c[0], cmp_cand);
    o = json_pack("{s:s,s:I,s:s,s:s,s:I}", "path", n.path, "version", (json_int_t)n.head,
                  "mime", n.mime, "owner", n.owner, "modified_ms", (json_int_t)n.mtime);
    chunks = json_array();
    for (size_t i = 0; i < nc && (int)i < per_file; i++) {
        json_t *cj = chunk_json(db, fts, c[i].chunk, find_hit(kw, c[i].chunk),
                                find_hit(sem, c[i].chunk));
        if (cj)
            json_array_append_new(chunks, cj);
    }
    if (json_array_size(chunks))
        json_object_set(o, "snippet", json_object_get(json_array_get(chunks, 0), "snippet"));
    json_object_set_new(o, "chunks", chunks);
    if (r->rank_a) {
        const hit *best = NULL;
        for (size_t i = 0; i < kw->n && !best; i++)
            if (kw->h[i].node == r->key)
                best = &kw->h[i];
        json_object_set_new(o, "keyword_rank", json_integer(r->rank_a));
        if (best)
            json_object_set_new(o, "keyword_score", json_real(-best->score));
    }
    if (r->rank_b) {
        const hit *best = NULL;
        for (size_t i = 0; i < sem->n && !best; i++)
            if (sem->h[i].node == r->key)
                best = &sem->h[i];
        json_object_set_new(o, "semantic_rank", json_integer(r->rank_b));
        if (best)
            json_object_set_new(o, "semantic_score", json_real(best->score));
    }
    if (mode == LSFS_SEARCH_HYBRID)
        json_object_set_new(o, "score", json_real(r->score));
    else if (mode == LSFS_SEARCH_KEYWORD)
        json_object_set(o, "score", json_object_get(o, "keyword_score"));
    else
        json_object_set(o, "score", json_object_get(o, "semantic_score"));
    return o;
}

static double now_ms_f(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int lsfs_search(lsfs_db *db, const lsfs_actor *a, const lsfs_search_req *req, json_t **out)
{
    static const char *const mode_names[] = {"keyword", "semantic", "hybrid"};
    char prefix[LSFS_PATH_MAX];
    int mode = req->mode, k = req->k > 0 ? req->k : 10, depth, rc;
    int per_file = req->chunks_per_file > 0 ? req->chunks_per_file : 3;
    const char *fallback = NULL;
    hits kw = {0}, sem = {0};
    int64_t *fa = NULL, *fb = NULL;
    size_t nfa = 0, nfb = 0, nr = 0;
    lsfs__ranked *ranked = NULL;
    lsfs__rctx rctx;
    bool have_rctx = false, in_read = false;
    char *fts = NULL;
    float *qv = NULL;
    filters f = {0};
    json_t *results;
    double t0 = now_ms_f();

    lsfs__clear_err(db);
    *out = NULL;
    if (!req->query || !*req->query)
        return lsfs__err(db, AIOS_EINVAL, "query", "the query is empty");
    if (mode < LSFS_SEARCH_KEYWORD || mode > LSFS_SEARCH_HYBRID)
        return lsfs__err(db, AIOS_EINVAL, "mode", "mode is keyword, semantic or hybrid");
    if (k > 1000)
        k = 1000;
    if (!db->s->sem.emb) {
        if (mode == LSFS_SEARCH_SEMANTIC)
            return lsfs__err(db, AIOS_EUNAVAIL, "mode",
                             "semantic search is unavailable: no embedding model is loaded");
        if (mode == LSFS_SEARCH_HYBRID) {
            mode = LSFS_SEARCH_KEYWORD;
            fallback = "no embedding model is loaded; keyword results only";
        }
    }
    if (req->path_prefix && *req->path_prefix) {
        if ((rc = lsfs__path_norm(db, a, req->path_prefix, "filters.path", prefix,
                                  sizeof prefix)) < 0)
            return rc;
        if (strcmp(prefix, "/") != 0)
            f.prefix = prefix;
    }
    f.type = req->type && *req->type ? req->type : NULL;
    f.owner = req->owner && *req->owner ? req->owner : NULL;
    f.after = req->modified_after_ms;
    depth = k * 5 < 50 ? 50 : k * 5;

    /* embed the query before taking the read snapshot */
    if (mode != LSFS_SEARCH_KEYWORD) {
        const char *texts[1] = {req->query};
        qv = malloc((size_t)db->s->sem.dim * sizeof *qv);
        if (!qv) {
            rc = lsfs__err(db, AIOS_ENOMEM, NULL, "out of memory");
            goto out;
        }
        if ((rc = lsfs__sem_embed(db->s, texts, 1, qv)) < 0) {
            lsfs__err(db, rc, "query", "cannot embed the query: %s", aios_strerror(rc));
            goto out;
        }
    }
    if ((rc = lsfs__exec(db, "BEGIN")) < 0)
        goto out;
    in_read = true;
    if (!a->admin) {
        if ((rc = lsfs__rctx_init(db, a, &rctx)) < 0)
            goto out;
        have_rctx = true;
        f.rctx = &rctx;
    }
    if (mode != LSFS_SEARCH_SEMANTIC) {
        if ((rc = lsfs__fts_query(req->query, &fts)) < 0) {
            lsfs__err(db, rc, NULL, "out of memory");
            goto out;
        }
        if (*fts && (rc = keyword_hits(db, fts, &f, depth, &kw)) < 0)
            goto out;
    }
    if (mode != LSFS_SEARCH_KEYWORD &&
        (rc = semantic_hits(db, qv, &f, req->exact, depth, &sem)) < 0)
        goto out;
    if ((rc = files_of(&kw, &fa, &nfa)) < 0 || (rc = files_of(&sem, &fb, &nfb)) < 0)
        goto out;
    if ((rc = lsfs__rrf(fa, nfa, fb, nfb, db->s->opt.rrf_k, &ranked, &nr)) < 0)
        goto out;
    results = json_array();
    for (size_t i = 0; i < nr && (int)json_array_size(results) < k; i++) {
        json_t *fj = file_json(db, fts, &ranked[i], &kw, &sem, mode, per_file, db->s->opt.rrf_k);
        if (fj)
            json_array_append_new(results, fj);
    }
    *out = json_pack("{s:s,s:s,s:o}", "query", req->query, "mode", mode_names[mode], "results",
                     results);
    if (fallback)
        json_object_set_new(*out, "fallback", json_string(fallback));
    if (mode == LSFS_SEARCH_HYBRID)
        json_object_set_new(*out, "rrf_k", json_integer(db->s->opt.rrf_k));
    json_object_set_new(*out, "took_ms", json_real(now_ms_f() - t0));
    rc = 0;
out:
    if (in_read)
        lsfs__exec(db, "COMMIT");
    if (have_rctx)
        lsfs__rctx_free(&rctx);
    free(ranked);
    free(fa);
    free(fb);
    free(kw.h);
    free(sem.h);
    free(fts);
    free(qv);
    return rc;
}

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

int lsfs__rrf(const int64_t *a, size_t na, const int64_t *b, size_t nb, int k, double wa,
              double wb, lsfs__ranked **out, size_t *n_out)
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
            r[j].score += (list ? wb : wa) / (double)(k + rank);
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

/*
 * Keyword retrieval cost is the number of postings BM25 has to score, and an
 * OR query over common words scores most of the corpus.  So the query words
 * are looked up in the FTS5 vocabulary first (their stems, through a private
 * temp FTS5 table with the same tokenizer): when their document frequencies
 * add up to more than KW_BUDGET, only documents that contain one of the
 * rarer words (cumulative frequency within the budget) are scored - still
 * with every word's BM25 term, so their scores are exact - as the union of
 * "rare AND common" and "rare NOT common".  Documents holding only the
 * common words, whose IDF is low, are the ones left out.  When even the
 * rarest word is over the budget, documents must hold all the words.
 */
#define KW_BUDGET 2500

typedef struct {
    char word[64];
    int64_t df;
} qterm;

static int ensure_qtok(lsfs_db *db)
{
    int rc;

    if (db->qtok_ready)
        return 0;
    rc = lsfs__exec(db, "CREATE VIRTUAL TABLE IF NOT EXISTS temp.lsfs_qtok USING fts5(x,"
                        " tokenize='porter unicode61 remove_diacritics 2');"
                        "CREATE VIRTUAL TABLE IF NOT EXISTS temp.lsfs_qtok_i USING"
                        " fts5vocab(temp, lsfs_qtok, 'instance');"
                        "CREATE VIRTUAL TABLE IF NOT EXISTS temp.lsfs_chunks_v USING"
                        " fts5vocab(main, chunks_fts, 'row');");
    db->qtok_ready = rc == 0;
    return rc;
}

static int cmp_df(const void *x, const void *y)
{
    const qterm *a = x, *b = y;

    return a->df < b->df ? -1 : a->df > b->df;
}

/* Document frequency of each word (a word of several tokens: its rarest). */
static int term_df(lsfs_db *db, qterm *t, size_t n)
{
    sqlite3_stmt *st, *dfst;
    int rc;

    if ((rc = ensure_qtok(db)) < 0)
        return rc;
    if ((rc = lsfs__exec(db, "DELETE FROM temp.lsfs_qtok")) < 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        t[i].df = -1;
        st = lsfs__stmt(db, "INSERT INTO temp.lsfs_qtok(rowid, x) VALUES(?1, ?2)");
        if (!st)
            return AIOS_EIO;
        sqlite3_bind_int64(st, 1, (sqlite3_int64)i + 1);
        sqlite3_bind_text(st, 2, t[i].word, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
            return lsfs__sqlerr(db, rc, "query terms");
    }
    st = lsfs__stmt(db, "SELECT doc, term FROM temp.lsfs_qtok_i");
    dfst = lsfs__stmt(db, "SELECT doc FROM temp.lsfs_chunks_v WHERE term=?1");
    if (!st || !dfst)
        return AIOS_EIO;
    while (sqlite3_step(st) == SQLITE_ROW) {
        int64_t i = sqlite3_column_int64(st, 0) - 1, df = 0;
        if (i < 0 || (size_t)i >= n)
            continue;
        sqlite3_bind_text(dfst, 1, (const char *)sqlite3_column_text(st, 1), -1, SQLITE_TRANSIENT);
        if (sqlite3_step(dfst) == SQLITE_ROW)
            df = sqlite3_column_int64(dfst, 0);
        sqlite3_reset(dfst);
        if (t[i].df < 0 || df < t[i].df)
            t[i].df = df;
    }
    sqlite3_reset(st);
    return 0;
}

/* "w1" OP "w2" ... for words [from, to). */
static void phrases(char *buf, size_t len, const qterm *t, size_t from, size_t to, const char *op)
{
    size_t o = 0;

    buf[0] = 0;
    for (size_t i = from; i < to && o + 80 < len; i++)
        o += (size_t)snprintf(buf + o, len - o, "%s\"%s\"", i > from ? op : "", t[i].word);
}

/*
 * One ranked FTS5 query; appends up to limit hits that pass the filters.
 * Ranking alone is cheaper than ranking rows joined to their files, so the
 * top rows are ranked first without the join (over-fetching 4x, then 16x)
 * and then checked against the filters; the true top hits of the filtered
 * set are among them as long as enough rows pass.  When too few pass
 * (narrow filters), one query with the filters inside the ranking decides.
 */
static int keyword_run(lsfs_db *db, const char *match, const filters *f, int limit, hits *out)
{
    sqlite3_stmt *st, *chk;
    size_t start = out->n;
    int rc, fetch = limit * 4;

    for (int round = 0; round < 2; round++, fetch *= 4) {
        int rows = 0;
        out->n = start;
        st = lsfs__stmt(db, "SELECT rowid, bm25(chunks_fts, 2.0, 1.0) AS s FROM chunks_fts"
                            " WHERE chunks_fts MATCH ?1 ORDER BY s LIMIT ?2");
        chk = lsfs__stmt(db, "SELECT c.node FROM chunks c JOIN nodes n ON n.id=c.node"
                             " WHERE c.id=:chunk AND" FILTERS);
        if (!st || !chk)
            return AIOS_EIO;
        sqlite3_bind_text(st, 1, match, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 2, fetch);
        bind_filters(chk, f);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            rows++;
            if (out->n - start >= (size_t)limit)
                continue;
            sqlite3_bind_int64(chk, sqlite3_bind_parameter_index(chk, ":chunk"),
                               sqlite3_column_int64(st, 0));
            if (sqlite3_step(chk) == SQLITE_ROW) {
                out->h[out->n].chunk = sqlite3_column_int64(st, 0);
                out->h[out->n].node = sqlite3_column_int64(chk, 0);
                out->h[out->n].score = sqlite3_column_double(st, 1);
                out->n++;
            }
            sqlite3_reset(chk);
        }
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
            return lsfs__sqlerr(db, rc, "keyword search");
        if (out->n - start >= (size_t)limit || rows < fetch)
            return 0; /* enough, or every match was seen */
    }
    /* narrow filters: rank only the rows that pass them */
    out->n = start;
    st = lsfs__stmt(db,
        "SELECT c.id, c.node, bm25(chunks_fts, 2.0, 1.0) AS s"
        " FROM chunks_fts JOIN chunks c ON c.id=chunks_fts.rowid JOIN nodes n ON n.id=c.node"
        " WHERE chunks_fts MATCH :q AND" FILTERS
        " ORDER BY s LIMIT :limit");
    if (!st)
        return AIOS_EIO;
    sqlite3_bind_text(st, sqlite3_bind_parameter_index(st, ":q"), match, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, sqlite3_bind_parameter_index(st, ":limit"), limit);
    bind_filters(st, f);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && out->n - start < (size_t)limit) {
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

static int cmp_hit(const void *x, const void *y)
{
    const hit *a = x, *b = y;

    if (a->score != b->score)
        return a->score < b->score ? -1 : 1; /* bm25: lower is better */
    return a->chunk < b->chunk ? -1 : a->chunk > b->chunk;
}

static int keyword_hits(lsfs_db *db, const char *query, const filters *f, int limit, hits *out,
                        json_t *info)
{
    char words[32][64], m1[4200], m2[4200], rare[2048], common[2048];
    qterm t[32];
    size_t n = 0, live = 0, r = 0;
    int64_t total = 0, cum = 0;
    int rc;

    out->n = 0;
    out->h = calloc((size_t)limit * 2, sizeof *out->h);
    if (!out->h)
        return lsfs__err(db, AIOS_ENOMEM, NULL, "out of memory");
    lsfs__query_words(query, words, 32, &n);
    for (size_t i = 0; i < n; i++)
        snprintf(t[i].word, sizeof t[i].word, "%s", words[i]);
    if ((rc = term_df(db, t, n)) < 0)
        return rc;
    for (size_t i = 0; i < n; i++)
        if (t[i].df > 0)
            t[live++] = t[i];
    if (live == 0)
        return 0;
    qsort(t, live, sizeof t[0], cmp_df);
    for (size_t i = 0; i < live; i++)
        total += t[i].df;
    while (r < live && cum + t[r].df <= KW_BUDGET)
        cum += t[r++].df;
    if (r == live) {
        phrases(m1, sizeof m1, t, 0, live, " OR ");
        rc = keyword_run(db, m1, f, limit, out);
    } else if (r == 0) {
        phrases(m1, sizeof m1, t, 0, live, " AND ");
        rc = keyword_run(db, m1, f, limit, out);
        json_object_set_new(info, "keyword_pruning", json_string("all words"));
    } else {
        phrases(rare, sizeof rare, t, 0, r, " OR ");
        phrases(common, sizeof common, t, r, live, " OR ");
        snprintf(m1, sizeof m1, "(%s) AND (%s)", rare, common);
        snprintf(m2, sizeof m2, "(%s) NOT (%s)", rare, common);
        rc = keyword_run(db, m1, f, limit, out);
        if (rc == 0)
            rc = keyword_run(db, m2, f, limit, out);
        qsort(out->h, out->n, sizeof out->h[0], cmp_hit);
        if (out->n > (size_t)limit)
            out->n = (size_t)limit;
        json_object_set_new(info, "keyword_pruning", json_string("rare words"));
    }
    json_object_set_new(info, "keyword_postings", json_integer(total));
    return rc;
}

static bool allow_node(int64_t id, int64_t node, void *arg)
{
    int64_t v;

    (void)id;
    return lsfs__i64map_get(arg, node, &v);
}

/*
 * Top chunks by meaning that pass the filters.  Without filters: the index's
 * top chunks.  With filters (an agent's rights always are one): first the
 * index's unfiltered top 4x, then 16x, checked against the filters one by
 * one - when the caller may read most of the store this settles it; only
 * when too few pass is the set of allowed files computed and handed to the
 * index as its filter, so that the answer is still the true top of the
 * filtered set.
 */
static int semantic_hits(lsfs_db *db, const float *q, const filters *f, bool exact, int limit,
                         hits *out)
{
    lsfs__i64map allowed = {0};
    int64_t *ids = NULL;
    float *scores = NULL;
    size_t n = 0, cap = (size_t)limit * 16;
    bool filtered = f->rctx || f->prefix || f->type || f->owner || f->after > 0;
    sqlite3_stmt *st;
    int rc = 0;

    out->n = 0;
    out->h = calloc((size_t)limit, sizeof *out->h);
    ids = calloc(cap, sizeof *ids);
    scores = calloc(cap, sizeof *scores);
    if (!out->h || !ids || !scores) {
        rc = lsfs__err(db, AIOS_ENOMEM, NULL, "out of memory");
        goto out;
    }
    /* chunks deleted since (edits not yet committed) drop out here too */
    st = lsfs__stmt(db, "SELECT c.node FROM chunks c JOIN nodes n ON n.id=c.node"
                        " WHERE c.id=:chunk AND" FILTERS);
    if (!st) {
        rc = AIOS_EIO;
        goto out;
    }
    for (size_t fetch = filtered ? (size_t)limit * 4 : (size_t)limit; fetch <= cap; fetch *= 4) {
        rc = lsfs__sem_search(db->s, false, q, fetch, exact, NULL, NULL, ids, scores, &n);
        if (rc < 0) {
            lsfs__err(db, rc, NULL, "vector search failed: %s", aios_strerror(rc));
            goto out;
        }
        out->n = 0;
        bind_filters(st, f);
        for (size_t i = 0; i < n && out->n < (size_t)limit; i++) {
            sqlite3_bind_int64(st, sqlite3_bind_parameter_index(st, ":chunk"), ids[i]);
            if (sqlite3_step(st) == SQLITE_ROW) {
                out->h[out->n].chunk = ids[i];
                out->h[out->n].node = sqlite3_column_int64(st, 0);
                out->h[out->n].score = scores[i];
                out->n++;
            }
            sqlite3_reset(st);
        }
        if (!filtered || out->n >= (size_t)limit || n < fetch)
            goto out; /* enough, or the whole index was seen */
    }
    /* narrow filters: only the allowed files' chunks compete */
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
    out->n = 0;
    if (allowed.live == 0)
        goto out;
    rc = lsfs__sem_search(db->s, false, q, (size_t)limit, exact, allow_node, &allowed, ids, scores,
                          &n);
    if (rc < 0) {
        lsfs__err(db, rc, NULL, "vector search failed: %s", aios_strerror(rc));
        goto out;
    }
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
                         const hits *sem, int mode, int per_file, int rrf_k, double wk, double ws)
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
            c[j].score += (list ? ws : wk) / (double)(rrf_k + rank);
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
    json_t *results, *info = NULL, *timing = NULL;
    double t0 = now_ms_f(), wk, ws;

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
    info = json_object();
    timing = json_object();
    wk = req->w_keyword > 0 ? req->w_keyword : db->s->opt.rrf_w_keyword;
    ws = req->w_semantic > 0 ? req->w_semantic : db->s->opt.rrf_w_semantic;

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
        json_object_set_new(timing, "embed_ms", json_real(now_ms_f() - t0));
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
        double t1 = now_ms_f();
        if (*fts && (rc = keyword_hits(db, req->query, &f, depth, &kw, info)) < 0)
            goto out;
        json_object_set_new(timing, "keyword_ms", json_real(now_ms_f() - t1));
    }
    if (mode != LSFS_SEARCH_KEYWORD) {
        double t1 = now_ms_f();
        if ((rc = semantic_hits(db, qv, &f, req->exact, depth, &sem)) < 0)
            goto out;
        json_object_set_new(timing, "semantic_ms", json_real(now_ms_f() - t1));
    }
    double t_asm = now_ms_f();
    if ((rc = files_of(&kw, &fa, &nfa)) < 0 || (rc = files_of(&sem, &fb, &nfb)) < 0)
        goto out;
    if ((rc = lsfs__rrf(fa, nfa, fb, nfb, db->s->opt.rrf_k, wk, ws, &ranked, &nr)) < 0)
        goto out;
    results = json_array();
    for (size_t i = 0; i < nr && (int)json_array_size(results) < k; i++) {
        json_t *fj = file_json(db, fts, &ranked[i], &kw, &sem, mode, per_file, db->s->opt.rrf_k,
                               wk, ws);
        if (fj)
            json_array_append_new(results, fj);
    }
    *out = json_pack("{s:s,s:s,s:o}", "query", req->query, "mode", mode_names[mode], "results",
                     results);
    if (fallback)
        json_object_set_new(*out, "fallback", json_string(fallback));
    if (mode == LSFS_SEARCH_HYBRID)
        json_object_set_new(*out, "fusion", json_pack("{s:s,s:i,s:f,s:f}", "method", "rrf", "k",
                                                      db->s->opt.rrf_k, "w_keyword", wk,
                                                      "w_semantic", ws));
    json_object_set_new(timing, "assemble_ms", json_real(now_ms_f() - t_asm));
    json_object_set_new(*out, "took_ms", json_real(now_ms_f() - t0));
    json_object_set(*out, "timing", timing);
    json_object_update(*out, info);
    rc = 0;
out:
    json_decref(info);
    json_decref(timing);
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

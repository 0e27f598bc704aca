/*
 * embed.c - the public sentence-embedding API: open a model folder, turn
 * texts into normalised vectors.
 *
 * Owns the lsfs_embedder: tokenizer + encoder + chosen kernel set, immutable
 * after lsfs_embed_open().  lsfs_embed_texts() runs on the caller's thread
 * (optionally fanning out to threads it starts and joins itself) with scratch
 * memory of its own, so many worker threads may embed at once with one
 * embedder.  Texts are batched: as many as fit in one forward pass of
 * batch_tokens tokens go through the encoder together.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "aios/log.h"
#include "lsfs/embed/embed_int.h"

#define DEFAULT_BATCH_TOKENS 2048

struct lsfs_embedder {
    char name[128];                /* model name stored with each vector */
    lsfs__wordpiece *wp;
    lsfs__bert *bert;
    const lsfs__kernels *k;
    int threads;
    int batch_tokens;
};

/* The folder holding the model: path itself, or the folder of a file in it. */
static int model_dir(const char *path, char *dir, size_t len)
{
    struct stat sb;
    if (stat(path, &sb) != 0) {
        aios_log(AIOS_LOG_ERROR, "embed", "no embedding model at '%s' (run `make model`)", path);
        return AIOS_ENOENT;
    }
    if ((size_t)snprintf(dir, len, "%s", path) >= len)
        return AIOS_ETOOBIG;
    if (!S_ISDIR(sb.st_mode)) {
        char *slash = strrchr(dir, '/');
        if (slash && slash != dir)
            *slash = '\0';
        else
            snprintf(dir, len, "%s", slash ? "/" : ".");
    }
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        dir[--n] = '\0';
    return 0;
}

int lsfs_embed_open_opts(const char *path, const lsfs_embed_opts *opts, lsfs_embedder **out)
{
    int rc;
    char dir[4096], file[4200];
    lsfs_embedder *e;
    *out = NULL;

    if (!path)
        return AIOS_EINVAL;
    if ((rc = model_dir(path, dir, sizeof dir)) < 0)
        return rc;
    e = calloc(1, sizeof *e);
    if (!e)
        return AIOS_ENOMEM;
    const char *kname = opts ? opts->kernel : NULL;
    e->k = lsfs__kernels_pick(kname);
    if (!e->k) {
        aios_log(AIOS_LOG_ERROR, "embed", "kernel '%s' is unknown or not supported here",
                 kname ? kname : "auto");
        rc = AIOS_ENOTSUP;
        goto out_free;
    }
    e->threads = opts && opts->threads > 1 ? opts->threads : 1;
    if (e->threads > 64)
        e->threads = 64;
    e->batch_tokens = opts && opts->batch_tokens > 0 ? opts->batch_tokens : DEFAULT_BATCH_TOKENS;

    snprintf(file, sizeof file, "%s/vocab.txt", dir);
    if ((rc = lsfs__wp_load(file, &e->wp)) < 0)
        goto out_free;
    if ((rc = lsfs__bert_load(dir, &e->bert)) < 0)
        goto out_free;
    if (e->wp->n_vocab != e->bert->cfg.vocab) {
        aios_log(AIOS_LOG_ERROR, "embed", "'%s': vocabulary has %d tokens, model expects %d", dir,
                 e->wp->n_vocab, e->bert->cfg.vocab);
        rc = AIOS_ECORRUPT;
        goto out_free;
    }
    if (e->batch_tokens < e->bert->cfg.max_tokens)
        e->batch_tokens = e->bert->cfg.max_tokens;
    const char *base = strrchr(dir, '/');
    base = base ? base + 1 : dir;
    size_t bl = strlen(base) < sizeof e->name ? strlen(base) : sizeof e->name - 1;
    memcpy(e->name, base, bl);
    e->name[bl] = '\0';
    *out = e;
    return 0;

out_free:
    lsfs_embed_close(e);
    return rc;
}

int lsfs_embed_open(const char *path, lsfs_embedder **out)
{
    return lsfs_embed_open_opts(path, NULL, out);
}

void lsfs_embed_close(lsfs_embedder *e)
{
    if (!e)
        return;
    lsfs__bert_free(e->bert);
    lsfs__wp_free(e->wp);
    free(e);
}

int lsfs_embed_dim(const lsfs_embedder *e)
{
    return e->bert->cfg.dim;
}

const char *lsfs_embed_model_name(const lsfs_embedder *e)
{
    return e->name;
}

const char *lsfs_embed_kernel_name(const lsfs_embedder *e)
{
    return e->k->name;
}

int lsfs_embed_max_tokens(const lsfs_embedder *e)
{
    return e->bert->cfg.max_tokens;
}

const char *lsfs_embed_default_path(const char *data_dir, char *buf, size_t len)
{
    const char *env = getenv("AIOS_EMBED_MODEL");
    int n;
    if (env && *env)
        n = snprintf(buf, len, "%s", env);
    else
        n = snprintf(buf, len, "%s/models/%s", data_dir ? data_dir : ".",
                     LSFS_EMBED_DEFAULT_MODEL);
    return n < 0 || (size_t)n >= len ? NULL : buf;
}

int lsfs_embed_tokenize(const lsfs_embedder *e, const char *text, int32_t *ids, size_t cap,
                        size_t *n_out)
{
    size_t total, win = (size_t)e->bert->cfg.max_tokens - 2;
    int32_t buf[512];
    int32_t *pieces = win <= sizeof buf / sizeof buf[0] ? buf : malloc(win * sizeof *pieces);
    *n_out = 0;
    if (!text || !pieces)
        return text ? AIOS_ENOMEM : AIOS_EINVAL;
    lsfs__wp_encode(e->wp, text, pieces, win, &total);
    size_t n = total < win ? total : win, w = 0;
    if (w < cap)
        ids[w++] = e->wp->id_cls;
    for (size_t i = 0; i < n && w < cap; i++)
        ids[w++] = pieces[i];
    if (w < cap)
        ids[w++] = e->wp->id_sep;
    *n_out = w;
    if (pieces != buf)
        free(pieces);
    return 0;
}

size_t lsfs_embed_count_tokens(const lsfs_embedder *e, const char *text)
{
    size_t total = 0;
    if (text)
        lsfs__wp_encode(e->wp, text, NULL, 0, &total);
    return total;
}

/* ---- batched embedding ---------------------------------------------------------- */

/* One slice of a call: texts[0..n) into out, on one thread. */
typedef struct embed_job {
    lsfs_embedder *e;
    const char *const *texts;
    const int *lens;          /* tokens per text including [CLS]/[SEP] */
    size_t n;
    float *out;
    int rc;
} embed_job;

static void *run_job(void *arg)
{
    embed_job *j = arg;
    lsfs_embedder *e = j->e;
    const int D = e->bert->cfg.dim, win = e->bert->cfg.max_tokens - 2;
    size_t total = 0;
    for (size_t i = 0; i < j->n; i++)
        total += (size_t)j->lens[i];
    int cap = total < (size_t)e->batch_tokens ? (int)total : e->batch_tokens;
    lsfs__bert_scratch *s = NULL;
    int32_t *ids = malloc((size_t)cap * sizeof *ids);
    int *seq = malloc((size_t)cap * sizeof *seq);
    j->rc = AIOS_ENOMEM;
    if (!ids || !seq || lsfs__bert_scratch_new(e->bert, cap, &s) < 0)
        goto out;

    for (size_t i = 0; i < j->n;) {
        size_t first = i;
        int T = 0, nseq = 0;
        while (i < j->n && T + j->lens[i] <= cap) {
            size_t got;
            ids[T] = e->wp->id_cls;
            lsfs__wp_encode(e->wp, j->texts[i], ids + T + 1, (size_t)win, &got);
            int np = got < (size_t)win ? (int)got : win;
            ids[T + 1 + np] = e->wp->id_sep;
            seq[nseq++] = np + 2;
            T += np + 2;
            i++;
        }
        lsfs__bert_forward(e->bert, e->k, s, ids, seq, nseq, j->out + first * (size_t)D);
    }
    j->rc = 0;
out:
    lsfs__bert_scratch_free(s);
    free(seq);
    free(ids);
    return NULL;
}

int lsfs_embed_texts(lsfs_embedder *e, const char *const *texts, size_t n, float *out)
{
    int rc = 0;
    if (n == 0)
        return 0;
    if (!texts || !out)
        return AIOS_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!texts[i])
            return AIOS_EINVAL;

    /* First pass: token counts, to size scratch and balance threads. */
    int *lens = malloc(n * sizeof *lens);
    if (!lens)
        return AIOS_ENOMEM;
    size_t total = 0;
    const size_t win = (size_t)e->bert->cfg.max_tokens - 2;
    for (size_t i = 0; i < n; i++) {
        size_t c = lsfs_embed_count_tokens(e, texts[i]);
        lens[i] = (int)(c < win ? c : win) + 2;
        total += (size_t)lens[i];
    }

    int nt = e->threads;
    if ((size_t)nt > n)
        nt = (int)n;
    if (total < 512)
        nt = 1;   /* not worth a thread */
    embed_job jobs[64];
    pthread_t tids[64];
    bool started[64] = {false};
    size_t at = 0, acc = 0;
    for (int t = 0; t < nt; t++) {
        size_t start = at;
        size_t goal = total * (size_t)(t + 1) / (size_t)nt;
        while (at < n && (acc < goal || at == start) && (n - at) > (size_t)(nt - t - 1))
            acc += (size_t)lens[at++];
        if (t == nt - 1)
            at = n;
        jobs[t] = (embed_job){e, texts + start, lens + start, at - start,
                              out + start * (size_t)e->bert->cfg.dim, 0};
    }
    for (int t = 1; t < nt; t++)
        started[t] = pthread_create(&tids[t], NULL, run_job, &jobs[t]) == 0;
    run_job(&jobs[0]);
    for (int t = 1; t < nt; t++) {
        if (started[t])
            pthread_join(tids[t], NULL);
        else
            run_job(&jobs[t]);   /* no thread: do it here */
    }
    for (int t = 0; t < nt; t++)
        if (jobs[t].rc < 0)
            rc = jobs[t].rc;
    free(lens);
    return rc;
}

/*
 * forward.c - the CPU backend's batched forward pass over the paged KV cache.
 *
 * One llm_forward() call runs every layer for all batch rows at once (the
 * rows may belong to many sequences, prefill chunks and single decode
 * tokens mixed), so weights are read once per step and matmuls are
 * matrix-matrix.  All threads of the pool run the whole pass; per layer
 * there are five phases separated by barriers:
 *   qkv   : RMSNorm + activation quantization (each thread privately, so no
 *           extra barrier), Q/K/V by heads, bias, RoPE, K/V into the cache
 *   attn  : one task per (group of consecutive rows of one sequence, KV
 *           head): the group's queries of that head's query heads against
 *           the sequence's keys through its block table (attn.h), so K/V
 *           are read once for all of them
 *   wo    : output projection by row chunks, added to the residual
 *   ffn   : RMSNorm + quantize privately, gate and up by row chunks, SwiGLU,
 *           the hidden rows quantized in place for the next phase
 *   down  : down projection by row chunks, added to the residual
 * Tasks are handed out by one atomic counter per phase.  The final RMSNorm
 * and output projection run only for rows that want logits.
 * Owns the context's scratch memory and thread pool; runs on the engine
 * thread that calls llm_forward() plus the pool's workers.
 */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aios/error.h"
#include "llmcore/attn.h"
#include "llmcore/engine_int.h"
#include "llmcore/ops.h"
#include "llmcore/quant.h"
#include "llmcore/threadpool.h"

#define PHASES_PER_LAYER 5
#define MAX_THREADS 64

typedef struct thread_buf {
    float *xn;        /* [T][max(n_embd, q_dim)] normed input */
    uint8_t *xq;      /* [T] activation rows for the current phase */
    float *tmp;       /* [T][2 * max chunk] matmul outputs */
    float *scores;    /* [att_q][n_ctx + 16] attention scores / probabilities */
    float *qbuf;      /* [att_q][head_dim] a task's queries */
    float *obuf;      /* [att_q][head_dim] a task's outputs */
    const void **kb, **vb; /* [n_ctx / block_tokens + 1] a task's K/V blocks */
} thread_buf;

struct llm_ctx {
    const llm_model *m;
    llm_kv *kv;
    llm_pool *pool;
    const llm_ops *ops;
    const llm_attn_ops *aops;
    int att_rows;     /* batch rows per attention task */
    int att_q;        /* queries per attention task: att_rows * (n_head / n_head_kv) */
    int *grp;         /* [max_T + 1] first batch row of each attention group */
    int n_grp;
    int max_T;
    int n_ctx;
    /* shared activations */
    float *x;         /* [T][n_embd] residual stream */
    float *q;         /* [T][q_dim] rotated queries */
    float *att;       /* [T][q_dim] attention output */
    float *h;         /* [T][n_ff] FFN hidden */
    uint8_t *hq;      /* [T] quantized hidden rows */
    uint8_t *xq_sh;   /* [T] activation rows made by all threads together (long batches) */
    float *rope_cs;   /* [T][n_rot/2][2] cos, sin per row */
    thread_buf tb[MAX_THREADS];
    _Atomic int *ctr; /* task counter per phase */
    int n_phases;
    /* the current batch */
    const llm_batch *b;
    int n_want;
    int *want_rows;   /* [max_T] batch rows that want logits */
    float *logits;
    size_t act_max;   /* bytes of one activation row (largest) */
    size_t h_act;     /* bytes of one hidden activation row */
    uint64_t n_forwards;
    int chunk_embd, chunk_ff, chunk_vocab;
};

static int nproc(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : (int)n;
}

static int maxi(int a, int b)
{
    return a > b ? a : b;
}

/* rows per task: a multiple of 32, about 8 tasks per thread */
static int pick_chunk(int rows, int nth)
{
    int c = (rows / (nth * 8) + 31) / 32 * 32;
    return c < 32 ? 32 : c;
}

void llm_ctx_free(llm_ctx *c)
{
    if (!c)
        return;
    llm_pool_free(c->pool);
    for (int t = 0; t < MAX_THREADS; t++) {
        free(c->tb[t].xn);
        free(c->tb[t].xq);
        free(c->tb[t].tmp);
        free(c->tb[t].scores);
        free(c->tb[t].qbuf);
        free(c->tb[t].obuf);
        free(c->tb[t].kb);
        free(c->tb[t].vb);
    }
    free(c->x);
    free(c->q);
    free(c->att);
    free(c->h);
    free(c->hq);
    free(c->xq_sh);
    free(c->rope_cs);
    free((void *)c->ctr);
    free(c->want_rows);
    free(c->grp);
    free(c);
}

int llm_ctx_new(const llm_model *m, llm_kv *kv, int n_threads, int max_batch_tokens, llm_ctx **out)
{
    const llm_model_info *i = &m->info;
    llm_ctx *c;
    int rc, T, E, wide, chunk_max;

    *out = NULL;
    if (n_threads <= 0)
        n_threads = nproc();
    if (n_threads > MAX_THREADS || max_batch_tokens < 0 || max_batch_tokens > 65536 || !kv || kv->m != m)
        return AIOS_EINVAL;
    if (max_batch_tokens == 0)
        max_batch_tokens = 512;
    c = calloc(1, sizeof(*c));
    if (!c)
        return AIOS_ENOMEM;
    c->m = m;
    c->kv = kv;
    c->ops = llm__ops_for(llm_quant_level());
    c->aops = llm__attn_ops(llm_quant_level(), kv->kv_type);
    c->max_T = T = max_batch_tokens;
    c->n_ctx = i->n_ctx_train;
    {
        /* about 24 queries per attention task, scores within ~16 MiB */
        int group = i->n_head / i->n_head_kv, rows = 24 / group;
        while (rows > 1 && (size_t)rows * (size_t)group * ((size_t)c->n_ctx + 16) > ((size_t)4 << 20))
            rows--;
        c->att_rows = rows < 1 ? 1 : rows;
        c->att_q = c->att_rows * group;
    }
    E = i->n_embd;
    wide = maxi(E, m->q_dim);
    if ((rc = llm_pool_new(n_threads, &c->pool)) < 0)
        goto out_free;
    c->chunk_embd = pick_chunk(E, n_threads);
    c->chunk_ff = pick_chunk(i->n_ff, n_threads);
    c->chunk_vocab = pick_chunk(i->n_vocab, n_threads);
    chunk_max = maxi(maxi(c->chunk_embd, c->chunk_ff), i->head_dim);
    c->act_max = maxi((int)llm_quant_act_bytes(LLM_ACT_F32, wide), (int)llm_quant_act_bytes(LLM_ACT_Q8, wide));
    c->h_act = llm_quant_act_bytes(llm_quant_row_of(m->layers[0].down.type)->act, i->n_ff);
    c->x = malloc(sizeof(float) * (size_t)T * (size_t)E);
    c->q = malloc(sizeof(float) * (size_t)T * (size_t)m->q_dim);
    c->att = malloc(sizeof(float) * (size_t)T * (size_t)m->q_dim);
    c->h = malloc(sizeof(float) * (size_t)T * (size_t)i->n_ff);
    c->hq = malloc(c->h_act * (size_t)T);
    c->xq_sh = malloc(c->act_max * (size_t)T);
    c->rope_cs = malloc(sizeof(float) * (size_t)T * (size_t)i->n_rot);
    c->want_rows = malloc(sizeof(int) * (size_t)T);
    c->grp = malloc(sizeof(int) * ((size_t)T + 1));
    c->n_phases = i->n_layer * PHASES_PER_LAYER + 1;
    c->ctr = calloc((size_t)c->n_phases, sizeof(*c->ctr));
    if (!c->x || !c->q || !c->att || !c->h || !c->hq || !c->rope_cs || !c->want_rows || !c->ctr || !c->grp || !c->xq_sh)
        goto out_nomem;
    for (int t = 0; t < n_threads; t++) {
        thread_buf *tb = &c->tb[t];
        tb->xn = malloc(sizeof(float) * (size_t)T * (size_t)wide);
        tb->xq = malloc(c->act_max * (size_t)T);
        tb->tmp = malloc(sizeof(float) * (size_t)T * 2 * (size_t)chunk_max);
        size_t nblk = (size_t)c->n_ctx / (size_t)kv->block_tokens + 2;
        tb->scores = malloc(sizeof(float) * (size_t)c->att_q * ((size_t)c->n_ctx + 16));
        tb->qbuf = malloc(sizeof(float) * (size_t)c->att_q * (size_t)i->head_dim);
        tb->obuf = malloc(sizeof(float) * (size_t)c->att_q * (size_t)i->head_dim);
        tb->kb = malloc(sizeof(void *) * nblk);
        tb->vb = malloc(sizeof(void *) * nblk);
        if (!tb->xn || !tb->xq || !tb->tmp || !tb->scores || !tb->qbuf || !tb->obuf || !tb->kb || !tb->vb)
            goto out_nomem;
    }
    *out = c;
    return 0;
out_nomem:
    rc = AIOS_ENOMEM;
out_free:
    llm_ctx_free(c);
    return rc;
}

/* ---- helpers run inside the pass ---- */

/* Activation rows of x ([T][n] floats, stride ld) for weight w into dst;
 * returns the row stride in bytes. */
static size_t make_act(const llm_weight *w, const float *x, int ld, int T, int n, uint8_t *dst)
{
    int act = llm_quant_row_of(w->type)->act;
    size_t bytes = llm_quant_act_bytes(act, n);

    if (act == LLM_ACT_F32) {
        for (int t = 0; t < T; t++)
            memcpy(dst + (size_t)t * bytes, x + (size_t)t * (size_t)ld, bytes);
    } else {
        llm_quantize_fn qf = llm_quant_q8();
        for (int t = 0; t < T; t++)
            qf(x + (size_t)t * (size_t)ld, (llm_q8 *)(dst + (size_t)t * bytes), n);
    }
    return bytes;
}

#define SPLIT_ROWS 16 /* batches from this many rows make activations together */

/* Activation rows of kind act for rows[t] (or t) of x (stride ld, n
 * elements), RMS-normed with g first when g is not NULL.  Short batches:
 * every thread makes all rows privately (tb->xq; the normed rows stay in
 * tb->xn), no barrier.  Long batches (unless private_only): each thread
 * makes its share of the rows in the shared buffer, then all meet at a
 * barrier.  The bytes of a row are the same either way. */
static const uint8_t *make_acts(llm_ctx *c, thread_buf *tb, int ith, int nth, int act, const float *x, int ld,
                                const int *rows, int T, int n, const float *g, bool private_only, size_t *as)
{
    bool split = nth > 1 && T >= SPLIT_ROWS && !private_only;
    size_t bytes = llm_quant_act_bytes(act, n);
    uint8_t *dst = split ? c->xq_sh : tb->xq;
    int t0 = split ? (int)((int64_t)T * ith / nth) : 0, t1 = split ? (int)((int64_t)T * (ith + 1) / nth) : T;

    for (int t = t0; t < t1; t++) {
        const float *src = x + (size_t)(rows ? rows[t] : t) * (size_t)ld;
        if (g) {
            float *xn = tb->xn + (split ? 0 : (size_t)t * (size_t)n);
            c->ops->rmsnorm(src, g, xn, n, c->m->info.rms_eps);
            src = xn;
        }
        if (act == LLM_ACT_F32)
            memcpy(dst + (size_t)t * bytes, src, bytes);
        else
            llm_quant_q8()(src, (llm_q8 *)(dst + (size_t)t * bytes), n);
    }
    if (split)
        llm_pool_barrier(c->pool);
    *as = bytes;
    return dst;
}

static int act_of(const llm_weight *w)
{
    return llm_quant_row_of(w->type)->act;
}

/* out[t * ldo + r - r0] = w[r] . act[t] for r in [r0, r1) */
static void mm_rows(const llm_weight *w, int r0, int r1, const uint8_t *act, size_t astride, int T, float *out,
                    size_t ldo)
{
    llm_mm_fn mm;
    llm_pmm_fn pmm;

    if (w->packed && r0 % LLM_PANEL == 0 && (pmm = llm_quant_pmm(w->type))) {
        pmm((int)w->n_in, w->packed + (size_t)(r0 / LLM_PANEL) * w->panel_bytes, w->panel_bytes, r1 - r0, act,
            astride, T, out, ldo);
        return;
    }
    mm = llm_quant_mm(w->type);
    mm((int)w->n_in, (const uint8_t *)w->data + (size_t)r0 * w->row_bytes, w->row_bytes, r1 - r0, act, astride, T,
       out, ldo);
}

static void rope_apply(const llm_model *m, float *v, const float *cs)
{
    int half = m->info.n_rot / 2;

    if (m->info.rope_neox) {
        for (int k = 0; k < half; k++) {
            float x0 = v[k], x1 = v[k + half], co = cs[2 * k], si = cs[2 * k + 1];
            v[k] = x0 * co - x1 * si;
            v[k + half] = x0 * si + x1 * co;
        }
    } else {
        for (int k = 0; k < half; k++) {
            float x0 = v[2 * k], x1 = v[2 * k + 1], co = cs[2 * k], si = cs[2 * k + 1];
            v[2 * k] = x0 * co - x1 * si;
            v[2 * k + 1] = x0 * si + x1 * co;
        }
    }
}

/* Store a head's row into the cache slot of batch row t: V as a row, K
 * into the block's transposed layout (dimension d of the slot at
 * d * block_tokens). */
static void kv_store(llm_ctx *c, int l, int which, int t, int kvh, const float *src)
{
    llm_kv *kv = c->kv;
    int off, hd = c->m->info.head_dim, bt = kv->block_tokens;
    int32_t blk = llm__kv_slot(kv, c->b->seq[t], c->b->pos[t], &off);

    if (which == 1) {
        uint8_t *dst = (uint8_t *)llm__kv_ptr(kv, blk, l, 1, off) + (size_t)kvh * (size_t)hd * (size_t)kv->esize;
        if (kv->kv_type == LLM_KV_F16)
            c->ops->to_f16(src, (uint16_t *)dst, hd);
        else
            memcpy(dst, src, sizeof(float) * (size_t)hd);
    } else if (kv->kv_type == LLM_KV_F16) {
        uint16_t *k = (uint16_t *)llm__kv_ptr(kv, blk, l, 0, 0) + (size_t)kvh * (size_t)hd * (size_t)bt + (size_t)off;
        uint16_t h[256];
        for (int d0 = 0; d0 < hd; d0 += 256) {
            int n = hd - d0 < 256 ? hd - d0 : 256;
            c->ops->to_f16(src + d0, h, n);
            for (int d = 0; d < n; d++)
                k[(size_t)(d0 + d) * (size_t)bt] = h[d];
        }
    } else {
        float *k = (float *)llm__kv_ptr(kv, blk, l, 0, 0) + (size_t)kvh * (size_t)hd * (size_t)bt + (size_t)off;
        for (int d = 0; d < hd; d++)
            k[(size_t)d * (size_t)bt] = src[d];
    }
}

static void phase_qkv(llm_ctx *c, int l, _Atomic int *ctr, thread_buf *tb, int ith, int nth)
{
    const llm_model *m = c->m;
    const llm_layer *L = &m->layers[l];
    int T = c->b->n, E = m->info.n_embd, hd = m->info.head_dim, nh = m->info.n_head, nkv = m->info.n_head_kv;
    int n_tasks = nh + 2 * nkv, k;
    /* wq, wk, wv share one activation kind in every supported file; if
     * they differ, each thread keeps the normed rows to make the others */
    bool mixed = act_of(&L->wk) != act_of(&L->wq) || act_of(&L->wv) != act_of(&L->wq);
    size_t as;
    const uint8_t *xq = make_acts(c, tb, ith, nth, act_of(&L->wq), c->x, E, NULL, T, E, L->attn_norm, mixed, &as);

    while ((k = atomic_fetch_add_explicit(ctr, 1, memory_order_relaxed)) < n_tasks) {
        const llm_weight *w;
        const float *bias;
        int which, h;
        const uint8_t *act = xq;
        size_t astr = as;

        if (k < nh) {
            w = &L->wq, bias = L->bq, which = -1, h = k;
        } else if (k < nh + nkv) {
            w = &L->wk, bias = L->bk, which = 0, h = k - nh;
        } else {
            w = &L->wv, bias = L->bv, which = 1, h = k - nh - nkv;
        }
        if (act_of(w) != act_of(&L->wq)) {
            /* mixed activation kinds: rebuild into the scratch tail */
            uint8_t *mx = (uint8_t *)tb->tmp + sizeof(float) * (size_t)T * (size_t)hd;
            astr = make_act(w, tb->xn, E, T, E, mx);
            act = mx;
        }
        mm_rows(w, h * hd, (h + 1) * hd, act, astr, T, tb->tmp, (size_t)hd);
        for (int t = 0; t < T; t++) {
            float *v = tb->tmp + (size_t)t * (size_t)hd;
            if (bias)
                for (int i = 0; i < hd; i++)
                    v[i] += bias[h * hd + i];
            if (which < 1)
                rope_apply(m, v, c->rope_cs + (size_t)t * (size_t)m->info.n_rot);
            /* with an f16 cache the query is rounded to f16 as well, as
             * GGUF engines do (their f16 matmuls convert the other
             * operand); the same model then picks the same tokens */
            if (which < 0 && c->kv->kv_type == LLM_KV_F16)
                c->ops->round_f16(v, hd);
            if (which < 0)
                memcpy(c->q + (size_t)t * (size_t)m->q_dim + (size_t)h * (size_t)hd, v, sizeof(float) * (size_t)hd);
            else
                kv_store(c, l, which, t, h, v);
        }
    }
}

static void phase_attn(llm_ctx *c, int l, _Atomic int *ctr, thread_buf *tb)
{
    const llm_model *m = c->m;
    llm_kv *kv = c->kv;
    int hd = m->info.head_dim, nkv = m->info.n_head_kv, group = m->info.n_head / nkv;
    int bt = kv->block_tokens, k, r16 = kv->kv_type == LLM_KV_F16;
    float scale = 1.0f / sqrtf((float)hd);
    size_t es = (size_t)kv->esize;

    /* the longest groups (latest positions) first, for balance */
    while ((k = atomic_fetch_add_explicit(ctr, 1, memory_order_relaxed)) < c->n_grp * nkv) {
        int g = c->n_grp - 1 - k / nkv, h = k % nkv;
        int t0 = c->grp[g], R = c->grp[g + 1] - t0, nq = R * group;
        int p0 = c->b->pos[t0], nmax = p0 + R, nb = (nmax + bt - 1) / bt;
        const int32_t *tbl = kv->seqs[c->b->seq[t0]].blocks;
        size_t ss = ((size_t)nmax + 15) & ~(size_t)15;

        for (int r = 0; r < R; r++)
            memcpy(tb->qbuf + (size_t)r * (size_t)group * (size_t)hd,
                   c->q + (size_t)(t0 + r) * (size_t)m->q_dim + (size_t)h * (size_t)group * (size_t)hd,
                   sizeof(float) * (size_t)group * (size_t)hd);
        for (int b = 0; b < nb; b++) {
            tb->kb[b] = (const uint8_t *)llm__kv_ptr(kv, tbl[b], l, 0, 0) + (size_t)h * (size_t)hd * (size_t)bt * es;
            tb->vb[b] = (const uint8_t *)llm__kv_ptr(kv, tbl[b], l, 1, 0) + (size_t)h * (size_t)hd * es;
        }
        c->aops->scores(tb->qbuf, (size_t)hd, nq, tb->kb, bt, nmax, hd, scale, tb->scores, ss);
        /* query i belongs to row i / group: causal up to its position */
        for (int i = 0; i < nq; i++)
            c->aops->softmax(tb->scores + (size_t)i * ss, p0 + i / group + 1, nmax, r16);
        c->aops->av(tb->scores, ss, nq, tb->vb, bt, kv->kv_dim, nmax, hd, tb->obuf, (size_t)hd);
        for (int r = 0; r < R; r++)
            memcpy(c->att + (size_t)(t0 + r) * (size_t)m->q_dim + (size_t)h * (size_t)group * (size_t)hd,
                   tb->obuf + (size_t)r * (size_t)group * (size_t)hd, sizeof(float) * (size_t)group * (size_t)hd);
    }
}

/* x[t][r0..r1) += W[r0..r1) . act[t] over row chunks of W */
static void phase_residual(llm_ctx *c, const llm_weight *w, const uint8_t *act, size_t as, int chunk,
                           _Atomic int *ctr, thread_buf *tb)
{
    int T = c->b->n, E = c->m->info.n_embd, rows = (int)w->n_out, n_tasks = (rows + chunk - 1) / chunk, k;

    while ((k = atomic_fetch_add_explicit(ctr, 1, memory_order_relaxed)) < n_tasks) {
        int r0 = k * chunk, r1 = r0 + chunk < rows ? r0 + chunk : rows;
        mm_rows(w, r0, r1, act, as, T, tb->tmp, (size_t)(r1 - r0));
        for (int t = 0; t < T; t++) {
            float *xr = c->x + (size_t)t * (size_t)E + r0;
            const float *o = tb->tmp + (size_t)t * (size_t)(r1 - r0);
            for (int r = 0; r < r1 - r0; r++)
                xr[r] += o[r];
        }
    }
}

static void phase_ffn(llm_ctx *c, int l, _Atomic int *ctr, thread_buf *tb, int ith, int nth)
{
    const llm_model *m = c->m;
    const llm_layer *L = &m->layers[l];
    int T = c->b->n, E = m->info.n_embd, F = m->info.n_ff, chunk = c->chunk_ff;
    int n_tasks = (F + chunk - 1) / chunk, k;
    int down_act = llm_quant_row_of(L->down.type)->act;
    size_t as;
    uint8_t *act_u = NULL;
    size_t as_u = 0;
    bool mixed = act_of(&L->up) != act_of(&L->gate);
    const uint8_t *xq = make_acts(c, tb, ith, nth, act_of(&L->gate), c->x, E, NULL, T, E, L->ffn_norm, mixed, &as);

    if (mixed) {
        /* rare mixed kinds: up's activations after gate's */
        act_u = tb->xq + as * (size_t)T;
        as_u = make_act(&L->up, tb->xn, E, T, E, act_u);
    }
    while ((k = atomic_fetch_add_explicit(ctr, 1, memory_order_relaxed)) < n_tasks) {
        int r0 = k * chunk, r1 = r0 + chunk < F ? r0 + chunk : F, nr = r1 - r0;
        float *g = tb->tmp, *u = tb->tmp + (size_t)T * (size_t)nr;

        mm_rows(&L->gate, r0, r1, xq, as, T, g, (size_t)nr);
        mm_rows(&L->up, r0, r1, act_u ? act_u : xq, act_u ? as_u : as, T, u, (size_t)nr);
        for (int t = 0; t < T; t++) {
            float *hr = c->h + (size_t)t * (size_t)F + r0;
            c->aops->swiglu(g + (size_t)t * (size_t)nr, u + (size_t)t * (size_t)nr, hr, nr);
            if (down_act == LLM_ACT_Q8)
                llm_quant_q8()(hr, (llm_q8 *)(c->hq + (size_t)t * c->h_act) + r0 / 32, nr);
            else
                memcpy(c->hq + (size_t)t * c->h_act + sizeof(float) * (size_t)r0, hr, sizeof(float) * (size_t)nr);
        }
    }
}

static void phase_output(llm_ctx *c, _Atomic int *ctr, thread_buf *tb, int ith, int nth)
{
    const llm_model *m = c->m;
    int E = m->info.n_embd, V = m->info.n_vocab, chunk = c->chunk_vocab, nw = c->n_want, k;
    int n_tasks = (V + chunk - 1) / chunk;
    size_t as;
    const uint8_t *xq =
        make_acts(c, tb, ith, nth, act_of(&m->output), c->x, E, c->want_rows, nw, E, m->output_norm, false, &as);

    while ((k = atomic_fetch_add_explicit(ctr, 1, memory_order_relaxed)) < n_tasks) {
        int r0 = k * chunk, r1 = r0 + chunk < V ? r0 + chunk : V;
        mm_rows(&m->output, r0, r1, xq, as, nw, c->logits + r0, (size_t)V);
    }
}

static void forward_worker(void *arg, int ith, int nth)
{
    llm_ctx *c = arg;
    const llm_model *m = c->m;
    thread_buf *tb = &c->tb[ith];
    int T = c->b->n, ph = 0;

    for (int l = 0; l < m->info.n_layer; l++) {
        const llm_layer *L = &m->layers[l];
        const uint8_t *xq;
        size_t as;

        phase_qkv(c, l, &c->ctr[ph++], tb, ith, nth);
        llm_pool_barrier(c->pool);
        phase_attn(c, l, &c->ctr[ph++], tb);
        llm_pool_barrier(c->pool);
        xq = make_acts(c, tb, ith, nth, act_of(&L->wo), c->att, m->q_dim, NULL, T, m->q_dim, NULL, false, &as);
        phase_residual(c, &L->wo, xq, as, c->chunk_embd, &c->ctr[ph++], tb);
        llm_pool_barrier(c->pool);
        phase_ffn(c, l, &c->ctr[ph++], tb, ith, nth);
        llm_pool_barrier(c->pool);
        phase_residual(c, &L->down, c->hq, c->h_act, c->chunk_embd, &c->ctr[ph++], tb);
        llm_pool_barrier(c->pool);
    }
    if (c->n_want > 0)
        phase_output(c, &c->ctr[ph], tb, ith, nth);
}

int llm_forward(llm_ctx *c, const llm_batch *b, float *logits)
{
    const llm_model *m = c->m;
    int E = m->info.n_embd, half = m->info.n_rot / 2, rc;

    if (!b || b->n < 1 || b->n > c->max_T || !b->tokens || !b->seq || !b->pos)
        return AIOS_EINVAL;
    for (int i = 0; i < b->n; i++) {
        if (b->tokens[i] < 0 || b->tokens[i] >= m->info.n_vocab)
            return AIOS_EINVAL;
        if (b->pos[i] < 0)
            return AIOS_EINVAL;
        if (b->pos[i] >= c->n_ctx)
            return AIOS_ELIMIT;
    }
    c->n_want = 0;
    for (int i = 0; i < b->n; i++)
        if (!b->want_logits || b->want_logits[i])
            c->want_rows[c->n_want++] = i;
    if (c->n_want > 0 && !logits)
        return AIOS_EINVAL;
    if ((rc = llm__kv_prepare(c->kv, b->seq, b->pos, b->n)) < 0)
        return rc;
    c->b = b;
    c->logits = logits;
    /* attention groups: runs of rows continuing one sequence, at most
     * att_rows long */
    c->n_grp = 0;
    for (int i = 0; i < b->n; i++) {
        int g0 = c->n_grp ? c->grp[c->n_grp - 1] : -1;
        if (g0 < 0 || b->seq[i] != b->seq[i - 1] || b->pos[i] != b->pos[i - 1] + 1 || i - g0 >= c->att_rows)
            c->grp[c->n_grp++] = i;
    }
    c->grp[c->n_grp] = b->n;
    /* embeddings and rotary tables, then the pass on all threads */
    for (int i = 0; i < b->n; i++) {
        llm_quant_row_of(m->tok_embd.type)
            ->dequant((const uint8_t *)m->tok_embd.data + (size_t)b->tokens[i] * m->tok_embd.row_bytes,
                      c->x + (size_t)i * (size_t)E, E);
        /* angles in float, theta multiplied from pair to pair, as GGUF
         * engines compute them (model.c) */
        float theta = (float)b->pos[i];
        for (int k = 0; k < half; k++) {
            float th = m->info.rope_scale * (theta / m->rope_ff[k]);
            c->rope_cs[(size_t)i * (size_t)m->info.n_rot + 2 * (size_t)k] = cosf(th);
            c->rope_cs[(size_t)i * (size_t)m->info.n_rot + 2 * (size_t)k + 1] = sinf(th);
            theta *= m->rope_theta_scale;
        }
    }
    for (int p = 0; p < c->n_phases; p++)
        atomic_store_explicit(&c->ctr[p], 0, memory_order_relaxed);
    llm_pool_run(c->pool, forward_worker, c);
    c->n_forwards++;
    llm__kv_commit(c->kv, b->seq, b->tokens, b->n);
    c->b = NULL;
    return 0;
}

void llm_ctx_get_stats(const llm_ctx *c, llm_ctx_stats *st)
{
    memset(st, 0, sizeof(*st));
    st->forwards = c->n_forwards;
    st->n_threads = llm_pool_size(c->pool);
    llm_pool_counts(c->pool, &st->barriers, &st->sleeps, &st->wait_ns);
}

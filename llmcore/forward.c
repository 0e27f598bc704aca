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
 *   attn  : one task per (row, head): causal attention over the row's own
 *           sequence through its block table
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
    float *scores;    /* [n_ctx] attention scores */
    float *orow;      /* [head_dim] attention accumulator */
} thread_buf;

struct llm_ctx {
    const llm_model *m;
    llm_kv *kv;
    llm_pool *pool;
    const llm_ops *ops;
    int max_T;
    int n_ctx;
    /* shared activations */
    float *x;         /* [T][n_embd] residual stream */
    float *q;         /* [T][q_dim] rotated queries */
    float *att;       /* [T][q_dim] attention output */
    float *h;         /* [T][n_ff] FFN hidden */
    uint8_t *hq;      /* [T] quantized hidden rows */
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
        free(c->tb[t].orow);
    }
    free(c->x);
    free(c->q);
    free(c->att);
    free(c->h);
    free(c->hq);
    free(c->rope_cs);
    free((void *)c->ctr);
    free(c->want_rows);
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
    c->max_T = T = max_batch_tokens;
    c->n_ctx = i->n_ctx_train;
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
    c->rope_cs = malloc(sizeof(float) * (size_t)T * (size_t)i->n_rot);
    c->want_rows = malloc(sizeof(int) * (size_t)T);
    c->n_phases = i->n_layer * PHASES_PER_LAYER + 1;
    c->ctr = calloc((size_t)c->n_phases, sizeof(*c->ctr));
    if (!c->x || !c->q || !c->att || !c->h || !c->hq || !c->rope_cs || !c->want_rows || !c->ctr)
        goto out_nomem;
    for (int t = 0; t < n_threads; t++) {
        thread_buf *tb = &c->tb[t];
        tb->xn = malloc(sizeof(float) * (size_t)T * (size_t)wide);
        tb->xq = malloc(c->act_max * (size_t)T);
        tb->tmp = malloc(sizeof(float) * (size_t)T * 2 * (size_t)chunk_max);
        tb->scores = malloc(sizeof(float) * (size_t)c->n_ctx);
        tb->orow = malloc(sizeof(float) * (size_t)i->head_dim);
        if (!tb->xn || !tb->xq || !tb->tmp || !tb->scores || !tb->orow)
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

/* Store a head's row into the cache slot of batch row t. */
static void kv_store(llm_ctx *c, int l, int which, int t, int kvh, const float *src)
{
    llm_kv *kv = c->kv;
    int off, hd = c->m->info.head_dim;
    int32_t blk = llm__kv_slot(kv, c->b->seq[t], c->b->pos[t], &off);
    uint8_t *dst = (uint8_t *)llm__kv_ptr(kv, blk, l, which, off) + (size_t)kvh * (size_t)hd * (size_t)kv->esize;

    if (kv->kv_type == LLM_KV_F16)
        c->ops->to_f16(src, (uint16_t *)dst, hd);
    else
        memcpy(dst, src, sizeof(float) * (size_t)hd);
}

static void phase_qkv(llm_ctx *c, int l, _Atomic int *ctr, thread_buf *tb)
{
    const llm_model *m = c->m;
    const llm_layer *L = &m->layers[l];
    int T = c->b->n, E = m->info.n_embd, hd = m->info.head_dim, nh = m->info.n_head, nkv = m->info.n_head_kv;
    int n_tasks = nh + 2 * nkv, k;
    size_t as;

    for (int t = 0; t < T; t++)
        c->ops->rmsnorm(c->x + (size_t)t * (size_t)E, L->attn_norm, tb->xn + (size_t)t * (size_t)E, E,
                        m->info.rms_eps);
    /* wq, wk, wv share one activation kind in every supported file; make
     * one per distinct kind only if they differ */
    as = make_act(&L->wq, tb->xn, E, T, E, tb->xq);
    while ((k = atomic_fetch_add_explicit(ctr, 1, memory_order_relaxed)) < n_tasks) {
        const llm_weight *w;
        const float *bias;
        int which, h;
        uint8_t *act = tb->xq;
        size_t astr = as;

        if (k < nh) {
            w = &L->wq, bias = L->bq, which = -1, h = k;
        } else if (k < nh + nkv) {
            w = &L->wk, bias = L->bk, which = 0, h = k - nh;
        } else {
            w = &L->wv, bias = L->bv, which = 1, h = k - nh - nkv;
        }
        if (llm_quant_row_of(w->type)->act != llm_quant_row_of(L->wq.type)->act) {
            /* mixed activation kinds: rebuild into the scratch tail */
            act = (uint8_t *)tb->tmp + sizeof(float) * (size_t)T * (size_t)hd;
            astr = make_act(w, tb->xn, E, T, E, act);
        }
        mm_rows(w, h * hd, (h + 1) * hd, act, astr, T, tb->tmp, (size_t)hd);
        for (int t = 0; t < T; t++) {
            float *v = tb->tmp + (size_t)t * (size_t)hd;
            if (bias)
                for (int i = 0; i < hd; i++)
                    v[i] += bias[h * hd + i];
            if (which < 1)
                rope_apply(m, v, c->rope_cs + (size_t)t * (size_t)m->info.n_rot);
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
    int T = c->b->n, hd = m->info.head_dim, nh = m->info.n_head, group = nh / m->info.n_head_kv;
    int bt = kv->block_tokens, k;
    float scale = 1.0f / sqrtf((float)hd);

    while ((k = atomic_fetch_add_explicit(ctr, 1, memory_order_relaxed)) < T * nh) {
        int t = k / nh, h = k % nh, kvh = h / group, n = c->b->pos[t] + 1;
        const int32_t *tbl = kv->seqs[c->b->seq[t]].blocks;
        float *q = c->q + (size_t)t * (size_t)m->q_dim + (size_t)h * (size_t)hd;
        float *s = tb->scores, mx = -INFINITY, sum = 0, inv;
        float *o = c->att + (size_t)t * (size_t)m->q_dim + (size_t)h * (size_t)hd;
        size_t hoff = (size_t)kvh * (size_t)hd;

        /* with an f16 cache the query and the attention weights are rounded
         * to f16 as well, as GGUF engines do (their f16 matmuls convert the
         * other operand); the same model then picks the same tokens */
        if (kv->kv_type == LLM_KV_F16)
            c->ops->round_f16(q, hd);
        for (int j = 0; j < n; j += bt) {
            int cnt = n - j < bt ? n - j : bt;
            const uint8_t *kp = (const uint8_t *)llm__kv_ptr(kv, tbl[j / bt], l, 0, 0) + hoff * (size_t)kv->esize;
            if (kv->kv_type == LLM_KV_F16)
                c->ops->qk_f16(q, (const uint16_t *)kp, kv->kv_dim, cnt, hd, scale, s + j);
            else
                c->ops->qk_f32(q, (const float *)kp, kv->kv_dim, cnt, hd, scale, s + j);
        }
        for (int j = 0; j < n; j++)
            mx = s[j] > mx ? s[j] : mx;
        for (int j = 0; j < n; j++) {
            s[j] = expf(s[j] - mx);
            sum += s[j];
        }
        inv = 1.0f / sum;
        for (int j = 0; j < n; j++)
            s[j] *= inv;
        if (kv->kv_type == LLM_KV_F16)
            c->ops->round_f16(s, n);
        memset(o, 0, sizeof(float) * (size_t)hd);
        for (int j = 0; j < n; j += bt) {
            int cnt = n - j < bt ? n - j : bt;
            const uint8_t *vp = (const uint8_t *)llm__kv_ptr(kv, tbl[j / bt], l, 1, 0) + hoff * (size_t)kv->esize;
            if (kv->kv_type == LLM_KV_F16)
                c->ops->av_f16(s + j, (const uint16_t *)vp, kv->kv_dim, cnt, hd, o);
            else
                c->ops->av_f32(s + j, (const float *)vp, kv->kv_dim, cnt, hd, o);
        }
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

static void phase_ffn(llm_ctx *c, int l, _Atomic int *ctr, thread_buf *tb)
{
    const llm_model *m = c->m;
    const llm_layer *L = &m->layers[l];
    int T = c->b->n, E = m->info.n_embd, F = m->info.n_ff, chunk = c->chunk_ff;
    int n_tasks = (F + chunk - 1) / chunk, k;
    int down_act = llm_quant_row_of(L->down.type)->act;
    size_t as;
    uint8_t *act_u = NULL;
    size_t as_u = 0;

    for (int t = 0; t < T; t++)
        c->ops->rmsnorm(c->x + (size_t)t * (size_t)E, L->ffn_norm, tb->xn + (size_t)t * (size_t)E, E, m->info.rms_eps);
    as = make_act(&L->gate, tb->xn, E, T, E, tb->xq);
    if (llm_quant_row_of(L->up.type)->act != llm_quant_row_of(L->gate.type)->act) {
        /* rare mixed kinds: up's activations after gate's */
        act_u = tb->xq + as * (size_t)T;
        as_u = make_act(&L->up, tb->xn, E, T, E, act_u);
    }
    while ((k = atomic_fetch_add_explicit(ctr, 1, memory_order_relaxed)) < n_tasks) {
        int r0 = k * chunk, r1 = r0 + chunk < F ? r0 + chunk : F, nr = r1 - r0;
        float *g = tb->tmp, *u = tb->tmp + (size_t)T * (size_t)nr;

        mm_rows(&L->gate, r0, r1, tb->xq, as, T, g, (size_t)nr);
        mm_rows(&L->up, r0, r1, act_u ? act_u : tb->xq, act_u ? as_u : as, T, u, (size_t)nr);
        for (int t = 0; t < T; t++) {
            float *hr = c->h + (size_t)t * (size_t)F + r0;
            c->ops->swiglu(g + (size_t)t * (size_t)nr, u + (size_t)t * (size_t)nr, hr, nr);
            if (down_act == LLM_ACT_Q8)
                llm_quant_q8()(hr, (llm_q8 *)(c->hq + (size_t)t * c->h_act) + r0 / 32, nr);
            else
                memcpy(c->hq + (size_t)t * c->h_act + sizeof(float) * (size_t)r0, hr, sizeof(float) * (size_t)nr);
        }
    }
}

static void phase_output(llm_ctx *c, _Atomic int *ctr, thread_buf *tb)
{
    const llm_model *m = c->m;
    int E = m->info.n_embd, V = m->info.n_vocab, chunk = c->chunk_vocab, nw = c->n_want, k;
    int n_tasks = (V + chunk - 1) / chunk;
    size_t as;

    for (int w = 0; w < nw; w++)
        c->ops->rmsnorm(c->x + (size_t)c->want_rows[w] * (size_t)E, m->output_norm, tb->xn + (size_t)w * (size_t)E, E,
                        m->info.rms_eps);
    as = make_act(&m->output, tb->xn, E, nw, E, tb->xq);
    while ((k = atomic_fetch_add_explicit(ctr, 1, memory_order_relaxed)) < n_tasks) {
        int r0 = k * chunk, r1 = r0 + chunk < V ? r0 + chunk : V;
        mm_rows(&m->output, r0, r1, tb->xq, as, nw, c->logits + r0, (size_t)V);
    }
}

static void forward_worker(void *arg, int ith, int nth)
{
    llm_ctx *c = arg;
    const llm_model *m = c->m;
    thread_buf *tb = &c->tb[ith];
    int T = c->b->n, ph = 0;

    (void)nth;
    for (int l = 0; l < m->info.n_layer; l++) {
        const llm_layer *L = &m->layers[l];
        size_t as;

        phase_qkv(c, l, &c->ctr[ph++], tb);
        llm_pool_barrier(c->pool);
        phase_attn(c, l, &c->ctr[ph++], tb);
        llm_pool_barrier(c->pool);
        as = make_act(&L->wo, c->att, m->q_dim, T, m->q_dim, tb->xq);
        phase_residual(c, &L->wo, tb->xq, as, c->chunk_embd, &c->ctr[ph++], tb);
        llm_pool_barrier(c->pool);
        phase_ffn(c, l, &c->ctr[ph++], tb);
        llm_pool_barrier(c->pool);
        phase_residual(c, &L->down, c->hq, c->h_act, c->chunk_embd, &c->ctr[ph++], tb);
        llm_pool_barrier(c->pool);
    }
    if (c->n_want > 0)
        phase_output(c, &c->ctr[ph], tb);
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
    /* embeddings and rotary tables, then the pass on all threads */
    for (int i = 0; i < b->n; i++) {
        llm_quant_row_of(m->tok_embd.type)
            ->dequant((const uint8_t *)m->tok_embd.data + (size_t)b->tokens[i] * m->tok_embd.row_bytes,
                      c->x + (size_t)i * (size_t)E, E);
        for (int k = 0; k < half; k++) {
            double th = (double)b->pos[i] * (double)m->info.rope_scale * (double)m->inv_freq[k];
            c->rope_cs[(size_t)i * (size_t)m->info.n_rot + 2 * (size_t)k] = (float)cos(th);
            c->rope_cs[(size_t)i * (size_t)m->info.n_rot + 2 * (size_t)k + 1] = (float)sin(th);
        }
    }
    for (int p = 0; p < c->n_phases; p++)
        atomic_store_explicit(&c->ctr[p], 0, memory_order_relaxed);
    llm_pool_run(c->pool, forward_worker, c);
    llm__kv_commit(c->kv, b->seq, b->tokens, b->n);
    c->b = NULL;
    return 0;
}

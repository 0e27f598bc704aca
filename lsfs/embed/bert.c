/*
 * bert.c - the BERT encoder of all-MiniLM-L6-v2, read top to bottom:
 * config, weights, scratch, forward pass, mean pooling.
 *
 *   x = LayerNorm(word_emb[id] + pos_emb[pos] + type_emb[0])
 *   for each layer:
 *       q, k, v = x Wq^T + bq, x Wk^T + bk, x Wv^T + bv       (one fused matmul)
 *       a = softmax(q k^T / sqrt(head_dim)) v               per text, per head
 *       x = LayerNorm(x + a Wo^T + bo)
 *       x = LayerNorm(x + gelu_erf(x W1^T + b1) W2^T + b2)
 *   out = normalize(mean over the text's tokens of x)
 *
 * Texts of a batch are packed one after the other without padding, so the
 * matmuls run over every token of the batch at once and attention never
 * crosses a text boundary.  Owns the weights (a read-only safetensors
 * mapping plus packed copies), immutable after lsfs__bert_load(): any number
 * of threads may run forward passes at once, each with its own scratch.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "aios/log.h"
#include "lsfs/embed/embed_int.h"

/* ---- config ------------------------------------------------------------------ */

/* Integer member of config.json, or def when absent. */
static int cfg_int(json_t *cfg, const char *key, int def)
{
    json_t *v = json_object_get(cfg, key);
    return json_is_integer(v) ? (int)json_integer_value(v) : def;
}

/* Read <dir>/config.json (HF BertModel) and <dir>/sentence_bert_config.json. */
static int load_config(const char *dir, lsfs__bert_config *c)
{
    char path[4096];
    json_error_t err;
    snprintf(path, sizeof path, "%s/config.json", dir);
    json_t *cfg = json_load_file(path, 0, &err);
    if (!cfg) {
        aios_log(AIOS_LOG_ERROR, "embed", "cannot read '%s': %s", path, err.text);
        return access(path, F_OK) == 0 ? AIOS_ECORRUPT : AIOS_ENOENT;
    }
    const char *type = json_string_value(json_object_get(cfg, "model_type"));
    const char *act = json_string_value(json_object_get(cfg, "hidden_act"));
    const char *pos = json_string_value(json_object_get(cfg, "position_embedding_type"));
    c->vocab = cfg_int(cfg, "vocab_size", 0);
    c->dim = cfg_int(cfg, "hidden_size", 0);
    c->n_layers = cfg_int(cfg, "num_hidden_layers", 0);
    c->n_heads = cfg_int(cfg, "num_attention_heads", 0);
    c->ffn = cfg_int(cfg, "intermediate_size", 0);
    c->max_pos = cfg_int(cfg, "max_position_embeddings", 0);
    c->n_types = cfg_int(cfg, "type_vocab_size", 2);
    json_t *eps = json_object_get(cfg, "layer_norm_eps");
    c->ln_eps = json_is_number(eps) ? (float)json_number_value(eps) : 1e-12f;
    bool ok = type && strcmp(type, "bert") == 0 && (!act || strcmp(act, "gelu") == 0) &&
              (!pos || strcmp(pos, "absolute") == 0) && c->vocab > 0 && c->dim > 0 &&
              c->n_layers > 0 && c->n_layers <= 64 && c->n_heads > 0 &&
              c->dim % c->n_heads == 0 && c->dim % LSFS_PANEL == 0 && c->ffn > 0 &&
              c->ffn % LSFS_PANEL == 0 && c->max_pos > 2 && c->n_types > 0 &&
              c->dim <= 4096 && c->ffn <= 16384;
    json_decref(cfg);
    if (!ok) {
        aios_log(AIOS_LOG_ERROR, "embed", "'%s' is not a supported BERT configuration", path);
        return AIOS_ECORRUPT;
    }
    c->head_dim = c->dim / c->n_heads;

    /* sentence-transformers' window; 256 for all-MiniLM-L6-v2. */
    c->max_tokens = 256;
    snprintf(path, sizeof path, "%s/sentence_bert_config.json", dir);
    json_t *st = json_load_file(path, 0, &err);
    if (st) {
        c->max_tokens = cfg_int(st, "max_seq_length", 256);
        json_decref(st);
    }
    if (c->max_tokens > c->max_pos)
        c->max_tokens = c->max_pos;
    if (c->max_tokens < 3)
        return AIOS_ECORRUPT;
    return 0;
}

/* ---- weights ----------------------------------------------------------------- */

static const float *tensor(const lsfs__bert *m, const char *name, int n_dims, int64_t d0, int64_t d1)
{
    int64_t shape[2] = {d0, d1};
    return lsfs__st_f32(m->st, name, n_dims, shape);
}

/* Look up one layer's tensors; stack Q, K, V into one [3*dim][dim] matrix. */
static int load_layer(lsfs__bert *m, int i, lsfs__bert_layer *L)
{
    const int D = m->cfg.dim, F = m->cfg.ffn;
    char n[96];
#define T2(field, suffix, d0, d1)                                                  \
    (snprintf(n, sizeof n, "encoder.layer.%d.%s", i, suffix), field = tensor(m, n, 2, d0, d1))
#define T1(field, suffix, d0)                                                      \
    (snprintf(n, sizeof n, "encoder.layer.%d.%s", i, suffix), field = tensor(m, n, 1, d0, 0))
    const float *wq, *wk, *wv, *bq, *bk, *bv;
    T2(wq, "attention.self.query.weight", D, D);
    T2(wk, "attention.self.key.weight", D, D);
    T2(wv, "attention.self.value.weight", D, D);
    T1(bq, "attention.self.query.bias", D);
    T1(bk, "attention.self.key.bias", D);
    T1(bv, "attention.self.value.bias", D);
    T2(L->attn_out.w, "attention.output.dense.weight", D, D);
    T1(L->attn_out.b, "attention.output.dense.bias", D);
    T1(L->ln1_g, "attention.output.LayerNorm.weight", D);
    T1(L->ln1_b, "attention.output.LayerNorm.bias", D);
    T2(L->ffn_up.w, "intermediate.dense.weight", F, D);
    T1(L->ffn_up.b, "intermediate.dense.bias", F);
    T2(L->ffn_down.w, "output.dense.weight", D, F);
    T1(L->ffn_down.b, "output.dense.bias", D);
    T1(L->ln2_g, "output.LayerNorm.weight", D);
    T1(L->ln2_b, "output.LayerNorm.bias", D);
#undef T1
#undef T2
    if (!wq || !wk || !wv || !bq || !bk || !bv || !L->attn_out.w || !L->attn_out.b ||
        !L->ln1_g || !L->ln1_b || !L->ffn_up.w || !L->ffn_up.b || !L->ffn_down.w ||
        !L->ffn_down.b || !L->ln2_g || !L->ln2_b)
        return AIOS_ECORRUPT;

    L->qkv_w = lsfs__alloc((size_t)3 * D * D * sizeof(float));
    L->qkv_b = lsfs__alloc((size_t)3 * D * sizeof(float));
    if (!L->qkv_w || !L->qkv_b)
        return AIOS_ENOMEM;
    memcpy(L->qkv_w, wq, (size_t)D * D * sizeof(float));
    memcpy(L->qkv_w + (size_t)D * D, wk, (size_t)D * D * sizeof(float));
    memcpy(L->qkv_w + (size_t)2 * D * D, wv, (size_t)D * D * sizeof(float));
    memcpy(L->qkv_b, bq, (size_t)D * sizeof(float));
    memcpy(L->qkv_b + D, bk, (size_t)D * sizeof(float));
    memcpy(L->qkv_b + 2 * D, bv, (size_t)D * sizeof(float));
    L->qkv = (lsfs__linear){.in = D, .out = 3 * D, .w = L->qkv_w, .b = L->qkv_b};
    L->attn_out.in = D, L->attn_out.out = D;
    L->ffn_up.in = D, L->ffn_up.out = F;
    L->ffn_down.in = F, L->ffn_down.out = D;
    int rc;
    if ((rc = lsfs__linear_pack(&L->qkv)) < 0 || (rc = lsfs__linear_pack(&L->attn_out)) < 0 ||
        (rc = lsfs__linear_pack(&L->ffn_up)) < 0 || (rc = lsfs__linear_pack(&L->ffn_down)) < 0)
        return rc;
    return 0;
}

int lsfs__bert_load(const char *dir, lsfs__bert **out)
{
    int rc;
    char path[4096];
    lsfs__bert *m;
    *out = NULL;

    m = calloc(1, sizeof *m);
    if (!m)
        return AIOS_ENOMEM;
    if ((rc = load_config(dir, &m->cfg)) < 0)
        goto out_free;
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if ((rc = lsfs__st_open(path, &m->st)) < 0)
        goto out_free;

    const lsfs__bert_config *c = &m->cfg;
    rc = AIOS_ECORRUPT;
    m->tok_emb = tensor(m, "embeddings.word_embeddings.weight", 2, c->vocab, c->dim);
    m->pos_emb = tensor(m, "embeddings.position_embeddings.weight", 2, c->max_pos, c->dim);
    m->type_emb = tensor(m, "embeddings.token_type_embeddings.weight", 2, c->n_types, c->dim);
    m->emb_ln_g = tensor(m, "embeddings.LayerNorm.weight", 1, c->dim, 0);
    m->emb_ln_b = tensor(m, "embeddings.LayerNorm.bias", 1, c->dim, 0);
    if (!m->tok_emb || !m->pos_emb || !m->type_emb || !m->emb_ln_g || !m->emb_ln_b)
        goto out_free;
    m->layers = calloc((size_t)c->n_layers, sizeof *m->layers);
    if (!m->layers) {
        rc = AIOS_ENOMEM;
        goto out_free;
    }
    for (int i = 0; i < c->n_layers; i++)
        if ((rc = load_layer(m, i, &m->layers[i])) < 0)
            goto out_free;
    *out = m;
    return 0;

out_free:
    lsfs__bert_free(m);
    return rc;
}

void lsfs__bert_free(lsfs__bert *m)
{
    if (!m)
        return;
    for (int i = 0; m->layers && i < m->cfg.n_layers; i++) {
        lsfs__bert_layer *L = &m->layers[i];
        lsfs__linear_unpack(&L->qkv);
        lsfs__linear_unpack(&L->attn_out);
        lsfs__linear_unpack(&L->ffn_up);
        lsfs__linear_unpack(&L->ffn_down);
        lsfs__free(L->qkv_w);
        lsfs__free(L->qkv_b);
    }
    free(m->layers);
    lsfs__st_close(m->st);
    free(m);
}

/* ---- scratch ------------------------------------------------------------------- */

int lsfs__bert_scratch_new(const lsfs__bert *m, int max_tokens, lsfs__bert_scratch **out)
{
    const lsfs__bert_config *c = &m->cfg;
    size_t T = (size_t)max_tokens, ld = ((size_t)c->max_tokens + 15) & ~(size_t)15;
    lsfs__bert_scratch *s = calloc(1, sizeof *s);
    *out = NULL;
    if (!s)
        return AIOS_ENOMEM;
    s->max_tokens = max_tokens;
    s->x = lsfs__alloc(T * c->dim * sizeof(float));
    s->qkv = lsfs__alloc(T * 3 * c->dim * sizeof(float));
    s->ctx = lsfs__alloc(T * c->dim * sizeof(float));
    s->tmp = lsfs__alloc(T * c->dim * sizeof(float));
    s->h = lsfs__alloc((size_t)LSFS_FFN_ROWS * c->ffn * sizeof(float));
    s->kt = lsfs__alloc((size_t)c->head_dim * ld * sizeof(float));
    s->vc = lsfs__alloc((size_t)c->head_dim * ld * sizeof(float));
    s->scores = lsfs__alloc((4 * ld + 4 * (size_t)c->head_dim) * sizeof(float));
    if (!s->x || !s->qkv || !s->ctx || !s->tmp || !s->h || !s->kt || !s->vc || !s->scores) {
        lsfs__bert_scratch_free(s);
        return AIOS_ENOMEM;
    }
    *out = s;
    return 0;
}

void lsfs__bert_scratch_free(lsfs__bert_scratch *s)
{
    if (!s)
        return;
    lsfs__free(s->x);
    lsfs__free(s->qkv);
    lsfs__free(s->ctx);
    lsfs__free(s->tmp);
    lsfs__free(s->h);
    lsfs__free(s->kt);
    lsfs__free(s->vc);
    lsfs__free(s->scores);
    free(s);
}

/* ---- forward ------------------------------------------------------------------- */

/*
 * Self-attention of one text of L tokens starting at row off, all heads:
 * ctx[off+i][h*hd .. ] = softmax(q_i K^T / sqrt(hd)) V for head h.
 */
static void attention(const lsfs__bert *m, const lsfs__kernels *k, lsfs__bert_scratch *s,
                      int off, int L)
{
    const int D = m->cfg.dim, hd = m->cfg.head_dim, ld3 = 3 * D;
    const int ld = (L + 15) & ~15;
    const float scale = 1.0f / sqrtf((float)hd);
    float *qs = s->scores + 4 * (size_t)ld;   /* [4][hd] scaled queries */
    for (int h = 0; h < m->cfg.n_heads; h++) {
        const float *qh = s->qkv + (size_t)off * ld3 + h * hd;
        const float *kh = qh + D;
        const float *vh = qh + 2 * D;
        /* kt[d][j] = K[j][d]: the scores of 8 keys then come from one load;
         * vc[j] = V[j]: the head's values contiguous (they stay in L1). */
        for (int j = 0; j < L; j++) {
            for (int d = 0; d < hd; d++)
                s->kt[(size_t)d * ld + j] = kh[(size_t)j * ld3 + d];
            memcpy(s->vc + (size_t)j * hd, vh + (size_t)j * ld3, (size_t)hd * sizeof(float));
        }
        for (int d = 0; d < hd; d++)   /* padding keys score 0 and are never used */
            for (int j = L; j < ld; j++)
                s->kt[(size_t)d * ld + j] = 0.0f;
        int i = 0;
        for (; i + 4 <= L; i += 4) {   /* 4 queries at once share the K and V loads */
            for (int r = 0; r < 4; r++)
                for (int d = 0; d < hd; d++)
                    qs[r * hd + d] = qh[(size_t)(i + r) * ld3 + d] * scale;
            k->qk4(qs, hd, s->kt, hd, ld, L, s->scores, ld);
            for (int r = 0; r < 4; r++)
                k->softmax(s->scores + (size_t)r * ld, L);
            k->pv4(s->scores, ld, s->vc, hd, L, hd, s->ctx + (size_t)(off + i) * D + h * hd, D);
        }
        for (; i < L; i++) {
            for (int d = 0; d < hd; d++)
                qs[d] = qh[(size_t)i * ld3 + d] * scale;
            k->qk(qs, s->kt, hd, ld, L, s->scores);
            k->softmax(s->scores, L);
            k->pv(s->scores, s->vc, hd, L, hd, s->ctx + (size_t)(off + i) * D + h * hd);
        }
    }
}

void lsfs__bert_forward(const lsfs__bert *m, const lsfs__kernels *k, lsfs__bert_scratch *s,
                        const int32_t *ids, const int *seq_len, int n_seq, float *out)
{
    const lsfs__bert_config *c = &m->cfg;
    const int D = c->dim, F = c->ffn;
    int T = 0;

    /* Embeddings: token + position + type 0, then LayerNorm. */
    for (int q = 0; q < n_seq; q++) {
        for (int p = 0; p < seq_len[q]; p++, T++) {
            int32_t id = ids[T];
            if (id < 0 || id >= c->vocab)
                id = 0;
            float *x = s->x + (size_t)T * D;
            const float *te = m->tok_emb + (size_t)id * D;
            const float *pe = m->pos_emb + (size_t)p * D;
            for (int i = 0; i < D; i++)
                x[i] = te[i] + pe[i] + m->type_emb[i];
            k->layernorm(x, NULL, m->emb_ln_g, m->emb_ln_b, D, c->ln_eps);
        }
    }

    for (int l = 0; l < c->n_layers; l++) {
        const lsfs__bert_layer *L = &m->layers[l];
        k->linear(&L->qkv, s->x, T, s->qkv);            /* [T][3D] */
        for (int q = 0, off = 0; q < n_seq; off += seq_len[q], q++)
            attention(m, k, s, off, seq_len[q]);          /* [T][D] ctx */
        k->linear(&L->attn_out, s->ctx, T, s->tmp);      /* [T][D] */
        for (int t = 0; t < T; t++)
            k->layernorm(s->x + (size_t)t * D, s->tmp + (size_t)t * D, L->ln1_g, L->ln1_b, D,
                         c->ln_eps);
        /* Feed-forward in row blocks so the [rows][F] activation stays in cache. */
        for (int t0 = 0; t0 < T; t0 += LSFS_FFN_ROWS) {
            int rows = T - t0 < LSFS_FFN_ROWS ? T - t0 : LSFS_FFN_ROWS;
            k->linear(&L->ffn_up, s->x + (size_t)t0 * D, rows, s->h);    /* [rows][F] */
            k->gelu(s->h, (size_t)rows * F);
            k->linear(&L->ffn_down, s->h, rows, s->tmp + (size_t)t0 * D); /* [rows][D] */
        }
        for (int t = 0; t < T; t++)
            k->layernorm(s->x + (size_t)t * D, s->tmp + (size_t)t * D, L->ln2_g, L->ln2_b, D,
                         c->ln_eps);
    }

    /* Mean pooling over each text's tokens, then L2 normalisation. */
    for (int q = 0, off = 0; q < n_seq; off += seq_len[q], q++) {
        float *o = out + (size_t)q * D;
        for (int i = 0; i < D; i++)
            o[i] = 0.0f;
        for (int t = off; t < off + seq_len[q]; t++)
            for (int i = 0; i < D; i++)
                o[i] += s->x[(size_t)t * D + i];
        double norm = 0.0;
        for (int i = 0; i < D; i++) {
            o[i] /= (float)seq_len[q];
            norm += (double)o[i] * o[i];
        }
        float inv = (float)(1.0 / fmax(sqrt(norm), 1e-12));
        for (int i = 0; i < D; i++)
            o[i] *= inv;
    }
}

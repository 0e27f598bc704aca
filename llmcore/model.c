/*
 * model.c - a GGUF file becomes an llm_model: architecture, hyperparameters
 * and weight tensors, all checked against each other before use.
 *
 * The architecture table says which key prefix, rotary layout and optional
 * tensors an architecture has; the tensor table says which tensors a layer
 * holds and their expected shapes in terms of the hyperparameters.  Weights
 * stay in the file mapping (zero copy).  Every failure names the key or
 * tensor at fault.  Owns the gguf handle and the small per-layer index.
 * Loaded on any thread; immutable after load.
 */
#include <math.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aios/error.h"
#include "llmcore/engine_int.h"
#include "llmcore/quant.h"

typedef struct arch_row {
    const char *name;
    llm_arch arch;
    bool rope_neox;
    bool qkv_bias;     /* q/k/v biases expected */
} arch_row;

static const arch_row arches[] = {
    {"llama", LLM_ARCH_LLAMA, false, false},
    {"qwen2", LLM_ARCH_QWEN2, true, true},
};

/* Expected dims of a tensor, symbolic. */
enum { D_1 = 0, D_EMBD, D_QDIM, D_KVDIM, D_FF, D_VOCAB, D_ROT2 };

typedef struct tensor_row {
    const char *suffix;   /* "attn_q.weight" (per layer) */
    int ne0, ne1;         /* D_* */
    bool vector;          /* 1-D, must be F32 */
    bool bias;            /* only for arches with qkv_bias */
    size_t off;           /* offsetof in llm_layer (weight or const float *) */
} tensor_row;

static const tensor_row layer_tensors[] = {
    {"attn_norm.weight", D_EMBD, D_1, true, false, offsetof(llm_layer, attn_norm)},
    {"attn_q.weight", D_EMBD, D_QDIM, false, false, offsetof(llm_layer, wq)},
    {"attn_k.weight", D_EMBD, D_KVDIM, false, false, offsetof(llm_layer, wk)},
    {"attn_v.weight", D_EMBD, D_KVDIM, false, false, offsetof(llm_layer, wv)},
    {"attn_q.bias", D_QDIM, D_1, true, true, offsetof(llm_layer, bq)},
    {"attn_k.bias", D_KVDIM, D_1, true, true, offsetof(llm_layer, bk)},
    {"attn_v.bias", D_KVDIM, D_1, true, true, offsetof(llm_layer, bv)},
    {"attn_output.weight", D_QDIM, D_EMBD, false, false, offsetof(llm_layer, wo)},
    {"ffn_norm.weight", D_EMBD, D_1, true, false, offsetof(llm_layer, ffn_norm)},
    {"ffn_gate.weight", D_EMBD, D_FF, false, false, offsetof(llm_layer, gate)},
    {"ffn_up.weight", D_EMBD, D_FF, false, false, offsetof(llm_layer, up)},
    {"ffn_down.weight", D_FF, D_EMBD, false, false, offsetof(llm_layer, down)},
};

typedef struct {
    char *err;
    size_t errlen;
} errbuf;

static int fail(errbuf *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(errbuf *e, int code, const char *fmt, ...)
{
    va_list ap;

    if (e->err && e->errlen) {
        va_start(ap, fmt);
        vsnprintf(e->err, e->errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}

static int64_t dim_value(const llm_model *m, int d)
{
    const llm_model_info *i = &m->info;
    int64_t v[] = {[D_1] = 1,          [D_EMBD] = i->n_embd, [D_QDIM] = m->q_dim, [D_KVDIM] = m->kv_dim,
                   [D_FF] = i->n_ff,   [D_VOCAB] = i->n_vocab, [D_ROT2] = i->n_rot / 2};
    return v[d];
}

/* Find a tensor, check its shape and type, fill a weight. */
static int get_tensor(llm_model *m, errbuf *e, const char *name, int64_t ne0, int64_t ne1, bool vector,
                      llm_weight *w)
{
    const llm_gguf_tensor *t = llm_gguf_tensor_find(m->g, name);
    const llm_quant_row *q;

    if (!t)
        return fail(e, AIOS_ECORRUPT, "tensor '%s' is missing", name);
    if (t->ne[2] != 1 || t->ne[3] != 1 || t->ne[0] != ne0 || t->ne[1] != ne1)
        return fail(e, AIOS_ECORRUPT, "tensor '%s' has shape [%lld, %lld, %lld], expected [%lld, %lld]", name,
                    (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2], (long long)ne0,
                    (long long)ne1);
    if (vector && t->type != LLM_T_F32)
        return fail(e, AIOS_ENOTSUP, "tensor '%s': type %s is not supported for vectors (F32 is)", name,
                    llm_type_size_of(t->type) ? llm_type_size_of(t->type)->name : "?");
    q = llm_quant_row_of(t->type);
    if (!q)
        return fail(e, AIOS_ENOTSUP, "tensor '%s': type %s is not supported", name,
                    llm_type_size_of(t->type) ? llm_type_size_of(t->type)->name : "?");
    w->data = t->data;
    w->type = t->type;
    w->n_in = ne0;
    w->n_out = ne1;
    w->row_bytes = llm_type_row_bytes(t->type, (uint64_t)ne0);
    w->packed = NULL;
    w->panel_bytes = 0;
    return 0;
}

static bool get_int(const llm_model *m, const char *arch, const char *key, int64_t *v)
{
    char k[128];

    snprintf(k, sizeof(k), "%s.%s", arch, key);
    return llm_gguf_get_i64(m->g, k, v);
}

static bool get_float(const llm_model *m, const char *arch, const char *key, double *v)
{
    char k[128];

    snprintf(k, sizeof(k), "%s.%s", arch, key);
    return llm_gguf_get_f64(m->g, k, v);
}

/* Read and check the hyperparameters. */
static int read_hparams(llm_model *m, const arch_row *a, errbuf *e)
{
    llm_model_info *i = &m->info;
    int64_t v, n_head_kv, key_len = 0, rot = 0;
    double f;
    static const struct {
        const char *key;
        size_t off;
        int64_t max;
    } req[] = {
        {"context_length", offsetof(llm_model_info, n_ctx_train), 1 << 24},
        {"embedding_length", offsetof(llm_model_info, n_embd), 1 << 16},
        {"block_count", offsetof(llm_model_info, n_layer), 1024},
        {"feed_forward_length", offsetof(llm_model_info, n_ff), 1 << 18},
        {"attention.head_count", offsetof(llm_model_info, n_head), 1024},
    };

    for (size_t k = 0; k < sizeof(req) / sizeof(req[0]); k++) {
        if (!get_int(m, a->name, req[k].key, &v))
            return fail(e, AIOS_ECORRUPT, "key '%s.%s' is missing or not an integer", a->name, req[k].key);
        if (v < 1 || v > req[k].max)
            return fail(e, AIOS_ECORRUPT, "key '%s.%s' = %lld is out of range", a->name, req[k].key,
                        (long long)v);
        *(int *)((char *)i + req[k].off) = (int)v;
    }
    n_head_kv = i->n_head;
    if (get_int(m, a->name, "attention.head_count_kv", &v))
        n_head_kv = v;
    if (n_head_kv < 1 || n_head_kv > i->n_head || i->n_head % n_head_kv != 0)
        return fail(e, AIOS_ECORRUPT, "head_count_kv %lld does not divide head_count %d", (long long)n_head_kv,
                    i->n_head);
    i->n_head_kv = (int)n_head_kv;
    if (get_int(m, a->name, "attention.key_length", &key_len)) {
        int64_t vl;
        if (get_int(m, a->name, "attention.value_length", &vl) && vl != key_len)
            return fail(e, AIOS_ENOTSUP, "key_length %lld != value_length %lld", (long long)key_len,
                        (long long)vl);
        i->head_dim = (int)key_len;
    } else {
        if (i->n_embd % i->n_head != 0)
            return fail(e, AIOS_ECORRUPT, "embedding_length %d is not a multiple of head_count %d", i->n_embd,
                        i->n_head);
        i->head_dim = i->n_embd / i->n_head;
    }
    if (i->head_dim < 2 || i->head_dim > 1024 || i->head_dim % 2 != 0)
        return fail(e, AIOS_ECORRUPT, "head dimension %d is not supported", i->head_dim);
    i->n_rot = i->head_dim;
    if (get_int(m, a->name, "rope.dimension_count", &rot)) {
        if (rot < 2 || rot > i->head_dim || rot % 2 != 0)
            return fail(e, AIOS_ECORRUPT, "rope.dimension_count %lld does not fit head dimension %d",
                        (long long)rot, i->head_dim);
        i->n_rot = (int)rot;
    }
    i->rms_eps = 1e-5f;
    if (get_float(m, a->name, "attention.layer_norm_rms_epsilon", &f)) {
        if (!(f > 0 && f < 1))
            return fail(e, AIOS_ECORRUPT, "layer_norm_rms_epsilon %g is out of range", f);
        i->rms_eps = (float)f;
    }
    i->rope_base = 10000.0f;
    if (get_float(m, a->name, "rope.freq_base", &f)) {
        if (!(f > 1 && f < 1e12))
            return fail(e, AIOS_ECORRUPT, "rope.freq_base %g is out of range", f);
        i->rope_base = (float)f;
    }
    i->rope_scale = 1.0f;
    {
        char key[128];
        char *type;

        snprintf(key, sizeof(key), "%s.rope.scaling.type", a->name);
        type = llm_gguf_dup_str(m->g, key);
        if (type && strcmp(type, "none") != 0 && strcmp(type, "linear") != 0) {
            fail(e, AIOS_ENOTSUP, "rope scaling type '%s' is not supported (none, linear are)", type);
            free(type);
            return AIOS_ENOTSUP;
        }
        if (type && strcmp(type, "linear") == 0 &&
            (get_float(m, a->name, "rope.scaling.factor", &f) || get_float(m, a->name, "rope.scale_linear", &f))) {
            if (!(f >= 1 && f < 1e6)) {
                free(type);
                return fail(e, AIOS_ECORRUPT, "rope scaling factor %g is out of range", f);
            }
            i->rope_scale = (float)(1.0 / f);
        }
        free(type);
    }
    m->q_dim = i->n_head * i->head_dim;
    m->kv_dim = i->n_head_kv * i->head_dim;
    if (get_int(m, "general", "file_type", &v))
        i->file_type = (uint32_t)v;
    return 0;
}

/* rotary inverse frequencies, divided by rope_freqs when present */
/* Rotary angles are computed as GGUF engines do (forward.c): theta starts
 * at the position (a float) and is multiplied by base^(-2/n_rot) from one
 * pair to the next, divided by the pair's rope_freqs factor (1 without the
 * tensor) and scaled by the linear rope scale. */
static int make_rope(llm_model *m, errbuf *e)
{
    const llm_model_info *i = &m->info;
    const llm_gguf_tensor *rf = llm_gguf_tensor_find(m->g, "rope_freqs.weight");
    int half = i->n_rot / 2;

    m->rope_ff = malloc(sizeof(float) * (size_t)half);
    if (!m->rope_ff)
        return fail(e, AIOS_ENOMEM, "out of memory");
    if (rf) {
        if (rf->type != LLM_T_F32 || rf->n_dims != 1 || rf->ne[0] != half)
            return fail(e, AIOS_ECORRUPT, "tensor 'rope_freqs.weight' must be F32 [%d]", half);
        m->info.has_rope_freqs = true;
    }
    for (int k = 0; k < half; k++) {
        float div = 1.0f;
        if (rf) {
            memcpy(&div, (const float *)rf->data + k, 4);
            if (!(div > 0))
                return fail(e, AIOS_ECORRUPT, "tensor 'rope_freqs.weight': factor %d is not positive", k);
        }
        m->rope_ff[k] = div;
    }
    m->rope_theta_scale = powf(i->rope_base, -2.0f / (float)i->n_rot);
    return 0;
}

static int load_tensors(llm_model *m, const arch_row *a, errbuf *e)
{
    llm_model_info *i = &m->info;
    const llm_gguf_tensor *emb = llm_gguf_tensor_find(m->g, "token_embd.weight");
    llm_weight w;
    int rc;
    uint64_t n_params = 0;

    if (!emb)
        return fail(e, AIOS_ECORRUPT, "tensor 'token_embd.weight' is missing");
    if (emb->ne[1] < 1 || emb->ne[1] > (1 << 24))
        return fail(e, AIOS_ECORRUPT, "tensor 'token_embd.weight': vocabulary of %lld", (long long)emb->ne[1]);
    i->n_vocab = (int)emb->ne[1];
    if ((rc = get_tensor(m, e, "token_embd.weight", i->n_embd, i->n_vocab, false, &m->tok_embd)) < 0)
        return rc;
    if ((rc = get_tensor(m, e, "output_norm.weight", i->n_embd, 1, true, &w)) < 0)
        return rc;
    m->output_norm = w.data;
    if (llm_gguf_tensor_find(m->g, "output.weight")) {
        if ((rc = get_tensor(m, e, "output.weight", i->n_embd, i->n_vocab, false, &m->output)) < 0)
            return rc;
    } else {
        m->output = m->tok_embd;
        i->tied_output = true;
    }
    m->layers = calloc((size_t)i->n_layer, sizeof(*m->layers));
    if (!m->layers)
        return fail(e, AIOS_ENOMEM, "out of memory");
    i->has_qkv_bias = a->qkv_bias;
    for (int l = 0; l < i->n_layer; l++) {
        for (size_t k = 0; k < sizeof(layer_tensors) / sizeof(layer_tensors[0]); k++) {
            const tensor_row *t = &layer_tensors[k];
            char name[96];

            if (t->bias && !a->qkv_bias)
                continue;
            snprintf(name, sizeof(name), "blk.%d.%s", l, t->suffix);
            if ((rc = get_tensor(m, e, name, dim_value(m, t->ne0), dim_value(m, t->ne1), t->vector, &w)) < 0)
                return rc;
            if (t->vector)
                *(const float **)((char *)&m->layers[l] + t->off) = w.data;
            else
                *(llm_weight *)((char *)&m->layers[l] + t->off) = w;
        }
    }
    for (uint64_t k = 0; k < m->g->n_tensors; k++)
        n_params += (uint64_t)(m->g->tensors[k].ne[0] * m->g->tensors[k].ne[1] * m->g->tensors[k].ne[2] *
                               m->g->tensors[k].ne[3]);
    i->n_params = n_params;
    i->weight_type = llm_type_size_of(m->layers[0].wq.type)->name;
    return 0;
}

/* Every matrix the forward pass multiplies by, for packing. */
static int model_matrices(llm_model *m, llm_weight **ws)
{
    int n = 0;

    for (int l = 0; l < m->info.n_layer; l++) {
        llm_layer *L = &m->layers[l];
        llm_weight *lw[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->gate, &L->up, &L->down};
        for (size_t k = 0; k < sizeof(lw) / sizeof(lw[0]); k++)
            ws[n++] = lw[k];
    }
    ws[n++] = &m->output;
    return n;
}

/* Drop a tensor's whole pages from this process's resident set once its
 * packed copy exists (they come back from the page cache if read again,
 * e.g. token embedding rows of a tied output). */
static void release_pages(const void *p, size_t n)
{
    uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE), a = ((uintptr_t)p + pg - 1) & ~(pg - 1),
              e = ((uintptr_t)p + n) & ~(pg - 1);

    if (e > a)
        madvise((void *)a, e - a, MADV_DONTNEED);
}

/* With AVX2 or better, copy every packable matrix into panels (quant.h):
 * the SIMD kernels then read 16 rows per vector.  Best effort: a matrix
 * without a packed form, or no memory, keeps the plain kernels. */
static void pack_weights(llm_model *m)
{
    llm_weight **ws;
    int n;
    size_t total = 0, off = 0;
    uint8_t *arena;

    if (llm_quant_level() < LLM_SIMD_AVX2 || getenv("AIOS_LLM_NOPACK"))
        return;
    ws = malloc(sizeof(*ws) * ((size_t)m->info.n_layer * 7 + 1));
    if (!ws)
        return;
    n = model_matrices(m, ws);
    for (int k = 0; k < n; k++)
        total += (llm_quant_packed_bytes(ws[k]->type, ws[k]->n_in, ws[k]->n_out) + 63) & ~(size_t)63;
    if (total == 0)
        goto out;
    arena = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (arena == MAP_FAILED)
        goto out;
#ifdef MADV_HUGEPAGE
    madvise(arena, total, MADV_HUGEPAGE);
#endif
    for (int k = 0; k < n; k++) {
        llm_weight *w = ws[k];
        size_t b = llm_quant_packed_bytes(w->type, w->n_in, w->n_out);

        if (!b)
            continue;
        llm_quant_pack(w->type, w->data, w->row_bytes, w->n_in, w->n_out, arena + off);
        w->packed = arena + off;
        w->panel_bytes = llm_quant_panel_bytes(w->type, w->n_in);
        release_pages(w->data, w->row_bytes * (size_t)w->n_out);
        off += (b + 63) & ~(size_t)63;
    }
    mprotect(arena, total, PROT_READ);
    m->pack_arena = arena;
    m->pack_bytes = total;
out:
    free(ws);
}

int llm_model_load(const char *path, const llm_model_opts *o, llm_model **out, char *err, size_t errlen)
{
    errbuf e = {err, errlen};
    llm_model *m;
    const arch_row *a = NULL;
    char *arch;
    int rc;

    (void)o;
    *out = NULL;
    llm_quant_init();
    m = calloc(1, sizeof(*m));
    if (!m)
        return fail(&e, AIOS_ENOMEM, "out of memory");
    rc = llm_gguf_open(path, &m->g, err, errlen);
    if (rc < 0)
        goto out_free;
    arch = llm_gguf_dup_str(m->g, "general.architecture");
    if (!arch) {
        rc = fail(&e, AIOS_ECORRUPT, "key 'general.architecture' is missing");
        goto out_free;
    }
    for (size_t k = 0; k < sizeof(arches) / sizeof(arches[0]); k++)
        if (strcmp(arch, arches[k].name) == 0)
            a = &arches[k];
    if (!a) {
        rc = fail(&e, AIOS_ENOTSUP, "architecture '%s' is not supported (llama, qwen2 are)", arch);
        free(arch);
        goto out_free;
    }
    free(arch);
    m->info.arch = a->arch;
    m->info.arch_name = a->name;
    m->info.rope_neox = a->rope_neox;
    m->name = llm_gguf_dup_str(m->g, "general.name");
    m->info.name = m->name ? m->name : "";
    m->info.file_bytes = m->g->map_size;
    if ((rc = read_hparams(m, a, &e)) < 0 || (rc = load_tensors(m, a, &e)) < 0 || (rc = make_rope(m, &e)) < 0)
        goto out_free;
    pack_weights(m);
    *out = m;
    return 0;
out_free:
    llm_model_free(m);
    return rc;
}

void llm_model_free(llm_model *m)
{
    if (!m)
        return;
    if (m->pack_arena)
        munmap(m->pack_arena, m->pack_bytes);
    free(m->layers);
    free(m->rope_ff);
    free(m->name);
    llm_gguf_close(m->g);
    free(m);
}

const llm_model_info *llm_model_get_info(const llm_model *m)
{
    return &m->info;
}

const struct llm_gguf *llm_model_gguf(const llm_model *m)
{
    return m->g;
}

/*
 * test_kvcache.c - the paged KV cache through the real forward pass on the
 * committed tiny Q8_0 model: block accounting and leaks, ENOSPC without side
 * effects, batch validation, fork with copy-on-write, truncate, prefix reuse
 * from existing full blocks with chained hashes, export/import snapshots;
 * and the model loader's refusals of broken files.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aios/error.h"
#include "aios/llm.h"

#define TINY "tests/reference/llm/tiny/tiny_llama_q8_0.gguf"
#define NV 64

typedef struct {
    llm_model *m;
    llm_kv *kv;
    llm_ctx *c;
} eng;

static void eng_open(eng *e, size_t budget, int bt)
{
    char err[256];

    cr_assert_eq(llm_model_load(TINY, NULL, &e->m, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(llm_kv_new(e->m, budget, bt, LLM_KV_F32, &e->kv), 0);
    cr_assert_eq(llm_ctx_new(e->m, e->kv, 2, 64, &e->c), 0);
}

static void eng_close(eng *e)
{
    llm_ctx_free(e->c);
    llm_kv_free(e->kv);
    llm_model_free(e->m);
}

/* Append n tokens to seq s; logits of the last one into out (may be NULL). */
static int feed(eng *e, int32_t s, const int32_t *toks, int n, float *out)
{
    int32_t seq[64], pos[64];
    uint8_t want[64] = {0};
    int len = llm_kv_seq_len(e->kv, s);

    for (int i = 0; i < n; i++)
        seq[i] = s, pos[i] = len + i;
    want[n - 1] = out != NULL;
    llm_batch b = {n, toks, seq, pos, want};
    return llm_forward(e->c, &b, out);
}

static const int32_t toks[] = {3, 14, 15, 9, 26, 5, 35, 8, 9, 7, 9, 32, 38, 46, 26, 43, 38, 32, 7, 9, 50, 28, 8, 41};

static int used(eng *e)
{
    llm_kv_stats st;
    llm_kv_get_stats(e->kv, &st);
    return st.blocks_used;
}

static float maxdiff(const float *a, const float *b)
{
    float d = 0;
    for (int i = 0; i < NV; i++)
        d = fmaxf(d, fabsf(a[i] - b[i]));
    return d;
}

Test(kvcache, accounting_and_enospc, .timeout = 20)
{
    eng e;
    int32_t a, b;
    llm_kv_stats st;
    float lg[NV];

    /* 4 tokens per block; budget for exactly 5 blocks */
    eng_open(&e, 1 << 20, 4);
    llm_kv_get_stats(e.kv, &st);
    cr_assert_eq(st.block_bytes, 2u * 2 * 4 * 32 * 4, "2 layers x K,V x 4 slots x kv_dim 32 x f32");
    llm_ctx_free(e.c);
    llm_kv_free(e.kv);
    cr_assert_eq(llm_kv_new(e.m, st.block_bytes - 1, 4, LLM_KV_F32, &e.kv), AIOS_EINVAL);
    cr_assert_null(e.kv);
    cr_assert_eq(llm_kv_new(e.m, st.block_bytes * 5 + 7, 4, LLM_KV_F32, &e.kv), 0);
    cr_assert_eq(llm_ctx_new(e.m, e.kv, 2, 64, &e.c), 0);
    llm_kv_get_stats(e.kv, &st);
    cr_assert_eq(st.blocks_total, 5);
    cr_assert_eq(st.blocks_free, 5);

    cr_assert_eq(llm_kv_seq_new(e.kv, &a), 0);
    cr_assert_eq(feed(&e, a, toks, 10, lg), 0);
    cr_assert_eq(used(&e), 3);
    cr_assert_eq(llm_kv_blocks_needed(e.kv, a, 2), 0);
    cr_assert_eq(llm_kv_blocks_needed(e.kv, a, 3), 1);
    cr_assert_eq(llm_kv_seq_new(e.kv, &b), 0);
    /* 9 tokens need 3 blocks, only 2 free: refused, nothing changed */
    cr_assert_eq(feed(&e, b, toks, 9, lg), AIOS_ENOSPC);
    cr_assert_eq(used(&e), 3);
    cr_assert_eq(llm_kv_seq_len(e.kv, b), 0);
    cr_assert_eq(feed(&e, b, toks, 8, lg), 0);
    cr_assert_eq(used(&e), 5);
    cr_assert_eq(llm_kv_seq_free(e.kv, a), 0);
    cr_assert_eq(llm_kv_seq_free(e.kv, a), AIOS_ENOENT);
    cr_assert_eq(used(&e), 2);
    cr_assert_eq(llm_kv_seq_free(e.kv, b), 0);
    cr_assert_eq(used(&e), 0, "no leaked blocks");
    eng_close(&e);
}

Test(kvcache, batch_validation, .timeout = 20)
{
    eng e;
    int32_t s, seq[2], pos[2], tk[2] = {1, 2};
    float lg[2 * NV];

    eng_open(&e, 1 << 20, 4);
    cr_assert_eq(llm_kv_seq_new(e.kv, &s), 0);
    seq[0] = seq[1] = s;
    pos[0] = 0, pos[1] = 2; /* gap */
    llm_batch b = {2, tk, seq, pos, NULL};
    cr_assert_eq(llm_forward(e.c, &b, lg), AIOS_EINVAL);
    pos[1] = 1;
    tk[1] = NV; /* token out of range */
    cr_assert_eq(llm_forward(e.c, &b, lg), AIOS_EINVAL);
    tk[1] = 2;
    seq[1] = 99; /* no such sequence */
    cr_assert_eq(llm_forward(e.c, &b, lg), AIOS_EINVAL);
    seq[1] = s;
    pos[0] = 64, pos[1] = 65; /* past the context length... and not its length */
    cr_assert(llm_forward(e.c, &b, lg) < 0);
    pos[0] = 0, pos[1] = 1;
    cr_assert_eq(llm_forward(e.c, &b, lg), 0);
    cr_assert_eq(llm_kv_seq_len(e.kv, s), 2);
    eng_close(&e);
}

Test(kvcache, fork_copy_on_write, .timeout = 20)
{
    eng e;
    int32_t a, f, ref;
    float la[NV], lf[NV], lr[NV];
    const int32_t x = 11, y = 22;

    eng_open(&e, 1 << 20, 4);
    cr_assert_eq(llm_kv_seq_new(e.kv, &a), 0);
    cr_assert_eq(feed(&e, a, toks, 6, la), 0); /* one full block + half of another */
    cr_assert_eq(llm_kv_seq_fork(e.kv, a, &f), 0);
    cr_assert_eq(llm_kv_seq_len(e.kv, f), 6);
    cr_assert_eq(used(&e), 2, "fork shares blocks");
    {
        const int32_t *bl;
        int n;
        cr_assert_eq(llm_kv_seq_blocks(e.kv, a, &bl, &n), 0);
        cr_assert_eq(llm_kv_block_refcount(e.kv, bl[0]), 2);
        cr_assert_eq(llm_kv_block_refcount(e.kv, bl[1]), 2);
    }
    /* diverge: each writes into the shared partial block -> one copy */
    cr_assert_eq(llm_kv_blocks_needed(e.kv, f, 1), 1);
    cr_assert_eq(feed(&e, f, &y, 1, lf), 0);
    cr_assert_eq(used(&e), 3);
    cr_assert_eq(feed(&e, a, &x, 1, la), 0);
    cr_assert_eq(used(&e), 3, "the last owner writes in place");
    /* both match fresh sequences that saw the same tokens */
    cr_assert_eq(llm_kv_seq_new(e.kv, &ref), 0);
    cr_assert_eq(feed(&e, ref, toks, 6, lr), 0);
    cr_assert_eq(feed(&e, ref, &x, 1, lr), 0);
    cr_assert_lt(maxdiff(la, lr), 1e-5f);
    cr_assert_eq(llm_kv_seq_free(e.kv, ref), 0);
    cr_assert_eq(llm_kv_seq_new(e.kv, &ref), 0);
    cr_assert_eq(feed(&e, ref, toks, 6, lr), 0);
    cr_assert_eq(feed(&e, ref, &y, 1, lr), 0);
    cr_assert_lt(maxdiff(lf, lr), 1e-5f);
    cr_assert_gt(maxdiff(la, lf), 1e-3f, "different tokens give different logits");
    llm_kv_seq_free(e.kv, ref);
    llm_kv_seq_free(e.kv, a);
    llm_kv_seq_free(e.kv, f);
    cr_assert_eq(used(&e), 0);
    eng_close(&e);
}

typedef struct {
    int n;
    int32_t blocks[16];
    uint64_t hashes[16];
} hook_log;

static void on_full(void *user, int32_t block, uint64_t hash)
{
    hook_log *h = user;
    if (h->n < 16) {
        h->blocks[h->n] = block;
        h->hashes[h->n++] = hash;
    }
}

Test(kvcache, prefix_blocks_hashes_and_truncate, .timeout = 20)
{
    eng e;
    hook_log log = {0};
    int32_t a, p, r;
    float la[NV], lp[NV];
    const int32_t *bl;
    int n;
    uint64_t h;

    eng_open(&e, 1 << 20, 4);
    llm_kv_set_full_hook(e.kv, on_full, &log);
    cr_assert_eq(llm_kv_seq_new(e.kv, &a), 0);
    cr_assert_eq(feed(&e, a, toks, 10, la), 0);
    cr_assert_eq(log.n, 2, "two blocks filled");
    cr_assert_eq(llm_kv_seq_blocks(e.kv, a, &bl, &n), 0);
    cr_assert_eq(n, 3);
    cr_assert_eq(log.blocks[0], bl[0]);
    cr_assert(llm_kv_block_hash(e.kv, bl[1], &h));
    cr_assert_eq(h, log.hashes[1]);
    cr_assert_not(llm_kv_block_hash(e.kv, bl[2], &h), "partial block has no hash");
    cr_assert_eq(memcmp(llm_kv_block_tokens(e.kv, bl[1]), toks + 4, 16), 0);

    /* a second sequence with the same first 8 tokens gets the same hashes */
    cr_assert_eq(llm_kv_seq_new(e.kv, &r), 0);
    cr_assert_eq(feed(&e, r, toks, 8, NULL), 0);
    cr_assert_eq(log.n, 4);
    cr_assert_eq(log.hashes[2], log.hashes[0]);
    cr_assert_eq(log.hashes[3], log.hashes[1]);
    cr_assert_eq(llm_kv_seq_free(e.kv, r), 0);

    /* reuse a's two full blocks as a cached prefix, continue it, compare */
    cr_assert_eq(llm_kv_block_ref(e.kv, bl[0]), 0); /* the "cache" holds them */
    cr_assert_eq(llm_kv_block_ref(e.kv, bl[1]), 0);
    int32_t pre[2] = {bl[0], bl[1]};
    cr_assert_eq(llm_kv_seq_new_from_blocks(e.kv, pre, 2, &p), 0);
    cr_assert_eq(llm_kv_seq_len(e.kv, p), 8);
    cr_assert_eq(feed(&e, p, toks + 8, 2, lp), 0);
    cr_assert_lt(maxdiff(la, lp), 1e-5f, "prefix reuse equals full computation");
    cr_assert_eq(llm_kv_seq_new_from_blocks(e.kv, &bl[2], 1, &r), AIOS_EINVAL, "partial blocks refused");

    /* truncate back into the shared prefix and rewrite: copy-on-write */
    int before = used(&e);
    cr_assert_eq(llm_kv_seq_truncate(e.kv, p, 6), 0);
    cr_assert_eq(llm_kv_seq_len(e.kv, p), 6);
    cr_assert_eq(used(&e), before - 1);
    cr_assert_eq(feed(&e, p, toks + 6, 4, lp), 0);
    cr_assert_lt(maxdiff(la, lp), 1e-5f);
    cr_assert(llm_kv_block_hash(e.kv, pre[1], &h), "the shared block kept its contents and hash");
    cr_assert_eq(h, log.hashes[1]);

    llm_kv_seq_free(e.kv, p);
    llm_kv_seq_free(e.kv, a);
    cr_assert_eq(used(&e), 2, "cache refs keep two blocks");
    llm_kv_block_unref(e.kv, pre[0]);
    llm_kv_block_unref(e.kv, pre[1]);
    cr_assert_eq(used(&e), 0);
    eng_close(&e);
}

Test(kvcache, export_import_roundtrip, .timeout = 20)
{
    eng e;
    int32_t a, b;
    float la[NV], lb[NV];
    size_t sz;
    void *buf;
    const int32_t x = 17;

    eng_open(&e, 1 << 20, 4);
    cr_assert_eq(llm_kv_seq_new(e.kv, &a), 0);
    cr_assert_eq(feed(&e, a, toks, 7, NULL), 0);
    sz = llm_kv_seq_export_size(e.kv, a);
    cr_assert_gt(sz, 7 * 4);
    buf = malloc(sz);
    cr_assert_eq(llm_kv_seq_export(e.kv, a, buf, sz - 1), AIOS_ETOOBIG);
    cr_assert_eq(llm_kv_seq_export(e.kv, a, buf, sz), 0);
    cr_assert_eq(feed(&e, a, &x, 1, la), 0);
    cr_assert_eq(llm_kv_seq_free(e.kv, a), 0);
    cr_assert_eq(used(&e), 0);

    cr_assert_eq(llm_kv_seq_import(e.kv, buf, sz - 1, &b), AIOS_ECORRUPT);
    ((char *)buf)[0] ^= 1;
    cr_assert_eq(llm_kv_seq_import(e.kv, buf, sz, &b), AIOS_ECORRUPT);
    ((char *)buf)[0] ^= 1;
    cr_assert_eq(llm_kv_seq_import(e.kv, buf, sz, &b), 0);
    cr_assert_eq(llm_kv_seq_len(e.kv, b), 7);
    cr_assert_eq(used(&e), 2);
    cr_assert_eq(feed(&e, b, &x, 1, lb), 0);
    cr_assert_eq(maxdiff(la, lb), 0.0f, "restored context continues identically");
    free(buf);
    llm_kv_seq_free(e.kv, b);
    cr_assert_eq(used(&e), 0);
    eng_close(&e);
}

/* ---- the loader's refusals ---- */

static size_t slurp(const char *path, uint8_t **out)
{
    FILE *f = fopen(path, "rb");
    long sz;

    cr_assert_not_null(f);
    fseek(f, 0, SEEK_END);
    sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    *out = malloc((size_t)sz);
    cr_assert_eq(fread(*out, 1, (size_t)sz, f), (size_t)sz);
    fclose(f);
    return (size_t)sz;
}

static uint8_t *find(uint8_t *hay, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(hay + i, needle, k) == 0)
            return hay + i;
    return NULL;
}

/* Write a patched copy of the tiny model and load it. */
static int load_patched(uint8_t *data, size_t n, char *err, size_t errlen)
{
    char path[] = "/tmp/aios-test-model-XXXXXX";
    int fd = mkstemp(path), rc;
    llm_model *m;

    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, data, n), (ssize_t)n);
    close(fd);
    rc = llm_model_load(path, NULL, &m, err, errlen);
    unlink(path);
    cr_assert((rc == 0) == (m != NULL));
    llm_model_free(m);
    return rc;
}

Test(model, refuses_broken_files_with_a_reason, .timeout = 20)
{
    uint8_t *d, *p;
    size_t n = slurp(TINY, &d);
    char err[256];

    cr_assert_eq(load_patched(d, n, err, sizeof(err)), 0, "%s", err);
    /* unknown architecture */
    p = find(d, n, "llama");
    memcpy(p, "lxama", 5);
    cr_assert_eq(load_patched(d, n, err, sizeof(err)), AIOS_ENOTSUP);
    cr_assert(strstr(err, "architecture 'lxama'"), "%s", err);
    memcpy(p, "llama", 5);
    /* a missing tensor */
    p = find(d, n, "blk.1.ffn_up.weight");
    p[9] = 'q';
    cr_assert_eq(load_patched(d, n, err, sizeof(err)), AIOS_ECORRUPT);
    cr_assert(strstr(err, "blk.1.ffn_up.weight") && strstr(err, "missing"), "%s", err);
    p[9] = 'u';
    /* an unsupported tensor type (I8 keeps the file consistent) */
    p = find(d, n, "blk.0.attn_q.weight");
    {
        uint8_t *t = p + strlen("blk.0.attn_q.weight") + 4 + 2 * 8;
        uint32_t ty = 24, old;
        memcpy(&old, t, 4);
        cr_assert_eq(old, 8u, "Q8_0 expected where the type sits");
        memcpy(t, &ty, 4);
        cr_assert_eq(load_patched(d, n, err, sizeof(err)), AIOS_ENOTSUP);
        cr_assert(strstr(err, "blk.0.attn_q.weight") && strstr(err, "I8"), "%s", err);
        memcpy(t, &old, 4);
    }
    /* head count that does not divide the embedding */
    p = find(d, n, "llama.attention.head_count");
    {
        uint8_t *v = p + strlen("llama.attention.head_count") + 4;
        uint32_t three = 3, old;
        memcpy(&old, v, 4);
        cr_assert_eq(old, 4u);
        memcpy(v, &three, 4);
        cr_assert(load_patched(d, n, err, sizeof(err)) < 0);
        cr_assert(strstr(err, "head_count"), "%s", err);
        memcpy(v, &old, 4);
    }
    /* truncated */
    cr_assert_eq(load_patched(d, n - 100, err, sizeof(err)), AIOS_ECORRUPT);
    cr_assert(strstr(err, "past end of file"), "%s", err);
    free(d);
}

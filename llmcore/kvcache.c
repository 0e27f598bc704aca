/*
 * kvcache.c - the paged KV cache: one arena of fixed-size blocks, a free
 * list, per-block reference counts, token contents and chained hashes, and
 * per-sequence block tables.
 *
 * A block holds block_tokens positions of every layer's K and V, F16 or
 * F32: per layer K transposed ([kv_dim][slot]: a head's dimension d of all
 * the block's positions is one vector for the attention kernels), then V
 * ([slot][kv_dim]).  Sequences only ever append;
 * before a batch writes into a block that is shared (ref > 1) the block is
 * copied (copy-on-write), so forks and cached prefixes stay intact.  When a
 * block fills, its hash is XXH3(tokens, seed = previous block's hash) and
 * the full-block hook fires, which is what a prefix cache keys on.
 * Owns the arena and tables.  Not thread-safe: used by one engine thread.
 */
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "aios/error.h"
#include "llmcore/engine_int.h"

#define KV_MAGIC "LKV1"

typedef struct kv_export_hdr {
    char magic[4];
    uint32_t n_layer;
    uint32_t kv_dim;
    uint32_t kv_type;
    uint32_t n_tokens;
    uint32_t reserved;
} kv_export_hdr;

int llm_kv_new(const llm_model *m, size_t budget_bytes, int block_tokens, int kv_type, llm_kv **out)
{
    llm_kv *kv;
    size_t nb;

    *out = NULL;
    if (block_tokens == 0)
        block_tokens = 16;
    if (block_tokens < 1 || block_tokens > 4096 || (kv_type != LLM_KV_F16 && kv_type != LLM_KV_F32))
        return AIOS_EINVAL;
    kv = calloc(1, sizeof(*kv));
    if (!kv)
        return AIOS_ENOMEM;
    kv->m = m;
    kv->kv_type = kv_type;
    kv->esize = kv_type == LLM_KV_F16 ? 2 : 4;
    kv->block_tokens = block_tokens;
    kv->n_layer = m->info.n_layer;
    kv->kv_dim = m->kv_dim;
    kv->layer_bytes = (size_t)block_tokens * (size_t)kv->kv_dim * (size_t)kv->esize;
    kv->block_bytes = kv->layer_bytes * 2 * (size_t)kv->n_layer;
    nb = budget_bytes / kv->block_bytes;
    if (nb < 1 || nb > INT32_MAX / 2) {
        free(kv);
        return nb < 1 ? AIOS_EINVAL : AIOS_ETOOBIG;
    }
    kv->n_blocks = (int)nb;
    if (posix_memalign((void **)&kv->arena, 64, nb * kv->block_bytes) != 0)
        kv->arena = NULL;
    kv->blk = calloc(nb, sizeof(*kv->blk));
    kv->tokens = calloc(nb * (size_t)block_tokens, sizeof(int32_t));
    if (!kv->arena || !kv->blk || !kv->tokens) {
        llm_kv_free(kv);
        return AIOS_ENOMEM;
    }
    for (int i = 0; i < kv->n_blocks; i++)
        kv->blk[i].next_free = i + 1 < kv->n_blocks ? i + 1 : -1;
    kv->free_head = 0;
    kv->n_free = kv->n_blocks;
    *out = kv;
    return 0;
}

void llm_kv_free(llm_kv *kv)
{
    if (!kv)
        return;
    for (int s = 0; s < kv->n_seqs_cap; s++)
        free(kv->seqs[s].blocks);
    free(kv->seqs);
    free(kv->arena);
    free(kv->blk);
    free(kv->tokens);
    free(kv);
}

void llm_kv_get_stats(const llm_kv *kv, llm_kv_stats *st)
{
    memset(st, 0, sizeof(*st));
    st->blocks_total = kv->n_blocks;
    st->blocks_free = kv->n_free;
    st->blocks_used = kv->n_blocks - kv->n_free;
    st->block_tokens = kv->block_tokens;
    for (int s = 0; s < kv->n_seqs_cap; s++)
        st->n_seqs += kv->seqs[s].used;
    st->block_bytes = kv->block_bytes;
    st->arena_bytes = kv->block_bytes * (size_t)kv->n_blocks;
}

/* ---- blocks ---- */

static int32_t block_alloc(llm_kv *kv)
{
    int32_t b = kv->free_head;

    if (b < 0)
        return -1;
    kv->free_head = kv->blk[b].next_free;
    kv->n_free--;
    kv->blk[b].ref = 1;
    kv->blk[b].next_free = -1;
    kv->blk[b].has_hash = false;
    return b;
}

static void block_release(llm_kv *kv, int32_t b)
{
    if (--kv->blk[b].ref > 0)
        return;
    kv->blk[b].has_hash = false;
    kv->blk[b].next_free = kv->free_head;
    kv->free_head = b;
    kv->n_free++;
}

static bool block_ok(const llm_kv *kv, int32_t b)
{
    return b >= 0 && b < kv->n_blocks && kv->blk[b].ref > 0;
}

int llm_kv_block_ref(llm_kv *kv, int32_t block)
{
    if (!block_ok(kv, block))
        return AIOS_ENOENT;
    kv->blk[block].ref++;
    return 0;
}

int llm_kv_block_unref(llm_kv *kv, int32_t block)
{
    if (!block_ok(kv, block))
        return AIOS_ENOENT;
    block_release(kv, block);
    return 0;
}

int llm_kv_block_refcount(const llm_kv *kv, int32_t block)
{
    if (block < 0 || block >= kv->n_blocks)
        return AIOS_ENOENT;
    return kv->blk[block].ref;
}

bool llm_kv_block_hash(const llm_kv *kv, int32_t block, uint64_t *hash)
{
    if (!block_ok(kv, block) || !kv->blk[block].has_hash)
        return false;
    *hash = kv->blk[block].hash;
    return true;
}

const int32_t *llm_kv_block_tokens(const llm_kv *kv, int32_t block)
{
    if (block < 0 || block >= kv->n_blocks)
        return NULL;
    return kv->tokens + (size_t)block * (size_t)kv->block_tokens;
}

void llm_kv_set_full_hook(llm_kv *kv, llm_kv_full_fn fn, void *user)
{
    kv->full_fn = fn;
    kv->full_user = user;
}

/* ---- sequences ---- */

static llm_kv_seq *seq_get(const llm_kv *kv, int32_t s)
{
    if (s < 0 || s >= kv->n_seqs_cap || !kv->seqs[s].used)
        return NULL;
    return &kv->seqs[s];
}

static int seq_alloc(llm_kv *kv, int32_t *out)
{
    int s;

    for (s = 0; s < kv->n_seqs_cap; s++)
        if (!kv->seqs[s].used)
            break;
    if (s == kv->n_seqs_cap) {
        int cap = kv->n_seqs_cap ? kv->n_seqs_cap * 2 : 16;
        llm_kv_seq *n = realloc(kv->seqs, (size_t)cap * sizeof(*n));
        if (!n)
            return AIOS_ENOMEM;
        memset(n + kv->n_seqs_cap, 0, (size_t)(cap - kv->n_seqs_cap) * sizeof(*n));
        kv->seqs = n;
        kv->n_seqs_cap = cap;
    }
    kv->seqs[s].used = true;
    kv->seqs[s].len = 0;
    kv->seqs[s].n_blocks = 0;
    *out = s;
    return 0;
}

static int seq_reserve_table(llm_kv_seq *q, int n)
{
    if (n <= q->cap_blocks)
        return 0;
    int cap = q->cap_blocks ? q->cap_blocks : 8;
    while (cap < n)
        cap *= 2;
    int32_t *b = realloc(q->blocks, (size_t)cap * sizeof(int32_t));
    if (!b)
        return AIOS_ENOMEM;
    q->blocks = b;
    q->cap_blocks = cap;
    return 0;
}

int llm_kv_seq_new(llm_kv *kv, int32_t *seq)
{
    return seq_alloc(kv, seq);
}

int llm_kv_seq_new_from_blocks(llm_kv *kv, const int32_t *blocks, int n_blocks, int32_t *seq)
{
    int32_t s;
    int rc;

    if (n_blocks < 0)
        return AIOS_EINVAL;
    for (int i = 0; i < n_blocks; i++)
        if (!block_ok(kv, blocks[i]) || !kv->blk[blocks[i]].has_hash)
            return AIOS_EINVAL; /* only full (hashed) blocks */
    if ((rc = seq_alloc(kv, &s)) < 0)
        return rc;
    if ((rc = seq_reserve_table(&kv->seqs[s], n_blocks)) < 0) {
        kv->seqs[s].used = false;
        return rc;
    }
    for (int i = 0; i < n_blocks; i++) {
        kv->seqs[s].blocks[i] = blocks[i];
        kv->blk[blocks[i]].ref++;
    }
    kv->seqs[s].n_blocks = n_blocks;
    kv->seqs[s].len = n_blocks * kv->block_tokens;
    *seq = s;
    return 0;
}

int llm_kv_seq_free(llm_kv *kv, int32_t seq)
{
    llm_kv_seq *q = seq_get(kv, seq);

    if (!q)
        return AIOS_ENOENT;
    for (int i = 0; i < q->n_blocks; i++)
        block_release(kv, q->blocks[i]);
    q->n_blocks = 0;
    q->len = 0;
    q->used = false;
    return 0;
}

int llm_kv_seq_fork(llm_kv *kv, int32_t src, int32_t *dst)
{
    llm_kv_seq *q = seq_get(kv, src), *d;
    int32_t s;
    int rc;

    if (!q)
        return AIOS_ENOENT;
    if ((rc = seq_alloc(kv, &s)) < 0)
        return rc;
    q = &kv->seqs[src]; /* seq_alloc may have moved the array */
    d = &kv->seqs[s];
    if ((rc = seq_reserve_table(d, q->n_blocks)) < 0) {
        d->used = false;
        return rc;
    }
    for (int i = 0; i < q->n_blocks; i++) {
        d->blocks[i] = q->blocks[i];
        kv->blk[q->blocks[i]].ref++;
    }
    d->n_blocks = q->n_blocks;
    d->len = q->len;
    *dst = s;
    return 0;
}

int llm_kv_seq_len(const llm_kv *kv, int32_t seq)
{
    llm_kv_seq *q = seq_get(kv, seq);

    return q ? q->len : AIOS_ENOENT;
}

int llm_kv_seq_truncate(llm_kv *kv, int32_t seq, int len)
{
    llm_kv_seq *q = seq_get(kv, seq);
    int keep;

    if (!q)
        return AIOS_ENOENT;
    if (len < 0 || len > q->len)
        return AIOS_EINVAL;
    keep = (len + kv->block_tokens - 1) / kv->block_tokens;
    for (int i = keep; i < q->n_blocks; i++)
        block_release(kv, q->blocks[i]);
    q->n_blocks = keep;
    q->len = len;
    /* a now-partial last block owned only by us loses its hash */
    if (len % kv->block_tokens && kv->blk[q->blocks[keep - 1]].ref == 1)
        kv->blk[q->blocks[keep - 1]].has_hash = false;
    return 0;
}

int llm_kv_seq_blocks(const llm_kv *kv, int32_t seq, const int32_t **blocks, int *n_blocks)
{
    llm_kv_seq *q = seq_get(kv, seq);

    if (!q)
        return AIOS_ENOENT;
    *blocks = q->blocks;
    *n_blocks = q->n_blocks;
    return 0;
}

int llm_kv_blocks_needed(const llm_kv *kv, int32_t seq, int n_new)
{
    llm_kv_seq *q = seq_get(kv, seq);
    int need;

    if (!q)
        return AIOS_ENOENT;
    if (n_new <= 0)
        return 0;
    need = (q->len + n_new + kv->block_tokens - 1) / kv->block_tokens - q->n_blocks;
    if (q->len % kv->block_tokens && kv->blk[q->blocks[q->n_blocks - 1]].ref > 1)
        need++; /* copy-on-write of the shared partial block */
    return need;
}

/* ---- the forward's hooks ---- */

int llm__kv_prepare(llm_kv *kv, const int32_t *seq, const int32_t *pos, int n)
{
    int need = 0, rc;

    /* validate order and count blocks per distinct sequence */
    for (int i = 0; i < n; i++) {
        llm_kv_seq *q = seq_get(kv, seq[i]);
        int expect, cnt = 0, first = 1;

        if (!q)
            return AIOS_EINVAL;
        /* position must follow the sequence's previous entry in this batch */
        expect = q->len;
        for (int j = 0; j < i; j++)
            if (seq[j] == seq[i]) {
                expect++;
                first = 0;
            }
        if (pos[i] != expect)
            return AIOS_EINVAL;
        if (!first)
            continue;
        for (int j = i; j < n; j++)
            cnt += seq[j] == seq[i];
        need += llm_kv_blocks_needed(kv, seq[i], cnt);
    }
    if (need > kv->n_free)
        return AIOS_ENOSPC;
    /* now take blocks (cannot fail: counted above) */
    for (int i = 0; i < n; i++) {
        llm_kv_seq *q = &kv->seqs[seq[i]];
        int first = 1, cnt = 0, nb;

        for (int j = 0; j < i; j++)
            if (seq[j] == seq[i])
                first = 0;
        if (!first)
            continue;
        for (int j = i; j < n; j++)
            cnt += seq[j] == seq[i];
        if (q->len % kv->block_tokens && kv->blk[q->blocks[q->n_blocks - 1]].ref > 1) {
            int32_t old = q->blocks[q->n_blocks - 1], nw = block_alloc(kv);

            memcpy(kv->arena + (size_t)nw * kv->block_bytes, kv->arena + (size_t)old * kv->block_bytes,
                   kv->block_bytes);
            memcpy(kv->tokens + (size_t)nw * (size_t)kv->block_tokens,
                   kv->tokens + (size_t)old * (size_t)kv->block_tokens,
                   sizeof(int32_t) * (size_t)kv->block_tokens);
            block_release(kv, old);
            q->blocks[q->n_blocks - 1] = nw;
        }
        nb = (q->len + cnt + kv->block_tokens - 1) / kv->block_tokens;
        if ((rc = seq_reserve_table(q, nb)) < 0)
            return rc;
        while (q->n_blocks < nb)
            q->blocks[q->n_blocks++] = block_alloc(kv);
    }
    return 0;
}

void llm__kv_commit(llm_kv *kv, const int32_t *seq, const int32_t *tokens, int n)
{
    for (int i = 0; i < n; i++) {
        llm_kv_seq *q = &kv->seqs[seq[i]];
        int bi = q->len / kv->block_tokens, off = q->len % kv->block_tokens;
        int32_t b = q->blocks[bi];

        kv->tokens[(size_t)b * (size_t)kv->block_tokens + (size_t)off] = tokens[i];
        q->len++;
        if (off == kv->block_tokens - 1) {
            uint64_t seed = bi > 0 ? kv->blk[q->blocks[bi - 1]].hash : 0;

            kv->blk[b].hash = XXH3_64bits_withSeed(kv->tokens + (size_t)b * (size_t)kv->block_tokens,
                                                   sizeof(int32_t) * (size_t)kv->block_tokens, seed);
            kv->blk[b].has_hash = true;
            if (kv->full_fn)
                kv->full_fn(kv->full_user, b, kv->blk[b].hash);
        }
    }
}

/* ---- export / import ---- */

/* Copy cnt positions of a block's K between the transposed block layout
 * and rows of [token][kv_dim]: into out_rows, or from in_rows. */
static void k_rows(const llm_kv *kv, int32_t blk, int l, int cnt, uint8_t *out_rows, const uint8_t *in_rows)
{
    uint8_t *k = llm__kv_ptr(kv, blk, l, 0, 0);
    size_t es = (size_t)kv->esize;

    for (int t = 0; t < cnt; t++)
        for (int i = 0; i < kv->kv_dim; i++) {
            uint8_t *a = k + ((size_t)i * (size_t)kv->block_tokens + (size_t)t) * es;
            size_t r = ((size_t)t * (size_t)kv->kv_dim + (size_t)i) * es;
            if (out_rows)
                memcpy(out_rows + r, a, es);
            else
                memcpy(a, in_rows + r, es);
        }
}

size_t llm_kv_seq_export_size(const llm_kv *kv, int32_t seq)
{
    llm_kv_seq *q = seq_get(kv, seq);

    if (!q)
        return 0;
    return sizeof(kv_export_hdr) + sizeof(int32_t) * (size_t)q->len +
           (size_t)q->len * (size_t)kv->kv_dim * (size_t)kv->esize * 2 * (size_t)kv->n_layer;
}

int llm_kv_seq_export(const llm_kv *kv, int32_t seq, void *buf, size_t cap)
{
    llm_kv_seq *q = seq_get(kv, seq);
    kv_export_hdr h = {KV_MAGIC, 0, 0, 0, 0, 0};
    uint8_t *p = buf;
    size_t row = (size_t)kv->kv_dim * (size_t)kv->esize;

    if (!q)
        return AIOS_ENOENT;
    if (cap < llm_kv_seq_export_size(kv, seq))
        return AIOS_ETOOBIG;
    h.n_layer = (uint32_t)kv->n_layer;
    h.kv_dim = (uint32_t)kv->kv_dim;
    h.kv_type = (uint32_t)kv->kv_type;
    h.n_tokens = (uint32_t)q->len;
    memcpy(p, &h, sizeof(h));
    p += sizeof(h);
    for (int t = 0; t < q->len; t++, p += 4)
        memcpy(p, llm_kv_block_tokens(kv, q->blocks[t / kv->block_tokens]) + t % kv->block_tokens, 4);
    /* [layer][K|V][token][kv_dim], copied a block-run at a time */
    for (int l = 0; l < kv->n_layer; l++)
        for (int w = 0; w < 2; w++)
            for (int t = 0; t < q->len; t += kv->block_tokens) {
                int cnt = q->len - t < kv->block_tokens ? q->len - t : kv->block_tokens;
                if (w == 0)
                    k_rows(kv, q->blocks[t / kv->block_tokens], l, cnt, p, NULL);
                else
                    memcpy(p, llm__kv_ptr(kv, q->blocks[t / kv->block_tokens], l, w, 0), row * (size_t)cnt);
                p += row * (size_t)cnt;
            }
    return 0;
}

int llm_kv_seq_import(llm_kv *kv, const void *buf, size_t len, int32_t *seq)
{
    kv_export_hdr h;
    const uint8_t *p = buf;
    size_t row = (size_t)kv->kv_dim * (size_t)kv->esize, need;
    int32_t s;
    int nb, rc;
    llm_kv_seq *q;

    if (len < sizeof(h))
        return AIOS_ECORRUPT;
    memcpy(&h, p, sizeof(h));
    if (memcmp(h.magic, KV_MAGIC, 4) != 0)
        return AIOS_ECORRUPT;
    if (h.n_layer != (uint32_t)kv->n_layer || h.kv_dim != (uint32_t)kv->kv_dim ||
        h.kv_type != (uint32_t)kv->kv_type || h.n_tokens > (uint32_t)INT32_MAX / 2)
        return AIOS_ECONFLICT;
    need = sizeof(h) + 4 * (size_t)h.n_tokens + (size_t)h.n_tokens * row * 2 * (size_t)kv->n_layer;
    if (len != need)
        return AIOS_ECORRUPT;
    nb = (int)((h.n_tokens + (uint32_t)kv->block_tokens - 1) / (uint32_t)kv->block_tokens);
    if (nb > kv->n_free)
        return AIOS_ENOSPC;
    if ((rc = seq_alloc(kv, &s)) < 0)
        return rc;
    q = &kv->seqs[s];
    if ((rc = seq_reserve_table(q, nb)) < 0) {
        q->used = false;
        return rc;
    }
    while (q->n_blocks < nb)
        q->blocks[q->n_blocks++] = block_alloc(kv);
    p += sizeof(h);
    {
        const uint8_t *toks = p;
        p += 4 * (size_t)h.n_tokens;
        for (int l = 0; l < kv->n_layer; l++)
            for (int w = 0; w < 2; w++)
                for (int t = 0; t < (int)h.n_tokens; t += kv->block_tokens) {
                    int cnt = (int)h.n_tokens - t < kv->block_tokens ? (int)h.n_tokens - t : kv->block_tokens;
                    if (w == 0)
                        k_rows(kv, q->blocks[t / kv->block_tokens], l, cnt, NULL, p);
                    else
                        memcpy(llm__kv_ptr(kv, q->blocks[t / kv->block_tokens], l, w, 0), p, row * (size_t)cnt);
                    p += row * (size_t)cnt;
                }
        /* replay the tokens to set lengths and hashes */
        q->len = 0;
        for (int t = 0; t < (int)h.n_tokens; t++) {
            int32_t tok;
            memcpy(&tok, toks + 4 * (size_t)t, 4);
            llm__kv_commit(kv, &s, &tok, 1);
        }
    }
    *seq = s;
    return 0;
}

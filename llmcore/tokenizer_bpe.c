/*
 * tokenizer_bpe.c - byte-level BPE: one raw text fragment -> token ids.
 *
 * The fragment is decoded to code points (leniently: a bad byte is U+FFFD,
 * as llama.cpp does), split into words by the pre-tokenizer, and each
 * word's UTF-8 bytes are mapped to their printable stand-ins.  Each byte
 * starts as one symbol; the adjacent pair with the lowest merge rank is
 * merged (the leftmost among equal ranks) until no pair has a rank.  Merges
 * are looked up by the pair of token ids (the merged text of two tokens is
 * nearly always a token); the rare merges whose halves are not tokens are
 * looked up by text.  A final symbol that is not a token falls back to the
 * tokens of its single bytes.  Long fragments cache each distinct word's
 * ids, since prose repeats most of its words.
 *
 * Runs on the caller's thread with per-call buffers; the tokenizer is only
 * read.
 */
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "aios/error.h"
#include "llmcore/tokenizer_int.h"
#include "llmcore/unicode.h"

typedef struct {
    uint32_t off, len;  /* bytes in the encoded word */
    int32_t id;         /* token id of the text, -1 if not a token */
    int32_t prev, next;
} bsym;

typedef struct {
    int32_t rank;
    int32_t left, right;
    uint32_t size;      /* bytes of the merged text when queued */
} bcand;

/* Per-call scratch, grown as needed and reused across the words. */
typedef struct {
    char *enc;          /* byte-level text of the current word */
    size_t enc_cap;
    bsym *sym;
    size_t sym_cap;
    bcand *heap;
    size_t heap_n, heap_cap;
    char *key;          /* "left right" for text lookups */
    size_t key_cap;
} bpe_work;

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    size_t cap2;
    void *q;

    if (need <= *cap)
        return 0;
    cap2 = *cap ? *cap : 64;
    while (cap2 < need)
        cap2 *= 2;
    q = realloc(*p, cap2 * elem);
    if (!q)
        return AIOS_ENOMEM;
    *p = q;
    *cap = cap2;
    return 0;
}

/* Heap order: lower rank first, then the leftmost. */
static inline bool before(const bcand *a, const bcand *b)
{
    return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

static int heap_push(bpe_work *w, bcand c)
{
    size_t i;
    int rc = grow((void **)&w->heap, &w->heap_cap, w->heap_n + 1, sizeof(*w->heap));

    if (rc)
        return rc;
    i = w->heap_n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;

        if (!before(&c, &w->heap[parent]))
            break;
        w->heap[i] = w->heap[parent];
        i = parent;
    }
    w->heap[i] = c;
    return 0;
}

static bcand heap_pop(bpe_work *w)
{
    bcand top = w->heap[0], last = w->heap[--w->heap_n];
    size_t i = 0, n = w->heap_n;

    for (;;) {
        size_t c = 2 * i + 1;

        if (c >= n)
            break;
        if (c + 1 < n && before(&w->heap[c + 1], &w->heap[c]))
            c++;
        if (!before(&w->heap[c], &last))
            break;
        w->heap[i] = w->heap[c];
        i = c;
    }
    if (n)
        w->heap[i] = last;
    return top;
}

/* Queue the pair (left, right) if a merge exists for it. */
static int try_pair(const llm_tokenizer *t, bpe_work *w, int32_t left, int32_t right)
{
    const bsym *a, *b;
    int32_t rank, result;
    int rc;

    if (left < 0 || right < 0)
        return 0;
    a = &w->sym[left];
    b = &w->sym[right];
    if (a->id >= 0 && b->id >= 0) {
        rank = llm__pairmap_get(&t->merges, a->id, b->id, &result);
    } else {
        if (t->odd_merges.n == 0)
            return 0;
        rc = grow((void **)&w->key, &w->key_cap, a->len + b->len + 1, 1);
        if (rc)
            return rc;
        memcpy(w->key, w->enc + a->off, a->len);
        w->key[a->len] = ' ';
        memcpy(w->key + a->len + 1, w->enc + b->off, b->len);
        rank = llm__strmap_get(&t->odd_merges, w->key, a->len + 1 + b->len);
    }
    if (rank < 0)
        return 0;
    return heap_push(w, (bcand){.rank = rank, .left = left, .right = right,
                                .size = a->len + b->len});
}

/* BPE over the encoded word w->enc[0..n) with nsym one-byte symbols. */
static int merge_word(const llm_tokenizer *t, bpe_work *w, size_t nsym, tok_ids *out)
{
    int rc = 0;
    int32_t i;

    w->heap_n = 0;
    for (i = 1; i < (int32_t)nsym && rc == 0; i++)
        rc = try_pair(t, w, i - 1, i);
    while (rc == 0 && w->heap_n) {
        bcand c = heap_pop(w);
        bsym *a = &w->sym[c.left], *b = &w->sym[c.right];
        int32_t result = -1;

        /* stale: one side merged away or grown since it was queued */
        if (a->len == 0 || b->len == 0 || a->next != c.right || a->len + b->len != c.size)
            continue;
        if (a->id >= 0 && b->id >= 0)
            llm__pairmap_get(&t->merges, a->id, b->id, &result);
        else
            result = llm__strmap_get(&t->vocab, w->enc + a->off, a->len + b->len);
        a->len += b->len;
        a->id = result;
        b->len = 0;
        a->next = b->next;
        if (b->next >= 0)
            w->sym[b->next].prev = c.left;
        rc = try_pair(t, w, a->prev, c.left);
        if (rc == 0)
            rc = try_pair(t, w, c.left, a->next);
    }
    for (i = 0; i >= 0 && rc == 0; i = w->sym[i].next) {
        const bsym *s = &w->sym[i];

        if (s->id >= 0) {
            rc = llm__ids_push(out, s->id);
            continue;
        }
        /* not a token: the tokens of its single bytes, where they exist */
        for (uint32_t k = 0; k < s->len && rc == 0; k++) {
            int32_t id = t->raw_token[(unsigned char)w->enc[s->off + k]];

            if (id >= 0)
                rc = llm__ids_push(out, id);
        }
    }
    return rc;
}

/*
 * A cache of the words already tokenized in this call: long texts repeat
 * most of their words, and a hit skips the merge loop.  Keys are the
 * encoded word bytes, values the ids it produced.
 */
typedef struct {
    uint64_t h;
    uint32_t woff, wlen;    /* word bytes in words[] */
    uint32_t ioff, ilen;    /* ids in ids[] */
} wc_slot;

typedef struct {
    wc_slot *slot;          /* wlen == 0: empty */
    uint32_t mask, n;
    char *words;
    size_t nw, capw;
    int32_t *ids;
    size_t ni, capi;
} word_cache;

#define WC_MIN_WORDS 256    /* below this many words a cache does not pay */

static int wc_grow(word_cache *c)
{
    uint32_t cap = c->slot ? (c->mask + 1) * 2 : 1024;
    wc_slot *s = calloc(cap, sizeof(*s));

    if (!s)
        return AIOS_ENOMEM;
    for (uint32_t i = 0; c->slot && i <= c->mask; i++) {
        uint32_t k;

        if (!c->slot[i].wlen)
            continue;
        for (k = (uint32_t)c->slot[i].h & (cap - 1); s[k].wlen; k = (k + 1) & (cap - 1))
            ;
        s[k] = c->slot[i];
    }
    free(c->slot);
    c->slot = s;
    c->mask = cap - 1;
    return 0;
}

/* The slot for word w[0..n) with hash h: its entry, or the empty slot
 * where it would go. */
static wc_slot *wc_find(const word_cache *c, uint64_t h, const char *w, size_t n)
{
    uint32_t k = (uint32_t)h & c->mask;

    while (c->slot[k].wlen) {
        const wc_slot *e = &c->slot[k];

        if (e->h == h && e->wlen == n && memcmp(c->words + e->woff, w, n) == 0)
            break;
        k = (k + 1) & c->mask;
    }
    return &c->slot[k];
}

static int wc_add(word_cache *c, uint64_t h, const char *w, size_t n, const int32_t *ids,
                  size_t nid)
{
    wc_slot *e;
    int rc;

    if (n == 0 || n > UINT32_MAX || c->nw + n > UINT32_MAX || c->ni + nid > UINT32_MAX)
        return 0;
    if ((c->n + 1) * 2 > c->mask + 1 && (rc = wc_grow(c)))
        return rc;
    if ((rc = grow((void **)&c->words, &c->capw, c->nw + n, 1)) ||
        (rc = grow((void **)&c->ids, &c->capi, c->ni + nid + 1, sizeof(*c->ids))))
        return rc;
    e = wc_find(c, h, w, n);
    memcpy(c->words + c->nw, w, n);
    memcpy(c->ids + c->ni, ids, nid * sizeof(*ids));
    *e = (wc_slot){.h = h, .woff = (uint32_t)c->nw, .wlen = (uint32_t)n, .ioff = (uint32_t)c->ni,
                   .ilen = (uint32_t)nid};
    c->nw += n;
    c->ni += nid;
    c->n++;
    return 0;
}

int llm__bpe_fragment(const llm_tokenizer *t, const char *text, size_t len, tok_ids *out)
{
    const unsigned char *p = (const unsigned char *)text;
    uint32_t *cps = malloc((len ? len : 1) * sizeof(*cps));
    tok_u32s words = {0};
    bpe_work w = {0};
    word_cache wc = {0};
    size_t ncp = 0, i, adv, wi, cp0 = 0;
    bool cache;
    int rc = 0;

    if (!cps)
        return AIOS_ENOMEM;
    for (i = 0; i < len; i += adv)
        cps[ncp++] = llm_utf8_decode_lenient(p + i, len - i, &adv);
    rc = llm__pre_split(t->pre->kind, cps, ncp, &words);
    cache = words.n >= WC_MIN_WORDS;
    if (rc == 0 && cache)
        rc = wc_grow(&wc);
    for (wi = 0; wi < words.n && rc == 0; cp0 += words.v[wi], wi++) {
        size_t nsym = 0, n = 0;

        /* a word of k code points has at most 4k bytes, 8k encoded */
        rc = grow((void **)&w.enc, &w.enc_cap, (size_t)words.v[wi] * 8, 1);
        if (rc == 0)
            rc = grow((void **)&w.sym, &w.sym_cap, (size_t)words.v[wi] * 4, sizeof(*w.sym));
        if (rc)
            break;
        for (size_t k = cp0; k < cp0 + words.v[wi]; k++) {
            char u[4];
            size_t ul = llm_utf8_encode(cps[k], u);

            for (size_t b = 0; b < ul; b++) {
                unsigned char byte = (unsigned char)u[b];
                bsym *s = &w.sym[nsym];

                s->off = (uint32_t)n;
                s->len = (uint32_t)llm_bytelevel_encode(byte, w.enc + n);
                s->id = t->bl_token[byte];
                s->prev = (int32_t)nsym - 1;
                s->next = (int32_t)nsym + 1;
                n += s->len;
                nsym++;
            }
        }
        if (nsym == 0)
            continue;
        w.sym[nsym - 1].next = -1;
        if (t->ignore_merges) {
            int32_t id = llm__strmap_get(&t->vocab, w.enc, n);

            if (id >= 0) {
                rc = llm__ids_push(out, id);
                continue;
            }
        }
        if (cache && nsym > 1) {
            uint64_t h = XXH3_64bits(w.enc, n);
            const wc_slot *e = wc_find(&wc, h, w.enc, n);
            size_t start = out->n;

            if (e->wlen) {
                for (uint32_t k = 0; k < e->ilen && rc == 0; k++)
                    rc = llm__ids_push(out, wc.ids[e->ioff + k]);
                continue;
            }
            rc = merge_word(t, &w, nsym, out);
            if (rc == 0)
                rc = wc_add(&wc, h, w.enc, n, out->v + start, out->n - start);
            continue;
        }
        rc = merge_word(t, &w, nsym, out);
    }
    free(wc.slot);
    free(wc.words);
    free(wc.ids);
    free(cps);
    free(words.v);
    free(w.enc);
    free(w.sym);
    free(w.heap);
    free(w.key);
    return rc;
}

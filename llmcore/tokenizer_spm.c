/*
 * tokenizer_spm.c - SentencePiece (BPE by score): one raw text fragment ->
 * token ids.
 *
 * Spaces become U+2581 ("▁"), with one in front when the caller asks for
 * the prefix space.  The text starts as one symbol per UTF-8 character;
 * repeatedly the adjacent pair whose joined text is the vocabulary token
 * with the highest score is merged (the leftmost among equal scores).  A
 * final symbol that is not a token is emitted as its bytes' <0xXX> tokens.
 * This is llama.cpp's "llama" vocabulary behaviour; splitting the work at
 * word starts (where the vocabulary allows) keeps long texts fast.
 *
 * Runs on the caller's thread with per-call buffers; the tokenizer is only
 * read.
 */
#include <stdlib.h>
#include <string.h>

#include "aios/error.h"
#include "llmcore/tokenizer_int.h"
#include "llmcore/unicode.h"

typedef struct {
    uint32_t off, len;
    int32_t prev, next;
} ssym;

typedef struct {
    float score;
    int32_t left, right;
    uint32_t size;
} scand;

typedef struct {
    scand *v;
    size_t n, cap;
} sheap;

/* Heap order: higher score first, then the leftmost. */
static inline bool before(const scand *a, const scand *b)
{
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static int heap_push(sheap *h, scand c)
{
    size_t i;

    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        scand *v = realloc(h->v, cap * sizeof(*v));

        if (!v)
            return AIOS_ENOMEM;
        h->v = v;
        h->cap = cap;
    }
    i = h->n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;

        if (!before(&c, &h->v[parent]))
            break;
        h->v[i] = h->v[parent];
        i = parent;
    }
    h->v[i] = c;
    return 0;
}

static scand heap_pop(sheap *h)
{
    scand top = h->v[0], last = h->v[--h->n];
    size_t i = 0;

    for (;;) {
        size_t c = 2 * i + 1;

        if (c >= h->n)
            break;
        if (c + 1 < h->n && before(&h->v[c + 1], &h->v[c]))
            c++;
        if (!before(&h->v[c], &last))
            break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n)
        h->v[i] = last;
    return top;
}

/* Queue (left, right) when their joined text is a token. */
static int try_pair(const llm_tokenizer *t, const char *buf, const ssym *sym, sheap *h,
                    int32_t left, int32_t right)
{
    int32_t id;
    uint32_t size;

    if (left < 0 || right < 0)
        return 0;
    size = sym[left].len + sym[right].len;
    id = llm__strmap_get(&t->vocab, buf + sym[left].off, size);
    if (id < 0)
        return 0;
    return heap_push(h, (scand){.score = t->score[id], .left = left, .right = right, .size = size});
}

static bool is_ws_sym(const char *buf, const ssym *s)
{
    return s->len == 3 && memcmp(buf + s->off, "\xe2\x96\x81", 3) == 0;
}

/* Merge symbols [s0, s1) (a chain) and append their ids. */
static int merge_chunk(const llm_tokenizer *t, const char *buf, ssym *sym, sheap *h, int32_t s0,
                       int32_t s1, tok_ids *out)
{
    int rc = 0;

    h->n = 0;
    sym[s0].prev = -1;
    sym[s1 - 1].next = -1;
    for (int32_t i = s0 + 1; i < s1 && rc == 0; i++)
        rc = try_pair(t, buf, sym, h, i - 1, i);
    while (rc == 0 && h->n) {
        scand c = heap_pop(h);
        ssym *a = &sym[c.left], *b = &sym[c.right];

        if (a->len == 0 || b->len == 0 || a->len + b->len != c.size)
            continue;
        a->len += b->len;
        b->len = 0;
        a->next = b->next;
        if (b->next >= 0)
            sym[b->next].prev = c.left;
        rc = try_pair(t, buf, sym, h, a->prev, c.left);
        if (rc == 0)
            rc = try_pair(t, buf, sym, h, c.left, a->next);
    }
    for (int32_t k = s0; k >= 0 && rc == 0; k = sym[k].next) {
        int32_t id = llm__strmap_get(&t->vocab, buf + sym[k].off, sym[k].len);

        if (id >= 0) {
            rc = llm__ids_push(out, id);
            continue;
        }
        /* byte fallback; a vocabulary without the byte's token gets unk */
        for (uint32_t j = 0; j < sym[k].len && rc == 0; j++) {
            id = t->byte_token[(unsigned char)buf[sym[k].off + j]];
            if (id < 0)
                id = t->unk;
            if (id >= 0)
                rc = llm__ids_push(out, id);
        }
    }
    return rc;
}

int llm__spm_fragment(const llm_tokenizer *t, const char *text, size_t len, bool prefix_space,
                      tok_ids *out)
{
    static const char ws[] = "\xe2\x96\x81"; /* U+2581 */
    char *buf = malloc(len * 3 + 4);
    ssym *sym = NULL;
    sheap h = {0};
    size_t n = 0, nsym = 0, i;
    int32_t s0 = 0;
    int rc = 0;

    if (!buf)
        return AIOS_ENOMEM;
    if (prefix_space) {
        memcpy(buf, ws, 3);
        n = 3;
    }
    for (i = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(buf + n, ws, 3);
            n += 3;
        } else {
            buf[n++] = text[i];
        }
    }
    if (n == 0)
        goto out;
    sym = malloc(n * sizeof(*sym));
    if (!sym) {
        rc = AIOS_ENOMEM;
        goto out;
    }
    for (i = 0; i < n; nsym++) {
        size_t l = llm_utf8_len_lead((unsigned char)buf[i]);

        if (l > n - i)
            l = n - i;
        sym[nsym] = (ssym){.off = (uint32_t)i, .len = (uint32_t)l, .prev = (int32_t)nsym - 1,
                           .next = (int32_t)nsym + 1};
        i += l;
    }
    /*
     * When no token has a "▁" after another character (checked when the
     * tokenizer is built), no merge can cross from a symbol into a "▁"
     * that follows it, so the text splits there into independent pieces:
     * the result is the same and the work stays near linear.
     */
    if (t->spm_split) {
        for (size_t k = 1; k < nsym && rc == 0; k++) {
            if (is_ws_sym(buf, &sym[k]) && !is_ws_sym(buf, &sym[k - 1])) {
                rc = merge_chunk(t, buf, sym, &h, s0, (int32_t)k, out);
                s0 = (int32_t)k;
            }
        }
    }
    if (rc == 0)
        rc = merge_chunk(t, buf, sym, &h, s0, (int32_t)nsym, out);
out:
    free(buf);
    free(sym);
    free(h.v);
    return rc;
}

/*
 * grammar_vocab.c - the vocabulary as raw bytes and its token trie.
 *
 * The trie holds every token that may appear inside constrained output,
 * laid out in preorder: the subtree of node i is i .. tend[i]-1, so a walk
 * that finds a prefix impossible skips the whole subtree with one jump.
 * Owns copies of the token bytes.  Built once per model; read-only after.
 */
#include <stdlib.h>
#include <string.h>

#include "aios/error.h"
#include "llmcore/grammar_int.h"

/* Order token ids by their bytes (qsort_r comparator; ctx is the vocab). */
static int cmp_tok(const void *a, const void *b, void *ctx)
{
    const llm_gvocab *v = ctx;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    uint32_t lx = v->len[x], ly = v->len[y];
    int c = memcmp(v->bytes[x], v->bytes[y], lx < ly ? lx : ly);

    if (c)
        return c;
    if (lx != ly)
        return lx < ly ? -1 : 1;
    return x < y ? -1 : (x > y);
}

/* Build the preorder trie from the token ids sorted by bytes. */
static int build_trie(llm_gvocab *v, const int32_t *order, int n)
{
    uint32_t path[256];  /* node at each depth of the current path */
    uint32_t cap = 1;
    const char *prev = NULL;
    uint32_t prev_len = 0;
    int32_t *last_at;    /* last token id attached per node, for the duplicate chain */

    for (int i = 0; i < n; i++)
        cap += v->len[order[i]];
    v->tb = calloc(cap, 1);
    v->tdepth = calloc(cap, 1);
    v->tend = calloc(cap, sizeof(uint32_t));
    v->ttok = malloc(cap * sizeof(int32_t));
    last_at = malloc(cap * sizeof(int32_t));
    if (!v->tb || !v->tdepth || !v->tend || !v->ttok || !last_at) {
        free(last_at);
        return AIOS_ENOMEM;
    }
    v->n_nodes = 1;
    v->ttok[0] = -1;
    path[0] = 0;
    uint32_t depth = 0;

    for (int i = 0; i < n; i++) {
        int32_t t = order[i];
        const char *b = v->bytes[t];
        uint32_t len = v->len[t];
        uint32_t lcp = 0;

        while (prev && lcp < prev_len && lcp < len && prev[lcp] == b[lcp])
            lcp++;
        /* close the nodes of the previous path below the common prefix */
        while (depth > lcp) {
            v->tend[path[depth]] = v->n_nodes;
            depth--;
        }
        for (uint32_t k = lcp; k < len; k++) {
            uint32_t nd = v->n_nodes++;
            v->tb[nd] = (uint8_t)b[k];
            v->tdepth[nd] = (uint8_t)(k + 1);
            v->ttok[nd] = -1;
            path[++depth] = nd;
        }
        uint32_t at = path[len];
        if (v->ttok[at] < 0) {
            v->ttok[at] = t;
        } else {
            v->tnext[last_at[at]] = t;
        }
        last_at[at] = t;
        prev = b;
        prev_len = len;
    }
    while (depth > 0) {
        v->tend[path[depth]] = v->n_nodes;
        depth--;
    }
    v->tend[0] = v->n_nodes;
    free(last_at);
    return 0;
}

int llm_gvocab_new(const char *const *tok_bytes, const uint32_t *tok_len, int n_vocab,
                   const uint8_t *special, const int32_t *eog, int n_eog, llm_gvocab **out)
{
    llm_gvocab *v;
    int32_t *order = NULL;
    int n = 0;
    int rc = AIOS_ENOMEM;

    *out = NULL;
    if (n_vocab <= 0 || !tok_bytes || !tok_len || n_eog < 0 || n_eog > n_vocab)
        return AIOS_EINVAL;
    v = calloc(1, sizeof(*v));
    if (!v)
        return AIOS_ENOMEM;
    v->n_vocab = n_vocab;
    v->bytes = calloc((size_t)n_vocab, sizeof(char *));
    v->len = calloc((size_t)n_vocab, sizeof(uint32_t));
    v->excluded = calloc((size_t)n_vocab, 1);
    v->special = calloc((size_t)n_vocab, 1);
    v->tnext = malloc((size_t)n_vocab * sizeof(int32_t));
    v->eog = malloc(sizeof(int32_t) * (size_t)(n_eog ? n_eog : 1));
    order = malloc((size_t)n_vocab * sizeof(int32_t));
    if (!v->bytes || !v->len || !v->excluded || !v->special || !v->tnext || !v->eog || !order)
        goto out_free;
    for (int i = 0; i < n_eog; i++) {
        if (eog[i] < 0 || eog[i] >= n_vocab) {
            rc = AIOS_EINVAL;
            goto out_free;
        }
        v->eog[v->n_eog++] = eog[i];
    }
    for (int i = 0; i < 256; i++)
        v->byte_tok[i] = -1;
    for (int i = 0; i < n_vocab; i++) {
        uint32_t len = tok_bytes[i] ? tok_len[i] : 0;
        v->tnext[i] = -1;
        v->bytes[i] = malloc(len + 1);
        if (!v->bytes[i])
            goto out_free;
        if (len)
            memcpy(v->bytes[i], tok_bytes[i], len);
        v->bytes[i][len] = 0;
        v->len[i] = len;
        v->special[i] = special && special[i];
        for (int k = 0; k < v->n_eog; k++)
            if (v->eog[k] == i)
                v->special[i] = 1;
        v->excluded[i] = v->special[i] || len == 0 || len > 255;
        if (v->excluded[i])
            continue;
        order[n++] = i;
        if (len > v->max_len)
            v->max_len = len;
        if (len == 1 && v->byte_tok[(uint8_t)v->bytes[i][0]] < 0)
            v->byte_tok[(uint8_t)v->bytes[i][0]] = i;
    }
    qsort_r(order, (size_t)n, sizeof(int32_t), cmp_tok, v);
    rc = build_trie(v, order, n);
    if (rc < 0)
        goto out_free;
    v->shared = malloc(sizeof(*v->shared));
    if (!v->shared || llm_grammar__cache_init(v->shared, 64u << 20) < 0) {
        free(v->shared);
        v->shared = NULL;
        rc = AIOS_ENOMEM;
        goto out_free;
    }
    free(order);
    *out = v;
    return 0;

out_free:
    free(order);
    llm_gvocab_free(v);
    return rc;
}

void llm_gvocab_free(llm_gvocab *v)
{
    if (!v)
        return;
    if (v->bytes)
        for (int i = 0; i < v->n_vocab; i++)
            free(v->bytes[i]);
    free(v->bytes);
    free(v->len);
    free(v->excluded);
    free(v->special);
    free(v->eog);
    free(v->tnext);
    free(v->tb);
    free(v->tdepth);
    free(v->tend);
    free(v->ttok);
    if (v->shared) {
        llm_grammar__cache_destroy(v->shared);
        free(v->shared);
    }
    free(v);
}

int llm_gvocab_n_vocab(const llm_gvocab *v)
{
    return v->n_vocab;
}

const char *llm_gvocab_token(const llm_gvocab *v, int32_t tok, uint32_t *len)
{
    if (tok < 0 || tok >= v->n_vocab) {
        *len = 0;
        return "";
    }
    *len = v->len[tok];
    return v->bytes[tok];
}

bool llm_gvocab_is_eog(const llm_gvocab *v, int32_t tok)
{
    for (int i = 0; i < v->n_eog; i++)
        if (v->eog[i] == tok)
            return true;
    return false;
}

bool llm_gvocab_is_special(const llm_gvocab *v, int32_t tok)
{
    return tok >= 0 && tok < v->n_vocab && v->special[tok];
}

/* The child of trie node nd with byte b, or 0 when none (0 is the root,
 * never a child).  Children are the nodes nd+1 .. tend[nd]-1 at depth+1. */
static uint32_t trie_child(const llm_gvocab *v, uint32_t nd, uint8_t b)
{
    uint32_t c = nd + 1;

    while (c < v->tend[nd]) {
        if (v->tb[c] == b)
            return c;
        if (v->tb[c] > b)
            return 0;
        c = v->tend[c];
    }
    return 0;
}

int llm_gvocab_greedy_tokens(const llm_gvocab *v, const char *bytes, size_t len, int32_t *ids,
                             int cap)
{
    size_t pos = 0;
    int n = 0;

    while (pos < len) {
        uint32_t nd = 0;
        int32_t best = -1;
        size_t best_len = 0;

        for (size_t k = pos; k < len; k++) {
            nd = trie_child(v, nd, (uint8_t)bytes[k]);
            if (!nd)
                break;
            if (v->ttok[nd] >= 0) {
                best = v->ttok[nd];
                best_len = k - pos + 1;
            }
        }
        if (best < 0)
            return AIOS_ENOENT;
        if (n < cap)
            ids[n] = best;
        n++;
        pos += best_len;
    }
    return n;
}

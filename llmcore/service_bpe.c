/*
 * service_bpe.c - a byte-level BPE tokenizer for the service's text path
 * (GGUF `gpt2` vocabularies), used until the project's tokenizer
 * (llmcore/tokenizer.h, branch llm-text) is merged.
 *
 * Pre-tokenization follows the GPT-2 pattern ('s 't 're 've 'm 'll 'd,
 * optional space + letters, optional space + digits, optional space +
 * other symbols, whitespace runs that leave their last space to the next
 * word); for the `smollm`, `llama-bpe`, `qwen2` pre-tokenizers digits are
 * split one by one (smollm) or in runs of up to three (llama-bpe, qwen2).
 * Letters are ASCII letters and every non-ASCII character (an
 * approximation of \p{L} without Unicode tables).  Each piece is mapped to
 * the GPT-2 byte alphabet and merged pair by pair in the order of
 * tokenizer.ggml.merges.
 *
 * Owns two hash tables over strings that live in the model's mapping.
 * Immutable after creation; any thread.
 */
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "aios/error.h"
#include "llmcore/gguf.h"
#include "llmcore/service_bpe.h"

typedef struct hent {
    const char *s;
    uint32_t len;
    int32_t val;
} hent;

typedef struct htab {
    hent *e;
    uint32_t mask;
} htab;

struct llm_bpe {
    htab vocab;              /* token text (GPT-2 alphabet) -> id */
    htab merges;             /* "left right" -> rank */
    int digits;              /* 1: digits one by one; 3: runs of up to three; 0: any run */
    uint16_t byte_cp[256];   /* byte -> code point of the GPT-2 alphabet */
};

static int ht_init(htab *t, uint64_t n)
{
    uint32_t cap = 16;

    while (cap < n * 2)
        cap <<= 1;
    t->e = calloc(cap, sizeof(hent));
    t->mask = cap - 1;
    return t->e ? 0 : AIOS_ENOMEM;
}

static void ht_put(htab *t, const char *s, uint32_t len, int32_t val)
{
    uint32_t i = (uint32_t)XXH3_64bits(s, len) & t->mask;

    while (t->e[i].s) {
        if (t->e[i].len == len && memcmp(t->e[i].s, s, len) == 0)
            return;  /* first wins (lowest id / rank) */
        i = (i + 1) & t->mask;
    }
    t->e[i].s = s;
    t->e[i].len = len;
    t->e[i].val = val;
}

static int32_t ht_get(const htab *t, const char *s, uint32_t len)
{
    uint32_t i = (uint32_t)XXH3_64bits(s, len) & t->mask;

    while (t->e[i].s) {
        if (t->e[i].len == len && memcmp(t->e[i].s, s, len) == 0)
            return t->e[i].val;
        i = (i + 1) & t->mask;
    }
    return -1;
}

/* The GPT-2 byte alphabet: printable bytes stand for themselves, the others
 * for 256 + n in order. */
static void byte_table(uint16_t *cp)
{
    int n = 0;

    for (int b = 0; b < 256; b++) {
        bool keep = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
        cp[b] = keep ? (uint16_t)b : (uint16_t)(256 + n++);
    }
}

int llm_bpe_new(const llm_gguf *g, llm_bpe **out)
{
    const llm_gguf_kv *toks = llm_gguf_arr(g, "tokenizer.ggml.tokens", GGUF_VT_STRING);
    const llm_gguf_kv *merges = llm_gguf_arr(g, "tokenizer.ggml.merges", GGUF_VT_STRING);
    const char *model, *pre;
    uint64_t ml, pl;
    llm_bpe *b;

    *out = NULL;
    if (!toks || !merges || !llm_gguf_get_str(g, "tokenizer.ggml.model", &model, &ml) || ml != 4 ||
        memcmp(model, "gpt2", 4) != 0)
        return AIOS_ENOTSUP;
    b = calloc(1, sizeof(*b));
    if (!b)
        return AIOS_ENOMEM;
    b->digits = 0;
    if (llm_gguf_get_str(g, "tokenizer.ggml.pre", &pre, &pl)) {
        if (pl == 6 && memcmp(pre, "smollm", 6) == 0)
            b->digits = 1;
        else if ((pl == 9 && memcmp(pre, "llama-bpe", 9) == 0) || (pl == 5 && memcmp(pre, "qwen2", 5) == 0) ||
                 (pl == 6 && memcmp(pre, "llama3", 6) == 0))
            b->digits = 3;
    }
    byte_table(b->byte_cp);
    if (ht_init(&b->vocab, toks->v.arr.n) < 0 || ht_init(&b->merges, merges->v.arr.n) < 0) {
        llm_bpe_free(b);
        return AIOS_ENOMEM;
    }
    for (uint64_t i = 0; i < toks->v.arr.n; i++) {
        const char *s;
        uint64_t n;
        if (llm_gguf_arr_str(toks, i, &s, &n) && n > 0)
            ht_put(&b->vocab, s, (uint32_t)n, (int32_t)i);
    }
    for (uint64_t i = 0; i < merges->v.arr.n; i++) {
        const char *s;
        uint64_t n;
        if (llm_gguf_arr_str(merges, i, &s, &n) && n > 0)
            ht_put(&b->merges, s, (uint32_t)n, (int32_t)i);
    }
    *out = b;
    return 0;
}

void llm_bpe_free(llm_bpe *b)
{
    if (!b)
        return;
    free(b->vocab.e);
    free(b->merges.e);
    free(b);
}

/* ---- pre-tokenizing ------------------------------------------------------------------------ */

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static bool is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static bool is_letter(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;
}

/* Length of the next piece at s[i..n). */
static size_t piece(const llm_bpe *b, const unsigned char *s, size_t i, size_t n)
{
    size_t j = i;
    static const char *const contr[] = {"'s", "'t", "'re", "'ve", "'m", "'ll", "'d"};

    if (s[i] == '\'')
        for (size_t k = 0; k < sizeof(contr) / sizeof(contr[0]); k++) {
            size_t l = strlen(contr[k]);
            if (n - i >= l && memcmp(s + i, contr[k], l) == 0)
                return l;
        }
    /* optional space, then letters */
    j = i + (s[i] == ' ' && i + 1 < n && is_letter(s[i + 1]));
    if (is_letter(s[j])) {
        while (j < n && is_letter(s[j]))
            j++;
        return j - i;
    }
    /* optional space, then digits */
    j = i + (s[i] == ' ' && i + 1 < n && is_digit(s[i + 1]));
    if (is_digit(s[j])) {
        if (b->digits == 1 && j == i)
            return 1;
        if (b->digits == 1)
            return 1;  /* the space goes alone: digits split before the GPT-2 pattern */
        size_t k = j;
        while (k < n && is_digit(s[k]) && (b->digits == 0 || k - j < (size_t)b->digits))
            k++;
        return k - i;
    }
    /* optional space, then other symbols */
    j = i + (s[i] == ' ' && i + 1 < n && !is_space(s[i + 1]));
    if (!is_space(s[j])) {
        while (j < n && !is_space(s[j]) && !is_letter(s[j]) && !is_digit(s[j]))
            j++;
        return j - i;
    }
    /* whitespace: a run, leaving its last char to a following non-space */
    j = i;
    while (j < n && is_space(s[j]))
        j++;
    if (j < n && j - i > 1)
        return j - i - 1;
    return j - i;
}

/* ---- merging --------------------------------------------------------------------------------- */

typedef struct sym {
    uint32_t off, len;       /* in the mapped buffer */
    int32_t prev, next;      /* live neighbours, -1 at the ends */
} sym;

/* A candidate merge of symbol `left` with its right neighbour. */
typedef struct cand {
    int32_t rank;
    int32_t left;
    uint32_t len;            /* combined length when queued (stale check) */
} cand;

static bool cand_less(const cand *a, const cand *b)
{
    return a->rank != b->rank ? a->rank < b->rank : a->left < b->left;
}

static void heap_push(cand *h, size_t *n, cand c)
{
    size_t i = (*n)++;

    h[i] = c;
    while (i > 0 && cand_less(&h[i], &h[(i - 1) / 2])) {
        cand t = h[i];
        h[i] = h[(i - 1) / 2];
        h[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
}

static cand heap_pop(cand *h, size_t *n)
{
    cand top = h[0];
    size_t i = 0;

    h[0] = h[--*n];
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < *n && cand_less(&h[l], &h[m]))
            m = l;
        if (r < *n && cand_less(&h[r], &h[m]))
            m = r;
        if (m == i)
            break;
        cand t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
    return top;
}

static size_t put_cp(char *out, uint16_t cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
}

/* Queue the merge of y[k] with its right neighbour when the pair is ranked. */
static void try_pair(const llm_bpe *b, const char *m, const sym *y, int32_t k, cand *h, size_t *nh, char *pair,
                     size_t cap)
{
    int32_t r = y[k].next, rank;
    size_t l;

    if (k < 0 || r < 0)
        return;
    l = y[k].len + 1 + y[r].len;
    if (l > cap)
        return;
    memcpy(pair, m + y[k].off, y[k].len);
    pair[y[k].len] = ' ';
    memcpy(pair + y[k].len + 1, m + y[r].off, y[r].len);
    rank = ht_get(&b->merges, pair, (uint32_t)l);
    if (rank >= 0)
        heap_push(h, nh, (cand){rank, k, y[k].len + y[r].len});
}

static int push_id(int32_t **ids, int *n_ids, int *cap, int32_t id)
{
    if (*n_ids + 1 > *cap) {
        int nc = *cap ? *cap * 2 : 64;
        int32_t *v = realloc(*ids, sizeof(int32_t) * (size_t)nc);
        if (!v)
            return AIOS_ENOMEM;
        *ids = v;
        *cap = nc;
    }
    (*ids)[(*n_ids)++] = id;
    return 0;
}

/* BPE of one piece (merges lowest rank first, leftmost on ties, with a heap:
 * O(n log n) however long the piece); appends ids. */
static int bpe_piece(const llm_bpe *b, const unsigned char *s, size_t n, int32_t **ids, int *n_ids, int *cap)
{
    char *m = malloc(n * 2 + 1), pair[1024];
    sym *y = malloc(sizeof(sym) * (n + 1));
    cand *h = malloc(sizeof(cand) * (3 * n + 3));   /* n - 1 initial pairs + 2 per merge */
    size_t ml = 0, nh = 0;
    int rc = 0;

    if (!m || !y || !h) {
        rc = AIOS_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        y[i].off = (uint32_t)ml;
        y[i].len = (uint32_t)put_cp(m + ml, b->byte_cp[s[i]]);
        y[i].prev = (int32_t)i - 1;
        y[i].next = i + 1 < n ? (int32_t)i + 1 : -1;
        ml += y[i].len;
    }
    for (size_t i = 0; i + 1 < n; i++)
        try_pair(b, m, y, (int32_t)i, h, &nh, pair, sizeof(pair));
    while (nh > 0) {
        cand c = heap_pop(h, &nh);
        int32_t k = c.left, r = y[k].next;
        if (y[k].len == 0 || r < 0 || y[k].len + y[r].len != c.len)
            continue;   /* stale: one side merged since */
        y[k].len += y[r].len;   /* adjacent in m */
        y[r].len = 0;
        y[k].next = y[r].next;
        if (y[r].next >= 0)
            y[y[r].next].prev = k;
        try_pair(b, m, y, y[k].prev, h, &nh, pair, sizeof(pair));
        try_pair(b, m, y, k, h, &nh, pair, sizeof(pair));
    }
    for (int32_t k = n ? 0 : -1; k >= 0; k = y[k].next) {
        int32_t id = ht_get(&b->vocab, m + y[k].off, y[k].len);
        if (id >= 0) {
            if ((rc = push_id(ids, n_ids, cap, id)) < 0)
                goto out;
            continue;
        }
        /* not in the vocabulary: one token per byte of the symbol */
        for (uint32_t p = y[k].off; p < y[k].off + y[k].len;) {
            uint32_t cl = ((unsigned char)m[p] & 0xE0) == 0xC0 ? 2 : 1;
            id = ht_get(&b->vocab, m + p, cl);
            if (id < 0) {
                rc = AIOS_EINVAL;
                goto out;
            }
            if ((rc = push_id(ids, n_ids, cap, id)) < 0)
                goto out;
            p += cl;
        }
    }
out:
    free(m);
    free(y);
    free(h);
    return rc;
}

int llm_bpe_encode(const llm_bpe *b, const char *text, size_t n, int32_t **ids, int *n_ids, int *cap)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;
    int rc;

    while (i < n) {
        size_t l = piece(b, s, i, n);
        if (l == 0)
            l = 1;
        if ((rc = bpe_piece(b, s + i, l, ids, n_ids, cap)) < 0)
            return rc;
        i += l;
    }
    return 0;
}

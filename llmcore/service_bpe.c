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
} sym;

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

/* BPE of one piece; appends ids.  scratch holds 2 * n bytes of mapped text. */
static int bpe_piece(const llm_bpe *b, const unsigned char *s, size_t n, int32_t **ids, int *n_ids, int *cap)
{
    char stack_m[512], *m = n * 2 <= sizeof(stack_m) ? stack_m : malloc(n * 2);
    sym stack_y[256], *y = n <= 256 ? stack_y : malloc(sizeof(sym) * n);
    char pair[1024];
    size_t ml = 0, ny = 0;
    int rc = 0;

    if (!m || !y) {
        rc = AIOS_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        y[ny].off = (uint32_t)ml;
        y[ny].len = (uint32_t)put_cp(m + ml, b->byte_cp[s[i]]);
        ml += y[ny].len;
        ny++;
    }
    for (;;) {
        int32_t best = -1;
        size_t at = 0;
        for (size_t k = 0; k + 1 < ny; k++) {
            size_t l = y[k].len + 1 + y[k + 1].len;
            int32_t r;
            if (l > sizeof(pair))
                continue;
            memcpy(pair, m + y[k].off, y[k].len);
            pair[y[k].len] = ' ';
            memcpy(pair + y[k].len + 1, m + y[k + 1].off, y[k + 1].len);
            r = ht_get(&b->merges, pair, (uint32_t)l);
            if (r >= 0 && (best < 0 || r < best)) {
                best = r;
                at = k;
            }
        }
        if (best < 0)
            break;
        y[at].len += y[at + 1].len;   /* adjacent in m */
        memmove(y + at + 1, y + at + 2, sizeof(sym) * (ny - at - 2));
        ny--;
    }
    for (size_t k = 0; k < ny; k++) {
        int32_t id = ht_get(&b->vocab, m + y[k].off, y[k].len);
        if (*n_ids + 8 > *cap) {
            int nc = *cap ? *cap * 2 : 64;
            int32_t *v = realloc(*ids, sizeof(int32_t) * (size_t)nc);
            if (!v) {
                rc = AIOS_ENOMEM;
                goto out;
            }
            *ids = v;
            *cap = nc;
        }
        if (id >= 0) {
            (*ids)[(*n_ids)++] = id;
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
            if (*n_ids + 1 > *cap) {
                int nc = *cap * 2;
                int32_t *v = realloc(*ids, sizeof(int32_t) * (size_t)nc);
                if (!v) {
                    rc = AIOS_ENOMEM;
                    goto out;
                }
                *ids = v;
                *cap = nc;
            }
            (*ids)[(*n_ids)++] = id;
            p += cl;
        }
    }
out:
    if (m != stack_m)
        free(m);
    if (y != stack_y)
        free(y);
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

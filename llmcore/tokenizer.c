/*
 * tokenizer.c - the tokenizer built from a GGUF file: vocabulary, special
 * tokens and their rules, splitting special-token text out of the input,
 * llm_tokenize, token pieces and llm_detokenize (see tokenizer.h).
 *
 * Building copies everything out of the GGUF mapping into the tokenizer's
 * own pools and then never changes it, so lookups need no locks.  The rules
 * follow llama.cpp's vocabulary loader where it decides by convention
 * rather than by file content (which tokens end generation, which are
 * control tokens, defaults per tokenizer kind), so that ids agree with it;
 * where llama.cpp depends on hash-table order we pick the lowest id or the
 * first name in a list, deterministically.
 *
 * Any thread may call the functions here on a built tokenizer.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aios/error.h"
#include "aios/log.h"
#include "llmcore/tokenizer_int.h"
#include "llmcore/unicode.h"

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (!err || !errlen)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static inline bool id_ok(const llm_tokenizer *t, int32_t id)
{
    return id >= 0 && (uint32_t)id < t->n_vocab;
}

static inline const char *tok_text(const llm_tokenizer *t, int32_t id)
{
    return t->text_pool + t->text_off[id];
}

/* ---- rules by token text ------------------------------------------------ */

/* Special ids llama.cpp finds by the token's text when the file does not
 * name them.  The first text of a list present in the vocabulary wins. */
typedef struct {
    size_t field;               /* offsetof the int32_t id in llm_tokenizer */
    const char *const *texts;   /* NULL-terminated */
} text_rule;

static const char *const eot_texts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>",
    "<EOT>", "_<EOT>", "[EOT]", "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>",
    "<end_of_utterance>", NULL};
static const char *const eom_texts[] = {"<|eom_id|>", NULL};
static const char *const fim_pre_texts[] = {
    "<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<\xef\xbd\x9c" "fim\xe2\x96\x81" "begin\xef\xbd\x9c>",
    "<PRE>", "\xe2\x96\x81<PRE>", "<|code_prefix|>", "<|prefix|>", NULL};
static const char *const fim_suf_texts[] = {
    "<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<\xef\xbd\x9c" "fim\xe2\x96\x81hole\xef\xbd\x9c>",
    "<SUF>", "\xe2\x96\x81<SUF>", "<|code_suffix|>", "<|suffix|>", NULL};
static const char *const fim_mid_texts[] = {
    "<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<\xef\xbd\x9c" "fim\xe2\x96\x81" "end\xef\xbd\x9c>",
    "<MID>", "\xe2\x96\x81<MID>", "<|code_middle|>", "<|middle|>", NULL};
static const char *const fim_pad_texts[] = {
    "<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]", NULL};
static const char *const fim_rep_texts[] = {
    "<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>", NULL};
static const char *const fim_sep_texts[] = {"<|file_sep|>", NULL};

static const text_rule text_rules[] = {
    {offsetof(llm_tokenizer, eot), eot_texts},
    {offsetof(llm_tokenizer, eom), eom_texts},
    {offsetof(llm_tokenizer, fim_pre), fim_pre_texts},
    {offsetof(llm_tokenizer, fim_suf), fim_suf_texts},
    {offsetof(llm_tokenizer, fim_mid), fim_mid_texts},
    {offsetof(llm_tokenizer, fim_pad), fim_pad_texts},
    {offsetof(llm_tokenizer, fim_rep), fim_rep_texts},
    {offsetof(llm_tokenizer, fim_sep), fim_sep_texts},
};

/* Texts that end generation wherever they appear in a vocabulary. */
static const char *const eog_texts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
    "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
    "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
    "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>", "[e~[", NULL};

/* Special ids read from the file: key -> field. */
typedef struct {
    const char *key;
    size_t field;
} id_key;

static const id_key id_keys[] = {
    {"tokenizer.ggml.bos_token_id", offsetof(llm_tokenizer, bos)},
    {"tokenizer.ggml.eos_token_id", offsetof(llm_tokenizer, eos)},
    {"tokenizer.ggml.eot_token_id", offsetof(llm_tokenizer, eot)},
    {"tokenizer.ggml.eom_token_id", offsetof(llm_tokenizer, eom)},
    {"tokenizer.ggml.unknown_token_id", offsetof(llm_tokenizer, unk)},
    {"tokenizer.ggml.seperator_token_id", offsetof(llm_tokenizer, sep)},
    {"tokenizer.ggml.padding_token_id", offsetof(llm_tokenizer, pad)},
    {"tokenizer.ggml.fim_pre_token_id", offsetof(llm_tokenizer, fim_pre)},
    {"tokenizer.ggml.fim_suf_token_id", offsetof(llm_tokenizer, fim_suf)},
    {"tokenizer.ggml.fim_mid_token_id", offsetof(llm_tokenizer, fim_mid)},
    {"tokenizer.ggml.fim_pad_token_id", offsetof(llm_tokenizer, fim_pad)},
    {"tokenizer.ggml.fim_rep_token_id", offsetof(llm_tokenizer, fim_rep)},
    {"tokenizer.ggml.fim_sep_token_id", offsetof(llm_tokenizer, fim_sep)},
    {"tokenizer.ggml.prefix_token_id", offsetof(llm_tokenizer, fim_pre)},
    {"tokenizer.ggml.suffix_token_id", offsetof(llm_tokenizer, fim_suf)},
    {"tokenizer.ggml.middle_token_id", offsetof(llm_tokenizer, fim_mid)},
};

static inline int32_t *id_field(llm_tokenizer *t, size_t off)
{
    return (int32_t *)((char *)t + off);
}

static int32_t lookup_cstr(const llm_tokenizer *t, const char *s)
{
    return llm__strmap_get(&t->vocab, s, strlen(s));
}

/* ---- building ----------------------------------------------------------- */

/* File token_type -> attribute bits. */
static uint32_t attr_of_type(int64_t type)
{
    static const uint32_t map[] = {
        [0] = LLM_TOKATTR_UNDEFINED,  [1] = LLM_TOKATTR_NORMAL,       [2] = LLM_TOKATTR_UNKNOWN,
        [3] = LLM_TOKATTR_CONTROL,    [4] = LLM_TOKATTR_USER_DEFINED, [5] = LLM_TOKATTR_UNUSED,
        [6] = LLM_TOKATTR_BYTE,
    };

    if (type < 0 || type >= (int64_t)(sizeof(map) / sizeof(map[0])))
        return LLM_TOKATTR_UNDEFINED;
    return map[type];
}

/* Copy the token texts into one pool (empty texts become "[EMPTY_<id>]",
 * as llama.cpp names them) and index them. */
static int load_texts(llm_tokenizer *t, const llm_gguf_kv *toks, char *err, size_t errlen)
{
    size_t total = 0, o = 0;
    uint32_t i;

    for (i = 0; i < t->n_vocab; i++) {
        const char *s;
        uint64_t n;

        if (!llm_gguf_arr_str(toks, i, &s, &n))
            return AIOS_ECORRUPT;
        total += (n ? n : 32) + 1;
    }
    if (total > UINT32_MAX) {
        seterr(err, errlen, "tokenizer.ggml.tokens: %zu bytes of text", total);
        return AIOS_ECORRUPT;
    }
    t->text_pool = malloc(total);
    t->text_off = malloc(t->n_vocab * sizeof(*t->text_off));
    t->text_len = malloc(t->n_vocab * sizeof(*t->text_len));
    if (!t->text_pool || !t->text_off || !t->text_len)
        return AIOS_ENOMEM;
    for (i = 0; i < t->n_vocab; i++) {
        const char *s;
        uint64_t n;

        llm_gguf_arr_str(toks, i, &s, &n);
        if (n > UINT32_MAX / 2) {
            seterr(err, errlen, "token %u: text too long", i);
            return AIOS_ECORRUPT;
        }
        t->text_off[i] = (uint32_t)o;
        if (n == 0)
            n = (uint64_t)snprintf(t->text_pool + o, 32, "[EMPTY_%u]", i);
        else
            memcpy(t->text_pool + o, s, n);
        t->text_pool[o + n] = '\0';
        t->text_len[i] = (uint32_t)n;
        o += n + 1;
    }
    return 0;
}

/* Merges "left right" (split at the first space after the first byte), by
 * rank = list position.  Pairs of tokens go into the id pair map; the rest
 * into a text map. */
static int load_merges(llm_tokenizer *t, const llm_gguf_kv *m, char *err, size_t errlen)
{
    uint64_t n = m->v.arr.n, i, odd = 0, odd_bytes = 0;
    char *join = NULL;
    size_t join_cap = 0, po = 0;
    int rc;

    if (n > INT32_MAX) {
        seterr(err, errlen, "tokenizer.ggml.merges: %llu merges", (unsigned long long)n);
        return AIOS_ECORRUPT;
    }
    rc = llm__pairmap_init(&t->merges, (uint32_t)n);
    if (rc)
        return rc;
    /* first pass: count the merges that need the text map */
    for (i = 0; i < n; i++) {
        const char *s, *sp;
        uint64_t len;

        if (!llm_gguf_arr_str(m, i, &s, &len))
            return AIOS_ECORRUPT;
        sp = len > 1 ? memchr(s + 1, ' ', len - 1) : NULL;
        if (!sp)
            continue;
        if (llm__strmap_get(&t->vocab, s, (size_t)(sp - s)) < 0 ||
            llm__strmap_get(&t->vocab, sp + 1, (size_t)(s + len - sp - 1)) < 0) {
            odd++;
            odd_bytes += len + 1;
        }
    }
    if (odd) {
        rc = llm__strmap_init(&t->odd_merges, (uint32_t)odd);
        if (rc)
            return rc;
        t->odd_pool = malloc(odd_bytes);
        if (!t->odd_pool)
            return AIOS_ENOMEM;
    }
    for (i = 0; i < n; i++) {
        const char *s, *sp;
        uint64_t len;
        size_t l1, l2;
        int32_t a, b;

        llm_gguf_arr_str(m, i, &s, &len);
        sp = len > 1 ? memchr(s + 1, ' ', len - 1) : NULL;
        if (!sp)
            continue;
        l1 = (size_t)(sp - s);
        l2 = (size_t)(len - l1 - 1);
        a = llm__strmap_get(&t->vocab, s, l1);
        b = llm__strmap_get(&t->vocab, sp + 1, l2);
        if (a >= 0 && b >= 0) {
            if (l1 + l2 > join_cap) {
                char *p = realloc(join, (l1 + l2) * 2);

                if (!p) {
                    free(join);
                    return AIOS_ENOMEM;
                }
                join = p;
                join_cap = (l1 + l2) * 2;
            }
            memcpy(join, s, l1);
            memcpy(join + l1, sp + 1, l2);
            llm__pairmap_put(&t->merges, a, b, (int32_t)i, llm__strmap_get(&t->vocab, join, l1 + l2));
        } else {
            memcpy(t->odd_pool + po, s, len);
            rc = llm__strmap_put(&t->odd_merges, t->odd_pool + po, (uint32_t)len, (int32_t)i, false);
            po += len + 1;
            if (rc) {
                free(join);
                return rc;
            }
        }
    }
    free(join);
    return 0;
}

/* The special ids: kind defaults, then the file's keys (an id past the
 * vocabulary keeps the default), then ids found by text. */
static void load_special_ids(llm_tokenizer *t, const llm_gguf *g)
{
    size_t i;

    for (i = 0; i < sizeof(id_keys) / sizeof(id_keys[0]); i++) {
        int32_t *id = id_field(t, id_keys[i].field);
        uint64_t v;

        if (*id >= 0 && !id_ok(t, *id))
            *id = LLM_TOKEN_NONE;
        if (!llm_gguf_get_u64(g, id_keys[i].key, &v))
            continue;
        if (v >= t->n_vocab)
            AIOS_LOG(AIOS_LOG_WARN, "llm", "bad special token '%s' = %llu, keeping %d",
                     id_keys[i].key, (unsigned long long)v, *id);
        else
            *id = (int32_t)v;
    }
    for (i = 0; i < sizeof(text_rules) / sizeof(text_rules[0]); i++) {
        int32_t *id = id_field(t, text_rules[i].field);

        if (*id != LLM_TOKEN_NONE)
            continue;
        for (const char *const *s = text_rules[i].texts; *s; s++) {
            int32_t found = lookup_cstr(t, *s);

            if (found >= 0) {
                *id = found;
                t->attr[found] |= LLM_TOKATTR_CONTROL;
                break;
            }
        }
    }
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;

    return (x > y) - (x < y);
}

static int add_eog(int32_t *set, size_t *n, int32_t id)
{
    for (size_t i = 0; i < *n; i++) {
        if (set[i] == id)
            return 0;
    }
    set[(*n)++] = id;
    return 1;
}

static void remove_eog(int32_t *set, size_t *n, int32_t id)
{
    for (size_t i = 0; i < *n; i++) {
        if (set[i] == id) {
            set[i] = set[--*n];
            return;
        }
    }
}

/* Control tokens named "unused", the end-of-generation set and the
 * special cases llama.cpp applies by token text. */
static int build_eog(llm_tokenizer *t)
{
    static const char *const user_texts[] = {"<|channel|>", "<|message|>", "<|start|>",
                                             "<|constrain|>", NULL};
    size_t cap = 3 + 3 + sizeof(eog_texts) / sizeof(eog_texts[0]), n = 0, i;
    int32_t *set = malloc(cap * sizeof(*set));
    int32_t end_id = LLM_TOKEN_NONE, s_id = LLM_TOKEN_NONE;
    bool has_return = false, has_call = false, has_flush = false, has_s_marker = false;

    if (!set)
        return AIOS_ENOMEM;
    for (uint32_t id = 0; id < t->n_vocab; id++) {
        if ((t->attr[id] & LLM_TOKATTR_CONTROL) &&
            memmem(tok_text(t, (int32_t)id), t->text_len[id], "unused", 6))
            t->attr[id] |= LLM_TOKATTR_UNUSED;
    }
    if (t->fim_pad >= 0)
        add_eog(set, &n, t->fim_pad);
    if (t->fim_rep >= 0)
        add_eog(set, &n, t->fim_rep);
    if (t->fim_sep >= 0)
        add_eog(set, &n, t->fim_sep);
    for (const char *const *s = eog_texts; *s; s++) {
        int32_t id = lookup_cstr(t, *s);

        if (id >= 0) {
            add_eog(set, &n, id);
            t->attr[id] |= LLM_TOKATTR_CONTROL;
        }
    }
    for (const char *const *s = user_texts; *s; s++) {
        int32_t id = lookup_cstr(t, *s);

        if (id >= 0)
            t->attr[id] = LLM_TOKATTR_USER_DEFINED;
    }
    if (t->eos >= 0)
        add_eog(set, &n, t->eos);
    if (t->eot >= 0)
        add_eog(set, &n, t->eot);
    if (t->eom >= 0)
        add_eog(set, &n, t->eom);
    /* harmony-style vocabularies end turns with <|return|>/<|call|>, and
     * their <|end|> only ends a message */
    for (i = 0; i < n; i++) {
        const char *s = tok_text(t, set[i]);

        if (!strcmp(s, "<|return|>"))
            has_return = true;
        else if (!strcmp(s, "<|call|>") || !strcmp(s, "<|calls|>"))
            has_call = true;
        else if (!strcmp(s, "<|flush|>"))
            has_flush = true;
        else if (!strcmp(s, "<|end|>"))
            end_id = set[i];
    }
    if (end_id >= 0 && ((has_return && has_call) || (has_call && has_flush))) {
        remove_eog(set, &n, end_id);
        t->attr[end_id] = LLM_TOKATTR_USER_DEFINED;
    }
    for (i = 0; i < n; i++) {
        const char *s = tok_text(t, set[i]);

        if (!strcmp(s, "<|tool_response>") || !strcmp(s, "<|plamo:eos|>"))
            has_s_marker = true;
        else if (!strcmp(s, "</s>"))
            s_id = set[i];
    }
    if (has_s_marker && s_id >= 0) {
        remove_eog(set, &n, s_id);
        t->attr[s_id] = LLM_TOKATTR_NORMAL;
    }
    qsort(set, n, sizeof(*set), cmp_i32);
    t->eog = set;
    t->n_eog = n;
    return 0;
}

/* Order for splitting special tokens out: longest text first, ties by id. */
static int cmp_special(const void *a, const void *b, void *arg)
{
    const llm_tokenizer *t = arg;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    uint32_t lx = t->text_len[x], ly = t->text_len[y];

    if (lx != ly)
        return lx > ly ? -1 : 1;
    return (x > y) - (x < y);
}

static int build_special(llm_tokenizer *t)
{
    size_t n = 0;
    uint32_t id;

    t->special = malloc((t->n_vocab ? t->n_vocab : 1) * sizeof(*t->special));
    if (!t->special)
        return AIOS_ENOMEM;
    for (id = 0; id < t->n_vocab; id++) {
        if (t->attr[id] & (LLM_TOKATTR_CONTROL | LLM_TOKATTR_USER_DEFINED | LLM_TOKATTR_UNKNOWN))
            t->special[n++] = (int32_t)id;
    }
    qsort_r(t->special, n, sizeof(*t->special), cmp_special, t);
    t->n_special = n;
    for (size_t i = 0; i < n; i++)
        t->special_first[(unsigned char)tok_text(t, t->special[i])[0]] = true;
    return 0;
}

/* The byte of a <0xXX> token (0 when the text has no hex digits there). */
static unsigned char byte_of(const char *text, size_t len)
{
    char hex[3] = {0};

    if (len > 3)
        memcpy(hex, text + 3, len - 3 >= 2 ? 2 : 1);
    return (unsigned char)strtol(hex, NULL, 16);
}

/* Render one token's piece (the special=true form) into buf; returns the
 * length.  buf has room for piece_bound() bytes. */
static size_t render_piece(const llm_tokenizer *t, int32_t id, char *buf)
{
    const char *s = tok_text(t, id);
    size_t len = t->text_len[id], o = 0, i, adv;
    uint32_t attr = t->attr[id];

    if (attr & (LLM_TOKATTR_UNKNOWN | LLM_TOKATTR_CONTROL | LLM_TOKATTR_USER_DEFINED)) {
        memcpy(buf, s, len);
        return len;
    }
    if (attr & LLM_TOKATTR_NORMAL) {
        if (t->kind == LLM_VOCAB_SPM) {
            for (i = 0; i < len;) {
                if (len - i >= 3 && memcmp(s + i, "\xe2\x96\x81", 3) == 0) {
                    buf[o++] = ' ';
                    i += 3;
                } else {
                    buf[o++] = s[i++];
                }
            }
            return o;
        }
        /* byte-level: each code point stands for one byte */
        for (i = 0; i < len; i += adv) {
            uint32_t cp = llm_utf8_decode_lenient((const unsigned char *)s + i, len - i, &adv);
            int b = llm_bytelevel_decode(cp);

            if (b >= 0) {
                buf[o++] = (char)b;
            } else {
                /* what llama.cpp writes for a code point outside the map */
                char u[4];
                size_t ul = llm_utf8_encode(cp, u);

                o += (size_t)sprintf(buf + o, "[UNK_BYTE_0x");
                for (size_t k = 0; k < ul; k++)
                    o += (size_t)sprintf(buf + o, "%02x", (unsigned char)u[k]);
                memcpy(buf + o, s, len);
                o += len;
                buf[o++] = ']';
            }
        }
        return o;
    }
    if (attr & LLM_TOKATTR_BYTE) {
        buf[0] = (char)byte_of(s, len);
        return 1;
    }
    return 0;
}

/* Room render_piece needs for a token: its text length, plus, for a
 * byte-level token, the expansion of each code point outside the map. */
static size_t piece_bound(const llm_tokenizer *t, int32_t id)
{
    const char *s = tok_text(t, id);
    size_t len = t->text_len[id], need = len + 1, i, adv;

    if (t->kind != LLM_VOCAB_BPE)
        return need;
    for (i = 0; i < len; i += adv) {
        uint32_t cp = llm_utf8_decode_lenient((const unsigned char *)s + i, len - i, &adv);

        if (llm_bytelevel_decode(cp) < 0)
            need += 12 + 8 + len + 1;
    }
    return need;
}

static int build_pieces(llm_tokenizer *t)
{
    size_t total = 0, o = 0, cap = 0;
    char *tmp = NULL;
    uint32_t id;
    int rc = AIOS_ENOMEM;

    t->piece_off = malloc(t->n_vocab * sizeof(*t->piece_off));
    t->piece_len = malloc(t->n_vocab * sizeof(*t->piece_len));
    if (!t->piece_off || !t->piece_len)
        return AIOS_ENOMEM;
    /* render every piece into a scratch buffer sized per token, keeping
     * the lengths, then copy them into one pool */
    for (int pass = 0; pass < 2; pass++) {
        for (id = 0; id < t->n_vocab; id++) {
            size_t need = piece_bound(t, (int32_t)id), l;

            if (need > cap) {
                char *p = realloc(tmp, need);

                if (!p)
                    goto out;
                tmp = p;
                cap = need;
            }
            l = render_piece(t, (int32_t)id, tmp);
            if (pass == 0) {
                total += l + 1;
                continue;
            }
            memcpy(t->piece_pool + o, tmp, l);
            t->piece_pool[o + l] = '\0';
            t->piece_off[id] = (uint32_t)o;
            t->piece_len[id] = (uint32_t)l;
            o += l + 1;
        }
        if (pass == 0) {
            if (total > UINT32_MAX) {
                rc = AIOS_ECORRUPT;
                goto out;
            }
            t->piece_pool = malloc(total ? total : 1);
            if (!t->piece_pool)
                goto out;
        }
    }
    rc = 0;
out:
    free(tmp);
    return rc;
}

/* Per-model attributes llama.cpp sets by the model's name: Phi-3 special
 * tokens swallow the whitespace after them. */
static void model_attrs(llm_tokenizer *t, const llm_gguf *g)
{
    char *name = llm_gguf_dup_str(g, "general.name");
    static const char *const keep[] = {"<unk>", "<s>", "<|endoftext|>"};
    int32_t id;

    if (!name)
        return;
    for (char *p = name; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    if (strstr(name, "phi-3") || strstr(name, "phi3")) {
        for (size_t i = 0; i < t->n_special; i++)
            t->attr[t->special[i]] |= LLM_TOKATTR_RSTRIP;
        if ((id = lookup_cstr(t, "</s>")) >= 0)
            t->attr[id] |= LLM_TOKATTR_RSTRIP;
        for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
            if ((id = lookup_cstr(t, keep[i])) >= 0)
                t->attr[id] &= ~(uint32_t)LLM_TOKATTR_RSTRIP;
        }
    }
    free(name);
}

int llm_tokenizer_from_gguf(const llm_gguf *g, llm_tokenizer **out, char *err, size_t errlen)
{
    llm_tokenizer *t;
    const llm_gguf_kv *toks, *kv;
    const char *model;
    uint64_t model_len, plen = 0;
    const char *pre = "";
    bool b;
    int rc = AIOS_ECORRUPT;
    uint32_t i;

    *out = NULL;
    seterr(err, errlen, "ok");
    if (!llm_gguf_get_str(g, "tokenizer.ggml.model", &model, &model_len)) {
        seterr(err, errlen, "no tokenizer.ggml.model in the file");
        return AIOS_ECORRUPT;
    }
    t = calloc(1, sizeof(*t));
    if (!t)
        return AIOS_ENOMEM;
    t->bos = t->eos = t->eot = t->eom = t->unk = t->pad = t->sep = LLM_TOKEN_NONE;
    t->fim_pre = t->fim_suf = t->fim_mid = t->fim_pad = t->fim_rep = t->fim_sep = LLM_TOKEN_NONE;
    llm_gguf_get_str(g, "tokenizer.ggml.pre", &pre, &plen);
    t->pre_name = strndup(pre, (size_t)plen);
    if (!t->pre_name) {
        rc = AIOS_ENOMEM;
        goto out_free;
    }
    if (model_len == 4 && memcmp(model, "gpt2", 4) == 0) {
        t->kind = LLM_VOCAB_BPE;
        if (plen == 0) {
            seterr(err, errlen, "byte-level BPE without tokenizer.ggml.pre is not supported");
            rc = AIOS_ENOTSUP;
            goto out_free;
        }
        t->pre = llm__pre_find(pre, (size_t)plen);
        if (!t->pre) {
            seterr(err, errlen, "unsupported pre-tokenizer '%s'", t->pre_name);
            rc = AIOS_ENOTSUP;
            goto out_free;
        }
        t->clean_spaces = t->pre->clean_spaces;
        t->ignore_merges = t->pre->ignore_merges;
        t->add_bos = t->pre->add_bos;
        t->bos = t->eos = 11;   /* llama.cpp's defaults for this kind */
    } else if (model_len == 5 && memcmp(model, "llama", 5) == 0) {
        t->kind = LLM_VOCAB_SPM;
        t->add_space_prefix = true;
        t->add_bos = true;
        t->bos = 1;
        t->eos = 2;
        t->unk = 0;
    } else {
        seterr(err, errlen, "unsupported tokenizer model '%.*s'", (int)(model_len > 64 ? 64 : model_len),
               model);
        rc = AIOS_ENOTSUP;
        goto out_free;
    }
    if (llm_gguf_get_bool(g, "tokenizer.ggml.add_space_prefix", &b))
        t->add_space_prefix = b;

    toks = llm_gguf_arr(g, "tokenizer.ggml.tokens", GGUF_VT_STRING);
    if (!toks || toks->v.arr.n == 0 || toks->v.arr.n > INT32_MAX) {
        seterr(err, errlen, "no usable tokenizer.ggml.tokens array");
        goto out_free;
    }
    t->n_vocab = (uint32_t)toks->v.arr.n;
    rc = load_texts(t, toks, err, errlen);
    if (rc)
        goto out_free;
    t->score = calloc(t->n_vocab, sizeof(*t->score));
    t->attr = malloc(t->n_vocab * sizeof(*t->attr));
    if (!t->score || !t->attr) {
        rc = AIOS_ENOMEM;
        goto out_free;
    }
    kv = llm_gguf_arr(g, "tokenizer.ggml.scores", -1);
    if (kv) {
        if ((kv->v.arr.type != GGUF_VT_F32 && kv->v.arr.type != GGUF_VT_I32) ||
            kv->v.arr.n < t->n_vocab) {
            seterr(err, errlen, "tokenizer.ggml.scores: wrong type or too short");
            rc = AIOS_ECORRUPT;
            goto out_free;
        }
        for (i = 0; i < t->n_vocab; i++)
            t->score[i] = (float)llm_gguf_arr_f64(kv, i);
    }
    kv = llm_gguf_arr(g, "tokenizer.ggml.token_type", -1);
    if (kv && (kv->v.arr.type != GGUF_VT_I32 || kv->v.arr.n < t->n_vocab)) {
        seterr(err, errlen, "tokenizer.ggml.token_type: wrong type or too short");
        rc = AIOS_ECORRUPT;
        goto out_free;
    }
    for (i = 0; i < t->n_vocab; i++)
        t->attr[i] = kv ? attr_of_type(llm_gguf_arr_i64(kv, i)) : LLM_TOKATTR_NORMAL;

    rc = llm__strmap_init(&t->vocab, t->n_vocab);
    for (i = 0; i < t->n_vocab && rc == 0; i++)
        rc = llm__strmap_put(&t->vocab, tok_text(t, (int32_t)i), t->text_len[i], (int32_t)i, true);
    if (rc)
        goto out_free;
    if (t->kind == LLM_VOCAB_BPE) {
        kv = llm_gguf_arr(g, "tokenizer.ggml.merges", GGUF_VT_STRING);
        if (!kv) {
            seterr(err, errlen, "byte-level BPE without tokenizer.ggml.merges");
            rc = AIOS_ECORRUPT;
            goto out_free;
        }
        rc = load_merges(t, kv, err, errlen);
        if (rc)
            goto out_free;
    }
    load_special_ids(t, g);
    if (llm_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b))
        t->add_bos = b;
    if (llm_gguf_get_bool(g, "tokenizer.ggml.add_eos_token", &b))
        t->add_eos = b;
    rc = build_eog(t);
    if (rc == 0)
        rc = build_special(t);
    if (rc == 0)
        rc = build_pieces(t);
    if (rc)
        goto out_free;
    model_attrs(t, g);
    for (i = 0; i < 256; i++) {
        char u[8], c = (char)i;
        size_t ul = llm_bytelevel_encode((unsigned char)i, u);

        t->bl_token[i] = llm__strmap_get(&t->vocab, u, ul);
        t->raw_token[i] = llm__strmap_get(&t->vocab, &c, 1);
        snprintf(u, sizeof(u), "<0x%02X>", i);
        t->byte_token[i] = lookup_cstr(t, u);
        if (t->byte_token[i] < 0)
            t->byte_token[i] = t->raw_token[i];
    }
    if (t->kind == LLM_VOCAB_SPM) {
        t->spm_split = true;
        for (i = 0; i < t->n_vocab && t->spm_split; i++) {
            const char *s = tok_text(t, (int32_t)i), *m = s;
            size_t l = t->text_len[i];

            /* a "▁" (E2 96 81) preceded by anything but another "▁" */
            while ((m = memmem(m, l - (size_t)(m - s), "\xe2\x96\x81", 3))) {
                if (m != s && !(m - s >= 3 && memcmp(m - 3, "\xe2\x96\x81", 3) == 0)) {
                    t->spm_split = false;
                    break;
                }
                m += 3;
            }
        }
    }
    t->chat_template = llm_gguf_dup_str(g, "tokenizer.chat_template");
    *out = t;
    return 0;

out_free:
    if (rc == AIOS_ENOMEM)
        seterr(err, errlen, "out of memory building the tokenizer");
    else if (rc == AIOS_ECORRUPT && err && !strcmp(err, "ok"))
        seterr(err, errlen, "malformed tokenizer data");
    llm_tokenizer_free(t);
    return rc;
}

void llm_tokenizer_free(llm_tokenizer *t)
{
    if (!t)
        return;
    free(t->pre_name);
    free(t->text_pool);
    free(t->text_off);
    free(t->text_len);
    free(t->piece_pool);
    free(t->piece_off);
    free(t->piece_len);
    free(t->score);
    free(t->attr);
    llm__strmap_free(&t->vocab);
    llm__pairmap_free(&t->merges);
    llm__strmap_free(&t->odd_merges);
    free(t->odd_pool);
    free(t->special);
    free(t->eog);
    free(t->chat_template);
    free(t);
}

/* ---- tokenizing --------------------------------------------------------- */

/* A piece of the input: raw text [off, off+len) or a special token. */
typedef struct {
    size_t off, len;
    int32_t id;         /* -1 for raw text */
} frag;

typedef struct {
    frag *v;
    size_t n, cap;
} frags;

static int frag_push(frags *f, frag x)
{
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 16;
        frag *v = realloc(f->v, cap * sizeof(*v));

        if (!v)
            return AIOS_ENOMEM;
        f->v = v;
        f->cap = cap;
    }
    f->v[f->n++] = x;
    return 0;
}

static inline bool c_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* Whether [at, at+len) touches one of the untrusted spans. */
static bool in_untrusted(const llm_text_span *unt, size_t n_unt, size_t at, size_t len)
{
    for (size_t i = 0; i < n_unt; i++) {
        if (at < unt[i].off + unt[i].len && unt[i].off < at + len)
            return true;
    }
    return false;
}

/* Positions in the text where some special token could start (its first
 * byte is one a special token starts with), ascending. */
typedef struct {
    size_t *v;
    size_t n;
} cands;

/* Split every occurrence of special token id out of the raw fragments of
 * *cur (leftmost first, without overlaps), into *next, looking only at the
 * candidate positions.  Tokens flagged LSTRIP / RSTRIP swallow the ASCII
 * whitespace before / after them.  With trusted_only, occurrences touching
 * an untrusted span stay text.  *found tells whether anything was split. */
static int split_one(const llm_tokenizer *t, const char *text, int32_t id, bool trusted_only,
                     const llm_text_span *unt, size_t n_unt, const cands *c, frags *cur,
                     frags *next, bool *found)
{
    const char *tt = tok_text(t, id);
    size_t tl = t->text_len[id], k = 0;
    uint32_t attr = t->attr[id];
    int rc = 0;

    next->n = 0;
    *found = false;
    for (size_t i = 0; i < cur->n && rc == 0; i++) {
        frag f = cur->v[i];
        size_t start, end, search;

        if (f.id >= 0 || f.len < tl) {
            rc = frag_push(next, f);
            continue;
        }
        start = search = f.off;
        end = f.off + f.len;
        while (k < c->n && c->v[k] < search)
            k++;
        for (; rc == 0 && k < c->n && c->v[k] + tl <= end; k++) {
            size_t at = c->v[k], left = at - start;

            if (at < search || text[at] != tt[0] || memcmp(text + at, tt, tl) != 0)
                continue;
            if (trusted_only && in_untrusted(unt, n_unt, at, tl))
                continue;
            if (attr & LLM_TOKATTR_LSTRIP) {
                while (left > 0 && c_space(text[start + left - 1]))
                    left--;
            }
            if (left > 0)
                rc = frag_push(next, (frag){.off = start, .len = left, .id = -1});
            if (rc == 0)
                rc = frag_push(next, (frag){.off = at, .len = tl, .id = id});
            *found = true;
            start = at + tl;
            if (attr & LLM_TOKATTR_RSTRIP) {
                while (start < end && c_space(text[start]))
                    start++;
            }
            search = start;
        }
        if (rc == 0 && end > start)
            rc = frag_push(next, (frag){.off = start, .len = end - start, .id = -1});
    }
    return rc;
}

/* The input as raw fragments and special tokens.  Control and unknown
 * tokens are split out only with parse_special, and then not inside the
 * untrusted spans. */
static int partition(const llm_tokenizer *t, const char *text, size_t len, bool parse_special,
                     const llm_text_span *unt, size_t n_unt, frags *out)
{
    frags a = {0}, b = {0};
    cands c = {0};
    int rc = 0;

    if (len && (rc = frag_push(&a, (frag){.off = 0, .len = len, .id = -1})))
        goto out;
    /* one pass finds where special tokens could start; most texts have
     * few such bytes (or none, and then there is nothing to split) */
    for (size_t i = 0; i < len; i++) {
        if (!t->special_first[(unsigned char)text[i]])
            continue;
        if (!c.v && !(c.v = malloc(len * sizeof(*c.v)))) {
            rc = AIOS_ENOMEM;
            goto out;
        }
        c.v[c.n++] = i;
    }
    for (size_t i = 0; i < t->n_special && a.n && c.n; i++) {
        int32_t id = t->special[i];
        bool ctl = (t->attr[id] & (LLM_TOKATTR_CONTROL | LLM_TOKATTR_UNKNOWN)) != 0;
        bool found;

        if (!parse_special && ctl)
            continue;
        rc = split_one(t, text, id, ctl && n_unt > 0, unt, n_unt, &c, &a, &b, &found);
        if (rc)
            goto out;
        if (found) {
            frags tmp = a;

            a = b;
            b = tmp;
        }
    }
    *out = a;
    a.v = NULL;
out:
    free(a.v);
    free(b.v);
    free(c.v);
    return rc;
}

static int tokenize_common(const llm_tokenizer *t, const char *text, size_t len, bool add_special,
                           bool parse_special, const llm_text_span *unt, size_t n_unt,
                           int32_t **ids, size_t *n)
{
    tok_ids out = {0};
    frags fr = {0};
    bool prev_special = true;
    int rc;

    if (ids)
        *ids = NULL;
    if (n)
        *n = 0;
    if (!t || !ids || !n || (!text && len))
        return AIOS_EINVAL;
    rc = partition(t, text, len, parse_special, unt, n_unt, &fr);
    if (rc)
        goto out;
    if (add_special && t->add_bos && t->bos >= 0)
        rc = llm__ids_push(&out, t->bos);
    for (size_t i = 0; i < fr.n && rc == 0; i++) {
        if (fr.v[i].id >= 0) {
            rc = llm__ids_push(&out, fr.v[i].id);
            prev_special = true;
        } else if (t->kind == LLM_VOCAB_BPE) {
            rc = llm__bpe_fragment(t, text + fr.v[i].off, fr.v[i].len, &out);
        } else {
            rc = llm__spm_fragment(t, text + fr.v[i].off, fr.v[i].len,
                                   t->add_space_prefix && prev_special, &out);
            prev_special = false;
        }
    }
    if (rc == 0 && add_special && t->add_eos && t->eos >= 0)
        rc = llm__ids_push(&out, t->eos);
out:
    free(fr.v);
    if (rc) {
        free(out.v);
        return rc;
    }
    *ids = out.v;
    *n = out.n;
    return 0;
}

int llm_tokenize(const llm_tokenizer *t, const char *text, size_t len, bool add_special,
                 bool parse_special, int32_t **ids, size_t *n)
{
    return tokenize_common(t, text, len, add_special, parse_special, NULL, 0, ids, n);
}

int llm_tokenize_trusted(const llm_tokenizer *t, const char *text, size_t len,
                         const llm_text_span *untrusted, size_t n_untrusted, bool add_special,
                         int32_t **ids, size_t *n)
{
    if (n_untrusted && !untrusted)
        return AIOS_EINVAL;
    return tokenize_common(t, text, len, add_special, true, untrusted, n_untrusted, ids, n);
}

/* ---- pieces and detokenizing -------------------------------------------- */

int llm_token_piece(const llm_tokenizer *t, int32_t id, bool special, const char **bytes,
                    size_t *len)
{
    if (!t || !id_ok(t, id))
        return AIOS_ERANGE;
    if (!special && (t->attr[id] & (LLM_TOKATTR_UNKNOWN | LLM_TOKATTR_CONTROL))) {
        *bytes = "";
        *len = 0;
        return 0;
    }
    *bytes = t->piece_pool + t->piece_off[id];
    *len = t->piece_len[id];
    return 0;
}

int llm_token_text(const llm_tokenizer *t, int32_t id, const char **text, size_t *len)
{
    if (!t || !id_ok(t, id))
        return AIOS_ERANGE;
    *text = tok_text(t, id);
    *len = t->text_len[id];
    return 0;
}

int32_t llm_token_lookup(const llm_tokenizer *t, const char *text, size_t len)
{
    int32_t id = llm__strmap_get(&t->vocab, text, len);

    return id >= 0 ? id : LLM_TOKEN_NONE;
}

/* llama.cpp's clean-up of detokenized text for tokenizers trained with
 * clean_up_tokenization_spaces: drop the space before ? ! . , and before
 * 's 'm 're 've, and around a lone apostrophe.  In place; returns the new
 * length.  (The passes read neighbours that earlier writes may have
 * changed, exactly as the reference does.) */
static size_t clean_spaces(char *s, size_t n)
{
    size_t total, i, n1, n2, n3;

    n1 = n;
    total = n1 ? 1 : 0;
    for (i = 1; i < n1; i++) {
        char x = s[i];

        if (s[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ','))
            total--;
        s[total++] = x;
    }
    n2 = total;
    total = n2 ? 1 : 0;
    for (i = 1; i < n2; i++) {
        char x = s[i];

        if (x == '\'' && i + 1 < n2 && s[i - 1] == ' ' && s[i + 1] == ' ') {
            total--;
            s[++i] = '\0';
        }
        s[total++] = x;
    }
    n3 = total;
    total = n3 ? 1 : 0;
    for (i = 1; i < n3; i++) {
        char x = s[i];

        if (s[i - 1] == ' ' && x == '\'' && i + 1 < n3) {
            char x1 = s[i + 1];

            if (x1 == 's' || x1 == 'm')
                total--;
            else if (x1 != 't' && x1 != 'd' && i + 2 < n3) {
                char x2 = s[i + 2];

                if ((x1 == 'r' && x2 == 'e') || (x1 == 'v' && x2 == 'e'))
                    total--;
            }
        }
        s[total++] = x;
    }
    return total;
}

int llm_detokenize(const llm_tokenizer *t, const int32_t *ids, size_t n, bool special,
                   char **text, size_t *len)
{
    size_t total = 0, o = 0, i;
    bool strip = t->add_space_prefix;
    char *buf;

    *text = NULL;
    *len = 0;
    for (i = 0; i < n; i++) {
        if (!id_ok(t, ids[i]))
            return AIOS_ERANGE;
        total += t->piece_len[ids[i]];
    }
    buf = malloc(total + 1);
    if (!buf)
        return AIOS_ENOMEM;
    for (i = 0; i < n; i++) {
        const char *p;
        size_t pl;

        llm_token_piece(t, ids[i], special, &p, &pl);
        /* SentencePiece: the first token's leading space is the prefix
         * space tokenizing added */
        if (strip && pl && p[0] == ' ') {
            p++;
            pl--;
        }
        strip = false;
        memcpy(buf + o, p, pl);
        o += pl;
    }
    if (t->clean_spaces)
        o = clean_spaces(buf, o);
    buf[o] = '\0';
    *text = buf;
    *len = o;
    return 0;
}

/* ---- queries ------------------------------------------------------------ */

llm_vocab_kind llm_tokenizer_kind(const llm_tokenizer *t) { return t->kind; }
const char *llm_tokenizer_pre(const llm_tokenizer *t) { return t->pre_name; }
uint32_t llm_tokenizer_n_vocab(const llm_tokenizer *t) { return t->n_vocab; }
bool llm_tokenizer_add_bos(const llm_tokenizer *t) { return t->add_bos; }
bool llm_tokenizer_add_eos(const llm_tokenizer *t) { return t->add_eos; }
const char *llm_tokenizer_chat_template(const llm_tokenizer *t) { return t->chat_template; }
int32_t llm_token_bos(const llm_tokenizer *t) { return t->bos; }
int32_t llm_token_eos(const llm_tokenizer *t) { return t->eos; }
int32_t llm_token_eot(const llm_tokenizer *t) { return t->eot; }
int32_t llm_token_unk(const llm_tokenizer *t) { return t->unk; }
int32_t llm_token_pad(const llm_tokenizer *t) { return t->pad; }

uint32_t llm_token_attr(const llm_tokenizer *t, int32_t id)
{
    return id_ok(t, id) ? t->attr[id] : 0;
}

bool llm_token_is_special(const llm_tokenizer *t, int32_t id)
{
    return id_ok(t, id) && (t->attr[id] & (LLM_TOKATTR_CONTROL | LLM_TOKATTR_UNKNOWN));
}

bool llm_token_is_eog(const llm_tokenizer *t, int32_t id)
{
    size_t lo = 0, hi = t->n_eog;

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;

        if (t->eog[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < t->n_eog && t->eog[lo] == id;
}

const int32_t *llm_token_eog_ids(const llm_tokenizer *t, size_t *n)
{
    *n = t->n_eog;
    return t->eog;
}

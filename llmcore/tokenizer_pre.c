/*
 * tokenizer_pre.c - pre-tokenizers for byte-level BPE: split text (as code
 * points) into the words BPE then merges within.
 *
 * Each tokenizer.ggml.pre name selects one of four splitters, written by
 * hand instead of with a regex engine.  They reproduce the behaviour of
 * llama.cpp's splitters for the same names, including where those differ
 * from a textbook regex engine (for example a lone trailing space at the
 * end of the text is a word of its own).  The regular expressions they
 * stand for:
 *
 *   gpt2    's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *   llama3  (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}
 *           | ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 *   qwen2   as llama3, with \p{N} instead of \p{N}{1,3}
 *   smollm  \p{N} split off first (every digit alone), then gpt2 on the rest
 *
 * Pure functions over the caller's arrays; any thread.
 */
#include <stdlib.h>
#include <string.h>

#include "aios/error.h"
#include "llmcore/tokenizer_int.h"
#include "llmcore/unicode.h"

/* name -> splitter and the flags llama.cpp gives the name. */
static const tok_pre_row pre_rows[] = {
    /* name            kind            clean  ignore add_bos */
    {"gpt-2",          TOK_PRE_GPT2,   true,  false, false},
    {"phi-2",          TOK_PRE_GPT2,   true,  false, false},
    {"mpt",            TOK_PRE_GPT2,   true,  false, false},
    {"olmo",           TOK_PRE_GPT2,   true,  false, false},
    {"jais",           TOK_PRE_GPT2,   true,  false, false},
    {"gigachat",       TOK_PRE_GPT2,   true,  false, false},
    {"mellum",         TOK_PRE_GPT2,   true,  false, false},
    {"a.x-4.0",        TOK_PRE_GPT2,   true,  false, false},
    {"exaone4",        TOK_PRE_GPT2,   true,  false, false},
    {"trillion",       TOK_PRE_GPT2,   false, false, false},
    {"granite-docling", TOK_PRE_GPT2,  false, false, false},
    {"llama3",         TOK_PRE_LLAMA3, true,  true,  true},
    {"llama-v3",       TOK_PRE_LLAMA3, true,  true,  true},
    {"llama-bpe",      TOK_PRE_LLAMA3, true,  true,  true},
    {"falcon3",        TOK_PRE_LLAMA3, true,  true,  true},
    {"falcon-h1",      TOK_PRE_LLAMA3, true,  true,  true},
    {"pixtral",        TOK_PRE_LLAMA3, true,  true,  true},
    {"midm-2.0",       TOK_PRE_LLAMA3, true,  true,  true},
    {"lfm2",           TOK_PRE_LLAMA3, true,  true,  true},
    {"dbrx",           TOK_PRE_LLAMA3, true,  false, false},
    {"smaug-bpe",      TOK_PRE_LLAMA3, true,  false, false},
    {"qwen2",          TOK_PRE_QWEN2,  false, false, false},
    {"deepseek-r1-qwen", TOK_PRE_QWEN2, false, false, false},
    {"kormo",          TOK_PRE_QWEN2,  false, false, false},
    {"stablelm2",      TOK_PRE_QWEN2,  true,  false, false},
    {"megrez",         TOK_PRE_QWEN2,  true,  false, false},
    {"hunyuan",        TOK_PRE_QWEN2,  false, false, false},
    {"grok-2",         TOK_PRE_QWEN2,  false, false, false},
    {"smollm",         TOK_PRE_SMOLLM, false, false, false},
    {"starcoder",      TOK_PRE_SMOLLM, true,  false, false},
    {"refact",         TOK_PRE_SMOLLM, true,  false, false},
    {"codeshell",      TOK_PRE_SMOLLM, true,  false, false},
    {"exaone",         TOK_PRE_SMOLLM, true,  false, false},
    {"minerva-7b",     TOK_PRE_SMOLLM, true,  false, false},
    {"command-r",      TOK_PRE_SMOLLM, false, false, false},
};

const tok_pre_row *llm__pre_find(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof(pre_rows) / sizeof(pre_rows[0]); i++) {
        if (strlen(pre_rows[i].name) == len && memcmp(pre_rows[i].name, name, len) == 0)
            return &pre_rows[i];
    }
    return NULL;
}

/* ---- the splitters ------------------------------------------------------ */

/* Flags of a position: the code point's flags plus IN when inside the
 * segment; 0 outside, which no class test accepts. */
#define IN 0x80

typedef struct {
    const uint32_t *cp;
    const uint8_t *fl;     /* llm_uc_flags of each code point */
    size_t end;            /* end of the current segment */
    size_t prev;           /* end of the last word emitted */
    tok_u32s *lens;
    int rc;
} split;

static inline uint8_t at(const split *s, size_t pos)
{
    return pos < s->end ? (uint8_t)(s->fl[pos] | IN) : 0;
}

static inline bool is_l(uint8_t f) { return (f & LLM_UC_CLASS_MASK) == LLM_UC_LETTER; }
static inline bool is_n(uint8_t f) { return (f & LLM_UC_CLASS_MASK) == LLM_UC_NUMBER; }
static inline bool is_ws(uint8_t f) { return (f & LLM_UC_WHITESPACE) != 0; }
/* [^\s\p{L}\p{N}] inside the segment */
static inline bool is_other(uint8_t f) { return (f & IN) && !is_ws(f) && !is_l(f) && !is_n(f); }
static inline bool is_crlf(uint32_t c) { return c == '\r' || c == '\n'; }

static int push_len(tok_u32s *v, uint32_t x)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 256;
        uint32_t *p = realloc(v->v, cap * sizeof(*p));

        if (!p)
            return AIOS_ENOMEM;
        v->v = p;
        v->cap = cap;
    }
    v->v[v->n++] = x;
    return 0;
}

/* End the current word at pos (nothing when it would be empty). */
static void emit(split *s, size_t pos)
{
    if (pos > s->prev && s->rc == 0)
        s->rc = push_len(s->lens, (uint32_t)(pos - s->prev));
    s->prev = pos;
}

/* 's 't 're 've 'm 'll 'd at pos; returns the match length or 0.  fold
 * lower-cases the letters first (the (?i:...) of llama3 and qwen2). */
static size_t contraction(const split *s, size_t pos, bool fold)
{
    uint32_t c1, c2;

    if (s->cp[pos] != '\'' || pos + 1 >= s->end)
        return 0;
    c1 = fold ? llm_uc_tolower(s->cp[pos + 1]) : s->cp[pos + 1];
    if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd')
        return 2;
    if (pos + 2 >= s->end)
        return 0;
    c2 = fold ? llm_uc_tolower(s->cp[pos + 2]) : s->cp[pos + 2];
    if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l'))
        return 3;
    return 0;
}

/* Whitespace: \s+(?!\S) leaves the last space of a run for the next word
 * when something follows in the segment, else \s+ takes all. */
static size_t ws_run(const split *s, size_t pos)
{
    size_t n = 0;

    while (is_ws(at(s, pos + n)))
        n++;
    if (n > 1 && pos + n < s->end)
        return n - 1;
    return n;
}

/* gpt2 over [ini, end). */
static void split_gpt2(split *s, size_t ini, size_t end)
{
    size_t pos = ini, k;

    s->end = end;
    s->prev = ini;
    while (pos < end) {
        uint32_t c = s->cp[pos];
        uint8_t f2;

        if ((k = contraction(s, pos, false))) {
            pos += k;
            emit(s, pos);
            continue;
        }
        /* " ?" then letters, numbers or others */
        f2 = c == ' ' ? at(s, pos + 1) : at(s, pos);
        if (is_l(f2) || is_n(f2) || is_other(f2)) {
            bool (*same)(uint8_t) = is_l(f2) ? is_l : is_n(f2) ? is_n : is_other;

            pos += c == ' ';
            while (same(at(s, pos)))
                pos++;
            emit(s, pos);
            continue;
        }
        if ((k = ws_run(s, pos))) {
            pos += k;
            emit(s, pos);
            continue;
        }
        emit(s, ++pos);
    }
}

/* llama3 (digits in threes) and qwen2 (one digit) over [ini, end). */
static void split_llama3(split *s, size_t ini, size_t end, bool one_digit)
{
    size_t pos = ini, k;

    s->end = end;
    s->prev = ini;
    while (pos < end) {
        uint32_t c = s->cp[pos];
        uint8_t f = at(s, pos), f2;

        if ((k = contraction(s, pos, true))) {
            pos += k;
            emit(s, pos);
            continue;
        }
        /* [^\r\n\p{L}\p{N}]?\p{L}+ */
        if (!is_crlf(c) && !is_n(f) && (is_l(f) || is_l(at(s, pos + 1)))) {
            pos++;
            while (is_l(at(s, pos)))
                pos++;
            emit(s, pos);
            continue;
        }
        /* \p{N}{1,3} or \p{N} */
        if (is_n(f)) {
            if (one_digit) {
                emit(s, ++pos);
                continue;
            }
            size_t run = pos;

            while (is_n(at(s, pos))) {
                if (++pos - run >= 3) {
                    emit(s, pos);
                    run = pos;
                }
            }
            emit(s, pos);
            continue;
        }
        /* " ?[^\s\p{L}\p{N}]+[\r\n]*": a space followed by the end of the
         * segment also lands here, as one word */
        f2 = c == ' ' ? at(s, pos + 1) : f;
        if (!is_ws(f2) && !is_l(f2) && !is_n(f2)) {
            pos += c == ' ';
            while (is_other(at(s, pos)))
                pos++;
            while (pos < end && is_crlf(s->cp[pos]))
                pos++;
            emit(s, pos);
            continue;
        }
        /* \s*[\r\n]+ : up to the last CR/LF of the whitespace run */
        {
            size_t n = 0, last_nl = 0;

            while (is_ws(at(s, pos + n))) {
                if (is_crlf(s->cp[pos + n]))
                    last_nl = pos + n + 1;
                n++;
            }
            if (last_nl) {
                pos = last_nl;
                emit(s, pos);
                continue;
            }
        }
        if ((k = ws_run(s, pos))) {
            pos += k;
            emit(s, pos);
            continue;
        }
        emit(s, ++pos);
    }
}

int llm__pre_split(tok_pre_kind kind, const uint32_t *cps, size_t n, tok_u32s *lens)
{
    uint8_t *fl = malloc(n ? n : 1);
    split s = {.cp = cps, .fl = fl, .lens = lens};
    size_t i, seg;

    if (!fl)
        return AIOS_ENOMEM;
    for (i = 0; i < n; i++)
        fl[i] = llm_uc_flags(cps[i]);
    switch (kind) {
    case TOK_PRE_GPT2:
        split_gpt2(&s, 0, n);
        break;
    case TOK_PRE_LLAMA3:
        split_llama3(&s, 0, n, false);
        break;
    case TOK_PRE_QWEN2:
        split_llama3(&s, 0, n, true);
        break;
    case TOK_PRE_SMOLLM:
        /* every number code point is a segment of its own; gpt2 runs
         * inside the stretches between them */
        for (i = 0, seg = 0; i < n && s.rc == 0; i++) {
            if (!is_n(fl[i]))
                continue;
            if (i > seg)
                split_gpt2(&s, seg, i);
            if (s.rc == 0)
                s.rc = push_len(lens, 1);
            seg = i + 1;
        }
        if (seg < n && s.rc == 0)
            split_gpt2(&s, seg, n);
        break;
    }
    free(fl);
    return s.rc;
}

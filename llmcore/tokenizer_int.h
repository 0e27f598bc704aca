/*
 * tokenizer_int.h - internals shared by the tokenizer's files (private to
 * llmcore/tokenizer*.c): the tokenizer struct, the hash maps it looks
 * tokens and merges up in, the id vector, and the per-kind entry points.
 *
 *   tokenizer.c      loading from GGUF, special tokens, partitioning,
 *                    llm_tokenize / pieces / detokenize, queries
 *   tokenizer_map.c  the hash maps
 *   tokenizer_pre.c  pre-tokenizers (hand-written equivalents of the
 *                    regular expressions llama.cpp uses per tokenizer.ggml.pre)
 *   tokenizer_bpe.c  byte-level BPE over pre-tokenized words
 *   tokenizer_spm.c  SentencePiece score-driven merges with byte fallback
 *   tokenizer_stream.c  the streaming UTF-8-safe detokenizer
 *
 * All of it reads an immutable llm_tokenizer; per-call state lives on the
 * caller's stack or heap, so any thread may tokenize.
 */
#ifndef LLM_TOKENIZER_INT_H
#define LLM_TOKENIZER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "llmcore/tokenizer.h"

/* ---- hash maps ---------------------------------------------------------- */

/* String -> int32.  Keys are borrowed: they must outlive the map (they
 * point into the tokenizer's pools). */
typedef struct {
    const char *key;
    uint32_t len;
    int32_t val;
    uint64_t hash;
} tok_sentry;

typedef struct {
    tok_sentry *e;      /* entries in insertion order */
    uint32_t n;
    uint32_t mask;      /* slot count - 1 (a power of two) */
    int32_t *slot;      /* entry index or -1 */
} tok_strmap;

/* Room for n keys; 0 or AIOS_ENOMEM. */
int llm__strmap_init(tok_strmap *m, uint32_t n);
void llm__strmap_free(tok_strmap *m);
/* Insert key -> val.  When the key is present: replace its value if
 * overwrite, else keep the first.  The map never grows past its init size
 * (callers size it for all keys); AIOS_ELIMIT when full. */
int llm__strmap_put(tok_strmap *m, const char *key, uint32_t len, int32_t val, bool overwrite);
/* Value of key, or -1. */
int32_t llm__strmap_get(const tok_strmap *m, const char *key, size_t len);

/* (int32, int32) -> (rank, result id); the BPE merge table by token ids.
 * One 16-byte slot per entry, so a lookup touches one cache line. */
typedef struct {
    uint64_t key;       /* (left << 32 | right); UINT64_MAX = empty */
    int32_t rank;
    int32_t result;     /* id of the merged text, -1 if not a token */
} tok_pair;

typedef struct {
    tok_pair *slot;
    uint32_t mask;
} tok_pairmap;

int llm__pairmap_init(tok_pairmap *m, uint32_t n);
void llm__pairmap_free(tok_pairmap *m);
/* Insert unless present (the first rank of a pair wins, as in llama.cpp). */
void llm__pairmap_put(tok_pairmap *m, int32_t a, int32_t b, int32_t rank, int32_t result);
/* Rank of (a, b) or -1; *result gets the merged id. */
int32_t llm__pairmap_get(const tok_pairmap *m, int32_t a, int32_t b, int32_t *result);

/* ---- growable id vector ------------------------------------------------- */

typedef struct {
    int32_t *v;
    size_t n, cap;
} tok_ids;

int llm__ids_push(tok_ids *ids, int32_t id);

/* ---- pre-tokenizers ----------------------------------------------------- */

typedef enum {
    TOK_PRE_GPT2 = 1,   /* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
    TOK_PRE_LLAMA3,     /* (?i:'s|...)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+ */
    TOK_PRE_QWEN2,      /* as LLAMA3 with \p{N} one digit at a time */
    TOK_PRE_SMOLLM,     /* \p{N} isolated first, then GPT2 */
} tok_pre_kind;

/* One row per tokenizer.ggml.pre name: which splitter and the flags
 * llama.cpp attaches to the name. */
typedef struct {
    const char *name;
    tok_pre_kind kind;
    bool clean_spaces;  /* detokenizer removes " ," " ." " 's" ... */
    bool ignore_merges; /* a word that is a whole token skips merging */
    bool add_bos;       /* default of add_bos_token when the file is silent */
} tok_pre_row;

/* The row for a name, NULL when unsupported. */
const tok_pre_row *llm__pre_find(const char *name, size_t len);

/*
 * Split code points cps[0..n) into words: appends each word's length in
 * code points to *lens (grown as needed).  0 or AIOS_ENOMEM.
 */
typedef struct {
    uint32_t *v;
    size_t n, cap;
} tok_u32s;

int llm__pre_split(tok_pre_kind kind, const uint32_t *cps, size_t n, tok_u32s *lens);

/* ---- the tokenizer ------------------------------------------------------ */

struct llm_tokenizer {
    llm_vocab_kind kind;
    const tok_pre_row *pre;     /* BPE only */
    char *pre_name;             /* "" when absent */
    uint32_t n_vocab;

    char *text_pool;            /* token texts, each NUL-terminated */
    uint32_t *text_off, *text_len;
    char *piece_pool;           /* rendered pieces (special=true form) */
    uint32_t *piece_off, *piece_len;
    float *score;
    uint32_t *attr;             /* LLM_TOKATTR_* */

    tok_strmap vocab;           /* text -> id (the last id of a duplicate text) */
    tok_pairmap merges;         /* (id, id) -> rank, merged id */
    tok_strmap odd_merges;      /* "left right" -> rank, for merges whose halves are not both tokens */
    char *odd_pool;

    int32_t *special;           /* split-out candidates, longest text first */
    size_t n_special;
    bool special_first[256];    /* bytes some special token starts with */
    int32_t *eog;               /* ascending */
    size_t n_eog;

    int32_t bos, eos, eot, eom, unk, pad, sep;
    int32_t fim_pre, fim_suf, fim_mid, fim_pad, fim_rep, fim_sep;
    bool add_bos, add_eos, add_space_prefix, clean_spaces, ignore_merges;
    bool spm_split;             /* SPM: no token has "▁" after another character */

    int32_t bl_token[256];      /* BPE: id of the byte-level char of byte b */
    int32_t raw_token[256];     /* id of the one-byte text b (BPE fallback) */
    int32_t byte_token[256];    /* SPM: id of <0xXX>, else of the raw byte, else -1 */

    char *chat_template;
};

/* Tokenize one raw fragment (no special tokens inside) and append ids;
 * SentencePiece puts a "▁" in front when prefix_space. */
int llm__bpe_fragment(const llm_tokenizer *t, const char *text, size_t len, tok_ids *out);
int llm__spm_fragment(const llm_tokenizer *t, const char *text, size_t len, bool prefix_space,
                      tok_ids *out);

#endif /* LLM_TOKENIZER_INT_H */

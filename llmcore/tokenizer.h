/*
 * tokenizer.h - text <-> token ids for GGUF models (private to llmcore; the
 * lead exposes what other modules need through include/aios/llm.h).
 *
 * Two vocabulary kinds, chosen by tokenizer.ggml.model:
 *   "gpt2"  byte-level BPE: the text is split by the pre-tokenizer named in
 *           tokenizer.ggml.pre (gpt-2, llama-bpe, qwen2, smollm and their
 *           aliases), each word's bytes are mapped to printable code points
 *           and merged by the ranked merge list;
 *   "llama" SentencePiece: spaces become U+2581, pieces merge by score, and
 *           pieces missing from the vocabulary fall back to <0xXX> tokens.
 * Special tokens (control, user-defined, unknown) are split out of the text
 * before either runs; BOS/EOS are added per the file's rules.  The results
 * agree token for token with llama.cpp (llama-cpp-python 0.3.36), checked
 * by tests/unit/llmcore/test_tokenizer*.c against committed fixtures.
 *
 * Ownership and threads: an llm_tokenizer is built once from an open GGUF
 * file, copies everything it needs (the GGUF may be closed afterwards) and
 * is immutable: any number of threads may tokenize with it at once.  A
 * detokenizer stream belongs to one sequence and one thread at a time.
 * Functions return 0 or a negative AIOS_E* code.
 */
#ifndef LLM_TOKENIZER_H
#define LLM_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "llmcore/gguf.h"

typedef struct llm_tokenizer llm_tokenizer;

/* Vocabulary kinds. */
typedef enum {
    LLM_VOCAB_BPE = 1, /* tokenizer.ggml.model "gpt2" */
    LLM_VOCAB_SPM = 2, /* tokenizer.ggml.model "llama" */
} llm_vocab_kind;

/* Token attributes (a bit set): the file's tokenizer.ggml.token_type
 * (1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte) plus
 * the adjustments llama.cpp makes by token text (EOG/FIM tokens become
 * control, control tokens named "unused" become unused, ...). */
enum {
    LLM_TOKATTR_UNDEFINED = 0,
    LLM_TOKATTR_UNKNOWN = 1 << 0,
    LLM_TOKATTR_UNUSED = 1 << 1,
    LLM_TOKATTR_NORMAL = 1 << 2,
    LLM_TOKATTR_CONTROL = 1 << 3,
    LLM_TOKATTR_USER_DEFINED = 1 << 4,
    LLM_TOKATTR_BYTE = 1 << 5,
    LLM_TOKATTR_LSTRIP = 1 << 7, /* eats whitespace before it when split out */
    LLM_TOKATTR_RSTRIP = 1 << 8, /* eats whitespace after it when split out */
};

#define LLM_TOKEN_NONE (-1)

/*
 * Build the tokenizer from the tokenizer.* keys of an open GGUF file.
 * AIOS_ENOTSUP for an unknown model kind or pre-tokenizer (named in err),
 * AIOS_ECORRUPT for missing or inconsistent arrays, AIOS_ENOMEM.  *out is
 * NULL on failure.
 */
int llm_tokenizer_from_gguf(const llm_gguf *g, llm_tokenizer **out, char *err, size_t errlen);
void llm_tokenizer_free(llm_tokenizer *t);

/*
 * text[0..len) -> token ids in a malloc'd array *ids (caller frees; may be
 * NULL when *n is 0).  add_special adds BOS and EOS when the file says so
 * (tokenizer.ggml.add_bos_token / add_eos_token, else the kind's default).
 * parse_special turns the text of control tokens such as "<|im_start|>"
 * into their ids: true for trusted template text, false for user content
 * (user-defined tokens are split out either way, as llama.cpp does).
 * Invalid UTF-8 is accepted: bad bytes tokenize as U+FFFD.
 */
int llm_tokenize(const llm_tokenizer *t, const char *text, size_t len, bool add_special,
                 bool parse_special, int32_t **ids, size_t *n);

/* A byte range of a text. */
typedef struct {
    size_t off, len;
} llm_text_span;

/*
 * Tokenize text whose special-token text is trusted except inside the
 * given spans (sorted, not overlapping): as llm_tokenize with parse_special,
 * but control-token text that touches an untrusted span stays text.  For
 * prompts built from a template (trusted) around user contents.
 */
int llm_tokenize_trusted(const llm_tokenizer *t, const char *text, size_t len,
                         const llm_text_span *untrusted, size_t n_untrusted, bool add_special,
                         int32_t **ids, size_t *n);

/*
 * The bytes a token stands for (borrowed, valid while t lives, not
 * NUL-terminated; may be a partial UTF-8 sequence).  With special false,
 * control and unknown tokens are empty (as llama.cpp renders them to
 * users); with special true they give their text ("<|im_end|>").  This is
 * what constrained decoding matches against.  AIOS_ERANGE for a bad id.
 */
int llm_token_piece(const llm_tokenizer *t, int32_t id, bool special, const char **bytes,
                    size_t *len);

/* The token's text as stored in the vocabulary (byte-level or U+2581
 * form); borrowed.  AIOS_ERANGE for a bad id. */
int llm_token_text(const llm_tokenizer *t, int32_t id, const char **text, size_t *len);

/* The id whose vocabulary text is exactly text[0..len), or LLM_TOKEN_NONE. */
int32_t llm_token_lookup(const llm_tokenizer *t, const char *text, size_t len);

/*
 * ids -> text, as llama_detokenize(remove_special=false,
 * unparse_special=special): the pieces joined, the leading space of a
 * SentencePiece text removed, and the file's clean-up of spaces before
 * punctuation applied (gpt-2 and llama-bpe vocabularies).  *text is
 * malloc'd and NUL-terminated (caller frees); it may hold invalid UTF-8
 * when the ids split a character.  AIOS_ERANGE for a bad id.
 */
int llm_detokenize(const llm_tokenizer *t, const int32_t *ids, size_t n, bool special,
                   char **text, size_t *len);

/* ---- vocabulary facts ---- */
llm_vocab_kind llm_tokenizer_kind(const llm_tokenizer *t);
/* tokenizer.ggml.pre ("smollm", ...); "" for SentencePiece files without it */
const char *llm_tokenizer_pre(const llm_tokenizer *t);
uint32_t llm_tokenizer_n_vocab(const llm_tokenizer *t);
bool llm_tokenizer_add_bos(const llm_tokenizer *t);
bool llm_tokenizer_add_eos(const llm_tokenizer *t);
/* tokenizer.chat_template (NUL-terminated, borrowed) or NULL */
const char *llm_tokenizer_chat_template(const llm_tokenizer *t);

/* Special ids, LLM_TOKEN_NONE when the vocabulary has none. */
int32_t llm_token_bos(const llm_tokenizer *t);
int32_t llm_token_eos(const llm_tokenizer *t);
int32_t llm_token_eot(const llm_tokenizer *t); /* end of turn: <|im_end|>, <|eot_id|>, ... */
int32_t llm_token_unk(const llm_tokenizer *t);
int32_t llm_token_pad(const llm_tokenizer *t);

/* Attribute bits (LLM_TOKATTR_*) of a token; 0 for a bad id. */
uint32_t llm_token_attr(const llm_tokenizer *t, int32_t id);
/* Control or unknown: rendered as nothing to users, never plain text. */
bool llm_token_is_special(const llm_tokenizer *t, int32_t id);

/* End of generation: EOS, EOT, EOM and the end-of-turn tokens llama.cpp
 * recognises by text (<|im_end|>, <|eot_id|>, <|endoftext|>, ...). */
bool llm_token_is_eog(const llm_tokenizer *t, int32_t id);
/* The end-of-generation ids, ascending (borrowed). */
const int32_t *llm_token_eog_ids(const llm_tokenizer *t, size_t *n);

/*
 * Streaming detokenizer: feed generated ids one at a time and get back only
 * complete, well-formed UTF-8.  Bytes of a character split across tokens
 * are held until the character is complete; ill-formed bytes become U+FFFD
 * (one per maximal ill-formed subpart, as Python's "replace" does), so the
 * concatenation of everything returned is always valid UTF-8 and equals the
 * sanitized joined pieces.  Pieces are joined raw (special as given; no
 * leading-space or clean-up rules, like llama.cpp's streaming servers).
 */
typedef struct llm_detok_stream llm_detok_stream;

int llm_detok_stream_new(const llm_tokenizer *t, bool special, llm_detok_stream **out);
void llm_detok_stream_free(llm_detok_stream *s);
/* Feed one id; *text and *len get the complete text it released (borrowed,
 * valid until the next call on s; may be empty).  AIOS_ERANGE for a bad id. */
int llm_detok_stream_push(llm_detok_stream *s, int32_t id, const char **text, size_t *len);
/* End of stream: releases held bytes (an incomplete tail becomes U+FFFD)
 * and resets the stream for reuse. */
int llm_detok_stream_flush(llm_detok_stream *s, const char **text, size_t *len);

#endif /* LLM_TOKENIZER_H */

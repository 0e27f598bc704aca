/*
 * vocab_bytes.h - every token of a GGUF vocabulary as its raw bytes (private
 * to llmcore).
 *
 * Constrained decoding and stop strings work on bytes, not on the printable
 * alphabet a tokenizer stores.  This adapter reads `tokenizer.ggml.tokens`
 * and maps each entry back to the bytes it stands for: the GPT-2 byte alphabet
 * for `gpt2` (byte-level BPE) vocabularies, "\xe2\x96\x81" -> space and
 * <0xXX> byte tokens for `llama` (SentencePiece) ones.  It also marks the
 * tokens that are never text (control, unknown, unused and undecodable ones)
 * and collects the end-of-generation ids.  It does not tokenize; once the
 * tokenizer's llm_token_piece() lands, this stays the one place that builds
 * the byte table the grammar consumes.
 *
 * Immutable after load; any thread may read it.
 */
#ifndef LLM_VOCAB_BYTES_H
#define LLM_VOCAB_BYTES_H

#include <stdbool.h>
#include <stdint.h>

#include "llmcore/gguf.h"

#define LLM_VB_MAX_EOG 8

typedef struct llm_vocab_bytes {
    int n_vocab;
    char **bytes;        /* [n_vocab] malloc'd raw bytes (NUL-terminated for convenience) */
    uint32_t *len;       /* [n_vocab] byte length */
    uint8_t *special;    /* [n_vocab] 1: not text (control/unknown/unused/undecodable) */
    int32_t eog[LLM_VB_MAX_EOG]; /* end-of-generation token ids */
    int n_eog;
} llm_vocab_bytes;

/*
 * Build the byte table of the vocabulary held in g.  Returns 0, AIOS_ENOENT
 * (no tokenizer.ggml.tokens), AIOS_ENOTSUP (unknown tokenizer.ggml.model) or
 * AIOS_ENOMEM.  The caller frees *out with llm_vocab_bytes_free().
 */
int llm_vocab_bytes_load(const llm_gguf *g, llm_vocab_bytes **out);

/* Open the GGUF file at path and load its byte table (convenience for tests
 * and tools; the file is closed again before returning). */
int llm_vocab_bytes_load_file(const char *path, llm_vocab_bytes **out);

void llm_vocab_bytes_free(llm_vocab_bytes *vb);

#endif /* LLM_VOCAB_BYTES_H */

/*
 * vocab_bytes.h - every token of a GGUF vocabulary as its raw bytes (private
 * to llmcore).
 *
 * Constrained decoding and stop strings work on bytes, not on the printable
 * alphabet a vocabulary stores.  This adapter asks the project's tokenizer
 * (llmcore/tokenizer.h) for each token's bytes (llm_token_piece), marks the
 * tokens that are never text (control, unknown, unused and empty ones) and
 * copies the tokenizer's end-of-generation set, so the grammar, the stop
 * strings and the tokenizer agree on every id.
 *
 * Immutable after load; any thread may read it.
 */
#ifndef LLM_VOCAB_BYTES_H
#define LLM_VOCAB_BYTES_H

#include <stdbool.h>
#include <stdint.h>

#include "llmcore/gguf.h"
#include "llmcore/tokenizer.h"

typedef struct llm_vocab_bytes {
    int n_vocab;
    char **bytes;        /* [n_vocab] malloc'd raw bytes (NUL-terminated for convenience) */
    uint32_t *len;       /* [n_vocab] byte length */
    uint8_t *special;    /* [n_vocab] 1: not text (control/unknown/unused/undecodable) */
    int32_t *eog;        /* [n_eog] end-of-generation token ids, ascending */
    int n_eog;
} llm_vocab_bytes;

/*
 * Build the byte table of tokenizer t.  Special tokens keep their text
 * ("<|im_end|>") in bytes[] for names and logs, flagged in special[].
 * Returns 0 or AIOS_ENOMEM.  The caller frees *out with
 * llm_vocab_bytes_free().
 */
int llm_vocab_bytes_from_tokenizer(const llm_tokenizer *t, llm_vocab_bytes **out);

/*
 * The same for the vocabulary held in g (a tokenizer is built and dropped
 * again).  Returns 0, the tokenizer's errors (AIOS_ENOENT: no vocabulary,
 * AIOS_ENOTSUP: a tokenizer model we do not implement) or AIOS_ENOMEM.
 */
int llm_vocab_bytes_load(const llm_gguf *g, llm_vocab_bytes **out);

/* Open the GGUF file at path and load its byte table (convenience for tests
 * and tools; the file is closed again before returning). */
int llm_vocab_bytes_load_file(const char *path, llm_vocab_bytes **out);

void llm_vocab_bytes_free(llm_vocab_bytes *vb);

#endif /* LLM_VOCAB_BYTES_H */

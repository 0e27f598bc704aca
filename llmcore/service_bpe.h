/*
 * service_bpe.h - byte-level BPE for the service's text path (private to
 * llmcore; see service_bpe.c).  Immutable after creation; any thread.
 */
#ifndef LLM_SERVICE_BPE_H
#define LLM_SERVICE_BPE_H

#include <stddef.h>
#include <stdint.h>

#include "llmcore/gguf.h"

typedef struct llm_bpe llm_bpe;

/* From a `gpt2` vocabulary with merges; AIOS_ENOTSUP for other kinds.  The
 * tables point into g's mapping: g must outlive the tokenizer. */
int llm_bpe_new(const llm_gguf *g, llm_bpe **out);
void llm_bpe_free(llm_bpe *b);
/* Append the ids of text[0..n) (no special tokens) to *ids (*n_ids used of
 * *cap; grown with realloc). */
int llm_bpe_encode(const llm_bpe *b, const char *text, size_t n, int32_t **ids, int *n_ids, int *cap);

#endif /* LLM_SERVICE_BPE_H */

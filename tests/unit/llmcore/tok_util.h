/*
 * tok_util.h - helpers shared by the tokenizer and chat tests: where the
 * model, the test vocabularies and the committed fixtures live, loading a
 * tokenizer from a real GGUF file (failing the test with a clear message
 * when the file is missing), and hex decoding.
 */
#ifndef TOK_UTIL_H
#define TOK_UTIL_H

#include <stddef.h>

#include <jansson.h>

#include "llmcore/tokenizer.h"

/* The data folder: $AIOS_DATA, else $XDG_DATA_HOME/aios, else
 * ~/.local/share/aios (what `make model` fills). */
const char *tu_data_dir(void);

/* A path under the data folder ("vocabs/ggml-vocab-qwen2.gguf"); static. */
const char *tu_data_path(const char *rel);

/* Open a GGUF under the data folder and build its tokenizer; fails the
 * current test (naming the file and `make model`) when it is missing or
 * does not load. */
llm_tokenizer *tu_tokenizer(const char *rel);

/* The default model's tokenizer (SmolLM2), honouring $AIOS_TEST_MODEL. */
llm_tokenizer *tu_default_tokenizer(void);

/* Parse a committed fixture tests/reference/tokenizer/<name>; fails the
 * test when it is missing or malformed.  Caller json_decref()s. */
json_t *tu_fixture(const char *name);

/* Decode hex into a malloc'd buffer (NUL-terminated); *len gets the size. */
char *tu_unhex(const char *hex, size_t *len);

/* Compare two id arrays; on mismatch writes a short description to msg. */
int tu_ids_equal(const int32_t *a, size_t na, const json_t *expect, char *msg, size_t msglen);

#endif /* TOK_UTIL_H */

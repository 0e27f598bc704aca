/*
 * service_text.h - the text side of the LLM service: the vocabulary as
 * bytes, tokenizing prompts, detokenizing, and rendering chat messages with
 * the model's template (private to llmcore).
 *
 * This is the one place the service turns text into token ids, with the
 * project's tokenizer (llmcore/tokenizer.h: ids identical to llama.cpp's)
 * and chat templates (llmcore/chat.h).  A model whose vocabulary the
 * tokenizer does not implement fails to load with a clear error.
 * Continuations of a saved context are rendered by difference (the
 * template's rendering of the new messages after a fixed conversation),
 * so every template family the renderer knows continues correctly.
 *
 * Immutable after creation; any thread.
 */
#ifndef LLM_SERVICE_TEXT_H
#define LLM_SERVICE_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "aios/llm.h"
#include "llmcore/grammar.h"

typedef struct llm_text llm_text;

int llm_text_new(const llm_model *m, llm_text **out, char *err, size_t errlen);
void llm_text_free(llm_text *t);

/* The grammar's vocabulary (bytes, specials, eog ids). */
const llm_gvocab *llm_text_gvocab(const llm_text *t);
/* "bpe/smollm", "spm", ... */
const char *llm_text_tokenizer_name(const llm_text *t);
/* llm_chat_style_name(): "chatml", "llama3", "fallback", ... */
const char *llm_text_template_name(const llm_text *t);
int llm_text_n_vocab(const llm_text *t);

/*
 * text -> ids (*ids malloc'd).  parse_special: split the names of control
 * tokens ("<|im_start|>") into their ids (template text); user content is
 * tokenized with parse_special false so it cannot forge them.
 */
int llm_text_tokenize(const llm_text *t, const char *s, size_t n, bool parse_special, int32_t **ids,
                      int *n_ids);
/* ids -> text (*out malloc'd, NUL-terminated); special: include the names
 * of control tokens. */
int llm_text_detokenize(const llm_text *t, const int32_t *ids, int n, bool special, char **out,
                        size_t *len);

/*
 * Render messages ([{role, content}]) with the model's template straight to
 * token ids, ending with the assistant prompt when add_generation_prompt:
 * template text may name control tokens, message content never does (so a
 * user cannot forge a turn).  continuation false: a new conversation (BOS
 * by the file's rule, the template's prelude such as a default system
 * prompt); true: the messages follow an existing conversation.  *ids
 * malloc'd.  AIOS_EINVAL with msg naming the message on a bad role or
 * content.
 */
int llm_text_chat_tokens(const llm_text *t, const json_t *messages, bool add_generation_prompt,
                         bool continuation, int32_t **ids, int *n_ids, char *msg, size_t msglen);
/* The end-of-generation ids (borrowed). */
const int32_t *llm_text_eog(const llm_text *t, int *n);
/* The token that ends a turn (<|im_end|>, <|eot_id|>), -1 when none. */
int32_t llm_text_turn_end(const llm_text *t);
/* The text that closes an assistant turn after its end-of-turn token
 * (ChatML: "\n"), for contexts that continue after a reply. */
const char *llm_text_turn_suffix(const llm_text *t);

#endif /* LLM_SERVICE_TEXT_H */

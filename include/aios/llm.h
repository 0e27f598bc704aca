/*
 * llm.h - the LLM core: models, tokenizers, the batched engine and the
 * service the rest of the kernel calls.
 *
 * Service API (this section): what other subsystems (LSFS summaries, tools,
 * agents) use to run a generation on the shared model without knowing about
 * the engine.  Blocking; call it from worker threads, never from the loop
 * thread.  Returns AIOS_EUNAVAIL when aiosd runs without a model.
 */
#ifndef AIOS_LLM_H
#define AIOS_LLM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/*
 * Run one chat completion on the shared model and wait for it.
 * messages: [{"role": "system"|"user"|"assistant"|"tool", "content": "..."}]
 * opts: optional object with llm.chat's sampling keys (max_tokens,
 *       temperature, seed, stop, response_format, ...); may be NULL.
 * proc_id: the process charged for the tokens (0 for the kernel itself).
 * On success *text_out is a malloc'd NUL-terminated string the caller frees.
 * Any thread except the loop thread.
 */
int llm_service_chat(const json_t *messages, const json_t *opts, int64_t proc_id,
                     char **text_out);

/* Whether a model is loaded (any thread). */
bool llm_service_available(void);

#endif /* AIOS_LLM_H */

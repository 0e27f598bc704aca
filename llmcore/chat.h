/*
 * chat.h - chat templates: turn [{role, content}] messages into the prompt
 * text a model was trained on (private to llmcore).
 *
 * The template comes from the GGUF key tokenizer.chat_template (Jinja
 * source).  We do not run Jinja: the source is recognised as one of the
 * families below and rendered by hand, producing exactly what the template
 * renders under Hugging Face transformers (jinja2 with trim_blocks and
 * lstrip_blocks), including a default system prompt the template inserts
 * when the first message is not a system message (SmolLM2, Qwen).  A
 * template the renderer does not recognise falls back to plain ChatML and
 * says so (llm_chat_template_style() == LLM_CHAT_FALLBACK, and a warning in
 * the log when it is built).
 *
 * Roles: system, user, assistant, tool.  Contents must be strings.  The BOS
 * text a template writes at the start is left out: tokenize the result with
 * add_special = true and the tokenizer adds BOS by the file's rule.
 *
 * Untrusted content: the rendered text is template text (trusted, its
 * special-token text must become control tokens) interleaved with message
 * contents (untrusted: "<|im_end|>" typed by a user must stay text).  The
 * render functions report the content spans, and llm_chat_tokenize()
 * tokenizes with special tokens recognised only outside them; it gives the
 * same ids as tokenizing the whole text with parse_special when contents
 * hold no special-token text.
 *
 * A template handle is immutable after llm_chat_template_new(); any thread
 * may render with it.
 */
#ifndef LLM_CHAT_H
#define LLM_CHAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "llmcore/tokenizer.h"

typedef enum {
    LLM_CHAT_CHATML = 1,   /* <|im_start|>role\n content <|im_end|>\n (SmolLM2, Qwen2) */
    LLM_CHAT_CHATML_TOOLS, /* ChatML with tool results in <tool_response> user turns (Qwen2.5) */
    LLM_CHAT_LLAMA3,       /* <|start_header_id|>role<|end_header_id|>\n\n trimmed <|eot_id|> */
    LLM_CHAT_LLAMA31,      /* Llama 3.1-3.3: dated system header, tool results as ipython */
    LLM_CHAT_FALLBACK,     /* not recognised (or none): plain ChatML, no default system */
} llm_chat_style;

typedef struct llm_chat_template llm_chat_template;

/* Recognise a template's Jinja source (NULL or "" gives the fallback).
 * 0 or AIOS_ENOMEM; *out is NULL on failure. */
int llm_chat_template_new(const char *source, llm_chat_template **out);
void llm_chat_template_free(llm_chat_template *ct);

llm_chat_style llm_chat_template_style(const llm_chat_template *ct);
/* "chatml", "chatml-tools", "llama3", "llama3.1", "fallback" */
const char *llm_chat_style_name(llm_chat_style s);
/* The system prompt the template adds when the first message is not a
 * system message, or NULL. */
const char *llm_chat_template_default_system(const llm_chat_template *ct);

/* Rendering options; NULL for the defaults. */
typedef struct {
    /* Today, for templates that print the current date (Llama 3.2+,
     * "02 Jan 2025"); NULL for the local date now.  Templates that name a
     * fixed date (Llama 3.1) print theirs. */
    const char *date;
} llm_chat_opts;

/* A span of the rendered text that came from a message's content. */
typedef llm_text_span llm_chat_span;

/*
 * Render messages with the template.  *out: malloc'd NUL-terminated text
 * (caller frees).  spans/nspans may be NULL; else *spans gets a malloc'd
 * array of the content spans (caller frees).  AIOS_EINVAL for a malformed
 * message list (err names the message and field: "messages[2].role:
 * 'robot' is not one of system, user, assistant, tool"), AIOS_ENOMEM.
 */
int llm_chat_render_template(const llm_chat_template *ct, const json_t *messages,
                             bool add_generation_prompt, const llm_chat_opts *opts, char **out,
                             llm_chat_span **spans, size_t *nspans, char *err, size_t errlen);

/* Render with the tokenizer's own template (tokenizer.chat_template). */
int llm_chat_render(const llm_tokenizer *t, const json_t *messages, bool add_generation_prompt,
                    char **out);

/*
 * Render with the tokenizer's template and tokenize the prompt: BOS by the
 * file's rule, special tokens recognised in template text only.  *ids is
 * malloc'd (caller frees).  err may be NULL.
 */
int llm_chat_tokenize(const llm_tokenizer *t, const json_t *messages, bool add_generation_prompt,
                      const llm_chat_opts *opts, int32_t **ids, size_t *n, char *err,
                      size_t errlen);

#endif /* LLM_CHAT_H */

/*
 * gen.h - one sequence's decoding loop state: sampler, grammar, stop
 * strings, token budget (private to llmcore).
 *
 * The engine calls llm_gen_next() once per decode step with the logits of
 * the sequence's next position; it gets the token to feed to the model,
 * the text that became safe to stream and, at the end, the finish reason.
 * llm_gen_run() is the same loop driven by callbacks (a "logits provider")
 * for simple callers and tests.  The whole state saves and restores exactly
 * for preemption.
 *
 * Budget: with a grammar and max_tokens, the loop keeps enough tokens to
 * close the document: a sampled token is refused when the shortest way to
 * finish after it would not fit, and when the budget is down to that way
 * the loop emits it (the output then always parses; finish_reason is still
 * "length").
 *
 * One llm_gen per sequence, used by one thread at a time.
 */
#ifndef LLM_GEN_H
#define LLM_GEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "llmcore/grammar.h"
#include "llmcore/sample.h"
#include "llmcore/stop.h"

typedef enum llm_finish {
    LLM_FINISH_NONE = 0,
    LLM_FINISH_STOP,        /* end-of-generation token, stop string, or document done */
    LLM_FINISH_LENGTH,      /* max_tokens */
    LLM_FINISH_TOOL_CALLS,  /* the output is a tool call */
    LLM_FINISH_CANCELLED,
} llm_finish;

/* "stop", "length", "tool_calls", "cancelled" (NULL for NONE). */
const char *llm_finish_name(llm_finish f);

typedef struct llm_gen_params {
    llm_sample_params sample;
    int32_t max_tokens;     /* <= 0: no limit (the caller bounds it by the context) */
    bool close_on_length;   /* keep room to close constrained output (default true) */
} llm_gen_params;

void llm_gen_params_default(llm_gen_params *p);

typedef struct llm_gen llm_gen;

/*
 * v: the vocabulary (bytes of every token, eog ids).  g: the grammar or
 * NULL (reference taken).  stop: stop strings or NULL (ownership passes to
 * the llm_gen).  tools: parse the output as tool calls at the end.
 */
int llm_gen_new(const llm_gen_params *p, const llm_gvocab *v, llm_grammar *g, llm_stop *stop,
                bool tools, llm_gen **out);
void llm_gen_free(llm_gen *gen);

typedef struct llm_gen_step {
    int32_t token;          /* the token chosen; feed it to the model unless finish is set */
    bool forced;            /* chosen to close the document, not sampled */
    const char *text;       /* text now safe to stream (valid until the next call) */
    size_t text_len;
    llm_finish finish;      /* != NONE: the sequence is over (token is not fed) */
    llm_sample_info info;   /* logprobs when requested */
} llm_gen_step;

/* One step: pick from logits (n_vocab raw values).  After a step with
 * finish set, the generation is over. */
int llm_gen_next(llm_gen *gen, const float *logits, llm_gen_step *out);

/* Stop from outside (cancellation, context full): flushes held text. */
void llm_gen_finish(llm_gen *gen, llm_finish why, llm_gen_step *out);

/* The full output so far (NUL-terminated, owned by gen) and its counts. */
const char *llm_gen_text(const llm_gen *gen, size_t *len);
int32_t llm_gen_n_tokens(const llm_gen *gen);
llm_finish llm_gen_finish_reason(const llm_gen *gen);
/* After the end in tools mode: OpenAI tool_calls (borrowed) or NULL when
 * the model answered in text. */
const json_t *llm_gen_tool_calls(const llm_gen *gen);

/* ---- the loop with callbacks ---------------------------------------------------------- */

typedef struct llm_gen_io {
    void *ud;
    /* the logits of the next position (n_vocab floats, valid until the next call) */
    int (*logits)(void *ud, const float **logits);
    /* the model consumes the chosen token */
    int (*feed)(void *ud, int32_t tok);
    /* streamed text and step details (may be NULL) */
    int (*emit)(void *ud, const llm_gen_step *st);
    /* polled each step (may be NULL) */
    bool (*cancelled)(void *ud);
} llm_gen_io;

/* Run to the end; returns 0 or the first negative code a callback or the
 * loop produced.  The result is read with llm_gen_text() and friends. */
int llm_gen_run(llm_gen *gen, const llm_gen_io *io);

/* ---- request parsing -------------------------------------------------------------------- */

/*
 * Everything an llm.chat / llm.complete request says about decoding:
 * sampling keys, max_tokens (or max_completion_tokens), stop,
 * response_format, tools, tool_choice, parallel_tool_calls.  *out is ready
 * to run; the error message names the offending field.
 */
int llm_gen_from_request(const json_t *req, const llm_gvocab *v, int32_t default_max_tokens,
                         llm_gen **out, char *err, size_t errlen);

/* ---- snapshots -------------------------------------------------------------------------- */

size_t llm_gen_save(const llm_gen *gen, void *buf, size_t cap);
int llm_gen_restore(llm_gen *gen, const void *buf, size_t len);

#endif /* LLM_GEN_H */

/*
 * sample.h - choosing the next token from logits (private to llmcore).
 *
 * A sampler is built from a request's parameters (OpenAI names) and keeps
 * the per-sequence state that decides the next pick: the random generator
 * and the penalty history.  That state can be saved and restored exactly,
 * so a preempted sequence resumes bit-identically.
 *
 * Order of operations on each step (docs/CONSTRAINED.md):
 *   penalties (repeat, frequency, presence over the history window)
 *   -> grammar mask -> greedy when temperature <= 0 -> temperature
 *   -> top-k -> top-p -> min-p -> draw.
 * Logprobs are the log-softmax of the raw logits (the model's own
 * distribution, as OpenAI reports them), not of the processed ones.
 *
 * A sampler is used by one thread at a time.
 */
#ifndef LLM_SAMPLE_H
#define LLM_SAMPLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define LLM_TOP_LOGPROBS_MAX 20

typedef struct llm_sample_params {
    float temperature;       /* 0 = greedy; default 1 */
    int32_t top_k;           /* 0 = off */
    float top_p;             /* 1 = off */
    float min_p;             /* 0 = off */
    float repeat_penalty;    /* 1 = off: positive logits / p, negative * p */
    float frequency_penalty; /* 0 = off: logit -= count * f */
    float presence_penalty;  /* 0 = off: logit -= p once present */
    int32_t penalty_last_n;  /* history window: -1 = all accepted tokens (default), 0 = none */
    uint64_t seed;           /* used when has_seed */
    bool has_seed;
    bool logprobs;           /* report the chosen token's logprob */
    int32_t top_logprobs;    /* 0..20 alternatives to report */
} llm_sample_params;

void llm_sample_params_default(llm_sample_params *p);

/*
 * Read the sampling keys of a request object (temperature, top_p, top_k,
 * min_p, seed, repeat_penalty, frequency_penalty, presence_penalty,
 * repeat_last_n / penalty_last_n, logprobs, top_logprobs) over the defaults.
 * AIOS_EINVAL with a message naming the field on a wrong type or range.
 */
int llm_sample_params_from_json(const json_t *req, llm_sample_params *p, char *err,
                                size_t errlen);

typedef struct llm_sampler llm_sampler;

typedef struct llm_token_logprob {
    int32_t token;
    float logprob;
} llm_token_logprob;

typedef struct llm_sample_info {
    float logprob;       /* chosen token under the raw logits (when requested) */
    int n_top;           /* entries in top */
    llm_token_logprob top[LLM_TOP_LOGPROBS_MAX];
} llm_sample_info;

int llm_sampler_new(const llm_sample_params *p, int n_vocab, llm_sampler **out);
void llm_sampler_free(llm_sampler *s);
const llm_sample_params *llm_sampler_params(const llm_sampler *s);
/* The seed in use (drawn from the system when the request gave none). */
uint64_t llm_sampler_seed(const llm_sampler *s);

/*
 * Choose a token.  logits: n_vocab raw values (not modified).  mask: bit t
 * of mask[t / 32] allows token t; NULL allows all.  info (may be NULL) gets
 * logprobs when the parameters ask for them.  Does not add the token to the
 * history: call llm_sampler_accept() with whatever token is finally used.
 * Returns the token id, or AIOS_EINVAL when the mask allows nothing.
 */
int32_t llm_sampler_sample(llm_sampler *s, const float *logits, const uint32_t *mask,
                           llm_sample_info *info);

/* Logprobs for a token chosen elsewhere (a forced token). */
void llm_sampler_logprobs(llm_sampler *s, const float *logits, int32_t tok,
                          llm_sample_info *info);

/* Add a token to the penalty history. */
int llm_sampler_accept(llm_sampler *s, int32_t tok);

/*
 * The final distribution a draw would use (after every step before the
 * draw): ids[i], probs[i] for the tokens with non-zero probability, in the
 * order the draw walks them.  Returns how many (may exceed cap; only cap are
 * written) or AIOS_EINVAL.  Consumes no randomness.
 */
int llm_sampler_dist(llm_sampler *s, const float *logits, const uint32_t *mask, int32_t *ids,
                     float *probs, int cap);

/* Exact save / restore of the random state and the history.  save returns
 * the bytes needed and writes only when cap suffices. */
size_t llm_sampler_save(const llm_sampler *s, void *buf, size_t cap);
int llm_sampler_restore(llm_sampler *s, const void *buf, size_t len);

#endif /* LLM_SAMPLE_H */

/*
 * grammar_fixture.h - shared pieces of the grammar / sampling tests: the
 * real default model's vocabulary, the ten test schemas, an adversarial
 * random-logits provider and a document checker.
 */
#ifndef TEST_GRAMMAR_FIXTURE_H
#define TEST_GRAMMAR_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "llmcore/gen.h"
#include "llmcore/grammar.h"
#include "llmcore/service_text.h"
#include "llmcore/vocab_bytes.h"

#define GF_N_SCHEMAS 10

/* The ten test schemas (tests/reference/grammar/schemas.json): name and
 * compact text; the last one ("tools") has no schema text (NULL): its
 * grammar is built from gf_tools(). */
const char *gf_schema_name(int i);
const char *gf_schema_text(int i);

const char *gf_model_path(void);
/* The default model's vocabulary (loaded once per test process). */
const llm_vocab_bytes *gf_vb(void);
const llm_gvocab *gf_vocab(void);
/* The default model and its service text path, loaded once per test
 * process (asserts on failure). */
llm_model *gf_model(void);
llm_text *gf_text(void);

/* Parse a schema text (asserts on failure). */
json_t *gf_json(const char *text);

/* The two tools of the tool-call tests (new reference). */
json_t *gf_tools(void);

/* Compile schema text i of gf_schemas (asserts on failure). */
llm_grammar *gf_grammar(int i, uint32_t ws_max);

/* Whether text parses as one JSON document (no duplicate keys) that
 * validates against schema; why gets the reason when not. */
bool gf_check(const json_t *schema, const char *text, size_t len, char *why, size_t whylen);

/* Adversarial random logits: uniform noise plus random boosts of
 * end-of-generation and structural tokens. */
typedef struct gf_logits {
    const llm_gvocab *v;
    int n;
    float *buf;
    uint64_t rng;
    int32_t *structural;
    int n_structural;
    int fed;
} gf_logits;

void gf_logits_init(gf_logits *lg, uint64_t seed);
void gf_logits_free(gf_logits *lg);
/* llm_gen_io callbacks over a gf_logits */
llm_gen_io gf_logits_io(gf_logits *lg);

uint64_t gf_rand(uint64_t *s);

#endif

/*
 * grammar.h - JSON-Schema constrained decoding (private to llmcore).
 *
 * A JSON Schema (or "any JSON", or a tool-call schema built from `tools`) is
 * compiled into a byte-level pushdown automaton over a vocabulary given as
 * raw byte strings.  A per-sequence state then answers, for each decode step,
 * which tokens may come next (a bit mask over the vocabulary) and is advanced
 * by the chosen token.  Every reachable state has at least one allowed token
 * and end-of-generation is allowed exactly when the value is complete, so the
 * finished output always parses and matches the schema.
 * docs/CONSTRAINED.md lists the supported schema subset, the whitespace
 * policy and the tool-call output format.
 *
 * Objects:
 *   llm_gvocab   the vocabulary as bytes plus a token trie; immutable, shared
 *                by every grammar built on it (any thread may read it).
 *   llm_grammar  a compiled schema with its mask cache; reference counted,
 *                shared by the sequences that use it; the cache is guarded
 *                by a mutex so several engine threads may use one grammar.
 *   llm_gstate   one sequence's automaton state; used by one thread at a time.
 */
#ifndef LLM_GRAMMAR_H
#define LLM_GRAMMAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

typedef struct llm_gvocab llm_gvocab;
typedef struct llm_grammar llm_grammar;
typedef struct llm_gstate llm_gstate;

/* ---- vocabulary ------------------------------------------------------------ */

/*
 * Build the grammar's view of a vocabulary.  tok_bytes[i] / tok_len[i] are
 * the raw bytes of token i (copied).  Tokens flagged in special[] (may be
 * NULL), tokens of length 0 and the eog ids are never allowed inside
 * constrained output; the eog ids are allowed exactly when the output is
 * complete.  Returns 0, AIOS_EINVAL or AIOS_ENOMEM.
 */
int llm_gvocab_new(const char *const *tok_bytes, const uint32_t *tok_len, int n_vocab,
                   const uint8_t *special, const int32_t *eog, int n_eog, llm_gvocab **out);
void llm_gvocab_free(llm_gvocab *v);
int llm_gvocab_n_vocab(const llm_gvocab *v);
/* Raw bytes of a token (borrowed). */
const char *llm_gvocab_token(const llm_gvocab *v, int32_t tok, uint32_t *len);
bool llm_gvocab_is_eog(const llm_gvocab *v, int32_t tok);
/* A control / unknown / unused token: not text (never shown). */
bool llm_gvocab_is_special(const llm_gvocab *v, int32_t tok);
/* Build the shared mask entries every grammar meets (inside a plain string,
 * a free object key, free text) so the first constrained request does not
 * pay for them: a few milliseconds, best called once after loading the
 * model.  Returns 0 or a negative code. */
int llm_gvocab_prewarm(llm_gvocab *v);
/* Empty the mask cache shared by the grammars on this vocabulary (memory
 * pressure, benches).  Safe while grammars are in use. */
void llm_gvocab_clear_cache(llm_gvocab *v);
/* Greedy longest-match tokenization of bytes with the trie (used to force a
 * completion); writes at most cap ids, returns the count needed or a
 * negative code when some byte has no token. */
int llm_gvocab_greedy_tokens(const llm_gvocab *v, const char *bytes, size_t len, int32_t *ids,
                             int cap);

/* ---- compiling ------------------------------------------------------------- */

typedef struct llm_grammar_opts {
    /* Whitespace allowed at each structural gap (after '{' '[' ',' ':' and
     * before '}' ']' ':' ','): 0 = compact output (default), n = up to n
     * bytes of ' ', '\n', '\t' per gap. */
    uint32_t ws_max;
    /* Bytes of mask cache kept per grammar before it is emptied (0 = 64 MiB). */
    size_t cache_bytes;
} llm_grammar_opts;

/*
 * Compile a JSON Schema (draft 2020-12 subset, see docs/CONSTRAINED.md).
 * opts may be NULL.  On failure returns AIOS_ENOTSUP (a keyword we cannot
 * enforce), AIOS_EINVAL (malformed or unsatisfiable schema) or AIOS_ENOMEM
 * and writes a message naming the offending place into err.
 */
int llm_grammar_from_schema(const llm_gvocab *v, const json_t *schema,
                            const llm_grammar_opts *opts, llm_grammar **out, char *err,
                            size_t errlen);

/* "Any JSON": any JSON object when object_only (OpenAI's json_object mode),
 * else any JSON value. */
int llm_grammar_any_json(const llm_gvocab *v, bool object_only, const llm_grammar_opts *opts,
                         llm_grammar **out);

/*
 * Tool calls.  tools is the OpenAI `tools` array, tool_choice the
 * `tool_choice` value (NULL = "auto").  The output format:
 *   one call   {"name":"<tool>","arguments":{...}}
 *   parallel   [{"name":..,"arguments":..}, ...]   (parallel = true)
 * tool_choice "required" or {"type":"function","function":{"name":N}}
 * forces a call (of N); "auto" also allows a plain-text answer, which must
 * not start with '{' (a call always does).  "none" yields *out = NULL.
 */
int llm_grammar_from_tools(const llm_gvocab *v, const json_t *tools, const json_t *tool_choice,
                           bool parallel, const llm_grammar_opts *opts, llm_grammar **out,
                           char *err, size_t errlen);

/*
 * The OpenAI request keys in one call: response_format ({"type":"text"},
 * {"type":"json_object"} or {"type":"json_schema","json_schema":{"name",
 * "schema","strict"}}, optionally "whitespace": "compact"|"flexible"), tools,
 * tool_choice, parallel_tool_calls.  *out is NULL when the request needs no
 * constraint; *is_tools tells the caller to parse the output as tool calls.
 */
int llm_grammar_from_request(const llm_gvocab *v, const json_t *request, llm_grammar **out,
                             bool *is_tools, char *err, size_t errlen);

/* The JSON schema a tool-call grammar enforces (new reference), for
 * validation and docs. */
json_t *llm_grammar_tools_schema(const json_t *tools, const json_t *tool_choice, bool parallel,
                                 char *err, size_t errlen);

/*
 * Parse the text a tool-call grammar produced into OpenAI `tool_calls`
 * ([{"id","type":"function","function":{"name","arguments":"<json>"}}]).
 * Returns AIOS_ENOENT when the text is a plain answer (auto mode) and
 * AIOS_EPARSE when it is not a complete call.
 */
int llm_grammar_parse_tool_calls(const char *text, size_t len, json_t **tool_calls);

void llm_grammar_ref(llm_grammar *g);
void llm_grammar_unref(llm_grammar *g);

/* Statistics of the mask cache (for benches and logs). */
typedef struct llm_grammar_stats {
    uint64_t hits, misses, entries, bytes, clears, nodes;  /* this grammar's cache */
    uint64_t shared_hits, shared_misses, shared_entries, shared_bytes; /* the vocabulary's */
} llm_grammar_stats;
void llm_grammar_get_stats(llm_grammar *g, llm_grammar_stats *st);

/* ---- per-sequence state -------------------------------------------------------- */

int llm_gstate_new(llm_grammar *g, llm_gstate **out);
void llm_gstate_free(llm_gstate *st);
/* An independent copy (same grammar). */
int llm_gstate_clone(const llm_gstate *st, llm_gstate **out);
/* Make dst (a state of the same grammar) equal to src. */
int llm_gstate_copy(llm_gstate *dst, const llm_gstate *src);
/* Back to the start of the document. */
void llm_gstate_reset(llm_gstate *st);

/*
 * The allowed next tokens as a bit mask: bit i of bits[i / 32] is set when
 * token i may come next.  bits holds (n_vocab + 31) / 32 words.  Returns the
 * number of allowed tokens (never 0 for a live state) or a negative code.
 */
int llm_gstate_mask(llm_gstate *st, uint32_t *bits);

/* Whether one token may come next (cheaper than a mask: used to check a
 * greedy pick before computing the whole mask). */
bool llm_gstate_allows(llm_gstate *st, int32_t tok);

/* Advance by a chosen token; AIOS_EINVAL (state unchanged) when the token is
 * not allowed.  An eog token is accepted when the value is complete and
 * ends the document. */
int llm_gstate_accept(llm_gstate *st, int32_t tok);

/* Advance by raw bytes (prefill of a forced prefix, tests). */
int llm_gstate_accept_bytes(llm_gstate *st, const char *bytes, size_t len);

/* The value is complete: an eog token may come now. */
bool llm_gstate_can_end(const llm_gstate *st);
/* Nothing but eog may come (the document is finished). */
bool llm_gstate_finished(const llm_gstate *st);

/*
 * A short byte string that completes the document from this state (what is
 * forced when the token budget runs out).  Writes at most cap bytes, returns
 * the full length or a negative code.
 */
int llm_gstate_completion(llm_gstate *st, char *buf, size_t cap);

/* Exact save / restore of the state (for preemption snapshots).  save
 * returns the bytes needed (writes only when cap suffices); restore checks
 * that the blob belongs to this grammar. */
size_t llm_gstate_save(const llm_gstate *st, void *buf, size_t cap);
int llm_gstate_restore(llm_gstate *st, const void *buf, size_t len);

#endif /* LLM_GRAMMAR_H */

/*
 * stop.h - stop strings on the detokenized text stream (private to llmcore).
 *
 * Tokens' bytes go in; text that is safe to show comes out.  Text that
 * could be the start of a stop string is held back until it is known not
 * to be; when a stop string completes, the text before it is released and
 * the stop string itself (and anything after it) is dropped.  The output is
 * always valid UTF-8: a character split across tokens is held until it is
 * whole, and bytes that can never form a character come out as U+FFFD.
 *
 * One object per sequence, used by one thread at a time.
 */
#ifndef LLM_STOP_H
#define LLM_STOP_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#define LLM_STOP_MAX 16         /* stop strings per request */
#define LLM_STOP_MAX_LEN 256    /* bytes per stop string */

typedef struct llm_stop llm_stop;

/* stops[i] / lens[i]: the stop strings (copied; empty ones are ignored);
 * n may be 0 (then only the UTF-8 cleaning applies). */
int llm_stop_new(const char *const *stops, const size_t *lens, int n, llm_stop **out);

/* From the OpenAI `stop` value: NULL / null, a string or an array of strings.
 * AIOS_EINVAL with a message on anything else or too many / too long. */
int llm_stop_from_json(const json_t *stop, llm_stop **out, char *err, size_t errlen);

void llm_stop_free(llm_stop *s);

/*
 * Feed the bytes of one token.  *text / *len get the text now safe to emit
 * (valid until the next call on s).  Returns 1 when a stop string matched
 * (text is what came before it; the stream is over), 0 otherwise.
 */
int llm_stop_feed(llm_stop *s, const char *bytes, size_t n, const char **text, size_t *len);

/* End of the stream (end of generation or length): the held-back text. */
void llm_stop_flush(llm_stop *s, const char **text, size_t *len);

/* Whether a stop string has matched, and which (index into the list). */
bool llm_stop_matched(const llm_stop *s, int *which);

/* Exact save / restore of the held-back bytes and the matched flag. */
size_t llm_stop_save(const llm_stop *s, void *buf, size_t cap);
int llm_stop_restore(llm_stop *s, const void *buf, size_t len);

#endif /* LLM_STOP_H */

/*
 * engine.h - the engine thread: requests, the step loop, preemption and
 * contexts (private to llmcore; the service in service.c wraps it).
 *
 * One engine owns the KV cache, the forward context, the scheduler, the
 * prefix cache, the snapshot store and the context store of one model, and
 * runs them on its own thread.  Other threads talk to it through a locked
 * inbox: new requests, cancellations and commands.
 */
#ifndef LLM_ENGINE_H
#define LLM_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "aios/llm.h"
#include "llmcore/service_text.h"

typedef struct llm_engine llm_engine;

/* Start an engine on a loaded model and its text adapter (both borrowed;
 * they must outlive the engine). */
int llm_engine_new(const llm_model *m, const llm_text *t, const llm_service_opts *o, llm_engine **out,
                   char *err, size_t errlen);
/* Cancel every request and join the thread. */
void llm_engine_stop(llm_engine *e);
void llm_engine_free(llm_engine *e);

int llm_engine_submit(llm_engine *e, llm_req_kind kind, const json_t *params, const llm_caller *who,
                      bool stream, const llm_cb *cb, uint64_t *id, llm_err *err);
int llm_engine_cancel(llm_engine *e, uint64_t id, const llm_caller *who);
/* Commands run on the engine thread between steps. */
int llm_engine_command(llm_engine *e, llm_cmd cmd, const json_t *params, const llm_caller *who,
                       const llm_cb *cb, llm_err *err);
/* Counters for sys.stats (new reference; any thread). */
json_t *llm_engine_stats(llm_engine *e);

#endif /* LLM_ENGINE_H */

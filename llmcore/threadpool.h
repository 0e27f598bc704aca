/*
 * threadpool.h - persistent worker threads for the forward pass (private to
 * llmcore).
 *
 * llm_pool_run() runs fn(arg, ith, nth) on every thread of the pool, the
 * caller being thread 0, and returns when all are done.  Inside fn, the
 * threads meet at llm_pool_barrier().  Dispatch and barrier spin briefly
 * (cheap when the cores are free) and then sleep on a futex (so an idle or
 * descheduled pool does not burn a shared machine).  One caller at a time:
 * the pool belongs to one engine context and its thread.
 */
#ifndef LLM_THREADPOOL_H
#define LLM_THREADPOOL_H

#include <stdint.h>

typedef struct llm_pool llm_pool;
typedef void (*llm_pool_fn)(void *arg, int ith, int nth);

/* n_threads >= 1 (1: no workers, fn runs on the caller). */
int llm_pool_new(int n_threads, llm_pool **out);
void llm_pool_free(llm_pool *p);
int llm_pool_size(const llm_pool *p);

void llm_pool_run(llm_pool *p, llm_pool_fn fn, void *arg);
void llm_pool_barrier(llm_pool *p);

/* Counters for measurement: barriers passed, how many of the waits had to
 * sleep, and nanoseconds spent waiting at barriers and (the caller) for the
 * workers to finish a run, summed over threads. */
void llm_pool_counts(const llm_pool *p, uint64_t *barriers, uint64_t *sleeps, uint64_t *wait_ns);

#endif /* LLM_THREADPOOL_H */

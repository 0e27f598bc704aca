/*
 * threadpool.c - persistent workers, spin-then-futex dispatch and barrier.
 *
 * A run is published by bumping `gen`; workers wait for gen to change,
 * spinning with `pause` for a while and then sleeping in FUTEX_WAIT on it.
 * The barrier is a counter plus a phase word: the last thread to arrive
 * resets the counter and bumps the phase (waking sleepers only when some
 * thread went to sleep), the others wait for the phase to move the same way.
 * Owns the worker threads; the caller of llm_pool_run is thread 0.
 */
#include <errno.h>
#include <immintrin.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "aios/error.h"
#include "llmcore/threadpool.h"

#define SPIN_ITERS 4000 /* pause loops before sleeping (~100-300 us) */

struct llm_pool {
    int n;
    pthread_t *threads;
    _Alignas(64) _Atomic uint32_t gen;   /* bumped per run */
    _Atomic int sleepers_gen;            /* threads asleep on gen */
    _Alignas(64) _Atomic int done;       /* workers finished this run */
    _Atomic uint32_t done_word;          /* futex word for the caller */
    _Alignas(64) _Atomic int arrived;    /* barrier arrivals */
    _Atomic uint32_t phase;              /* barrier phase (futex word) */
    _Atomic int phase_sleepers;
    _Alignas(64) llm_pool_fn fn;
    void *arg;
    _Atomic int stop;
    _Atomic uint64_t n_barriers, n_sleeps, wait_ns;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void futex_wait(_Atomic uint32_t *w, uint32_t val)
{
    syscall(SYS_futex, (uint32_t *)w, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *w)
{
    syscall(SYS_futex, (uint32_t *)w, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
}

/* Wait until *w != val: spin, then sleep (counting sleepers in *sl). */
static void wait_change(llm_pool *p, _Atomic uint32_t *w, uint32_t val, _Atomic int *sl)
{
    for (int i = 0; i < SPIN_ITERS; i++) {
        if (atomic_load_explicit(w, memory_order_acquire) != val)
            return;
        _mm_pause();
    }
    atomic_fetch_add(&p->n_sleeps, 1);
    atomic_fetch_add(sl, 1);
    while (atomic_load_explicit(w, memory_order_acquire) == val)
        futex_wait(w, val);
    atomic_fetch_sub(sl, 1);
}

void llm_pool_barrier(llm_pool *p)
{
    uint32_t ph;
    uint64_t t0;

    if (p->n == 1)
        return;
    ph = atomic_load_explicit(&p->phase, memory_order_acquire);
    if (atomic_fetch_add_explicit(&p->arrived, 1, memory_order_acq_rel) == p->n - 1) {
        atomic_store_explicit(&p->arrived, 0, memory_order_relaxed);
        atomic_fetch_add(&p->n_barriers, 1);
        atomic_store_explicit(&p->phase, ph + 1, memory_order_release);
        if (atomic_load(&p->phase_sleepers) > 0)
            futex_wake(&p->phase);
        return;
    }
    t0 = now_ns();
    wait_change(p, &p->phase, ph, &p->phase_sleepers);
    atomic_fetch_add_explicit(&p->wait_ns, now_ns() - t0, memory_order_relaxed);
}

static void *worker(void *v)
{
    llm_pool *p = ((void **)v)[0];
    int ith = (int)(intptr_t)((void **)v)[1];
    uint32_t seen = 0;

    free(v);
    for (;;) {
        wait_change(p, &p->gen, seen, &p->sleepers_gen);
        seen = atomic_load_explicit(&p->gen, memory_order_acquire);
        if (atomic_load(&p->stop))
            break;
        p->fn(p->arg, ith, p->n);
        if (atomic_fetch_add_explicit(&p->done, 1, memory_order_acq_rel) == p->n - 2) {
            atomic_fetch_add_explicit(&p->done_word, 1, memory_order_release);
            futex_wake(&p->done_word);
        }
    }
    return NULL;
}

int llm_pool_new(int n_threads, llm_pool **out)
{
    llm_pool *p;

    *out = NULL;
    if (n_threads < 1 || n_threads > 256)
        return AIOS_EINVAL;
    p = calloc(1, sizeof(*p));
    if (!p)
        return AIOS_ENOMEM;
    p->n = n_threads;
    p->threads = calloc((size_t)n_threads, sizeof(pthread_t));
    if (!p->threads) {
        free(p);
        return AIOS_ENOMEM;
    }
    for (int i = 1; i < n_threads; i++) {
        void **a = malloc(2 * sizeof(void *));
        if (!a || (a[0] = p, a[1] = (void *)(intptr_t)i,
                   pthread_create(&p->threads[i], NULL, worker, a) != 0)) {
            free(a);
            p->n = i; /* free() joins the ones started */
            llm_pool_free(p);
            return AIOS_ESYS;
        }
    }
    *out = p;
    return 0;
}

void llm_pool_free(llm_pool *p)
{
    if (!p)
        return;
    atomic_store(&p->stop, 1);
    atomic_fetch_add(&p->gen, 1);
    futex_wake(&p->gen);
    for (int i = 1; i < p->n; i++)
        pthread_join(p->threads[i], NULL);
    free(p->threads);
    free(p);
}

int llm_pool_size(const llm_pool *p)
{
    return p->n;
}

void llm_pool_run(llm_pool *p, llm_pool_fn fn, void *arg)
{
    uint32_t dw;
    uint64_t t0;

    if (p->n == 1) {
        fn(arg, 0, 1);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    atomic_store(&p->done, 0);
    dw = atomic_load(&p->done_word);
    atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
    if (atomic_load(&p->sleepers_gen) > 0)
        futex_wake(&p->gen);
    fn(arg, 0, p->n);
    t0 = now_ns();
    /* wait for the workers: spin, then sleep on done_word */
    for (int i = 0; i < SPIN_ITERS && atomic_load_explicit(&p->done, memory_order_acquire) < p->n - 1; i++)
        _mm_pause();
    while (atomic_load_explicit(&p->done, memory_order_acquire) < p->n - 1) {
        futex_wait(&p->done_word, dw);
        dw = atomic_load(&p->done_word);
    }
    atomic_fetch_add_explicit(&p->wait_ns, now_ns() - t0, memory_order_relaxed);
}

void llm_pool_counts(const llm_pool *p, uint64_t *barriers, uint64_t *sleeps, uint64_t *wait_ns)
{
    *barriers = atomic_load(&((llm_pool *)p)->n_barriers);
    *sleeps = atomic_load(&((llm_pool *)p)->n_sleeps);
    *wait_ns = atomic_load(&((llm_pool *)p)->wait_ns);
}

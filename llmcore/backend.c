/*
 * backend.c - the backend table: "cpu" (forward.c) and "cuda", whose
 * kernels live in llmcore/cuda/ and are not built here, so its init is a
 * stub that reports AIOS_ENOTSUP.  Immutable; any thread.
 */
#include <string.h>

#include "aios/error.h"
#include "aios/llm.h"

static int cpu_init(void)
{
    return 0;
}

static int cuda_init(void)
{
    return AIOS_ENOTSUP;
}

static int cuda_ctx_new(const llm_model *m, llm_kv *kv, int n_threads, int max_batch_tokens, llm_ctx **out)
{
    (void)m, (void)kv, (void)n_threads, (void)max_batch_tokens;
    *out = NULL;
    return AIOS_ENOTSUP;
}

static void cuda_ctx_free(llm_ctx *c)
{
    (void)c;
}

static int cuda_forward(llm_ctx *c, const llm_batch *b, float *logits)
{
    (void)c, (void)b, (void)logits;
    return AIOS_ENOTSUP;
}

static const llm_backend backends[] = {
    {"cpu", cpu_init, llm_ctx_new, llm_ctx_free, llm_forward},
    {"cuda", cuda_init, cuda_ctx_new, cuda_ctx_free, cuda_forward},
};

const llm_backend *llm_backend_find(const char *name)
{
    for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
        if (strcmp(backends[i].name, name) == 0)
            return &backends[i];
    return NULL;
}

/*
 * backend.c - the backend table: one row per device kind the forward can
 * run on.  This build has "cpu" (forward.c); the CUDA backend adds its row
 * (kernels in .cu files) when it lands.  The engine picks a row by name
 * (config key llm.backend).  Immutable; any thread.
 */
#include <string.h>

#include "aios/error.h"
#include "aios/llm.h"

static int cpu_init(void)
{
    return 0;
}

static const llm_backend backends[] = {
    {"cpu", cpu_init, llm_ctx_new, llm_ctx_free, llm_forward},
};

const llm_backend *llm_backend_find(const char *name)
{
    for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
        if (strcmp(backends[i].name, name) == 0)
            return &backends[i];
    return NULL;
}

int llm_backend_names(char *buf, size_t len)
{
    size_t at = 0;

    if (len)
        buf[0] = 0;
    for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
        size_t n = strlen(backends[i].name) + (i ? 2 : 0);
        if (at + n + 1 > len)
            return AIOS_ERANGE;
        memcpy(buf + at, i ? ", " : "", i ? 2 : 0);
        memcpy(buf + at + (i ? 2 : 0), backends[i].name, strlen(backends[i].name) + 1);
        at += n;
    }
    return 0;
}

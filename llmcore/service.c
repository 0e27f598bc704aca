/*
 * service.c - the blocking service API other subsystems use to run a
 * generation on the shared model (include/aios/llm.h).
 *
 * Until the engine is wired into aiosd no model is ever loaded, so the
 * service reports itself unavailable; callers already handle that case
 * because `aiosd --model none` is a supported configuration.
 */
#include "aios/error.h"
#include "aios/llm.h"

int llm_service_chat(const json_t *messages, const json_t *opts, int64_t proc_id,
                     char **text_out)
{
    (void)messages;
    (void)opts;
    (void)proc_id;
    *text_out = NULL;
    return AIOS_EUNAVAIL;
}

bool llm_service_available(void)
{
    return false;
}

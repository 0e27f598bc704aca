/*
 * service_int.h - what syscalls/tool.c needs from the tools subsystem
 * (tools/service.c) beyond include/aios/tools.h.
 */
#ifndef AIOS_TOOLS_SERVICE_INT_H
#define AIOS_TOOLS_SERVICE_INT_H

#include <stdbool.h>

#include "aios/sandbox.h"
#include "aios/tools.h"

/* The base policy of sandboxed calls (NULL before init). */
const sbx_policy *tool__service_base(void);

/* Where registered manifests are kept (<data>/tools). */
const char *tool__service_user_dir(void);

/* Whether the daemon's configuration grants network to the tool. */
bool tool__network_granted(const char *name);

#endif

/*
 * sbx_test.h - helpers for the sandbox unit tests: run a policy through
 * sbx_spawn on a private libuv loop, with the real aios-exec from the build
 * folder, and hand back the result as JSON.
 */
#ifndef AIOS_TEST_SBX_H
#define AIOS_TEST_SBX_H

#include <jansson.h>
#include <stdbool.h>

#include "aios/sandbox.h"

typedef struct sbx_test_opts {
    const char *stdin_data;
    unsigned pool;          /* warm pool size; waits for a ready sandbox */
    int cancel_after_ms;    /* > 0: sbx_kill after this long */
    bool cancel_after_output; /* count cancel_after_ms from the tool's first output */
    int runs;               /* how many times (default 1); the last result is returned */
} sbx_test_opts;

/* Run policy (JSON text on top of sbx_policy_init) and return the result JSON
 * of the last run (caller decrefs), or NULL if sbx_spawn failed, with its
 * code in *spawn_rc (may be NULL).  Streamed bytes are counted into
 * *streamed (may be NULL). */
json_t *sbx_test_run(const char *policy_json, const sbx_test_opts *o, int *spawn_rc,
                     size_t *streamed);

/* Count processes whose real uid is uid (from /proc). */
int sbx_test_count_uid(unsigned uid);

bool sbx_test_is_root(void);

#endif

/*
 * jsonschema_check.h - an independent JSON Schema validator for the grammar
 * tests (the subset docs/CONSTRAINED.md lists), written separately from
 * the grammar compiler so a shared misunderstanding cannot hide a bug.
 */
#ifndef TEST_JSONSCHEMA_CHECK_H
#define TEST_JSONSCHEMA_CHECK_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/* Whether inst matches schema (root = the document $refs resolve in).  On
 * failure why names the first failing place. */
bool tv_validate(const json_t *root, const json_t *schema, const json_t *inst, char *why,
                 size_t whylen);

#endif

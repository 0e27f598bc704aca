/*
 * jschema.h - checking JSON values against JSON Schema (the subset aios
 * uses for syscall parameters, tool arguments and manifests).
 *
 * Supported keywords: type (string or list; "integer" accepts integral
 * reals), properties, required, additionalProperties (bool or schema),
 * items, minItems, maxItems, uniqueItems, enum, const, minimum, maximum,
 * exclusiveMinimum, exclusiveMaximum, multipleOf, minLength, maxLength
 * (in code points), minProperties, maxProperties, anyOf, oneOf, allOf, not,
 * $ref to "#", "#/$defs/NAME" or "#/definitions/NAME".  Annotations
 * (title, description, default, examples, format, $schema, $id, $comment)
 * are accepted and ignored; any other keyword makes the schema invalid so
 * that a typo never silently weakens a check.
 *
 * Pure functions, thread-safe.
 */
#ifndef AIOS_JSCHEMA_H
#define AIOS_JSCHEMA_H

#include <stddef.h>

#include <jansson.h>

/*
 * Check value against schema.  Returns 0 when it conforms, AIOS_EINVAL
 * when not: path_out gets the dotted path of the offending member
 * ("messages[2].role", "" for the value itself) and msg_out a message such
 * as "must be a string".  Returns AIOS_ECORRUPT when the schema itself is
 * invalid (msg_out says why).  Either out buffer may be NULL.
 */
int aios_jschema_check(const json_t *schema, const json_t *value, char *path_out,
                       size_t path_len, char *msg_out, size_t msg_len);

/* Check that schema uses only supported keywords with well-formed values.
 * Returns 0 or AIOS_ECORRUPT with a message naming the place. */
int aios_jschema_validate_schema(const json_t *schema, char *msg_out, size_t msg_len);

/* Fill in "default" values of absent object properties, recursively through
 * properties whose values are present objects.  value must be an object;
 * it is modified in place.  Returns 0 or AIOS_ENOMEM. */
int aios_jschema_apply_defaults(const json_t *schema, json_t *value);

#endif /* AIOS_JSCHEMA_H */

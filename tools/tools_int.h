/*
 * tools_int.h - private declarations of the tools module: big integers for
 * the calculator, the manifest structure, template expansion.
 */
#ifndef AIOS_TOOLS_INT_H
#define AIOS_TOOLS_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "aios/tools.h"

/* ---- bignum.c ------------------------------------------------------------ */

/* Largest number: 4096 limbs of 32 bits (131072 bits, ~39 500 digits). */
#define TOOL_BN_MAX_LIMBS 4096

typedef struct tool_bn {
    uint32_t *d;
    size_t n, cap;
    bool neg;
} tool_bn;

void tool__bn_init(tool_bn *a);
void tool__bn_free(tool_bn *a);
int tool__bn_set_u64(tool_bn *a, uint64_t v);
int tool__bn_copy(tool_bn *dst, const tool_bn *src);
bool tool__bn_is_zero(const tool_bn *a);
size_t tool__bn_bits(const tool_bn *a);
int tool__bn_cmp_abs(const tool_bn *a, const tool_bn *b);
int tool__bn_cmp(const tool_bn *a, const tool_bn *b);
int tool__bn_add(tool_bn *r, const tool_bn *a, const tool_bn *b);
int tool__bn_sub(tool_bn *r, const tool_bn *a, const tool_bn *b);
int tool__bn_mul(tool_bn *r, const tool_bn *a, const tool_bn *b);
int tool__bn_divmod(const tool_bn *a, const tool_bn *b, tool_bn *q, tool_bn *r);
uint32_t tool__bn_div_small(tool_bn *a, uint32_t m);
int tool__bn_gcd(tool_bn *r, const tool_bn *a, const tool_bn *b);
int tool__bn_pow(tool_bn *r, const tool_bn *base, uint64_t e);
int tool__bn_from_dec(tool_bn *a, const char *s, size_t len);
char *tool__bn_to_dec(const tool_bn *a);
int tool__bn_to_i64(const tool_bn *a, int64_t *out);

/* ---- calc.c -------------------------------------------------------------- */
#define TOOL_CALC_MAX_LEN 4096
#define TOOL_CALC_MAX_DEPTH 64

/* ---- manifest.c ---------------------------------------------------------- */

struct tool_manifest {
    int refs;                 /* atomic */
    char *name;
    json_t *json;             /* the whole manifest as given */
    json_t *params;           /* its parameter schema (borrowed from json) */
    json_t *argv;             /* run.argv template, or NULL */
    json_t *stdin_tpl;        /* run.stdin template string, or NULL */
    char *builtin;            /* run.builtin, or NULL */
    json_t *policy;           /* policy object (borrowed), may be NULL */
    bool network;             /* policy.network */
};

#endif /* AIOS_TOOLS_INT_H */

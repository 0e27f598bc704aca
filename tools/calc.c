/*
 * calc.c - the calculator tool: exact rational arithmetic in C, no process.
 *
 * Grammar (recursive descent):
 *   expr   := term (('+' | '-') term)*
 *   term   := unary (('*' | '/' | '//' | '%') unary)*
 *   unary  := ('+' | '-') unary | power
 *   power  := atom (('^' | '**') unary)?          right-associative
 *   atom   := number | '(' expr ')' | name '(' expr (',' expr)* ')'
 *   number := digits ['.' digits] [('e' | 'E') ['+' | '-'] digits]
 * Functions: abs, floor, ceil, round (half away from zero), min, max, gcd,
 * lcm, fact.  Every value is a fraction p/q of big integers in lowest terms,
 * so 0.1 + 0.2 is exactly 3/10.  Exponents must be integers.
 *
 * Limits: the expression is at most TOOL_CALC_MAX_LEN bytes and nests at
 * most TOOL_CALC_MAX_DEPTH deep; every number stays below TOOL_BN_MAX_LIMBS
 * limbs (about 40 000 decimal digits); powers and factorials are refused
 * before they are computed when the result would exceed that.
 *
 * No state; any thread (the daemon runs it on a worker).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aios/error.h"
#include "tools/tools_int.h"

typedef struct rat {
    tool_bn num;   /* sign here */
    tool_bn den;   /* > 0 */
} rat;

typedef struct parser {
    const char *s;
    size_t pos, len;
    int depth;
    int rc;
    char err[160];
} parser;

static void rat_init(rat *r)
{
    tool__bn_init(&r->num);
    tool__bn_init(&r->den);
}

static void rat_free(rat *r)
{
    tool__bn_free(&r->num);
    tool__bn_free(&r->den);
}

/* Divide num and den by their gcd. */
static int rat_norm(rat *r)
{
    tool_bn g;
    int rc;

    if (tool__bn_is_zero(&r->num))
        return tool__bn_set_u64(&r->den, 1);
    tool__bn_init(&g);
    if ((rc = tool__bn_gcd(&g, &r->num, &r->den)) == 0 &&
        !(g.n == 1 && g.d[0] == 1) &&
        (rc = tool__bn_divmod(&r->num, &g, &r->num, NULL)) == 0)
        rc = tool__bn_divmod(&r->den, &g, &r->den, NULL);
    tool__bn_free(&g);
    return rc;
}

static int rat_set_int(rat *r, uint64_t v)
{
    int rc = tool__bn_set_u64(&r->num, v);

    return rc ? rc : tool__bn_set_u64(&r->den, 1);
}

static bool rat_is_int(const rat *r)
{
    return r->den.n == 1 && r->den.d[0] == 1;
}

/* r = a op b for + - * / (r may alias a). */
static int rat_arith(rat *r, const rat *a, const rat *b, char op)
{
    tool_bn x, y, d;
    int rc;

    tool__bn_init(&x);
    tool__bn_init(&y);
    tool__bn_init(&d);
    switch (op) {
    case '+':
    case '-':
        if ((rc = tool__bn_mul(&x, &a->num, &b->den)) ||
            (rc = tool__bn_mul(&y, &b->num, &a->den)) ||
            (rc = op == '+' ? tool__bn_add(&x, &x, &y) : tool__bn_sub(&x, &x, &y)) ||
            (rc = tool__bn_mul(&d, &a->den, &b->den)))
            goto out;
        break;
    case '*':
        if ((rc = tool__bn_mul(&x, &a->num, &b->num)) || (rc = tool__bn_mul(&d, &a->den, &b->den)))
            goto out;
        break;
    default: /* '/' */
        if (tool__bn_is_zero(&b->num)) {
            rc = AIOS_EINVAL;
            goto out;
        }
        if ((rc = tool__bn_mul(&x, &a->num, &b->den)) || (rc = tool__bn_mul(&d, &a->den, &b->num)))
            goto out;
        if (d.neg) {
            d.neg = false;
            x.neg = !x.neg && x.n;
        }
        break;
    }
    tool__bn_free(&r->num);
    tool__bn_free(&r->den);
    r->num = x;
    r->den = d;
    tool__bn_init(&x);
    tool__bn_init(&d);
    rc = rat_norm(r);
out:
    tool__bn_free(&x);
    tool__bn_free(&y);
    tool__bn_free(&d);
    return rc;
}

/* floor (mode -1), ceil (+1), or round half away from zero (0) in place. */
static int rat_to_int(rat *r, int mode)
{
    tool_bn q, rem, twice;
    int rc;

    if (rat_is_int(r))
        return 0;
    tool__bn_init(&q);
    tool__bn_init(&rem);
    tool__bn_init(&twice);
    if ((rc = tool__bn_divmod(&r->num, &r->den, &q, &rem)) < 0)
        goto out;
    /* q is truncated toward zero; rem != 0 here */
    if (mode == 0) {
        tool_bn one;

        tool__bn_init(&one);
        if ((rc = tool__bn_add(&twice, &rem, &rem)) == 0 &&
            tool__bn_cmp_abs(&twice, &r->den) >= 0 && (rc = tool__bn_set_u64(&one, 1)) == 0)
            rc = rem.neg ? tool__bn_sub(&q, &q, &one) : tool__bn_add(&q, &q, &one);
        tool__bn_free(&one);
    } else if ((mode < 0 && rem.neg) || (mode > 0 && !rem.neg)) {
        tool_bn one;

        tool__bn_init(&one);
        if ((rc = tool__bn_set_u64(&one, 1)) == 0)
            rc = mode < 0 ? tool__bn_sub(&q, &q, &one) : tool__bn_add(&q, &q, &one);
        tool__bn_free(&one);
    }
    if (rc == 0) {
        tool__bn_free(&r->num);
        r->num = q;
        tool__bn_init(&q);
        rc = tool__bn_set_u64(&r->den, 1);
    }
out:
    tool__bn_free(&q);
    tool__bn_free(&rem);
    tool__bn_free(&twice);
    return rc;
}

/* ---- parser -------------------------------------------------------------- */

static int fail(parser *p, int rc, const char *fmt, const char *arg)
{
    if (p->rc == 0) {
        p->rc = rc;
        snprintf(p->err, sizeof(p->err), fmt, arg ? arg : "", (unsigned long)p->pos + 1);
    }
    return p->rc;
}

static void skip_ws(parser *p)
{
    while (p->pos < p->len && isspace((unsigned char)p->s[p->pos]))
        p->pos++;
}

static bool accept(parser *p, const char *tok)
{
    size_t n = strlen(tok);

    skip_ws(p);
    if (p->pos + n <= p->len && memcmp(p->s + p->pos, tok, n) == 0) {
        p->pos += n;
        return true;
    }
    return false;
}

static int parse_expr(parser *p, rat *out);

/* number := digits ['.' digits] [e [+-] digits]  ->  exact fraction */
static int parse_number(parser *p, rat *out)
{
    size_t start = p->pos, int_end, frac_start = 0, frac_len = 0;
    long long exp10 = 0;
    char *digits;
    size_t nd = 0;
    tool_bn ten;
    int rc;

    while (p->pos < p->len && isdigit((unsigned char)p->s[p->pos]))
        p->pos++;
    int_end = p->pos;
    if (p->pos < p->len && p->s[p->pos] == '.') {
        p->pos++;
        frac_start = p->pos;
        while (p->pos < p->len && isdigit((unsigned char)p->s[p->pos]))
            p->pos++;
        frac_len = p->pos - frac_start;
    }
    if (int_end == start && frac_len == 0)
        return fail(p, AIOS_EINVAL, "expected a number%s at position %lu", NULL);
    if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
        size_t save = p->pos;
        int sign = 1;

        p->pos++;
        if (p->pos < p->len && (p->s[p->pos] == '+' || p->s[p->pos] == '-'))
            sign = p->s[p->pos++] == '-' ? -1 : 1;
        if (p->pos >= p->len || !isdigit((unsigned char)p->s[p->pos])) {
            p->pos = save;
        } else {
            while (p->pos < p->len && isdigit((unsigned char)p->s[p->pos])) {
                if (exp10 < 1000000)
                    exp10 = exp10 * 10 + (p->s[p->pos] - '0');
                p->pos++;
            }
            exp10 *= sign;
        }
    }
    /* digits without the point; value = digits * 10^(exp10 - frac_len) */
    digits = malloc(int_end - start + frac_len + 1);
    if (!digits)
        return fail(p, AIOS_ENOMEM, "out of memory%s at %lu", NULL);
    memcpy(digits, p->s + start, int_end - start);
    nd = int_end - start;
    if (frac_len)
        memcpy(digits + nd, p->s + frac_start, frac_len);
    nd += frac_len;
    exp10 -= (long long)frac_len;
    if (nd > (size_t)TOOL_BN_MAX_LIMBS * 9 || exp10 > 40000 || exp10 < -40000) {
        free(digits);
        return fail(p, AIOS_ELIMIT, "number too large%s at position %lu", NULL);
    }
    tool__bn_init(&ten);
    rc = tool__bn_from_dec(&out->num, digits, nd);
    free(digits);
    if (rc == 0)
        rc = tool__bn_set_u64(&out->den, 1);
    if (rc == 0 && exp10 != 0) {
        if ((rc = tool__bn_set_u64(&ten, 10)) == 0)
            rc = tool__bn_pow(&ten, &ten, (uint64_t)(exp10 < 0 ? -exp10 : exp10));
        if (rc == 0)
            rc = exp10 > 0 ? tool__bn_mul(&out->num, &out->num, &ten)
                           : tool__bn_copy(&out->den, &ten);
        if (rc == 0)
            rc = rat_norm(out);
    }
    tool__bn_free(&ten);
    if (rc < 0)
        return fail(p, rc, rc == AIOS_ELIMIT ? "number too large%s at position %lu"
                                             : "cannot read the number%s at position %lu",
                    NULL);
    return 0;
}

/* An integer argument of a function or exponent, within [lo, hi]. */
static int as_int(parser *p, const rat *r, int64_t lo, int64_t hi, const char *what,
                  int64_t *out)
{
    if (!rat_is_int(r))
        return fail(p, AIOS_EINVAL, "%s must be an integer (near position %lu)", what);
    if (tool__bn_to_i64(&r->num, out) < 0 || *out < lo || *out > hi)
        return fail(p, AIOS_ELIMIT, "%s is out of range (near position %lu)", what);
    return 0;
}

typedef enum { F_ABS, F_FLOOR, F_CEIL, F_ROUND, F_MIN, F_MAX, F_GCD, F_LCM, F_FACT } fn_id;

static const struct {
    const char *name;
    fn_id id;
    int min_args, max_args;
} functions[] = {
    {"abs", F_ABS, 1, 1},   {"floor", F_FLOOR, 1, 1}, {"ceil", F_CEIL, 1, 1},
    {"round", F_ROUND, 1, 1}, {"min", F_MIN, 1, 64},  {"max", F_MAX, 1, 64},
    {"gcd", F_GCD, 2, 64},  {"lcm", F_LCM, 2, 64},    {"fact", F_FACT, 1, 1},
};

static int rat_cmp(const rat *a, const rat *b, int *out)
{
    tool_bn x, y;
    int rc;

    tool__bn_init(&x);
    tool__bn_init(&y);
    if ((rc = tool__bn_mul(&x, &a->num, &b->den)) == 0 &&
        (rc = tool__bn_mul(&y, &b->num, &a->den)) == 0)
        *out = tool__bn_cmp(&x, &y);
    tool__bn_free(&x);
    tool__bn_free(&y);
    return rc;
}

static int apply_fn(parser *p, fn_id id, rat *args, int n, rat *out)
{
    int rc = 0;
    int64_t k;

    switch (id) {
    case F_ABS:
        args[0].num.neg = false;
        break;
    case F_FLOOR:
    case F_CEIL:
    case F_ROUND:
        rc = rat_to_int(&args[0], id == F_FLOOR ? -1 : id == F_CEIL ? 1 : 0);
        break;
    case F_MIN:
    case F_MAX:
        for (int i = 1; i < n && rc == 0; i++) {
            int c;

            if ((rc = rat_cmp(&args[i], &args[0], &c)) == 0 &&
                ((id == F_MIN && c < 0) || (id == F_MAX && c > 0))) {
                rat t = args[0];

                args[0] = args[i];
                args[i] = t;
            }
        }
        break;
    case F_GCD:
    case F_LCM:
        for (int i = 0; i < n; i++)
            if (!rat_is_int(&args[i]))
                return fail(p, AIOS_EINVAL, "%s needs integers (near position %lu)",
                            id == F_GCD ? "gcd" : "lcm");
        for (int i = 1; i < n && rc == 0; i++) {
            tool_bn g;

            tool__bn_init(&g);
            rc = tool__bn_gcd(&g, &args[0].num, &args[i].num);
            if (rc == 0 && id == F_GCD) {
                tool__bn_free(&args[0].num);
                args[0].num = g;
                tool__bn_init(&g);
            } else if (rc == 0 && !tool__bn_is_zero(&g)) {
                /* lcm = |a*b| / gcd */
                if ((rc = tool__bn_mul(&args[0].num, &args[0].num, &args[i].num)) == 0)
                    rc = tool__bn_divmod(&args[0].num, &g, &args[0].num, NULL);
                args[0].num.neg = false;
            } else if (rc == 0) {
                rc = tool__bn_set_u64(&args[0].num, 0);
            }
            tool__bn_free(&g);
        }
        break;
    case F_FACT:
        if ((rc = as_int(p, &args[0], 0, 10000, "fact's argument", &k)) < 0)
            return rc;
        if ((rc = rat_set_int(&args[0], 1)) == 0) {
            tool_bn m;

            tool__bn_init(&m);
            for (int64_t i = 2; i <= k && rc == 0; i++)
                if ((rc = tool__bn_set_u64(&m, (uint64_t)i)) == 0)
                    rc = tool__bn_mul(&args[0].num, &args[0].num, &m);
            tool__bn_free(&m);
        }
        break;
    }
    if (rc < 0)
        return fail(p, rc, rc == AIOS_ELIMIT ? "result too large%s (near position %lu)"
                                             : "cannot compute%s (near position %lu)",
                    NULL);
    rat_free(out);
    *out = args[0];
    rat_init(&args[0]);
    return 0;
}

static int parse_atom(parser *p, rat *out)
{
    skip_ws(p);
    if (p->pos >= p->len)
        return fail(p, AIOS_EINVAL, "unexpected end of the expression%s at position %lu", NULL);
    if (accept(p, "(")) {
        if (parse_expr(p, out) < 0)
            return p->rc;
        if (!accept(p, ")"))
            return fail(p, AIOS_EINVAL, "missing ')'%s at position %lu", NULL);
        return 0;
    }
    if (isalpha((unsigned char)p->s[p->pos])) {
        char name[16];
        size_t n = 0;
        rat args[64];
        int nargs = 0, rc = 0;

        while (p->pos < p->len && isalnum((unsigned char)p->s[p->pos]) && n < sizeof(name) - 1)
            name[n++] = p->s[p->pos++];
        name[n] = '\0';
        for (size_t f = 0; f < sizeof(functions) / sizeof(functions[0]); f++) {
            if (strcmp(name, functions[f].name) != 0)
                continue;
            if (!accept(p, "("))
                return fail(p, AIOS_EINVAL, "'%s' needs '(' at position %lu", name);
            do {
                if (nargs == functions[f].max_args)
                    return fail(p, AIOS_EINVAL, "too many arguments to '%s' at position %lu",
                                name);
                rat_init(&args[nargs]);
                if (parse_expr(p, &args[nargs++]) < 0) {
                    rc = p->rc;
                    break;
                }
            } while (accept(p, ","));
            if (rc == 0 && !accept(p, ")"))
                rc = fail(p, AIOS_EINVAL, "missing ')' after the arguments of '%s' at position %lu",
                          name);
            if (rc == 0 && nargs < functions[f].min_args)
                rc = fail(p, AIOS_EINVAL, "too few arguments to '%s' at position %lu", name);
            if (rc == 0)
                rc = apply_fn(p, functions[f].id, args, nargs, out);
            for (int i = 0; i < nargs; i++)
                rat_free(&args[i]);
            return rc;
        }
        return fail(p, AIOS_EINVAL, "unknown name '%s' at position %lu", name);
    }
    return parse_number(p, out);
}

static int parse_unary(parser *p, rat *out);

static int parse_power(parser *p, rat *out)
{
    rat e;
    int64_t k;
    int rc;

    if (parse_atom(p, out) < 0)
        return p->rc;
    if (!accept(p, "**") && !accept(p, "^"))
        return 0;
    rat_init(&e);
    if (parse_unary(p, &e) < 0 || as_int(p, &e, -1000000, 1000000, "an exponent", &k) < 0) {
        rat_free(&e);
        return p->rc;
    }
    rat_free(&e);
    if (k < 0) {
        tool_bn t;

        if (tool__bn_is_zero(&out->num))
            return fail(p, AIOS_EINVAL, "zero to a negative power%s at position %lu", NULL);
        t = out->num;
        out->num = out->den;
        out->den = t;
        out->num.neg = t.neg;
        out->den.neg = false;
        k = -k;
    }
    if ((rc = tool__bn_pow(&out->num, &out->num, (uint64_t)k)) < 0 ||
        (rc = tool__bn_pow(&out->den, &out->den, (uint64_t)k)) < 0)
        return fail(p, rc, rc == AIOS_ELIMIT ? "power too large%s (near position %lu)"
                                             : "cannot compute the power%s at %lu",
                    NULL);
    return 0;
}

static int parse_unary(parser *p, rat *out)
{
    int rc;

    if (++p->depth > TOOL_CALC_MAX_DEPTH)
        return fail(p, AIOS_ELIMIT, "expression nested too deeply%s at position %lu", NULL);
    if (accept(p, "-")) {
        rc = parse_unary(p, out);
        if (rc == 0)
            out->num.neg = !out->num.neg && out->num.n;
    } else if (accept(p, "+")) {
        rc = parse_unary(p, out);
    } else {
        rc = parse_power(p, out);
    }
    p->depth--;
    return rc < 0 ? p->rc : 0;
}

static int parse_term(parser *p, rat *out)
{
    if (parse_unary(p, out) < 0)
        return p->rc;
    for (;;) {
        const char *op = accept(p, "//") ? "//" : accept(p, "*") ? "*"
                         : accept(p, "/")  ? "/"
                         : accept(p, "%")  ? "%"
                                           : NULL;
        rat b, q;
        int rc;

        if (!op)
            return 0;
        rat_init(&b);
        if (parse_unary(p, &b) < 0) {
            rat_free(&b);
            return p->rc;
        }
        if (op[0] != '*' && tool__bn_is_zero(&b.num)) {
            rat_free(&b);
            return fail(p, AIOS_EINVAL, "division by zero%s near position %lu", NULL);
        }
        if (op[0] == '*') {
            rc = rat_arith(out, out, &b, '*');
        } else if (strcmp(op, "/") == 0) {
            rc = rat_arith(out, out, &b, '/');
        } else {
            /* a // b = floor(a / b); a % b = a - b * floor(a / b) */
            rat_init(&q);
            rc = rat_arith(&q, out, &b, '/');
            if (rc == 0)
                rc = rat_to_int(&q, -1);
            if (rc == 0 && op[0] == '%') {
                rat bq;

                rat_init(&bq);
                rc = rat_arith(&bq, &b, &q, '*');
                if (rc == 0)
                    rc = rat_arith(out, out, &bq, '-');
                rat_free(&bq);
            } else if (rc == 0) {
                rat_free(out);
                *out = q;
                rat_init(&q);
            }
            rat_free(&q);
        }
        rat_free(&b);
        if (rc < 0)
            return fail(p, rc, rc == AIOS_ELIMIT ? "result too large%s (near position %lu)"
                                                 : "cannot compute%s (near position %lu)",
                        NULL);
    }
}

static int parse_expr(parser *p, rat *out)
{
    if (++p->depth > TOOL_CALC_MAX_DEPTH)
        return fail(p, AIOS_ELIMIT, "expression nested too deeply%s at position %lu", NULL);
    if (parse_term(p, out) < 0)
        return p->rc;
    for (;;) {
        char op = accept(p, "+") ? '+' : accept(p, "-") ? '-' : 0;
        rat b;
        int rc;

        if (!op)
            break;
        rat_init(&b);
        if (parse_term(p, &b) < 0) {
            rat_free(&b);
            return p->rc;
        }
        rc = rat_arith(out, out, &b, op);
        rat_free(&b);
        if (rc < 0)
            return fail(p, rc, "result too large%s (near position %lu)", NULL);
    }
    p->depth--;
    return 0;
}

/* The decimal expansion of r with at most `scale` fractional digits,
 * rounded half away from zero; *exact says whether nothing was cut. */
static char *decimal(const rat *r, int scale, bool *exact)
{
    tool_bn pow10, scaled, q, rem;
    char *digits = NULL, *out = NULL;
    int rc, frac;
    size_t len;
    bool neg = r->num.neg;

    tool__bn_init(&pow10);
    tool__bn_init(&scaled);
    tool__bn_init(&q);
    tool__bn_init(&rem);
    /* r is a finite decimal iff its denominator is 2^a * 5^b; it then needs
     * max(a, b) fractional digits */
    {
        tool_bn d;
        int twos = 0, fives = 0;

        tool__bn_init(&d);
        if ((rc = tool__bn_copy(&d, &r->den)) < 0)
            goto out;
        while (d.n && !(d.d[0] & 1) && twos <= scale) {
            tool__bn_div_small(&d, 2);
            twos++;
        }
        for (;;) {
            tool_bn t;

            tool__bn_init(&t);
            if (fives > scale || tool__bn_copy(&t, &d) < 0 || tool__bn_div_small(&t, 5) != 0) {
                tool__bn_free(&t);
                break;
            }
            tool__bn_free(&d);
            d = t;
            fives++;
        }
        frac = (d.n == 1 && d.d[0] == 1) ? (twos > fives ? twos : fives) : scale + 1;
        tool__bn_free(&d);
    }
    if ((rc = tool__bn_set_u64(&pow10, 10)) ||
        (rc = tool__bn_pow(&pow10, &pow10, (uint64_t)(frac <= scale ? frac : scale))) ||
        (rc = tool__bn_mul(&scaled, &r->num, &pow10)) ||
        (rc = tool__bn_divmod(&scaled, &r->den, &q, &rem)))
        goto out;
    *exact = frac <= scale;
    if (!*exact) {
        tool_bn twice, one;

        frac = scale;
        tool__bn_init(&twice);
        tool__bn_init(&one);
        rc = tool__bn_add(&twice, &rem, &rem);
        if (rc == 0 && tool__bn_cmp_abs(&twice, &r->den) >= 0 &&
            (rc = tool__bn_set_u64(&one, 1)) == 0)
            rc = neg ? tool__bn_sub(&q, &q, &one) : tool__bn_add(&q, &q, &one);
        tool__bn_free(&twice);
        tool__bn_free(&one);
        if (rc < 0)
            goto out;
    }
    q.neg = false;
    digits = tool__bn_to_dec(&q);
    if (!digits)
        goto out;
    len = strlen(digits);
    out = malloc(len + (size_t)frac + 4);
    if (!out)
        goto out;
    {
        size_t o = 0, int_len = len > (size_t)frac ? len - (size_t)frac : 0;

        if (neg && !(len == 1 && digits[0] == '0'))
            out[o++] = '-';
        if (int_len == 0) {
            out[o++] = '0';
        } else {
            memcpy(out + o, digits, int_len);
            o += int_len;
        }
        if (frac > 0) {
            out[o++] = '.';
            for (size_t i = 0; i < (size_t)frac - (len - int_len); i++)
                out[o++] = '0';
            memcpy(out + o, digits + int_len, len - int_len);
            o += len - int_len;
        }
        out[o] = '\0';
    }
out:
    free(digits);
    tool__bn_free(&pow10);
    tool__bn_free(&scaled);
    tool__bn_free(&q);
    tool__bn_free(&rem);
    return out;
}

int tool_calculate(const char *expr, int scale, json_t **result, char *err, size_t errlen)
{
    parser p = {.s = expr, .len = expr ? strlen(expr) : 0};
    rat v;
    char *num = NULL, *den = NULL, *dec = NULL;
    bool exact = false;
    int rc;

    *result = NULL;
    if (!expr || p.len == 0 || p.len > TOOL_CALC_MAX_LEN) {
        snprintf(err, errlen, "the expression must have 1 to %d characters", TOOL_CALC_MAX_LEN);
        return AIOS_EINVAL;
    }
    if (scale < 0 || scale > 1000)
        scale = 20;
    rat_init(&v);
    rc = parse_expr(&p, &v);
    skip_ws(&p);
    if (rc == 0 && p.pos < p.len)
        rc = fail(&p, AIOS_EINVAL, "unexpected '%s' at position %lu",
                  (char[2]){p.s[p.pos], '\0'});
    if (rc < 0) {
        snprintf(err, errlen, "%s", p.err);
        goto out;
    }
    num = tool__bn_to_dec(&v.num);
    den = tool__bn_to_dec(&v.den);
    dec = decimal(&v, scale, &exact);
    if (!num || !den || !dec) {
        rc = AIOS_ENOMEM;
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    *result = json_pack("{s:s,s:s,s:s,s:s,s:b,s:b}", "expression", expr, "value",
                        rat_is_int(&v) ? num : "", "numerator", num, "denominator", den,
                        "integer", rat_is_int(&v), "exact", exact);
    if (*result) {
        if (!rat_is_int(&v)) {
            char *frac = malloc(strlen(num) + strlen(den) + 2);

            if (frac) {
                sprintf(frac, "%s/%s", num, den);
                json_object_set_new(*result, "value", json_string(frac));
                free(frac);
            }
        }
        json_object_set_new(*result, "decimal", json_string(dec));
    }
    rc = *result ? 0 : AIOS_ENOMEM;
out:
    free(num);
    free(den);
    free(dec);
    rat_free(&v);
    return rc;
}

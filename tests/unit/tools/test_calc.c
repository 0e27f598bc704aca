/*
 * test_calc.c - the calculator: exact values, operator precedence, the
 * functions, rounding of the decimal form, big numbers (division checked by
 * identities on pseudo-random operands), and refused expressions.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aios/error.h"
#include "aios/tools.h"
#include "tools/tools_int.h"

static json_t *calc(const char *expr, int scale)
{
    char err[256];
    json_t *r = NULL;
    int rc = tool_calculate(expr, scale, &r, err, sizeof(err));

    cr_assert_eq(rc, 0, "'%s' failed: %s", expr, err);
    return r;
}

static void expect(const char *expr, const char *value)
{
    json_t *r = calc(expr, 20);

    cr_assert_str_eq(json_string_value(json_object_get(r, "value")), value, "%s", expr);
    json_decref(r);
}

static void expect_dec(const char *expr, int scale, const char *dec, bool exact)
{
    json_t *r = calc(expr, scale);

    cr_assert_str_eq(json_string_value(json_object_get(r, "decimal")), dec, "%s", expr);
    cr_assert_eq(json_is_true(json_object_get(r, "exact")), exact, "%s exact", expr);
    json_decref(r);
}

static void expect_err(const char *expr, int code)
{
    char err[256] = "";
    json_t *r = NULL;
    int rc = tool_calculate(expr, 20, &r, err, sizeof(err));

    cr_assert_eq(rc, code, "'%.60s' gave %d (%s)", expr, rc, err);
    cr_assert_null(r);
    cr_assert(err[0], "an error message is expected for '%.60s'", expr);
}

Test(tool_calc, arithmetic, .timeout = 10)
{
    expect("1+2*3", "7");
    expect("(1+2)*3", "9");
    expect("7 - 10", "-3");
    expect("2^10", "1024");
    expect("2**10", "1024");
    expect("2^3^2", "512");
    expect("-2^2", "-4");
    expect("-(2^3)", "-8");
    expect("2^-2", "1/4");
    expect("0.1 + 0.2", "3/10");
    expect("1/3 + 1/6", "1/2");
    expect("6/4", "3/2");
    expect("-7 // 2", "-4");
    expect("-7 % 2", "1");
    expect("7 % -2", "-1");
    expect("7.5 % 2", "3/2");
    expect("1.5e3", "1500");
    expect("1e-3", "1/1000");
    expect("  12 ", "12");
    expect("+-+3", "-3");
}

Test(tool_calc, functions, .timeout = 10)
{
    expect("abs(-3/4)", "3/4");
    expect("floor(-1.5)", "-2");
    expect("ceil(-1.5)", "-1");
    expect("floor(7/2)", "3");
    expect("round(2.5)", "3");
    expect("round(-2.5)", "-3");
    expect("round(2.4)", "2");
    expect("min(3, 1, 2)", "1");
    expect("max(3, 1/2, 2)", "3");
    expect("gcd(12, 18)", "6");
    expect("gcd(12, 18, 8)", "2");
    expect("lcm(4, 6)", "12");
    expect("fact(20)", "2432902008176640000");
    expect("fact(30)", "265252859812191058636308480000000");
    expect("fact(0)", "1");
}

Test(tool_calc, decimal_form, .timeout = 10)
{
    expect_dec("1/3", 20, "0.33333333333333333333", false);
    expect_dec("2/3", 5, "0.66667", false);
    expect_dec("-2/3", 5, "-0.66667", false);
    expect_dec("1/8", 20, "0.125", true);
    expect_dec("0.1 + 0.2", 20, "0.3", true);
    expect_dec("1/1024", 20, "0.0009765625", true);
    expect_dec("1/1024", 3, "0.001", false);
    expect_dec("-1/8", 20, "-0.125", true);
    expect_dec("5", 20, "5", true);
    expect_dec("1/7", 0, "0", false);
}

Test(tool_calc, big_numbers, .timeout = 20)
{
    expect("2^100", "1267650600228229401496703205376");
    expect("2^200 // 3",
           "535646014752996758513987364113720867507400997927597611767125");
    expect("12345678901234567890123456789 * 98765432109876543210",
           "1219326311370217952249657064223746380111126352690");
    expect("(10^1000 + 1) - 10^1000", "1");
    expect("2^4000 / 2^3999", "2");
    expect("(2^521 - 1) % (2^127 - 1) - ((2^521 - 1) - (2^127 - 1) * ((2^521 - 1) // (2^127 - 1)))", "0");
}

/* a = q*b + r with 0 <= r < |b| for pseudo-random a, b of many sizes: this
 * exercises every branch of the long division. */
Test(tool_calc, division_identity, .timeout = 60)
{
    unsigned long long s = 88172645463325252ull;
    char a[700], b[400], expr[4096];

    for (int round = 0; round < 120; round++) {
        int la = 1 + (int)(s % 600), lb = 1 + (int)((s >> 20) % 300);
        json_t *r;

        for (int i = 0; i < la; i++) {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            a[i] = (char)('0' + s % 10);
        }
        for (int i = 0; i < lb; i++) {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            b[i] = (char)('0' + s % 10);
        }
        a[0] = a[0] == '0' ? '7' : a[0];
        b[0] = b[0] == '0' ? '3' : b[0];
        a[la] = b[lb] = '\0';
        snprintf(expr, sizeof(expr), "(%s // %s) * %s + %s %% %s - %s", a, b, b, a, b, a);
        r = calc(expr, 0);
        cr_assert_str_eq(json_string_value(json_object_get(r, "value")), "0", "%s", expr);
        json_decref(r);
        /* r < b: check through floor((a % b) / b) == 0 */
        snprintf(expr, sizeof(expr), "floor((%s %% %s) / %s)", a, b, b);
        r = calc(expr, 0);
        cr_assert_str_eq(json_string_value(json_object_get(r, "value")), "0", "%s", expr);
        json_decref(r);
    }
}

Test(tool_calc, refused, .timeout = 20)
{
    char deep[400], *longexpr;

    expect_err("1/0", AIOS_EINVAL);
    expect_err("1 // 0", AIOS_EINVAL);
    expect_err("5 % 0", AIOS_EINVAL);
    expect_err("2^(1/2)", AIOS_EINVAL);
    expect_err("0^-1", AIOS_EINVAL);
    expect_err("(1+2", AIOS_EINVAL);
    expect_err("1 +", AIOS_EINVAL);
    expect_err("1 2", AIOS_EINVAL);
    expect_err("foo(1)", AIOS_EINVAL);
    expect_err("gcd(1.5, 2)", AIOS_EINVAL);
    expect_err("", AIOS_EINVAL);
    expect_err("2^1000000", AIOS_ELIMIT);
    expect_err("10^100000", AIOS_ELIMIT);
    expect_err("fact(100000)", AIOS_ELIMIT);
    expect_err("(2^200000)", AIOS_ELIMIT);
    expect_err("2^100000 * 2^100000", AIOS_ELIMIT);
    memset(deep, '(', 200);
    strcpy(deep + 200, "1");
    memset(deep + 201, ')', 198);
    deep[399] = '\0';
    expect_err(deep, AIOS_ELIMIT);
    longexpr = malloc(5001);
    memset(longexpr, '1', 5000);
    longexpr[5000] = '\0';
    expect_err(longexpr, AIOS_EINVAL);
    free(longexpr);
}

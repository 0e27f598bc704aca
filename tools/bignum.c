/*
 * bignum.c - arbitrary-precision integers for the calculator tool.
 *
 * Sign and magnitude, magnitude in 32-bit limbs, least significant first,
 * no leading zero limbs (zero has n == 0 and is never negative).  Every
 * operation checks the size of its result against TOOL_BN_MAX_LIMBS before
 * allocating, so a hostile expression ends with AIOS_ELIMIT instead of
 * exhausting memory or time.  Division is Knuth's algorithm D.
 *
 * No state; any thread.
 */
#include <stdlib.h>
#include <string.h>

#include "aios/error.h"
#include "tools/tools_int.h"

void tool__bn_init(tool_bn *a)
{
    a->d = NULL;
    a->n = a->cap = 0;
    a->neg = false;
}

void tool__bn_free(tool_bn *a)
{
    if (!a)
        return;
    free(a->d);
    tool__bn_init(a);
}

/* Make room for n limbs (contents kept). */
static int reserve(tool_bn *a, size_t n)
{
    uint32_t *d;

    if (n > TOOL_BN_MAX_LIMBS)
        return AIOS_ELIMIT;
    if (n <= a->cap)
        return 0;
    d = realloc(a->d, n * sizeof(uint32_t));
    if (!d)
        return AIOS_ENOMEM;
    a->d = d;
    a->cap = n;
    return 0;
}

static void trim(tool_bn *a)
{
    while (a->n && a->d[a->n - 1] == 0)
        a->n--;
    if (a->n == 0)
        a->neg = false;
}

int tool__bn_set_u64(tool_bn *a, uint64_t v)
{
    int rc = reserve(a, 2);

    if (rc < 0)
        return rc;
    a->d[0] = (uint32_t)v;
    a->d[1] = (uint32_t)(v >> 32);
    a->n = 2;
    a->neg = false;
    trim(a);
    return 0;
}

int tool__bn_copy(tool_bn *dst, const tool_bn *src)
{
    int rc;

    if (dst == src)
        return 0;
    if ((rc = reserve(dst, src->n)) < 0)
        return rc;
    if (src->n)
        memcpy(dst->d, src->d, src->n * sizeof(uint32_t));
    dst->n = src->n;
    dst->neg = src->neg;
    return 0;
}

bool tool__bn_is_zero(const tool_bn *a)
{
    return a->n == 0;
}

size_t tool__bn_bits(const tool_bn *a)
{
    if (a->n == 0)
        return 0;
    return (a->n - 1) * 32 + (32 - (size_t)__builtin_clz(a->d[a->n - 1]));
}

int tool__bn_cmp_abs(const tool_bn *a, const tool_bn *b)
{
    if (a->n != b->n)
        return a->n < b->n ? -1 : 1;
    for (size_t i = a->n; i-- > 0;)
        if (a->d[i] != b->d[i])
            return a->d[i] < b->d[i] ? -1 : 1;
    return 0;
}

int tool__bn_cmp(const tool_bn *a, const tool_bn *b)
{
    if (a->neg != b->neg)
        return a->neg ? -1 : 1;
    return a->neg ? -tool__bn_cmp_abs(a, b) : tool__bn_cmp_abs(a, b);
}

/* |r| = |a| + |b| (r may alias a or b). */
static int add_abs(tool_bn *r, const tool_bn *a, const tool_bn *b)
{
    size_t n = a->n > b->n ? a->n : b->n;
    uint64_t carry = 0;
    int rc;

    if ((rc = reserve(r, n + 1)) < 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        uint64_t s = carry + (i < a->n ? a->d[i] : 0) + (i < b->n ? b->d[i] : 0);

        r->d[i] = (uint32_t)s;
        carry = s >> 32;
    }
    r->d[n] = (uint32_t)carry;
    r->n = n + 1;
    trim(r);
    return 0;
}

/* |r| = |a| - |b| with |a| >= |b| (r may alias a or b). */
static int sub_abs(tool_bn *r, const tool_bn *a, const tool_bn *b)
{
    size_t n = a->n;
    int64_t borrow = 0;
    int rc;

    if ((rc = reserve(r, n)) < 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        int64_t s = (int64_t)a->d[i] - (i < b->n ? b->d[i] : 0) - borrow;

        borrow = s < 0;
        r->d[i] = (uint32_t)(s + (borrow ? ((int64_t)1 << 32) : 0));
    }
    r->n = n;
    trim(r);
    return 0;
}

/* r = a + b, or a - b when negate_b. */
static int add_signed(tool_bn *r, const tool_bn *a, const tool_bn *b, bool negate_b)
{
    bool bneg = negate_b ? !b->neg : b->neg;
    bool aneg = a->neg;
    int rc;

    if (aneg == bneg) {
        rc = add_abs(r, a, b);
        r->neg = aneg;
    } else if (tool__bn_cmp_abs(a, b) >= 0) {
        rc = sub_abs(r, a, b);
        r->neg = aneg;
    } else {
        rc = sub_abs(r, b, a);
        r->neg = bneg;
    }
    trim(r);
    return rc;
}

int tool__bn_add(tool_bn *r, const tool_bn *a, const tool_bn *b)
{
    return add_signed(r, a, b, false);
}

int tool__bn_sub(tool_bn *r, const tool_bn *a, const tool_bn *b)
{
    return add_signed(r, a, b, true);
}

int tool__bn_mul(tool_bn *r, const tool_bn *a, const tool_bn *b)
{
    tool_bn t;
    int rc;

    if (a->n == 0 || b->n == 0)
        return tool__bn_set_u64(r, 0);
    if (a->n + b->n > TOOL_BN_MAX_LIMBS)
        return AIOS_ELIMIT;
    tool__bn_init(&t);
    if ((rc = reserve(&t, a->n + b->n)) < 0)
        return rc;
    memset(t.d, 0, (a->n + b->n) * sizeof(uint32_t));
    for (size_t i = 0; i < a->n; i++) {
        uint64_t carry = 0;

        for (size_t j = 0; j < b->n; j++) {
            uint64_t p = (uint64_t)a->d[i] * b->d[j] + t.d[i + j] + carry;

            t.d[i + j] = (uint32_t)p;
            carry = p >> 32;
        }
        t.d[i + b->n] = (uint32_t)carry;
    }
    t.n = a->n + b->n;
    t.neg = a->neg != b->neg;
    trim(&t);
    tool__bn_free(r);
    *r = t;
    return 0;
}

/* a = a * m + add for small m, add (in place). */
static int mul_small_add(tool_bn *a, uint32_t m, uint32_t add)
{
    uint64_t carry = add;
    int rc;

    for (size_t i = 0; i < a->n; i++) {
        uint64_t p = (uint64_t)a->d[i] * m + carry;

        a->d[i] = (uint32_t)p;
        carry = p >> 32;
    }
    if (carry) {
        if ((rc = reserve(a, a->n + 1)) < 0)
            return rc;
        a->d[a->n++] = (uint32_t)carry;
    }
    return 0;
}

/* a = a / m (in place), returns the remainder. */
uint32_t tool__bn_div_small(tool_bn *a, uint32_t m)
{
    uint64_t rem = 0;

    for (size_t i = a->n; i-- > 0;) {
        uint64_t cur = (rem << 32) | a->d[i];

        a->d[i] = (uint32_t)(cur / m);
        rem = cur % m;
    }
    trim(a);
    return (uint32_t)rem;
}

/*
 * Truncating division: q = trunc(a / b), r = a - q*b (r has a's sign).
 * q or r may be NULL.  AIOS_EINVAL when b is zero.
 */
int tool__bn_divmod(const tool_bn *a, const tool_bn *b, tool_bn *q, tool_bn *r)
{
    tool_bn qq, rr;
    uint32_t *un = NULL, *vn = NULL;
    size_t n = b->n, m;
    int s, rc = 0;

    if (b->n == 0)
        return AIOS_EINVAL;
    tool__bn_init(&qq);
    tool__bn_init(&rr);
    if (tool__bn_cmp_abs(a, b) < 0) {
        rc = tool__bn_copy(&rr, a);
        goto out_done;
    }
    if (n == 1) {
        uint32_t rem;

        if ((rc = tool__bn_copy(&qq, a)) < 0)
            goto out_free;
        qq.neg = false;
        rem = tool__bn_div_small(&qq, b->d[0]);
        if ((rc = tool__bn_set_u64(&rr, rem)) < 0)
            goto out_free;
        qq.neg = (a->neg != b->neg) && qq.n;
        rr.neg = a->neg && rr.n;
        goto out_done;
    }
    m = a->n - n;
    un = calloc(a->n + 1, sizeof(uint32_t));
    vn = calloc(n, sizeof(uint32_t));
    if (!un || !vn || (rc = reserve(&qq, m + 1)) < 0 || (rc = reserve(&rr, n)) < 0) {
        rc = rc ? rc : AIOS_ENOMEM;
        goto out_free;
    }
    /* normalise so that the divisor's top limb has its high bit set */
    s = __builtin_clz(b->d[n - 1]);
    for (size_t i = n - 1; i > 0; i--)
        vn[i] = (b->d[i] << s) | (s ? (uint32_t)((uint64_t)b->d[i - 1] >> (32 - s)) : 0);
    vn[0] = b->d[0] << s;
    un[a->n] = s ? (uint32_t)((uint64_t)a->d[a->n - 1] >> (32 - s)) : 0;
    for (size_t i = a->n - 1; i > 0; i--)
        un[i] = (a->d[i] << s) | (s ? (uint32_t)((uint64_t)a->d[i - 1] >> (32 - s)) : 0);
    un[0] = a->d[0] << s;
    for (size_t j = m + 1; j-- > 0;) {
        uint64_t num = ((uint64_t)un[j + n] << 32) | un[j + n - 1];
        uint64_t qhat = num / vn[n - 1], rhat = num % vn[n - 1];
        int64_t borrow = 0, t;

        while (qhat >> 32 || qhat * vn[n - 2] > ((rhat << 32) | un[j + n - 2])) {
            qhat--;
            rhat += vn[n - 1];
            if (rhat >> 32)
                break;
        }
        for (size_t i = 0; i < n; i++) {
            uint64_t p = qhat * vn[i];

            t = (int64_t)un[i + j] - borrow - (int64_t)(p & 0xffffffffu);
            un[i + j] = (uint32_t)t;
            borrow = (int64_t)(p >> 32) - (t >> 32);
        }
        t = (int64_t)un[j + n] - borrow;
        un[j + n] = (uint32_t)t;
        qq.d[j] = (uint32_t)qhat;
        if (t < 0) {
            uint64_t c = 0;

            qq.d[j]--;
            for (size_t i = 0; i < n; i++) {
                uint64_t sum = (uint64_t)un[i + j] + vn[i] + c;

                un[i + j] = (uint32_t)sum;
                c = sum >> 32;
            }
            un[j + n] += (uint32_t)c;
        }
    }
    qq.n = m + 1;
    for (size_t i = 0; i < n; i++)
        rr.d[i] = (un[i] >> s) | (s ? (uint32_t)((uint64_t)un[i + 1] << (32 - s)) : 0);
    rr.n = n;
    trim(&qq);
    trim(&rr);
    qq.neg = (a->neg != b->neg) && qq.n;
    rr.neg = a->neg && rr.n;
out_done:
    if (q) {
        tool__bn_free(q);
        *q = qq;
        tool__bn_init(&qq);
    }
    if (r) {
        tool__bn_free(r);
        *r = rr;
        tool__bn_init(&rr);
    }
out_free:
    free(un);
    free(vn);
    tool__bn_free(&qq);
    tool__bn_free(&rr);
    return rc;
}

int tool__bn_gcd(tool_bn *r, const tool_bn *a, const tool_bn *b)
{
    tool_bn x, y, t;
    int rc = 0;

    tool__bn_init(&x);
    tool__bn_init(&y);
    tool__bn_init(&t);
    if ((rc = tool__bn_copy(&x, a)) < 0 || (rc = tool__bn_copy(&y, b)) < 0)
        goto out;
    x.neg = y.neg = false;
    while (y.n) {
        if ((rc = tool__bn_divmod(&x, &y, NULL, &t)) < 0)
            goto out;
        tool__bn_free(&x);
        x = y;
        y = t;
        tool__bn_init(&t);
    }
    tool__bn_free(r);
    *r = x;
    tool__bn_init(&x);
out:
    tool__bn_free(&x);
    tool__bn_free(&y);
    tool__bn_free(&t);
    return rc;
}

int tool__bn_pow(tool_bn *r, const tool_bn *base, uint64_t e)
{
    tool_bn acc, b;
    int rc = 0;

    /* result bits ~ bits(base) * e: refuse before computing */
    if (tool__bn_bits(base) > 1 && (uint64_t)(tool__bn_bits(base) - 1) * e >
                                       (uint64_t)TOOL_BN_MAX_LIMBS * 32)
        return AIOS_ELIMIT;
    tool__bn_init(&acc);
    tool__bn_init(&b);
    if ((rc = tool__bn_set_u64(&acc, 1)) < 0 || (rc = tool__bn_copy(&b, base)) < 0)
        goto out;
    while (e) {
        if (e & 1 && (rc = tool__bn_mul(&acc, &acc, &b)) < 0)
            goto out;
        e >>= 1;
        if (e && (rc = tool__bn_mul(&b, &b, &b)) < 0)
            goto out;
    }
    tool__bn_free(r);
    *r = acc;
    tool__bn_init(&acc);
out:
    tool__bn_free(&acc);
    tool__bn_free(&b);
    return rc;
}

int tool__bn_from_dec(tool_bn *a, const char *s, size_t len)
{
    int rc = tool__bn_set_u64(a, 0);

    for (size_t i = 0; i < len && rc == 0;) {
        uint32_t chunk = 0, mul = 1;

        for (int k = 0; k < 9 && i < len; k++, i++) {
            if (s[i] < '0' || s[i] > '9')
                return AIOS_EINVAL;
            chunk = chunk * 10 + (uint32_t)(s[i] - '0');
            mul *= 10;
        }
        rc = mul_small_add(a, mul, chunk);
    }
    trim(a);
    return rc;
}

char *tool__bn_to_dec(const tool_bn *a)
{
    tool_bn t;
    size_t cap = a->n * 10 + 3, n = 0;
    char *buf = malloc(cap), *out;

    if (!buf)
        return NULL;
    tool__bn_init(&t);
    if (tool__bn_copy(&t, a) < 0) {
        free(buf);
        return NULL;
    }
    t.neg = false;
    do {
        uint32_t rem = tool__bn_div_small(&t, 1000000000u);

        for (int k = 0; k < 9; k++) {
            buf[n++] = (char)('0' + rem % 10);
            rem /= 10;
            if (t.n == 0 && rem == 0)
                break;
        }
    } while (t.n);
    while (n > 1 && buf[n - 1] == '0')
        n--;
    if (a->neg)
        buf[n++] = '-';
    out = malloc(n + 1);
    if (out) {
        for (size_t i = 0; i < n; i++)
            out[i] = buf[n - 1 - i];
        out[n] = '\0';
    }
    free(buf);
    tool__bn_free(&t);
    return out;
}

int tool__bn_to_i64(const tool_bn *a, int64_t *out)
{
    uint64_t v;

    if (a->n > 2)
        return AIOS_ERANGE;
    v = a->n == 0 ? 0 : a->n == 1 ? a->d[0] : ((uint64_t)a->d[1] << 32) | a->d[0];
    if (v > (uint64_t)INT64_MAX)
        return AIOS_ERANGE;
    *out = a->neg ? -(int64_t)v : (int64_t)v;
    return 0;
}

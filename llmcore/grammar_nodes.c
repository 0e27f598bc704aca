/*
 * grammar_nodes.c - the byte-level behaviour of each node kind.
 *
 * One row per kind in llm_grammar__ops: init (a fresh frame), step (consume
 * one byte, ask for a child, or end before the byte), child_done (a pushed
 * child ended), complete (the value may end here), finished (complete and
 * no byte can continue it), fin (the next move on a short way to finishing,
 * used to force a completion) and norm (the canonical form of a frame for the
 * mask cache).  Every step keeps the frame finishable: counts never pass
 * their limits, strings can always close, numbers can always end, and no
 * child is pushed that could not be finished within the depth budget.
 * Pure functions of their arguments; any thread.
 */
#include <string.h>

#include "llmcore/grammar_nodes.h"

/* ---- shared helpers ------------------------------------------------------------ */

static bool is_ws(uint8_t b)
{
    return b == ' ' || b == '\n' || b == '\t';
}

static bool is_digit(uint8_t b)
{
    return b >= '0' && b <= '9';
}

static int hexval(uint8_t b)
{
    if (b >= '0' && b <= '9')
        return b - '0';
    if (b >= 'a' && b <= 'f')
        return b - 'a' + 10;
    if (b >= 'A' && b <= 'F')
        return b - 'A' + 10;
    return -1;
}

/* UTF-8: the range the next continuation byte must fall in. */
static const uint8_t rng_lo[5] = {0x80, 0xa0, 0x80, 0x90, 0x80};
static const uint8_t rng_hi[5] = {0xbf, 0xbf, 0x9f, 0xbf, 0x8f};

/* A lead byte -> continuation bytes to come and the range of the first. */
static bool utf8_lead(uint8_t b, uint32_t *rem, uint32_t *rng)
{
    if (b >= 0xc2 && b <= 0xdf) {
        *rem = 1, *rng = 0;
    } else if (b == 0xe0) {
        *rem = 2, *rng = 1;
    } else if ((b >= 0xe1 && b <= 0xec) || b == 0xee || b == 0xef) {
        *rem = 2, *rng = 0;
    } else if (b == 0xed) {
        *rem = 2, *rng = 2;
    } else if (b == 0xf0) {
        *rem = 3, *rng = 3;
    } else if (b >= 0xf1 && b <= 0xf3) {
        *rem = 3, *rng = 0;
    } else if (b == 0xf4) {
        *rem = 3, *rng = 4;
    } else {
        return false;
    }
    return true;
}

/*
 * String content state (shared by strings, keys and free text) in s:
 *   bits 0-1 phase, 2-4 escape (0 none, 1 after '\', 2..5 hex digit 1..4),
 *   bit 5 "first hex digit was d" (no surrogates), bit 6 "hex so far zero"
 *   (no \u0000), bits 8-9 UTF-8 bytes to come, bits 10-12 their range.
 */
#define S_PH(s) ((s) & 3u)
#define S_ESC(s) (((s) >> 2) & 7u)
#define S_REM(s) (((s) >> 8) & 3u)
#define S_RNG(s) (((s) >> 10) & 7u)
#define S_DHI 0x20u
#define S_ZERO 0x40u
#define S_SET_PH(s, p) (((s) & ~3u) | (p))
#define S_SET_ESC(s, e) (((s) & ~(7u << 2)) | ((uint32_t)(e) << 2))
#define S_SET_UTF(s, r, g) (((s) & ~(0x1fu << 8)) | ((uint32_t)(r) << 8) | ((uint32_t)(g) << 10))

enum { SC_REJECT = 0, SC_OK, SC_CLOSE };

/* One byte of string content.  SC_CLOSE: an unescaped '"' (not consumed). */
static int str_byte(uint32_t *sp, uint8_t b, bool escapes)
{
    uint32_t s = *sp, rem = S_REM(s), esc = S_ESC(s);

    if (rem) {
        uint32_t g = S_RNG(s);
        if (b < rng_lo[g] || b > rng_hi[g])
            return SC_REJECT;
        *sp = S_SET_UTF(s, rem - 1, 0);
        return SC_OK;
    }
    if (esc == 1) {
        if (b == 'u')
            s = (S_SET_ESC(s, 2) & ~S_DHI) | S_ZERO;
        else if (b == '"' || b == '\\' || b == '/' || b == 'b' || b == 'f' || b == 'n' ||
                 b == 'r' || b == 't')
            s = S_SET_ESC(s, 0);
        else
            return SC_REJECT;
        *sp = s;
        return SC_OK;
    }
    if (esc >= 2) {
        int v = hexval(b);
        uint32_t idx = esc - 2;
        if (v < 0)
            return SC_REJECT;
        if (idx == 0 && v == 0xd)
            s |= S_DHI;
        if (idx == 1 && (s & S_DHI) && v >= 8)
            return SC_REJECT; /* no surrogate halves */
        if (idx == 3 && (s & S_ZERO) && v == 0)
            return SC_REJECT; /* no \u0000 */
        if (v != 0)
            s &= ~S_ZERO;
        *sp = S_SET_ESC(s, idx == 3 ? 0 : esc + 1);
        return SC_OK;
    }
    if (b == '"')
        return SC_CLOSE;
    if (b == '\\') {
        if (!escapes)
            return SC_REJECT;
        *sp = S_SET_ESC(s, 1);
        return SC_OK;
    }
    if (b < 0x20)
        return SC_REJECT;
    if (b >= 0x80) {
        uint32_t r, g;
        if (!utf8_lead(b, &r, &g))
            return SC_REJECT;
        *sp = S_SET_UTF(s, r, g);
    }
    return SC_OK;
}

/* The next byte on a shortest way out of an escape or UTF-8 sequence, 0 if
 * the content is at a character boundary. */
static uint8_t str_fin_byte(uint32_t s)
{
    uint32_t esc = S_ESC(s);

    if (S_REM(s))
        return rng_lo[S_RNG(s)];
    if (esc == 1)
        return 'n';
    if (esc == 5 && (s & S_ZERO))
        return '1';
    if (esc >= 2)
        return '0';
    return 0;
}

static uint32_t trie_child(const llm_grammar *g, uint32_t at, uint8_t b)
{
    for (uint32_t c = g->trie[at].child; c != G_NONE; c = g->trie[c].sib)
        if (g->trie[c].byte == b)
            return c;
    return G_NONE;
}

static uint32_t md(const llm_grammar *g, uint32_t id)
{
    return id == G_NONE ? G_INF : g->nodes[id].mindepth;
}

/* ---- GK_NEVER ---------------------------------------------------------------- */

static int never_step(const llm_grammar *g, const gnode *nd, gframe *f, uint8_t b,
                      uint32_t budget, uint32_t *child, uint32_t *carg)
{
    return GS_REJECT;
}

static bool no(const llm_grammar *g, const gnode *nd, const gframe *f)
{
    return false;
}

static int never_fin(const llm_grammar *g, const gnode *nd, const gframe *f, uint32_t budget,
                     uint8_t *b, uint32_t *child)
{
    return GF_POP;
}

static void no_child(const llm_grammar *g, const gnode *nd, gframe *f, const gframe *c)
{
}

static void init_zero(const llm_grammar *g, const gnode *nd, gframe *f, uint32_t carg)
{
    f->s = 0;
    f->n = carg;
    f->x = 0;
}

static void norm_leaf(const llm_grammar *g, const gnode *nd, gframe *f, uint32_t *budget)
{
    *budget = 0;
}

/* ---- GK_LIT: s = trie node ------------------------------------------------------ */

static void lit_init(const llm_grammar *g, const gnode *nd, gframe *f, uint32_t carg)
{
    f->s = nd->u.lit.root;
    f->n = f->x = 0;
}

static int lit_step(const llm_grammar *g, const gnode *nd, gframe *f, uint8_t b, uint32_t budget,
                    uint32_t *child, uint32_t *carg)
{
    uint32_t c = trie_child(g, f->s, b);

    if (c != G_NONE) {
        f->s = c;
        return GS_OK;
    }
    return g->trie[f->s].term >= 0 ? GS_POP : GS_REJECT;
}

static bool lit_complete(const llm_grammar *g, const gnode *nd, const gframe *f)
{
    return g->trie[f->s].term >= 0;
}

static bool lit_finished(const llm_grammar *g, const gnode *nd, const gframe *f)
{
    return g->trie[f->s].term >= 0 && g->trie[f->s].child == G_NONE;
}

static int lit_fin(const llm_grammar *g, const gnode *nd, const gframe *f, uint32_t budget,
                   uint8_t *b, uint32_t *child)
{
    if (g->trie[f->s].term >= 0)
        return GF_POP;
    *b = g->trie[g->trie[f->s].fin].byte;
    return GF_BYTE;
}

/* ---- GK_STR: s = string state, n = characters so far ------------------------------ */

static int str_step(const llm_grammar *g, const gnode *nd, gframe *f, uint8_t b, uint32_t budget,
                    uint32_t *child, uint32_t *carg)
{
    uint32_t s = f->s;
    bool at_char;
    int r;

    switch (S_PH(s)) {
    case 0:
        if (b != '"')
            return GS_REJECT;
        f->s = S_SET_PH(s, 1);
        return GS_OK;
    case 1:
        at_char = S_ESC(s) == 0 && S_REM(s) == 0;
        r = str_byte(&s, b, true);
        if (r == SC_CLOSE) {
            if (f->n < nd->u.str.min)
                return GS_REJECT;
            f->s = S_SET_PH(s, 2);
            return GS_OK;
        }
        if (r == SC_REJECT)
            return GS_REJECT;
        if (at_char) {
            if (f->n >= nd->u.str.max)
                return GS_REJECT;
            f->n++;
        }
        f->s = s;
        return GS_OK;
    default:
        return GS_POP;
    }
}

static bool phase2(const llm_grammar *g, const gnode *nd, const gframe *f)
{
    return S_PH(f->s) == 2;
}

static int str_fin(const llm_grammar *g, const gnode *nd, const gframe *f, uint32_t budget,
                   uint8_t *b, uint32_t *child)
{
    uint8_t c;

    if (S_PH(f->s) == 0) {
        *b = '"';
        return GF_BYTE;
    }
    if (S_PH(f->s) == 2)
        return GF_POP;
    c = str_fin_byte(f->s);
    *b = c ? c : f->n < nd->u.str.min ? 'a' : '"';
    return GF_BYTE;
}

static void str_norm(const llm_grammar *g, const gnode *nd, gframe *f, uint32_t *budget)
{
    uint32_t room = g->v->max_len + 1;

    *budget = 0;
    if (S_PH(f->s) == 1 && f->n >= nd->u.str.min &&
        (nd->u.str.max == G_NONE || nd->u.str.max - f->n > room))
        f->n = nd->u.str.min;
}

/* ---- GK_FMT: s = position in the template, n = date digits, x = time digits ------- */

/* Templates: role letters are Y year, M/m month, D/d day, H/h hour, N/n
 * minute, S/s second, X hex digit; anything else is literal. */
static const char *const fmt_tmpl[] = {
    [GF_DATE] = "\"YYYY-Mm-Dd\"",
    [GF_TIME] = "\"Hh:Nn:SsZ\"",
    [GF_DATETIME] = "\"YYYY-Mm-DdTHh:Nn:SsZ\"",
    [GF_UUID] = "\"XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX\"",
};

static bool leap(uint32_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static uint32_t days_in(uint32_t y, uint32_t m)
{
    static const uint8_t d[13] = {0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m < 1 || m > 12)
        return 31;
    return m == 2 && leap(y) ? 29 : d[m];
}

/* Whether byte b may stand at template role r given the digits so far. */
static bool fmt_ok(char r, const char *t, uint32_t pos, uint32_t n, uint32_t x, uint8_t b)
{
    uint32_t d = (uint32_t)(b - '0');

    if (r == 'X')
        return is_digit(b) || (b >= 'a' && b <= 'f');
    if (!strchr("YMmDdHhNnSs", r))
        return b == (uint8_t)r;
    if (!is_digit(b))
        return false;
    switch (r) {
    case 'Y':
        return t[pos + 1] == 'Y' || n != 0 || d != 0; /* year 0000 does not exist */
    case 'M':
        return d <= 1;
    case 'm':
        return n % 10 == 0 ? d >= 1 : d <= 2;
    case 'D': {
        uint32_t y = n / 100, m = n % 100;
        return d <= 2 || (d == 3 && days_in(y, m) >= 30);
    }
    case 'd': {
        uint32_t dt = n % 10, m = (n / 10) % 100, y = n / 1000;
        uint32_t day = dt * 10 + d;
        return day >= 1 && day <= days_in(y, m);
    }
    case 'H':
        return d <= 2;
    case 'h':
        return x % 10 == 2 ? d <= 3 : true;
    case 'N':
    case 'S':
        return d <= 5;
    default:
        return true;
    }
}

static int fmt_step(const llm_grammar *g, const gnode *nd, gframe *f, uint8_t b, uint32_t budget,
                    uint32_t *child, uint32_t *carg)
{
    const char *t = fmt_tmpl[nd->u.fmt.fmt];
    uint32_t pos = f->s;
    char r;

    if (t[pos] == 0)
        return GS_POP;
    r = t[pos];
    if (!fmt_ok(r, t, pos, f->n, f->x, b))
        return GS_REJECT;
    if (strchr("YMmDd", r))
        f->n = f->n * 10 + (uint32_t)(b - '0');
    else if (strchr("HhNnSs", r))
        f->x = f->x * 10 + (uint32_t)(b - '0');
    f->s = pos + 1;
    return GS_OK;
}

static bool fmt_done(const llm_grammar *g, const gnode *nd, const gframe *f)
{
    return fmt_tmpl[nd->u.fmt.fmt][f->s] == 0;
}

static int fmt_fin(const llm_grammar *g, const gnode *nd, const gframe *f, uint32_t budget,
                   uint8_t *b, uint32_t *child)
{
    static const char order[] = "0123456789abcdef";
    const char *t = fmt_tmpl[nd->u.fmt.fmt];
    char r = t[f->s];

    if (r == 0)
        return GF_POP;
    if (!strchr("YMmDdHhNnSsX", r)) {
        *b = (uint8_t)r;
        return GF_BYTE;
    }
    for (const char *o = order; *o; o++) {
        if (fmt_ok(r, t, f->s, f->n, f->x, (uint8_t)*o)) {
            *b = (uint8_t)*o;
            return GF_BYTE;
        }
    }
    *b = '1'; /* unreachable: some digit always fits */
    return GF_BYTE;
}

/* ---- GK_NUM ------------------------------------------------------------------------
 * s: bits 0-3 phase, bit 4 negative, 8-12 integer digits, 16-20 fraction
 * digits, 24-26 exponent digits; n | x << 32 = magnitude of the integer part
 * (kept only when bounded).
 * phases: 0 start, 1 after '-', 2 integer digits, 3 a leading zero, 4 after
 * '.', 5 fraction digits, 6 after 'e', 7 after the exponent sign, 8 exponent
 * digits. */

enum { N_START, N_MINUS, N_INT, N_ZERO, N_DOT, N_FRAC, N_E, N_ESIGN, N_EXP };
#define N_PH(s) ((s) & 15u)
#define N_NEG 0x10u
#define N_ID(s) (((s) >> 8) & 31u)
#define N_FD(s) (((s) >> 16) & 31u)
#define N_ED(s) (((s) >> 24) & 7u)

static uint64_t num_mag(const gframe *f)
{
    return (uint64_t)f->n | ((uint64_t)f->x << 32);
}

static void num_set_mag(gframe *f, uint64_t m)
{
    f->n = (uint32_t)m;
    f->x = (uint32_t)(m >> 32);
}

/* An integer part with magnitude p (k digits, no leading zero) can still
 * grow into a value inside [lo, hi]. */
static bool num_viable(const gnode *nd, bool neg, uint64_t p, uint32_t k)
{
    int64_t lo = nd->u.num.lo, hi = nd->u.num.hi;
    uint64_t pw = 1;

    for (uint32_t j = 0; k + j <= G_MAX_INT_DIGITS; j++, pw *= 10) {
        int64_t a = (int64_t)(p * pw), z = (int64_t)(p * pw + pw - 1);
        int64_t vlo = neg ? -z : a, vhi = neg ? -a : z;
        if (vlo <= hi && vhi >= lo)
            return true;
    }
    return false;
}

/* Every value with integer part p and any fraction lies in [lo, hi]. */
static bool num_frac_ok(const gnode *nd, bool neg, uint64_t p)
{
    int64_t lo = nd->u.num.lo, hi = nd->u.num.hi, ip = (int64_t)p;
    if (!(nd->flags & GN_BOUNDED))
        return true;
    return neg ? (-(ip + 1) >= lo && -ip <= hi) : (ip >= lo && ip + 1 <= hi);
}

static bool num_complete(const llm_grammar *g, const gnode *nd, const gframe *f)
{
    uint32_t ph = N_PH(f->s);
    bool neg = f->s & N_NEG;

    if (ph == N_INT) {
        if (!(nd->flags & GN_BOUNDED))
            return true;
        int64_t v = (int64_t)num_mag(f);
        v = neg ? -v : v;
        return v >= nd->u.num.lo && v <= nd->u.num.hi;
    }
    if (ph == N_ZERO)
        return !neg;
    return ph == N_FRAC || ph == N_EXP;
}

static bool num_finished(const llm_grammar *g, const gnode *nd, const gframe *f)
{
    uint32_t ph = N_PH(f->s);

    if (!(nd->flags & GN_INTEGER))
        return ph == N_EXP && N_ED(f->s) >= G_MAX_EXP_DIGITS;
    return (ph == N_ZERO && !(f->s & N_NEG)) ||
           (ph == N_INT && N_ID(f->s) >= G_MAX_INT_DIGITS && num_complete(g, nd, f));
}

static int num_step(const llm_grammar *g, const gnode *nd, gframe *f, uint8_t b, uint32_t budget,
                    uint32_t *child, uint32_t *carg)
{
    uint32_t s = f->s, ph = N_PH(s);
    bool bounded = nd->flags & GN_BOUNDED, integer = nd->flags & GN_INTEGER;
    bool neg = s & N_NEG;
    uint32_t d = (uint32_t)(b - '0');

    switch (ph) {
    case N_START:
        if (b == '-') {
            if (bounded && nd->u.num.lo > -1)
                return GS_REJECT;
            f->s = N_MINUS | N_NEG;
            return GS_OK;
        }
        if (b == '0') {
            if (bounded && !(nd->u.num.lo <= 0 && nd->u.num.hi >= 0))
                return GS_REJECT;
            f->s = N_ZERO | (1u << 8);
            num_set_mag(f, 0);
            return GS_OK;
        }
        if (b >= '1' && b <= '9') {
            if (bounded && !num_viable(nd, false, d, 1))
                return GS_REJECT;
            f->s = N_INT | (1u << 8);
            num_set_mag(f, d);
            return GS_OK;
        }
        return GS_REJECT;
    case N_MINUS:
        if (b == '0') {
            if (integer || !num_frac_ok(nd, true, 0))
                return GS_REJECT;
            f->s = N_ZERO | N_NEG | (1u << 8);
            num_set_mag(f, 0);
            return GS_OK;
        }
        if (b >= '1' && b <= '9') {
            if (bounded && !num_viable(nd, true, d, 1))
                return GS_REJECT;
            f->s = N_INT | N_NEG | (1u << 8);
            num_set_mag(f, d);
            return GS_OK;
        }
        return GS_REJECT;
    case N_INT:
    case N_ZERO:
        if (ph == N_INT && is_digit(b)) {
            uint64_t m = num_mag(f) * 10 + d;
            if (N_ID(s) >= G_MAX_INT_DIGITS || (bounded && !num_viable(nd, neg, m, N_ID(s) + 1)))
                return GS_REJECT;
            f->s = s + (1u << 8);
            num_set_mag(f, m);
            return GS_OK;
        }
        if (b == '.' && !integer && num_frac_ok(nd, neg, num_mag(f))) {
            f->s = (s & ~15u) | N_DOT;
            return GS_OK;
        }
        if ((b == 'e' || b == 'E') && !integer && !bounded && !(ph == N_ZERO && neg)) {
            f->s = (s & ~15u) | N_E;
            return GS_OK;
        }
        return num_complete(g, nd, f) ? GS_POP : GS_REJECT;
    case N_DOT:
        if (!is_digit(b))
            return GS_REJECT;
        f->s = (s & ~15u) | N_FRAC | (1u << 16);
        return GS_OK;
    case N_FRAC:
        if (is_digit(b) && N_FD(s) < G_MAX_FRAC_DIGITS) {
            f->s = s + (1u << 16);
            return GS_OK;
        }
        if ((b == 'e' || b == 'E') && !bounded) {
            f->s = (s & ~15u) | N_E;
            return GS_OK;
        }
        return is_digit(b) ? GS_REJECT : GS_POP;
    case N_E:
        if (b == '+' || b == '-') {
            f->s = (s & ~15u) | N_ESIGN;
            return GS_OK;
        }
        /* fall through */
    case N_ESIGN:
        if (!is_digit(b))
            return GS_REJECT;
        f->s = (s & ~15u) | N_EXP | (1u << 24);
        return GS_OK;
    case N_EXP:
        if (is_digit(b)) {
            if (N_ED(s) >= G_MAX_EXP_DIGITS)
                return GS_REJECT;
            f->s = s + (1u << 24);
            return GS_OK;
        }
        return GS_POP;
    default:
        return GS_REJECT;
    }
}

static int num_fin(const llm_grammar *g, const gnode *nd, const gframe *f, uint32_t budget,
                   uint8_t *b, uint32_t *child)
{
    uint32_t ph = N_PH(f->s);
    bool bounded = nd->flags & GN_BOUNDED, neg = f->s & N_NEG;

    switch (ph) {
    case N_START:
        if (!bounded || (nd->u.num.lo <= 0 && nd->u.num.hi >= 0)) {
            *b = '0';
        } else if (nd->u.num.lo > 0) {
            *b = '1';
            for (uint32_t d = 1; d <= 9; d++)
                if (num_viable(nd, false, d, 1)) {
                    *b = (uint8_t)('0' + d);
                    break;
                }
        } else {
            *b = '-';
        }
        return GF_BYTE;
    case N_MINUS:
        for (uint32_t d = 1; d <= 9; d++)
            if (!bounded || num_viable(nd, true, d, 1)) {
                *b = (uint8_t)('0' + d);
                return GF_BYTE;
            }
        *b = '0';
        return GF_BYTE;
    case N_INT:
        if (num_complete(g, nd, f))
            return GF_POP;
        for (uint32_t d = 0; d <= 9; d++)
            if (num_viable(nd, neg, num_mag(f) * 10 + d, N_ID(f->s) + 1)) {
                *b = (uint8_t)('0' + d);
                return GF_BYTE;
            }
        *b = '0';
        return GF_BYTE;
    case N_ZERO:
        if (num_complete(g, nd, f))
            return GF_POP;
        *b = '.';
        return GF_BYTE;
    case N_DOT:
    case N_E:
    case N_ESIGN:
        *b = '0';
        return GF_BYTE;
    default:
        return GF_POP;
    }
}

/* ---- GK_ARR: s = phase | whitespace << 8, n = items so far --------------------------- */

enum { A_START, A_OPEN, A_INVAL, A_AFTER, A_COMMA, A_DONE };

static uint32_t arr_item(const llm_grammar *g, const gnode *nd, uint32_t i)
{
    return i < nd->u.arr.nprefix ? g->alts[nd->u.arr.prefix + i] : nd->u.arr.items;
}

static bool arr_can_push(const llm_grammar *g, const gnode *nd, uint32_t n, uint32_t budget)
{
    return n < nd->u.arr.max && md(g, arr_item(g, nd, n)) <= budget;
}

static int arr_step(const llm_grammar *g, const gnode *nd, gframe *f, uint8_t b, uint32_t budget,
                    uint32_t *child, uint32_t *carg)
{
    uint32_t ph = f->s & 0xff, ws = (f->s >> 8) & 0xff;

    if (ph == A_OPEN || ph == A_AFTER || ph == A_COMMA) {
        if (is_ws(b)) {
            if (ws >= g->ws_max)
                return GS_REJECT;
            f->s = ph | ((ws + 1) << 8);
            return GS_OK;
        }
    }
    switch (ph) {
    case A_START:
        if (b != '[')
            return GS_REJECT;
        f->s = A_OPEN;
        return GS_OK;
    case A_OPEN:
    case A_COMMA:
        if (b == ']' && ph == A_OPEN) {
            if (f->n < nd->u.arr.min)
                return GS_REJECT;
            f->s = A_DONE;
            return GS_OK;
        }
        if (!arr_can_push(g, nd, f->n, budget))
            return GS_REJECT;
        *child = arr_item(g, nd, f->n);
        *carg = 0;
        f->n++;
        f->s = A_INVAL;
        return GS_PUSH;
    case A_AFTER:
        if (b == ',' && arr_can_push(g, nd, f->n, budget)) {
            f->s = A_COMMA;
            return GS_OK;
        }
        if (b == ']' && f->n >= nd->u.arr.min) {
            f->s = A_DONE;
            return GS_OK;
        }
        return GS_REJECT;
    case A_DONE:
        return GS_POP;
    default:
        return GS_REJECT;
    }
}

static void arr_child_done(const llm_grammar *g, const gnode *nd, gframe *f, const gframe *c)
{
    f->s = A_AFTER;
}

static bool arr_done(const llm_grammar *g, const gnode *nd, const gframe *f)
{
    return (f->s & 0xff) == A_DONE;
}

static int arr_fin(const llm_grammar *g, const gnode *nd, const gframe *f, uint32_t budget,
                   uint8_t *b, uint32_t *child)
{
    bool more = f->n < nd->u.arr.min;

    switch (f->s & 0xff) {
    case A_START:
        *b = '[';
        return GF_BYTE;
    case A_OPEN:
        if (more) {
            *child = arr_item(g, nd, f->n);
            return GF_PUSH;
        }
        *b = ']';
        return GF_BYTE;
    case A_AFTER:
        *b = more ? ',' : ']';
        return GF_BYTE;
    case A_COMMA:
        *child = arr_item(g, nd, f->n);
        return GF_PUSH;
    default:
        return GF_POP;
    }
}

/* Arrays and objects push children: the depth budget changes what a token
 * may do only when it could bind within one token. */
static void norm_container(const llm_grammar *g, const gnode *nd, gframe *f, uint32_t *budget)
{
    if (*budget > g->max_height)
        *budget = g->max_height;
}

/* ---- GK_OBJ: s = phase | whitespace << 8, n = next property, x = current key ----------- */

enum { O_START, O_OPEN, O_KEY, O_COLON, O_VAL, O_INVAL, O_AFTER, O_COMMA, O_DONE };

static uint64_t req_from(const gnode *nd, uint32_t n)
{
    return n >= 64 ? 0 : nd->u.obj.reqmask >> n;
}

/* Candidate keys after n: properties n .. the next required one (exclusive
 * end returned), and whether undeclared keys may come. */
static uint32_t obj_cand_end(const gnode *nd, uint32_t n)
{
    uint64_t r = req_from(nd, n);
    return r ? n + (uint32_t)__builtin_ctzll(r) + 1 : nd->u.obj.nprops;
}

static bool obj_extras(const llm_grammar *g, const gnode *nd, uint32_t n, uint32_t budget)
{
    return nd->u.obj.additional != G_NONE && req_from(nd, n) == 0 &&
           md(g, nd->u.obj.additional) <= budget;
}

/* Some member may follow (a candidate whose value fits the budget, or an
 * undeclared one); fills the key frame's argument. */
static bool obj_key_arg(const llm_grammar *g, const gnode *nd, uint32_t n, uint32_t budget,
                        uint32_t *carg)
{
    uint32_t end = n < nd->u.obj.nprops ? obj_cand_end(nd, n) : n;
    bool extras = obj_extras(g, nd, n, budget), any = extras;

    for (uint32_t i = n; i < end && !any; i++)
        if (md(g, g->props[nd->u.obj.props + i].value) <= budget)
            any = true;
    *carg = (n & 0xff) | ((end & 0xff) << 8) | ((uint32_t)extras << 16);
    return any;
}

static int obj_step(const llm_grammar *g, const gnode *nd, gframe *f, uint8_t b, uint32_t budget,
                    uint32_t *child, uint32_t *carg)
{
    uint32_t ph = f->s & 0xff, ws = (f->s >> 8) & 0xff;

    if (ph == O_OPEN || ph == O_COLON || ph == O_VAL || ph == O_AFTER || ph == O_COMMA) {
        if (is_ws(b)) {
            if (ws >= g->ws_max)
                return GS_REJECT;
            f->s = ph | ((ws + 1) << 8);
            return GS_OK;
        }
    }
    switch (ph) {
    case O_START:
        if (b != '{')
            return GS_REJECT;
        f->s = O_OPEN;
        return GS_OK;
    case O_OPEN:
        if (b == '}') {
            if (nd->u.obj.reqmask)
                return GS_REJECT;
            f->s = O_DONE;
            return GS_OK;
        }
        /* fall through */
    case O_COMMA:
        if (b != '"' || !obj_key_arg(g, nd, f->n, budget, carg))
            return GS_REJECT;
        *child = nd->u.obj.key;
        f->s = O_KEY;
        return GS_PUSH;
    case O_COLON:
        if (b != ':')
            return GS_REJECT;
        f->s = O_VAL;
        return GS_OK;
    case O_VAL:
        if (f->x == G_EXTRA) {
            *child = nd->u.obj.additional;
            f->n = nd->u.obj.nprops;
        } else {
            *child = g->props[nd->u.obj.props + f->x].value;
            f->n = f->x + 1;
        }
        *carg = 0;
        f->s = O_INVAL;
        return GS_PUSH;
    case O_AFTER:
        if (b == ',') {
            uint32_t a;
            if (!obj_key_arg(g, nd, f->n, budget, &a))
                return GS_REJECT;
            f->s = O_COMMA;
            return GS_OK;
        }
        if (b == '}' && req_from(nd, f->n) == 0) {
            f->s = O_DONE;
            return GS_OK;
        }
        return GS_REJECT;
    case O_DONE:
        return GS_POP;
    default:
        return GS_REJECT;
    }
}

static void obj_child_done(const llm_grammar *g, const gnode *nd, gframe *f, const gframe *c)
{
    if ((f->s & 0xff) == O_KEY) {
        f->x = c->x;
        f->s = O_COLON;
    } else {
        f->s = O_AFTER;
    }
}

static bool obj_done(const llm_grammar *g, const gnode *nd, const gframe *f)
{
    return (f->s & 0xff) == O_DONE;
}

static int obj_fin(const llm_grammar *g, const gnode *nd, const gframe *f, uint32_t budget,
                   uint8_t *b, uint32_t *child)
{
    bool more = req_from(nd, f->n) != 0;

    switch (f->s & 0xff) {
    case O_START:
        *b = '{';
        return GF_BYTE;
    case O_OPEN:
        *b = more ? '"' : '}';
        return GF_BYTE;
    case O_AFTER:
        *b = more ? ',' : '}';
        return GF_BYTE;
    case O_COMMA:
        *b = '"';
        return GF_BYTE;
    case O_COLON:
        *b = ':';
        return GF_BYTE;
    case O_VAL:
        *child = f->x == G_EXTRA ? nd->u.obj.additional : g->props[nd->u.obj.props + f->x].value;
        return GF_PUSH;
    default:
        return GF_POP;
    }
}

/* ---- GK_KEY --------------------------------------------------------------------------
 * s: string state plus bit 13 "off the trie" (an undeclared name); x: trie
 * node while on the trie, the property index (or G_EXTRA) once closed;
 * n: candidates lo | end << 8 | extras << 16 from the object. */

#define K_OFF 0x2000u

static void key_init(const llm_grammar *g, const gnode *nd, gframe *f, uint32_t carg)
{
    f->s = 0;
    f->n = carg;
    f->x = nd->u.key.root;
}

/* Bit mask of the candidate properties whose values fit the budget. */
static uint64_t key_cands(const llm_grammar *g, const gnode *nd, uint32_t n, uint32_t budget)
{
    uint32_t lo = n & 0xff, end = (n >> 8) & 0xff;
    uint64_t m = 0;

    if (end <= lo)
        return 0;
    m = (end >= 64 ? ~0ull : ((1ull << end) - 1)) & ~((1ull << lo) - 1);
    if (nd->u.key.maxmd > budget + 1) {
        const gnode *obj = &g->nodes[nd->u.key.obj];
        for (uint32_t i = lo; i < end; i++)
            if (md(g, g->props[obj->u.obj.props + i].value) > budget + 1)
                m &= ~(1ull << i);
    }
    return m;
}

static int key_step(const llm_grammar *g, const gnode *nd, gframe *f, uint8_t b, uint32_t budget,
                    uint32_t *child, uint32_t *carg)
{
    uint32_t s = f->s;
    bool extras = (f->n >> 16) & 1, off = s & K_OFF;
    uint64_t cands;
    int r;

    if (S_PH(s) == 0) {
        if (b != '"')
            return GS_REJECT;
        f->s = S_SET_PH(s, 1);
        return GS_OK;
    }
    if (S_PH(s) == 2)
        return GS_POP;
    cands = key_cands(g, nd, f->n, budget);
    if (S_ESC(s) == 0 && S_REM(s) == 0 && b == '"') {
        if (!off && g->trie[f->x].term >= 0) {
            int32_t idx = g->trie[f->x].term;
            if (!(cands & (1ull << idx)))
                return GS_REJECT;
            f->x = (uint32_t)idx;
        } else if (extras) {
            f->x = G_EXTRA;
        } else {
            return GS_REJECT;
        }
        f->s = S_SET_PH(s, 2);
        return GS_OK;
    }
    if (!off) {
        uint32_t c = trie_child(g, f->x, b);
        if (c != G_NONE && (extras || (g->trie[c].sub & cands))) {
            r = str_byte(&s, b, true);
            if (r != SC_OK)
                return GS_REJECT;
            f->s = s;
            f->x = c;
            return GS_OK;
        }
        if (!extras)
            return GS_REJECT;
        s |= K_OFF;
    }
    r = str_byte(&s, b, false);
    if (r != SC_OK)
        return GS_REJECT;
    f->s = s;
    return GS_OK;
}

static int key_fin(const llm_grammar *g, const gnode *nd, const gframe *f, uint32_t budget,
                   uint8_t *b, uint32_t *child)
{
    static const char spare[] = "abcdefghijklmnopqrstuvwxyz0123456789_";
    uint32_t s = f->s;
    bool extras = (f->n >> 16) & 1;
    uint64_t cands = key_cands(g, nd, f->n, budget);
    uint8_t c = str_fin_byte(s);

    if (S_PH(s) == 0) {
        *b = '"';
        return GF_BYTE;
    }
    if (S_PH(s) == 2)
        return GF_POP;
    if (s & K_OFF) {
        *b = c ? c : '"';
        return GF_BYTE;
    }
    int32_t term = g->trie[f->x].term;
    if (!c && term >= 0 && (cands & (1ull << term))) {
        *b = '"';
        return GF_BYTE;
    }
    for (uint32_t k = g->trie[f->x].child; k != G_NONE; k = g->trie[k].sib) {
        if (g->trie[k].sub & cands) {
            *b = g->trie[k].byte;
            return GF_BYTE;
        }
    }
    /* only undeclared names remain */
    if (c) {
        uint32_t k = g->trie[f->x].child;
        *b = k != G_NONE ? g->trie[k].byte : c;
        return GF_BYTE;
    }
    if (term < 0 && extras) {
        *b = '"';
        return GF_BYTE;
    }
    for (const char *p = spare; *p; p++) {
        if (trie_child(g, f->x, (uint8_t)*p) == G_NONE) {
            *b = (uint8_t)*p;
            return GF_BYTE;
        }
    }
    *b = g->trie[g->trie[f->x].child].byte;
    return GF_BYTE;
}

static void key_norm(const llm_grammar *g, const gnode *nd, gframe *f, uint32_t *budget)
{
    if (*budget > nd->u.key.maxmd)
        *budget = nd->u.key.maxmd;
}

/* ---- GK_FREE: s = bit 0 started, UTF-8 state as strings --------------------------------- */

static int free_step(const llm_grammar *g, const gnode *nd, gframe *f, uint8_t b, uint32_t budget,
                     uint32_t *child, uint32_t *carg)
{
    uint32_t s = f->s;

    if (S_REM(s)) {
        uint32_t rg = S_RNG(s);
        if (b < rng_lo[rg] || b > rng_hi[rg])
            return GS_REJECT;
        f->s = S_SET_UTF(s, S_REM(s) - 1, 0);
        return GS_OK;
    }
    if (!(s & 1) && (nd->flags & GN_NOBRACE) && b == '{')
        return GS_REJECT;
    if (b == 0)
        return GS_REJECT;
    if (b >= 0x80) {
        uint32_t r, rg;
        if (!utf8_lead(b, &r, &rg))
            return GS_REJECT;
        s = S_SET_UTF(s, r, rg);
    }
    f->s = s | 1;
    return GS_OK;
}

static bool free_complete(const llm_grammar *g, const gnode *nd, const gframe *f)
{
    return S_REM(f->s) == 0;
}

static int free_fin(const llm_grammar *g, const gnode *nd, const gframe *f, uint32_t budget,
                    uint8_t *b, uint32_t *child)
{
    if (S_REM(f->s)) {
        *b = rng_lo[S_RNG(f->s)];
        return GF_BYTE;
    }
    return GF_POP;
}

/* ---- the table -------------------------------------------------------------------------- */

const gk_ops llm_grammar__ops[GK__COUNT] = {
    [GK_NEVER] = {init_zero, never_step, no_child, no, no, never_fin, norm_leaf},
    [GK_LIT] = {lit_init, lit_step, no_child, lit_complete, lit_finished, lit_fin, norm_leaf},
    [GK_STR] = {init_zero, str_step, no_child, phase2, phase2, str_fin, str_norm},
    [GK_FMT] = {init_zero, fmt_step, no_child, fmt_done, fmt_done, fmt_fin, norm_leaf},
    [GK_NUM] = {init_zero, num_step, no_child, num_complete, num_finished, num_fin, norm_leaf},
    [GK_ARR] = {init_zero, arr_step, arr_child_done, arr_done, arr_done, arr_fin, norm_container},
    [GK_OBJ] = {init_zero, obj_step, obj_child_done, obj_done, obj_done, obj_fin, norm_container},
    [GK_KEY] = {key_init, key_step, no_child, phase2, phase2, key_fin, key_norm},
    [GK_ALT] = {init_zero, never_step, no_child, no, no, never_fin, norm_leaf},
    [GK_ALIAS] = {init_zero, never_step, no_child, no, no, never_fin, norm_leaf},
    [GK_FREE] = {init_zero, free_step, no_child, free_complete, no, free_fin, norm_leaf},
};

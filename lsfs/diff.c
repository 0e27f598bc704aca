/*
 * diff.c - line diff (Myers' O(ND) algorithm in linear space) and unified
 * diff output.
 *
 * Lines are compared with their newline, hashed first (XXH3) so that most
 * comparisons are one integer compare.  The common prefix and suffix are
 * trimmed at every level; the rest is split at the middle of an optimal
 * edit path found by running the greedy search from both ends until the
 * paths overlap, and each half is solved recursively.  Memory is O(N+M).
 * Output follows the unified format: "--- a", "+++ b", "@@ -l,s +l,s @@"
 * hunks with ctx lines of context and "\ No newline at end of file".
 *
 * Threads: any; pure function.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "lsfs/lsfs_int.h"

typedef struct {
    const char *s;
    size_t len;                 /* including the '\n' when present */
    uint64_t h;
} line;

typedef struct {
    const line *a, *b;
    char *del;                  /* del[i]: line i of a is removed */
    char *ins;                  /* ins[j]: line j of b is added */
    int *vf, *vr;               /* scratch diagonals */
} dctx;

static int split_lines(const char *s, size_t len, line **out, size_t *n)
{
    size_t cap = 16, cnt = 0, i = 0;
    line *ls = malloc(cap * sizeof *ls);

    if (!ls)
        return AIOS_ENOMEM;
    while (i < len) {
        const char *nl = memchr(s + i, '\n', len - i);
        size_t l = nl ? (size_t)(nl - (s + i)) + 1 : len - i;
        if (cnt == cap) {
            line *nls = realloc(ls, (cap *= 2) * sizeof *ls);
            if (!nls) {
                free(ls);
                return AIOS_ENOMEM;
            }
            ls = nls;
        }
        ls[cnt].s = s + i;
        ls[cnt].len = l;
        ls[cnt].h = XXH3_64bits(s + i, l);
        cnt++;
        i += l;
    }
    *out = ls;
    *n = cnt;
    return 0;
}

static bool line_eq(const line *x, const line *y)
{
    return x->h == y->h && x->len == y->len && memcmp(x->s, y->s, x->len) == 0;
}

/*
 * Find a point (x, y) on an optimal edit path between a[a0..a1) and
 * b[b0..b1) by extending the furthest-reaching paths from the start and the
 * end alternately until they meet.  Coordinates are relative to a0/b0.
 */
static void bisect(dctx *d, size_t a0, size_t a1, size_t b0, size_t b1, long *sx, long *sy)
{
    long n = (long)(a1 - a0), m = (long)(b1 - b0);
    long maxd = (n + m + 1) / 2, off = maxd, vlen = 2 * maxd + 2;
    long delta = n - m;
    bool front = (delta & 1) != 0;
    long kf_start = 0, kf_end = 0, kr_start = 0, kr_end = 0;
    int *vf = d->vf, *vr = d->vr;

    for (long i = 0; i < vlen; i++)
        vf[i] = vr[i] = -1;
    vf[off + 1] = 0;
    vr[off + 1] = 0;
    for (long D = 0; D < maxd; D++) {
        /* forward */
        for (long k = -D + kf_start; k <= D - kf_end; k += 2) {
            long ko = off + k, x, y;
            if (k == -D || (k != D && vf[ko - 1] < vf[ko + 1]))
                x = vf[ko + 1];
            else
                x = vf[ko - 1] + 1;
            y = x - k;
            while (x < n && y < m && line_eq(&d->a[a0 + x], &d->b[b0 + y])) {
                x++;
                y++;
            }
            vf[ko] = (int)x;
            if (x > n) {
                kf_end += 2;
            } else if (y > m) {
                kf_start += 2;
            } else if (front) {
                long rko = off + delta - k;
                if (rko >= 0 && rko < vlen && vr[rko] != -1 && x >= n - vr[rko]) {
                    *sx = x;
                    *sy = y;
                    return;
                }
            }
        }
        /* reverse (on the reversed sequences) */
        for (long k = -D + kr_start; k <= D - kr_end; k += 2) {
            long ko = off + k, x, y;
            if (k == -D || (k != D && vr[ko - 1] < vr[ko + 1]))
                x = vr[ko + 1];
            else
                x = vr[ko - 1] + 1;
            y = x - k;
            while (x < n && y < m &&
                   line_eq(&d->a[a0 + n - x - 1], &d->b[b0 + m - y - 1])) {
                x++;
                y++;
            }
            vr[ko] = (int)x;
            if (x > n) {
                kr_end += 2;
            } else if (y > m) {
                kr_start += 2;
            } else if (!front) {
                long fko = off + delta - k;
                if (fko >= 0 && fko < vlen && vf[fko] != -1) {
                    long fx = vf[fko], fy = off + fx - fko;
                    if (fx >= n - x) {
                        *sx = fx;
                        *sy = fy;
                        return;
                    }
                }
            }
        }
    }
    /* no overlap: everything differs */
    *sx = n;
    *sy = 0;
}

static void diff_rec(dctx *d, size_t a0, size_t a1, size_t b0, size_t b1)
{
    long sx, sy;

    while (a0 < a1 && b0 < b1 && line_eq(&d->a[a0], &d->b[b0])) {
        a0++;
        b0++;
    }
    while (a0 < a1 && b0 < b1 && line_eq(&d->a[a1 - 1], &d->b[b1 - 1])) {
        a1--;
        b1--;
    }
    if (a0 == a1) {
        for (size_t j = b0; j < b1; j++)
            d->ins[j] = 1;
        return;
    }
    if (b0 == b1) {
        for (size_t i = a0; i < a1; i++)
            d->del[i] = 1;
        return;
    }
    bisect(d, a0, a1, b0, b1, &sx, &sy);
    if ((sx == 0 && sy == 0) || (a0 + (size_t)sx == a1 && b0 + (size_t)sy == b1)) {
        /* a degenerate split cannot make progress: replace the block */
        for (size_t i = a0; i < a1; i++)
            d->del[i] = 1;
        for (size_t j = b0; j < b1; j++)
            d->ins[j] = 1;
        return;
    }
    diff_rec(d, a0, a0 + (size_t)sx, b0, b0 + (size_t)sy);
    diff_rec(d, a0 + (size_t)sx, a1, b0 + (size_t)sy, b1);
}

/* A growable output buffer. */
typedef struct {
    char *p;
    size_t len, cap;
    bool oom;
} obuf;

static void out_put(obuf *o, const char *s, size_t n)
{
    if (o->oom)
        return;
    if (o->len + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : 256;
        while (cap < o->len + n + 1)
            cap *= 2;
        char *np = realloc(o->p, cap);
        if (!np) {
            o->oom = true;
            return;
        }
        o->p = np;
        o->cap = cap;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
    o->p[o->len] = 0;
}

static void out_line(obuf *o, char tag, const line *l)
{
    out_put(o, &tag, 1);
    out_put(o, l->s, l->len);
    if (l->len == 0 || l->s[l->len - 1] != '\n')
        out_put(o, "\n\\ No newline at end of file\n", 29);
}

/* One edit-script entry: ' ' both, '-' a only, '+' b only. */
typedef struct {
    char op;
    size_t i, j;
} edit;

static void hunk_range(obuf *o, char tag, size_t start, size_t count)
{
    char buf[64];
    int n;

    if (count == 1)
        n = snprintf(buf, sizeof buf, "%c%zu", tag, start + 1);
    else
        n = snprintf(buf, sizeof buf, "%c%zu,%zu", tag, count ? start + 1 : start, count);
    out_put(o, buf, (size_t)n);
}

int lsfs__diff_unified(const char *a, size_t alen, const char *b, size_t blen,
                       const char *name_a, const char *name_b, int ctx, char **out);

int lsfs__diff_unified(const char *a, size_t alen, const char *b, size_t blen,
                       const char *name_a, const char *name_b, int ctx, char **out)
{
    line *la = NULL, *lb = NULL;
    size_t na = 0, nb = 0, ne = 0, i, j;
    edit *ed = NULL;
    dctx d = {0};
    obuf o = {0};
    int rc;

    *out = NULL;
    if (ctx < 0)
        ctx = 3;
    if ((rc = split_lines(a, alen, &la, &na)) < 0 || (rc = split_lines(b, blen, &lb, &nb)) < 0)
        goto out;
    d.a = la;
    d.b = lb;
    d.del = calloc(na + 1, 1);
    d.ins = calloc(nb + 1, 1);
    d.vf = malloc((na + nb + 4) * sizeof(int));
    d.vr = malloc((na + nb + 4) * sizeof(int));
    ed = malloc((na + nb + 1) * sizeof *ed);
    if (!d.del || !d.ins || !d.vf || !d.vr || !ed) {
        rc = AIOS_ENOMEM;
        goto out;
    }
    diff_rec(&d, 0, na, 0, nb);

    /* edit script: deletions before insertions inside a change */
    for (i = 0, j = 0; i < na || j < nb;) {
        if (i < na && d.del[i])
            ed[ne++] = (edit){'-', i++, j};
        else if (j < nb && d.ins[j])
            ed[ne++] = (edit){'+', i, j++};
        else
            ed[ne++] = (edit){' ', i++, j++};
    }

    out_put(&o, "--- ", 4);
    out_put(&o, name_a, strlen(name_a));
    out_put(&o, "\n+++ ", 5);
    out_put(&o, name_b, strlen(name_b));
    out_put(&o, "\n", 1);
    for (size_t e = 0; e < ne;) {
        size_t start, end, k;
        if (ed[e].op == ' ') {
            e++;
            continue;
        }
        /* a hunk: back up ctx lines, then extend while changes are close */
        start = e >= (size_t)ctx ? e - (size_t)ctx : 0;
        end = e;
        for (;;) {
            while (end < ne && ed[end].op != ' ')
                end++;
            k = end;
            while (k < ne && ed[k].op == ' ' && k - end < 2 * (size_t)ctx + 1)
                k++;
            if (k < ne && ed[k].op != ' ' && k - end <= 2 * (size_t)ctx) {
                end = k;
                continue;
            }
            break;
        }
        end = end + (size_t)ctx < ne ? end + (size_t)ctx : ne;
        {
            size_t as = ed[start].i, bs = ed[start].j, ac = 0, bc = 0;
            for (k = start; k < end; k++) {
                if (ed[k].op != '+')
                    ac++;
                if (ed[k].op != '-')
                    bc++;
            }
            out_put(&o, "@@ ", 3);
            hunk_range(&o, '-', as, ac);
            out_put(&o, " ", 1);
            hunk_range(&o, '+', bs, bc);
            out_put(&o, " @@\n", 4);
        }
        for (k = start; k < end; k++) {
            if (ed[k].op == '-')
                out_line(&o, '-', &la[ed[k].i]);
            else if (ed[k].op == '+')
                out_line(&o, '+', &lb[ed[k].j]);
            else
                out_line(&o, ' ', &la[ed[k].i]);
        }
        e = end;
    }
    if (o.oom) {
        rc = AIOS_ENOMEM;
        goto out;
    }
    if (!o.p)
        out_put(&o, "", 0);
    *out = o.p;
    o.p = NULL;
    rc = 0;
out:
    free(o.p);
    free(ed);
    free(d.vf);
    free(d.vr);
    free(d.del);
    free(d.ins);
    free(la);
    free(lb);
    return rc;
}

/*
 * grammar_compile.c - JSON Schema -> automaton nodes.
 *
 * Walks a schema (jansson tree) once, turning each subschema into a node:
 * literals (enum, const, booleans, null) into byte tries, strings, numbers,
 * arrays and objects into parameterised nodes, anyOf / oneOf / type lists
 * into alternative nodes and $ref into references that are resolved after
 * the walk, so recursive schemas work.  Keywords that constrain values in
 * ways the automaton cannot enforce are refused with AIOS_ENOTSUP rather than
 * silently ignored.  A final pass computes for every node the number of
 * stack frames a shortest finished value needs ("mindepth", infinite for an
 * unsatisfiable node), which the runtime uses to never enter a value it
 * could not finish.  Runs on the caller's thread; the result is immutable
 * except for its mask cache.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aios/error.h"
#include "llmcore/grammar_int.h"

/* ---- pools ------------------------------------------------------------------ */

static bool grow(void **p, uint32_t *cap, uint32_t need, size_t elem)
{
    uint32_t nc;
    void *np;

    if (need <= *cap)
        return true;
    nc = *cap ? *cap * 2 : 64;
    while (nc < need)
        nc *= 2;
    np = realloc(*p, (size_t)nc * elem);
    if (!np)
        return false;
    *p = np;
    *cap = nc;
    return true;
}

uint32_t llm_grammar__add_node(llm_grammar *g, uint8_t kind)
{
    if (!grow((void **)&g->nodes, &g->cap_nodes, g->n_nodes + 1, sizeof(gnode)))
        return G_NONE;
    memset(&g->nodes[g->n_nodes], 0, sizeof(gnode));
    g->nodes[g->n_nodes].kind = kind;
    g->nodes[g->n_nodes].mindepth = G_INF;
    return g->n_nodes++;
}

static uint32_t add_prop(llm_grammar *g, uint32_t value, bool required)
{
    if (!grow((void **)&g->props, &g->cap_props, g->n_props + 1, sizeof(gprop)))
        return G_NONE;
    g->props[g->n_props].value = value;
    g->props[g->n_props].required = required;
    return g->n_props++;
}

static uint32_t add_alts(llm_grammar *g, const uint32_t *ids, uint32_t n)
{
    uint32_t at = g->n_alts;

    if (!grow((void **)&g->alts, &g->cap_alts, g->n_alts + n + 1, sizeof(uint32_t)))
        return G_NONE;
    if (n)
        memcpy(g->alts + at, ids, n * sizeof(uint32_t));
    g->n_alts += n;
    return at;
}

uint32_t llm_grammar__trie_new(llm_grammar *g)
{
    if (!grow((void **)&g->trie, &g->cap_trie, g->n_trie + 1, sizeof(gtrie)))
        return G_NONE;
    gtrie *t = &g->trie[g->n_trie];
    t->child = t->sib = t->fin = G_NONE;
    t->term = -1;
    t->sub = 0;
    t->byte = 0;
    return g->n_trie++;
}

/* Insert s[0..n) under root; term is stored at its end (the first insertion
 * of a string wins). */
int llm_grammar__trie_add(llm_grammar *g, uint32_t root, const char *s, size_t n, int32_t term)
{
    uint32_t at = root;

    for (size_t i = 0; i < n; i++) {
        uint32_t c = g->trie[at].child, last = G_NONE;
        while (c != G_NONE && g->trie[c].byte != (uint8_t)s[i]) {
            last = c;
            c = g->trie[c].sib;
        }
        if (c == G_NONE) {
            c = llm_grammar__trie_new(g);
            if (c == G_NONE)
                return AIOS_ENOMEM;
            g->trie[c].byte = (uint8_t)s[i];
            if (last == G_NONE)
                g->trie[at].child = c;
            else
                g->trie[last].sib = c;
        }
        at = c;
    }
    if (g->trie[at].term < 0)
        g->trie[at].term = term;
    return 0;
}

/* Fill fin (shortest way to an end) and sub (ends below) for the trie
 * nodes from index root_from on.  Children always have larger indices than
 * their parent, so one backwards pass sees every child first. */
void llm_grammar__trie_finish(llm_grammar *g, uint32_t root_from)
{
    uint32_t *dist = malloc((g->n_trie - root_from + 1) * sizeof(uint32_t));

    if (!dist)
        return;
    for (uint32_t i = g->n_trie; i-- > root_from;) {
        gtrie *t = &g->trie[i];
        uint32_t best = G_NONE, bd = G_NONE;
        t->sub = t->term >= 0 && t->term < 64 ? (1ull << t->term) : 0;
        for (uint32_t c = t->child; c != G_NONE; c = g->trie[c].sib) {
            t->sub |= g->trie[c].sub;
            if (dist[c - root_from] != G_NONE && dist[c - root_from] + 1 < bd) {
                bd = dist[c - root_from] + 1;
                best = c;
            }
        }
        t->fin = best;
        dist[i - root_from] = t->term >= 0 ? 0 : bd;
    }
    free(dist);
}

size_t llm_grammar__json_escape(const char *s, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)s[i];
        const char *e = NULL;
        switch (c) {
        case '"': e = "\\\""; break;
        case '\\': e = "\\\\"; break;
        case '\b': e = "\\b"; break;
        case '\f': e = "\\f"; break;
        case '\n': e = "\\n"; break;
        case '\r': e = "\\r"; break;
        case '\t': e = "\\t"; break;
        default: break;
        }
        if (e) {
            out[o++] = e[0];
            out[o++] = e[1];
        } else if (c < 0x20) {
            out[o++] = '\\';
            out[o++] = 'u';
            out[o++] = '0';
            out[o++] = '0';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        } else {
            out[o++] = (char)c;
        }
    }
    return o;
}

/* ---- grammar object ------------------------------------------------------------ */

int llm_grammar__alloc(llm_grammar **out, const llm_gvocab *v, const llm_grammar_opts *opts)
{
    llm_grammar *g = calloc(1, sizeof(*g));

    *out = NULL;
    if (!g)
        return AIOS_ENOMEM;
    g->refs = 1;
    g->v = v;
    g->ws_max = opts ? opts->ws_max : 0;
    if (g->ws_max > 255)
        g->ws_max = 255;
    g->root = G_NONE;
    g->any_value = g->any_object = G_NONE;
    if (llm_grammar__cache_init(&g->cache, opts && opts->cache_bytes ? opts->cache_bytes
                                                                      : (64u << 20)) < 0) {
        free(g);
        return AIOS_ENOMEM;
    }
    *out = g;
    return 0;
}

static uint32_t lit_node(llm_grammar *g, const char *const *lits, const size_t *lens, size_t n)
{
    uint32_t id = llm_grammar__add_node(g, GK_LIT);
    uint32_t from = g->n_trie;
    uint32_t root;

    if (id == G_NONE)
        return G_NONE;
    root = llm_grammar__trie_new(g);
    if (root == G_NONE)
        return G_NONE;
    g->nodes[id].u.lit.root = root;
    for (size_t i = 0; i < n; i++)
        if (llm_grammar__trie_add(g, root, lits[i], lens[i], 0) < 0)
            return G_NONE;
    llm_grammar__trie_finish(g, from);
    return id;
}

static uint32_t str_node(llm_grammar *g, uint32_t min, uint32_t max)
{
    uint32_t id = llm_grammar__add_node(g, GK_STR);
    if (id != G_NONE) {
        g->nodes[id].u.str.min = min;
        g->nodes[id].u.str.max = max;
    }
    return id;
}

static uint32_t num_node(llm_grammar *g, bool integer, bool bounded, int64_t lo, int64_t hi)
{
    uint32_t id = llm_grammar__add_node(g, GK_NUM);
    if (id != G_NONE) {
        g->nodes[id].flags = (integer ? GN_INTEGER : 0) | (bounded ? GN_BOUNDED : 0);
        g->nodes[id].u.num.lo = lo;
        g->nodes[id].u.num.hi = hi;
    }
    return id;
}

static uint32_t arr_node(llm_grammar *g, uint32_t items, uint32_t min, uint32_t max,
                         const uint32_t *prefix, uint32_t nprefix)
{
    uint32_t id = llm_grammar__add_node(g, GK_ARR);
    uint32_t at = add_alts(g, prefix, nprefix);

    if (id == G_NONE || at == G_NONE)
        return G_NONE;
    g->nodes[id].u.arr.items = items;
    g->nodes[id].u.arr.min = min;
    g->nodes[id].u.arr.max = max;
    g->nodes[id].u.arr.prefix = at;
    g->nodes[id].u.arr.nprefix = nprefix;
    return id;
}

uint32_t llm_grammar__alt_node(llm_grammar *g, const uint32_t *alts, uint32_t n)
{
    uint32_t id = llm_grammar__add_node(g, GK_ALT);
    uint32_t at = add_alts(g, alts, n);

    if (id == G_NONE || at == G_NONE)
        return G_NONE;
    g->nodes[id].u.alt.first = at;
    g->nodes[id].u.alt.n = n;
    return id;
}

/*
 * An object node.  names[i] (raw, not encoded) with value node values[i]
 * and required flags; additional is the node of undeclared members or
 * G_NONE.  Builds the key node with the trie of encoded names.
 */
static uint32_t obj_node(llm_grammar *g, const char *const *names, const size_t *name_lens,
                         const uint32_t *values, const bool *required, uint32_t n,
                         uint32_t additional)
{
    uint32_t id = llm_grammar__add_node(g, GK_OBJ);
    uint32_t key = llm_grammar__add_node(g, GK_KEY);
    uint32_t first = g->n_props;
    uint32_t from = g->n_trie;
    uint32_t root;
    uint64_t req = 0;
    bool escaped = false;

    if (id == G_NONE || key == G_NONE || n > G_MAX_PROPS)
        return G_NONE;
    root = llm_grammar__trie_new(g);
    if (root == G_NONE)
        return G_NONE;
    for (uint32_t i = 0; i < n; i++) {
        char *enc = malloc(name_lens[i] * 6 + 1);
        size_t elen;
        if (!enc)
            return G_NONE;
        elen = llm_grammar__json_escape(names[i], name_lens[i], enc);
        if (memchr(enc, '\\', elen))
            escaped = true;
        int rc = llm_grammar__trie_add(g, root, enc, elen, (int32_t)i);
        free(enc);
        if (rc < 0 || add_prop(g, values[i], required[i]) == G_NONE)
            return G_NONE;
        if (required[i])
            req |= 1ull << i;
    }
    llm_grammar__trie_finish(g, from);
    g->nodes[id].u.obj.props = first;
    g->nodes[id].u.obj.nprops = n;
    /* Undeclared names are compared with the declared ones byte for byte;
     * that is exact only when no declared name needs an escape. */
    g->nodes[id].u.obj.additional = escaped ? G_NONE : additional;
    g->nodes[id].u.obj.key = key;
    g->nodes[id].u.obj.reqmask = req;
    g->nodes[key].u.key.root = root;
    g->nodes[key].u.key.obj = id;
    if (additional != G_NONE && !escaped)
        g->nodes[key].flags |= GN_EXTRAS;
    return id;
}

uint32_t llm_grammar__free_text_node(llm_grammar *g, bool no_brace)
{
    uint32_t id = llm_grammar__add_node(g, GK_FREE);
    if (id != G_NONE && no_brace)
        g->nodes[id].flags |= GN_NOBRACE;
    return id;
}

uint32_t llm_grammar__any_node(llm_grammar *g, bool object_only)
{
    static const char *const lits[] = {"true", "false", "null"};
    static const size_t lens[] = {4, 5, 4};
    uint32_t alts[5];

    if (g->any_value == G_NONE) {
        uint32_t any = llm_grammar__add_node(g, GK_ALT); /* filled below */
        if (any == G_NONE)
            return G_NONE;
        g->any_value = any;
        alts[0] = obj_node(g, NULL, NULL, NULL, NULL, 0, any);
        alts[1] = arr_node(g, any, 0, G_NONE, NULL, 0);
        alts[2] = str_node(g, 0, G_NONE);
        alts[3] = num_node(g, false, false, 0, 0);
        alts[4] = lit_node(g, lits, lens, 3);
        for (int i = 0; i < 5; i++)
            if (alts[i] == G_NONE)
                return G_NONE;
        uint32_t at = add_alts(g, alts, 5);
        if (at == G_NONE)
            return G_NONE;
        g->nodes[any].u.alt.first = at;
        g->nodes[any].u.alt.n = 5;
        g->any_object = alts[0];
    }
    return object_only ? g->any_object : g->any_value;
}

/* ---- compiling a schema -------------------------------------------------------- */

typedef struct memo_ent {
    const json_t *s;
    uint32_t node;
} memo_ent;

typedef struct gcomp {
    llm_grammar *g;
    const json_t *root;
    memo_ent *memo;
    uint32_t n_memo, cap_memo;
    char *err;
    size_t errlen;
    int nest;
    char path[512];
} gcomp;

static int cfail(gcomp *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Record an error message "schema at '<path>': <what>" and return code. */
static int cfail(gcomp *c, int code, const char *fmt, ...)
{
    char msg[256];
    va_list ap;

    if (c->err && c->errlen && !c->err[0]) {
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        snprintf(c->err, c->errlen, "schema at '%s': %s", c->path[0] ? c->path : "/", msg);
    }
    return code;
}

static size_t path_push(gcomp *c, const char *seg)
{
    size_t at = strlen(c->path);
    snprintf(c->path + at, sizeof(c->path) - at, "/%s", seg);
    return at;
}

static void path_pop(gcomp *c, size_t at)
{
    c->path[at] = 0;
}

/* Keywords that only annotate: ignored. */
static const char *const annotations[] = {
    "title", "description", "default", "examples", "$schema", "$id", "$comment", "deprecated",
    "readOnly", "writeOnly", "$defs", "definitions", "$anchor", "contentMediaType",
    "contentEncoding", "strict", "format", "discriminator", "example", "x-order",
};

/* Keywords that constrain values in ways not enforced here: refused. */
static const char *const unsupported[] = {
    "not", "if", "then", "else", "dependentRequired", "dependentSchemas", "dependencies",
    "patternProperties", "pattern", "multipleOf", "contains", "minContains", "maxContains",
    "unevaluatedProperties", "unevaluatedItems", "propertyNames", "$dynamicRef",
    "$recursiveRef",
};

static bool in_list(const char *k, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(k, list[i]) == 0)
            return true;
    return false;
}

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static int comp(gcomp *c, const json_t *s, uint32_t *out);

/* Resolve a local $ref ("#", "#/$defs/x", any JSON pointer into the root). */
static const json_t *resolve_ref(gcomp *c, const char *ref)
{
    const json_t *at = c->root;
    const char *p;

    if (ref[0] != '#')
        return NULL;
    p = ref + 1;
    if (*p == 0)
        return at;
    if (*p != '/')
        return NULL;
    while (*p == '/') {
        char seg[256];
        size_t n = 0;
        p++;
        while (*p && *p != '/' && n < sizeof(seg) - 1) {
            if (p[0] == '~' && p[1] == '0') {
                seg[n++] = '~';
                p += 2;
            } else if (p[0] == '~' && p[1] == '1') {
                seg[n++] = '/';
                p += 2;
            } else {
                seg[n++] = *p++;
            }
        }
        seg[n] = 0;
        if (json_is_object(at)) {
            at = json_object_get(at, seg);
        } else if (json_is_array(at)) {
            char *end;
            long idx = strtol(seg, &end, 10);
            at = *end ? NULL : json_array_get(at, (size_t)idx);
        } else {
            at = NULL;
        }
        if (!at)
            return NULL;
    }
    return at;
}

/* Unicode code points in a UTF-8 string (jansson guarantees validity). */
static size_t utf8_len(const char *s, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (((uint8_t)s[i] & 0xc0) != 0x80)
            k++;
    return k;
}

/* Whether a literal value satisfies the type and simple limits of schema s
 * (enum values are filtered so a literal never contradicts its siblings). */
static bool lit_fits(const json_t *s, const json_t *v)
{
    const json_t *t = json_object_get(s, "type");
    bool ok = !t;

    if (json_is_string(t) || json_is_array(t)) {
        size_t n = json_is_array(t) ? json_array_size(t) : 1;
        for (size_t i = 0; i < n && !ok; i++) {
            const char *tn = json_string_value(json_is_array(t) ? json_array_get(t, i) : t);
            if (!tn)
                continue;
            if (strcmp(tn, "string") == 0)
                ok = json_is_string(v);
            else if (strcmp(tn, "number") == 0)
                ok = json_is_number(v);
            else if (strcmp(tn, "integer") == 0)
                ok = json_is_integer(v) ||
                     (json_is_real(v) && floor(json_real_value(v)) == json_real_value(v));
            else if (strcmp(tn, "boolean") == 0)
                ok = json_is_boolean(v);
            else if (strcmp(tn, "null") == 0)
                ok = json_is_null(v);
            else if (strcmp(tn, "object") == 0)
                ok = json_is_object(v);
            else if (strcmp(tn, "array") == 0)
                ok = json_is_array(v);
        }
    }
    if (!ok)
        return false;
    if (json_is_string(v)) {
        size_t len = utf8_len(json_string_value(v), json_string_length(v));
        const json_t *mn = json_object_get(s, "minLength"), *mx = json_object_get(s, "maxLength");
        if (json_is_integer(mn) && (json_int_t)len < json_integer_value(mn))
            return false;
        if (json_is_integer(mx) && (json_int_t)len > json_integer_value(mx))
            return false;
    }
    if (json_is_number(v)) {
        double x = json_number_value(v);
        const json_t *k;
        if ((k = json_object_get(s, "minimum")) && json_is_number(k) && x < json_number_value(k))
            return false;
        if ((k = json_object_get(s, "maximum")) && json_is_number(k) && x > json_number_value(k))
            return false;
        if ((k = json_object_get(s, "exclusiveMinimum")) && json_is_number(k) &&
            x <= json_number_value(k))
            return false;
        if ((k = json_object_get(s, "exclusiveMaximum")) && json_is_number(k) &&
            x >= json_number_value(k))
            return false;
    }
    return true;
}

/* const / enum -> a literal node of the values' compact serialisations. */
static int comp_literals(gcomp *c, const json_t *s, uint32_t *out)
{
    const json_t *cv = json_object_get(s, "const");
    const json_t *ev = json_object_get(s, "enum");
    size_t n = cv ? 1 : json_array_size(ev);
    char **lits;
    size_t *lens, k = 0;
    int rc = 0;

    if (!cv && !json_is_array(ev))
        return cfail(c, AIOS_EINVAL, "'enum' must be an array");
    lits = calloc(n + 1, sizeof(char *));
    lens = calloc(n + 1, sizeof(size_t));
    if (!lits || !lens) {
        rc = AIOS_ENOMEM;
        goto out_free;
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *v = cv ? cv : json_array_get(ev, i);
        if (!lit_fits(s, v))
            continue;
        lits[k] = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!lits[k]) {
            rc = AIOS_ENOMEM;
            goto out_free;
        }
        lens[k] = strlen(lits[k]);
        k++;
    }
    if (k == 0) {
        *out = llm_grammar__add_node(c->g, GK_NEVER);
    } else {
        *out = lit_node(c->g, (const char *const *)lits, lens, k);
    }
    if (*out == G_NONE)
        rc = AIOS_ENOMEM;
out_free:
    if (lits)
        for (size_t i = 0; i < n; i++)
            free(lits[i]);
    free(lits);
    free(lens);
    return rc;
}

static int get_count(gcomp *c, const json_t *s, const char *key, uint32_t dflt, uint32_t *out)
{
    const json_t *v = json_object_get(s, key);

    *out = dflt;
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return cfail(c, AIOS_EINVAL, "'%s' must be a non-negative integer", key);
    *out = json_integer_value(v) >= (json_int_t)G_NONE ? G_NONE - 1 : (uint32_t)json_integer_value(v);
    return 0;
}

static int comp_string(gcomp *c, const json_t *s, uint32_t *out)
{
    static const struct { const char *name; uint32_t fmt, len; } fmts[] = {
        {"date", GF_DATE, 10},
        {"time", GF_TIME, 9},
        {"date-time", GF_DATETIME, 20},
        {"uuid", GF_UUID, 36},
    };
    uint32_t min, max;
    const char *f = json_string_value(json_object_get(s, "format"));
    int rc;

    if ((rc = get_count(c, s, "minLength", 0, &min)) < 0 ||
        (rc = get_count(c, s, "maxLength", G_NONE, &max)) < 0)
        return rc;
    for (size_t i = 0; f && i < COUNT(fmts); i++) {
        if (strcmp(f, fmts[i].name) != 0)
            continue;
        if (fmts[i].len < min || fmts[i].len > max) {
            *out = llm_grammar__add_node(c->g, GK_NEVER);
        } else {
            *out = llm_grammar__add_node(c->g, GK_FMT);
            if (*out != G_NONE)
                c->g->nodes[*out].u.fmt.fmt = fmts[i].fmt;
        }
        return *out == G_NONE ? AIOS_ENOMEM : 0;
    }
    *out = min > max ? llm_grammar__add_node(c->g, GK_NEVER) : str_node(c->g, min, max);
    return *out == G_NONE ? AIOS_ENOMEM : 0;
}

/* Largest magnitude a generated number may have (G_MAX_INT_DIGITS digits). */
#define G_NUM_LIMIT 999999999999999LL

static int comp_number(gcomp *c, const json_t *s, bool integer, uint32_t *out)
{
    double lo = -INFINITY, hi = INFINITY;
    bool lo_x = false, hi_x = false, bounded = false;
    const json_t *v;
    int64_t ilo, ihi;

    if ((v = json_object_get(s, "minimum")) && json_is_number(v)) {
        lo = json_number_value(v);
        bounded = true;
    }
    if ((v = json_object_get(s, "maximum")) && json_is_number(v)) {
        hi = json_number_value(v);
        bounded = true;
    }
    v = json_object_get(s, "exclusiveMinimum");
    if (json_is_true(v))
        lo_x = true; /* draft 4 */
    else if (json_is_number(v) && json_number_value(v) >= lo) {
        lo = json_number_value(v);
        lo_x = bounded = true;
    }
    v = json_object_get(s, "exclusiveMaximum");
    if (json_is_true(v))
        hi_x = true;
    else if (json_is_number(v) && json_number_value(v) <= hi) {
        hi = json_number_value(v);
        hi_x = bounded = true;
    }
    if (!bounded) {
        *out = num_node(c->g, integer, false, 0, 0);
        return *out == G_NONE ? AIOS_ENOMEM : 0;
    }
    /* integral bounds: conservative for numbers (docs/CONSTRAINED.md) */
    if (lo == -INFINITY || lo < -(double)G_NUM_LIMIT)
        ilo = -G_NUM_LIMIT;
    else
        ilo = lo_x ? (int64_t)floor(lo) + 1 : (int64_t)ceil(lo);
    if (hi == INFINITY || hi > (double)G_NUM_LIMIT)
        ihi = G_NUM_LIMIT;
    else
        ihi = hi_x ? (int64_t)ceil(hi) - 1 : (int64_t)floor(hi);
    if (ilo < -G_NUM_LIMIT)
        ilo = -G_NUM_LIMIT;
    if (ihi > G_NUM_LIMIT)
        ihi = G_NUM_LIMIT;
    if (ilo > ihi) {
        if (!integer && lo < hi)
            return cfail(c, AIOS_ENOTSUP,
                         "number range without an integer inside it is not supported");
        *out = llm_grammar__add_node(c->g, GK_NEVER);
    } else {
        *out = num_node(c->g, integer, true, ilo, ihi);
    }
    return *out == G_NONE ? AIOS_ENOMEM : 0;
}

static int comp_array(gcomp *c, const json_t *s, uint32_t *out)
{
    const json_t *items = json_object_get(s, "items");
    const json_t *prefix = json_object_get(s, "prefixItems");
    const json_t *extra = NULL;
    uint32_t min, max, item_node = G_NONE, np = 0;
    uint32_t *pre = NULL;
    const json_t *uniq = json_object_get(s, "uniqueItems");
    int rc;

    if ((rc = get_count(c, s, "minItems", 0, &min)) < 0 ||
        (rc = get_count(c, s, "maxItems", G_NONE, &max)) < 0)
        return rc;
    if (json_is_true(uniq) && max > 1)
        return cfail(c, AIOS_ENOTSUP, "keyword 'uniqueItems' is not supported");
    if (json_is_array(items)) { /* draft 4-7 tuple */
        prefix = items;
        extra = json_object_get(s, "additionalItems");
        items = NULL;
    } else if (prefix && !json_is_array(prefix)) {
        return cfail(c, AIOS_EINVAL, "'prefixItems' must be an array");
    } else {
        extra = items;
    }
    if (prefix) {
        np = (uint32_t)json_array_size(prefix);
        pre = calloc(np + 1, sizeof(uint32_t));
        if (!pre)
            return AIOS_ENOMEM;
        for (uint32_t i = 0; i < np; i++) {
            char seg[32];
            snprintf(seg, sizeof(seg), "prefixItems/%u", i);
            size_t at = path_push(c, seg);
            rc = comp(c, json_array_get(prefix, i), &pre[i]);
            path_pop(c, at);
            if (rc < 0)
                goto out_free;
        }
    }
    if (!extra || json_is_true(extra)) {
        item_node = llm_grammar__any_node(c->g, false);
    } else if (json_is_false(extra)) {
        item_node = G_NONE;
    } else {
        size_t at = path_push(c, "items");
        rc = comp(c, extra, &item_node);
        path_pop(c, at);
        if (rc < 0)
            goto out_free;
    }
    if (min > max || (item_node == G_NONE && min > np))
        *out = llm_grammar__add_node(c->g, GK_NEVER);
    else
        *out = arr_node(c->g, item_node, min, max, pre, np);
    rc = *out == G_NONE ? AIOS_ENOMEM : 0;
out_free:
    free(pre);
    return rc;
}

static int comp_object(gcomp *c, const json_t *s, uint32_t *out)
{
    const json_t *props = json_object_get(s, "properties");
    const json_t *req = json_object_get(s, "required");
    const json_t *addl = json_object_get(s, "additionalProperties");
    const char *names[G_MAX_PROPS];
    size_t lens[G_MAX_PROPS];
    uint32_t values[G_MAX_PROPS];
    bool required[G_MAX_PROPS];
    uint32_t n = 0, additional = G_NONE, nreq = 0, minp, maxp;
    const char *k;
    const json_t *v;
    int rc;

    if (props && !json_is_object(props))
        return cfail(c, AIOS_EINVAL, "'properties' must be an object");
    if (req && !json_is_array(req))
        return cfail(c, AIOS_EINVAL, "'required' must be an array");
    if (json_object_size(props) + json_array_size(req) > G_MAX_PROPS &&
        json_object_size(props) > G_MAX_PROPS)
        return cfail(c, AIOS_ENOTSUP, "more than %d properties", G_MAX_PROPS);
    /* additionalProperties: absent means none are generated unless the
     * object declares no properties at all */
    if (json_is_false(addl)) {
        additional = G_NONE;
    } else if (!addl) {
        additional = json_object_size(props) ? G_NONE : llm_grammar__any_node(c->g, false);
    } else if (json_is_true(addl)) {
        additional = llm_grammar__any_node(c->g, false);
    } else {
        size_t at = path_push(c, "additionalProperties");
        rc = comp(c, addl, &additional);
        path_pop(c, at);
        if (rc < 0)
            return rc;
    }
    json_object_foreach((json_t *)props, k, v) {
        char seg[300];
        snprintf(seg, sizeof(seg), "properties/%s", k);
        size_t at = path_push(c, seg);
        rc = comp(c, v, &values[n]);
        path_pop(c, at);
        if (rc < 0)
            return rc;
        names[n] = k;
        lens[n] = strlen(k);
        required[n] = false;
        n++;
    }
    for (size_t i = 0; i < json_array_size(req); i++) {
        const char *r = json_string_value(json_array_get(req, i));
        uint32_t j;
        if (!r)
            return cfail(c, AIOS_EINVAL, "'required' must list strings");
        for (j = 0; j < n; j++)
            if (strcmp(names[j], r) == 0)
                break;
        if (j == n) { /* required but not declared: governed by additionalProperties */
            if (n >= G_MAX_PROPS)
                return cfail(c, AIOS_ENOTSUP, "more than %d properties", G_MAX_PROPS);
            names[n] = r;
            lens[n] = strlen(r);
            values[n] = additional != G_NONE ? additional : llm_grammar__add_node(c->g, GK_NEVER);
            n++;
        }
        if (!required[j])
            nreq++;
        required[j] = true;
    }
    if ((rc = get_count(c, s, "minProperties", 0, &minp)) < 0 ||
        (rc = get_count(c, s, "maxProperties", G_NONE, &maxp)) < 0)
        return rc;
    if (minp > nreq)
        return cfail(c, AIOS_ENOTSUP, "'minProperties' above the number of required properties");
    if (maxp < nreq) {
        *out = llm_grammar__add_node(c->g, GK_NEVER);
        return *out == G_NONE ? AIOS_ENOMEM : 0;
    }
    if (maxp < n || (maxp != G_NONE && additional != G_NONE))
        return cfail(c, AIOS_ENOTSUP, "'maxProperties' below the number of possible properties");
    *out = obj_node(c->g, names, lens, values, required, n, additional);
    return *out == G_NONE ? AIOS_ENOMEM : 0;
}

static int comp_type(gcomp *c, const json_t *s, const char *t, uint32_t *out)
{
    static const char *const tf[] = {"true", "false"};
    static const size_t tfl[] = {4, 5};
    static const char *const nl[] = {"null"};
    static const size_t nll[] = {4};

    if (strcmp(t, "string") == 0)
        return comp_string(c, s, out);
    if (strcmp(t, "integer") == 0)
        return comp_number(c, s, true, out);
    if (strcmp(t, "number") == 0)
        return comp_number(c, s, false, out);
    if (strcmp(t, "array") == 0)
        return comp_array(c, s, out);
    if (strcmp(t, "object") == 0)
        return comp_object(c, s, out);
    if (strcmp(t, "boolean") == 0)
        *out = lit_node(c->g, tf, tfl, 2);
    else if (strcmp(t, "null") == 0)
        *out = lit_node(c->g, nl, nll, 1);
    else
        return cfail(c, AIOS_EINVAL, "unknown type '%s'", t);
    return *out == G_NONE ? AIOS_ENOMEM : 0;
}

/* The type implied by the keywords present when "type" is absent. */
static const char *infer_type(const json_t *s)
{
    static const struct { const char *kw, *type; } rules[] = {
        {"properties", "object"}, {"required", "object"}, {"additionalProperties", "object"},
        {"items", "array"},       {"prefixItems", "array"}, {"minItems", "array"},
        {"maxItems", "array"},    {"minLength", "string"},  {"maxLength", "string"},
        {"minimum", "number"},    {"maximum", "number"},    {"exclusiveMinimum", "number"},
        {"exclusiveMaximum", "number"},
    };
    for (size_t i = 0; i < COUNT(rules); i++)
        if (json_object_get(s, rules[i].kw))
            return rules[i].type;
    return NULL;
}

/* Whether s has keywords besides annotations and the ones in allowed. */
static const char *other_keyword(const json_t *s, const char *const *allowed, size_t n)
{
    const char *k;
    json_t *v;

    json_object_foreach((json_t *)s, k, v) {
        if (!in_list(k, annotations, COUNT(annotations)) && !in_list(k, allowed, n))
            return k;
    }
    return NULL;
}

static int comp_body(gcomp *c, const json_t *s, uint32_t *out)
{
    const char *k;
    json_t *v;
    const json_t *t;
    uint32_t alts[G_MAX_CONFIGS + 2];
    uint32_t n = 0;
    int rc;

    if (json_is_true(s) || (json_is_object(s) && json_object_size(s) == 0)) {
        *out = llm_grammar__any_node(c->g, false);
        return *out == G_NONE ? AIOS_ENOMEM : 0;
    }
    if (json_is_false(s)) {
        *out = llm_grammar__add_node(c->g, GK_NEVER);
        return *out == G_NONE ? AIOS_ENOMEM : 0;
    }
    if (!json_is_object(s))
        return cfail(c, AIOS_EINVAL, "a schema must be an object or a boolean");
    json_object_foreach((json_t *)s, k, v) {
        if (in_list(k, unsupported, COUNT(unsupported)))
            return cfail(c, AIOS_ENOTSUP, "keyword '%s' is not supported", k);
    }

    if ((v = json_object_get(s, "$ref"))) {
        static const char *const ok[] = {"$ref"};
        const json_t *target;
        if (!json_is_string(v))
            return cfail(c, AIOS_EINVAL, "'$ref' must be a string");
        if ((k = other_keyword(s, ok, 1)))
            return cfail(c, AIOS_ENOTSUP, "'$ref' next to '%s' is not supported", k);
        target = resolve_ref(c, json_string_value(v));
        if (!target)
            return cfail(c, AIOS_ENOTSUP, "cannot resolve '$ref' '%s' (only local references)",
                         json_string_value(v));
        return comp(c, target, out);
    }

    if (json_object_get(s, "const") || json_object_get(s, "enum"))
        return comp_literals(c, s, out);

    const char *comb = json_object_get(s, "anyOf") ? "anyOf"
                       : json_object_get(s, "oneOf") ? "oneOf"
                       : json_object_get(s, "allOf") ? "allOf" : NULL;
    if (comb) {
        const char *const ok[] = {comb, "nullable"};
        const json_t *list = json_object_get(s, comb);
        if (!json_is_array(list) || json_array_size(list) == 0)
            return cfail(c, AIOS_EINVAL, "'%s' must be a non-empty array", comb);
        if ((k = other_keyword(s, ok, 2)))
            return cfail(c, AIOS_ENOTSUP, "'%s' next to '%s' is not supported", comb, k);
        if (strcmp(comb, "allOf") == 0 && json_array_size(list) > 1)
            return cfail(c, AIOS_ENOTSUP, "'allOf' with more than one schema is not supported");
        if (json_array_size(list) > G_MAX_CONFIGS)
            return cfail(c, AIOS_ENOTSUP, "more than %d alternatives", G_MAX_CONFIGS);
        for (size_t i = 0; i < json_array_size(list); i++) {
            char seg[32];
            snprintf(seg, sizeof(seg), "%s/%zu", comb, i);
            size_t at = path_push(c, seg);
            rc = comp(c, json_array_get(list, i), &alts[n++]);
            path_pop(c, at);
            if (rc < 0)
                return rc;
        }
    } else {
        const char *inferred;
        t = json_object_get(s, "type");
        if (json_is_string(t)) {
            if ((rc = comp_type(c, s, json_string_value(t), &alts[n++])) < 0)
                return rc;
        } else if (json_is_array(t)) {
            if (json_array_size(t) == 0 || json_array_size(t) > 7)
                return cfail(c, AIOS_EINVAL, "'type' must list 1 to 7 types");
            for (size_t i = 0; i < json_array_size(t); i++) {
                const char *tn = json_string_value(json_array_get(t, i));
                if (!tn)
                    return cfail(c, AIOS_EINVAL, "'type' must list strings");
                if ((rc = comp_type(c, s, tn, &alts[n++])) < 0)
                    return rc;
            }
        } else if (t) {
            return cfail(c, AIOS_EINVAL, "'type' must be a string or an array");
        } else if ((inferred = infer_type(s))) {
            if ((rc = comp_type(c, s, inferred, &alts[n++])) < 0)
                return rc;
        } else {
            alts[n++] = llm_grammar__any_node(c->g, false);
        }
    }
    if (json_is_true(json_object_get(s, "nullable"))) {
        static const char *const nl[] = {"null"};
        static const size_t nll[] = {4};
        alts[n++] = lit_node(c->g, nl, nll, 1);
    }
    for (uint32_t i = 0; i < n; i++)
        if (alts[i] == G_NONE)
            return AIOS_ENOMEM;
    *out = n == 1 ? alts[0] : llm_grammar__alt_node(c->g, alts, n);
    return *out == G_NONE ? AIOS_ENOMEM : 0;
}

/* Compile s once (memoised by address, so $ref cycles terminate): the node
 * returned is an alias filled in when the body is done. */
static int comp(gcomp *c, const json_t *s, uint32_t *out)
{
    uint32_t id, body = G_NONE;
    int rc;

    for (uint32_t i = 0; i < c->n_memo; i++) {
        if (c->memo[i].s == s) {
            *out = c->memo[i].node;
            return 0;
        }
    }
    if (c->nest >= 64)
        return cfail(c, AIOS_EINVAL, "schema nested too deeply");
    id = llm_grammar__add_node(c->g, GK_ALIAS);
    if (id == G_NONE || !grow((void **)&c->memo, &c->cap_memo, c->n_memo + 1, sizeof(memo_ent)))
        return AIOS_ENOMEM;
    c->g->nodes[id].u.alias.target = G_NONE;
    c->memo[c->n_memo].s = s;
    c->memo[c->n_memo].node = id;
    c->n_memo++;
    c->nest++;
    rc = comp_body(c, s, &body);
    c->nest--;
    if (rc < 0)
        return rc;
    c->g->nodes[id].u.alias.target = body;
    *out = id;
    return 0;
}

int llm_grammar__compile(llm_grammar *g, const json_t *schema, uint32_t *root, char *err,
                         size_t errlen)
{
    gcomp c;
    int rc;

    memset(&c, 0, sizeof(c));
    c.g = g;
    c.root = schema;
    c.err = err;
    c.errlen = errlen;
    if (err && errlen)
        err[0] = 0;
    rc = comp(&c, schema, root);
    free(c.memo);
    return rc;
}

/* ---- finishing: aliases, alternatives, mindepth --------------------------------- */

static uint32_t resolve(const llm_grammar *g, uint32_t id)
{
    for (uint32_t steps = 0; id != G_NONE && g->nodes[id].kind == GK_ALIAS; steps++) {
        if (steps > g->n_nodes)
            return G_NONE; /* a $ref cycle that never reaches a schema */
        id = g->nodes[id].u.alias.target;
    }
    return id;
}

/* Collect the non-ALT alternatives reachable from ALT node id (depth-first,
 * each node once). */
static int flatten(llm_grammar *g, uint32_t id, uint8_t *seen, uint32_t *list, uint32_t *n,
                   uint32_t cap)
{
    if (id == G_NONE || seen[id])
        return 0;
    seen[id] = 1;
    if (g->nodes[id].kind != GK_ALT) {
        if (*n >= cap)
            return AIOS_ENOTSUP;
        list[(*n)++] = id;
        return 0;
    }
    for (uint32_t i = 0; i < g->nodes[id].u.alt.n; i++) {
        int rc = flatten(g, g->alts[g->nodes[id].u.alt.first + i], seen, list, n, cap);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static uint32_t arr_item(const llm_grammar *g, const gnode *nd, uint32_t i)
{
    return i < nd->u.arr.nprefix ? g->alts[nd->u.arr.prefix + i] : nd->u.arr.items;
}

static uint32_t md_of(const llm_grammar *g, uint32_t id)
{
    return id == G_NONE ? G_INF : g->nodes[id].mindepth;
}

/* One pass of the mindepth fixpoint; returns whether anything changed. */
static bool md_pass(llm_grammar *g)
{
    bool changed = false;

    for (uint32_t i = 0; i < g->n_nodes; i++) {
        gnode *nd = &g->nodes[i];
        uint32_t md = G_INF, need = 0;

        switch (nd->kind) {
        case GK_LIT:
            md = g->trie[nd->u.lit.root].child != G_NONE ? 1 : G_INF;
            break;
        case GK_STR:
        case GK_FMT:
        case GK_NUM:
        case GK_KEY:
        case GK_FREE:
            md = 1;
            break;
        case GK_ARR: {
            uint32_t upto = nd->u.arr.min < nd->u.arr.nprefix + 1 ? nd->u.arr.min
                                                                    : nd->u.arr.nprefix + 1;
            for (uint32_t p = 0; p < upto && need != G_INF; p++) {
                uint32_t m = md_of(g, arr_item(g, nd, p));
                if (m > need)
                    need = m;
            }
            md = need == G_INF ? G_INF : 1 + need;
            break;
        }
        case GK_OBJ:
            if (nd->u.obj.reqmask)
                need = 1;
            for (uint32_t p = 0; p < nd->u.obj.nprops && need != G_INF; p++) {
                if (!g->props[nd->u.obj.props + p].required)
                    continue;
                uint32_t m = md_of(g, g->props[nd->u.obj.props + p].value);
                if (m > need)
                    need = m;
            }
            md = need == G_INF ? G_INF : 1 + need;
            break;
        case GK_ALT:
            for (uint32_t a = 0; a < nd->u.alt.n; a++) {
                uint32_t m = md_of(g, g->alts[nd->u.alt.first + a]);
                if (m < md)
                    md = m;
            }
            break;
        default:
            md = G_INF;
            break;
        }
        if (md != nd->mindepth) {
            nd->mindepth = md;
            changed = true;
        }
    }
    return changed;
}

static uint32_t hmax(uint32_t a, uint32_t b)
{
    return a > b ? a : b;
}

/*
 * The most frames a value of any node can stack (max_height), found by
 * raising heights until they settle; recursive schemas never settle and get
 * G_MAX_DEPTH.  The mask cache uses it: a container frame whose budget is
 * at least this behaves the same for every larger budget.
 */
static int heights(llm_grammar *g)
{
    uint32_t *h = calloc(g->n_nodes, sizeof(uint32_t));
    bool changed = true;
    uint32_t pass = 0, top = 0;

    if (!h)
        return AIOS_ENOMEM;
    while (changed && pass++ < G_MAX_DEPTH + 2) {
        changed = false;
        for (uint32_t i = 0; i < g->n_nodes; i++) {
            const gnode *nd = &g->nodes[i];
            uint32_t v = 1;
            switch (nd->kind) {
            case GK_ARR:
                if (nd->u.arr.items != G_NONE)
                    v = hmax(v, 1 + h[nd->u.arr.items]);
                for (uint32_t a = 0; a < nd->u.arr.nprefix; a++)
                    v = hmax(v, 1 + h[g->alts[nd->u.arr.prefix + a]]);
                break;
            case GK_OBJ:
                v = 1 + hmax(1, nd->u.obj.additional != G_NONE ? h[nd->u.obj.additional] : 0);
                for (uint32_t p = 0; p < nd->u.obj.nprops; p++)
                    v = hmax(v, 1 + h[g->props[nd->u.obj.props + p].value]);
                break;
            case GK_ALT:
                v = 0;
                for (uint32_t a = 0; a < nd->u.alt.n; a++)
                    v = hmax(v, h[g->alts[nd->u.alt.first + a]]);
                break;
            default:
                break;
            }
            if (v > G_MAX_DEPTH)
                v = G_MAX_DEPTH + 1;
            if (v != h[i]) {
                h[i] = v;
                changed = true;
            }
        }
    }
    for (uint32_t i = 0; i < g->n_nodes; i++)
        top = hmax(top, h[i]);
    g->max_height = changed || top > G_MAX_DEPTH ? G_MAX_DEPTH : top;
    free(h);
    return 0;
}

int llm_grammar__finish(llm_grammar *g, char *err, size_t errlen)
{
    uint8_t *seen = NULL;
    uint32_t list[G_MAX_CONFIGS];
    uint64_t h = 1469598103934665603ull;
    int rc = 0;

    /* 1. references through aliases -> the schema nodes themselves */
    for (uint32_t i = 0; i < g->n_props; i++)
        g->props[i].value = resolve(g, g->props[i].value);
    for (uint32_t i = 0; i < g->n_nodes; i++) {
        gnode *nd = &g->nodes[i];
        if (nd->kind == GK_ALT)
            for (uint32_t a = 0; a < nd->u.alt.n; a++)
                g->alts[nd->u.alt.first + a] = resolve(g, g->alts[nd->u.alt.first + a]);
        if (nd->kind == GK_ARR) {
            nd->u.arr.items = resolve(g, nd->u.arr.items);
            for (uint32_t a = 0; a < nd->u.arr.nprefix; a++)
                g->alts[nd->u.arr.prefix + a] = resolve(g, g->alts[nd->u.arr.prefix + a]);
        }
        if (nd->kind == GK_OBJ)
            nd->u.obj.additional = resolve(g, nd->u.obj.additional);
    }
    g->root = resolve(g, g->root);
    if (g->root == G_NONE) {
        snprintf(err, errlen, "schema refers only to itself");
        return AIOS_EINVAL;
    }
    /* 2. alternatives: flattened lists of concrete nodes */
    seen = malloc(g->n_nodes);
    if (!seen)
        return AIOS_ENOMEM;
    for (uint32_t i = 0; i < g->n_nodes; i++) {
        if (g->nodes[i].kind != GK_ALT)
            continue;
        uint32_t n = 0;
        memset(seen, 0, g->n_nodes);
        seen[i] = 1;
        for (uint32_t a = 0; a < g->nodes[i].u.alt.n && rc == 0; a++)
            rc = flatten(g, g->alts[g->nodes[i].u.alt.first + a], seen, list, &n,
                         G_MAX_CONFIGS);
        if (rc < 0) {
            snprintf(err, errlen, "more than %d alternatives in one anyOf", G_MAX_CONFIGS);
            goto out_free;
        }
        uint32_t at = add_alts(g, list, n);
        if (at == G_NONE) {
            rc = AIOS_ENOMEM;
            goto out_free;
        }
        g->nodes[i].u.alt.first = at;
        g->nodes[i].u.alt.n = n;
    }
    /* 3. mindepth: least fixpoint, starting from "unsatisfiable" */
    while (md_pass(g))
        ;
    if (g->nodes[g->root].mindepth > G_MAX_DEPTH) {
        snprintf(err, errlen, g->nodes[g->root].mindepth == G_INF
                                  ? "schema cannot be satisfied by any value"
                                  : "schema needs values nested deeper than %d levels",
                 G_MAX_DEPTH);
        rc = AIOS_EINVAL;
        goto out_free;
    }
    if ((rc = heights(g)) < 0)
        goto out_free;
    g->max_md = 0;
    for (uint32_t i = 0; i < g->n_nodes; i++) {
        gnode *nd = &g->nodes[i];
        if (nd->mindepth != G_INF && nd->mindepth > g->max_md)
            g->max_md = nd->mindepth;
        h = (h ^ nd->kind) * 1099511628211ull;
        h = (h ^ nd->mindepth) * 1099511628211ull;
    }
    for (uint32_t i = 0; i < g->n_nodes; i++) {
        gnode *nd = &g->nodes[i];
        if (nd->kind != GK_KEY)
            continue;
        const gnode *obj = &g->nodes[nd->u.key.obj];
        uint32_t mx = 0;
        for (uint32_t p = 0; p < obj->u.obj.nprops; p++) {
            uint32_t m = md_of(g, g->props[obj->u.obj.props + p].value);
            if (m > mx)
                mx = m;
        }
        nd->u.key.maxmd = mx;
    }
    h = (h ^ g->n_nodes) * 1099511628211ull;
    h = (h ^ g->n_trie) * 1099511628211ull;
    h = (h ^ g->root) * 1099511628211ull;
    g->ident = h;
out_free:
    free(seen);
    return rc;
}

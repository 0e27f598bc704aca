/*
 * gguf.c - GGUF file reader: mmap, validate, index metadata and tensors.
 *
 * The file is mapped read-only and never trusted: every count, length and
 * offset is checked against the bytes that remain before it is used, with
 * overflow-safe arithmetic, so a truncated or hostile file yields a clear
 * error instead of a crash.  Owns the mapping, the key/name copies and the
 * index arrays; tensor data stays in the mapping (zero copy).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aios/error.h"
#include "llmcore/gguf.h"

/* ---- tensor type sizes --------------------------------------------------- */

static const llm_type_size type_sizes[LLM_T_COUNT] = {
    [LLM_T_F32] = {"F32", 1, 4},
    [LLM_T_F16] = {"F16", 1, 2},
    [LLM_T_Q4_0] = {"Q4_0", 32, 18},
    [LLM_T_Q4_1] = {"Q4_1", 32, 20},
    [LLM_T_Q5_0] = {"Q5_0", 32, 22},
    [LLM_T_Q5_1] = {"Q5_1", 32, 24},
    [LLM_T_Q8_0] = {"Q8_0", 32, 34},
    [LLM_T_Q8_1] = {"Q8_1", 32, 36},
    [LLM_T_Q2_K] = {"Q2_K", 256, 84},
    [LLM_T_Q3_K] = {"Q3_K", 256, 110},
    [LLM_T_Q4_K] = {"Q4_K", 256, 144},
    [LLM_T_Q5_K] = {"Q5_K", 256, 176},
    [LLM_T_Q6_K] = {"Q6_K", 256, 210},
    [LLM_T_Q8_K] = {"Q8_K", 256, 292},
    [LLM_T_I8] = {"I8", 1, 1},
    [LLM_T_I16] = {"I16", 1, 2},
    [LLM_T_I32] = {"I32", 1, 4},
    [LLM_T_I64] = {"I64", 1, 8},
    [LLM_T_F64] = {"F64", 1, 8},
    [LLM_T_BF16] = {"BF16", 1, 2},
};

const llm_type_size *llm_type_size_of(uint32_t type)
{
    if (type >= LLM_T_COUNT || type_sizes[type].name == NULL)
        return NULL;
    return &type_sizes[type];
}

uint64_t llm_type_row_bytes(uint32_t type, uint64_t n)
{
    const llm_type_size *ts = llm_type_size_of(type);
    return ts ? n / ts->blck * ts->bytes : 0;
}

/* Sizes of fixed-size metadata value types; 0 for string/array. */
static const uint8_t vtype_size[GGUF_VT_COUNT] = {
    [GGUF_VT_U8] = 1,  [GGUF_VT_I8] = 1,  [GGUF_VT_U16] = 2, [GGUF_VT_I16] = 2,
    [GGUF_VT_U32] = 4, [GGUF_VT_I32] = 4, [GGUF_VT_F32] = 4, [GGUF_VT_BOOL] = 1,
    [GGUF_VT_U64] = 8, [GGUF_VT_I64] = 8, [GGUF_VT_F64] = 8,
};

/* ---- a bounds-checked cursor ------------------------------------------- */

typedef struct {
    const uint8_t *base;
    uint64_t size;
    uint64_t pos;
    char *err;
    size_t errlen;
} cursor;

static int fail(cursor *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(cursor *c, int code, const char *fmt, ...)
{
    va_list ap;

    if (c->err && c->errlen) {
        va_start(ap, fmt);
        vsnprintf(c->err, c->errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}

static bool avail(const cursor *c, uint64_t n)
{
    return c->pos <= c->size && n <= c->size - c->pos;
}

static bool rd(cursor *c, void *dst, uint64_t n)
{
    if (!avail(c, n))
        return false;
    memcpy(dst, c->base + c->pos, n);
    c->pos += n;
    return true;
}

static bool rd_str(cursor *c, const char **ptr, uint64_t *len)
{
    uint64_t n;

    if (!rd(c, &n, 8) || !avail(c, n))
        return false;
    *ptr = (const char *)c->base + c->pos;
    *len = n;
    c->pos += n;
    return true;
}

static char *dup_n(const char *p, uint64_t n)
{
    char *s = malloc(n + 1);
    if (s) {
        memcpy(s, p, n);
        s[n] = '\0';
    }
    return s;
}

/* ---- metadata ------------------------------------------------------------ */

/* Parse one value of type t into kv (the key is already set). */
static int read_value(cursor *c, llm_gguf_kv *kv, uint32_t t)
{
    uint8_t b;

    kv->type = t;
    if (t >= GGUF_VT_COUNT)
        return fail(c, AIOS_ECORRUPT, "key '%s': unknown value type %u", kv->key, t);
    if (t == GGUF_VT_STRING) {
        if (!rd_str(c, &kv->v.str.ptr, &kv->v.str.len))
            return fail(c, AIOS_ECORRUPT, "key '%s': string runs past end of file", kv->key);
        return 0;
    }
    if (t == GGUF_VT_ARRAY) {
        uint32_t et;
        uint64_t n;

        if (!rd(c, &et, 4) || !rd(c, &n, 8))
            return fail(c, AIOS_ECORRUPT, "key '%s': truncated array header", kv->key);
        if (et >= GGUF_VT_COUNT)
            return fail(c, AIOS_ECORRUPT, "key '%s': unknown array element type %u", kv->key, et);
        if (et == GGUF_VT_ARRAY)
            return fail(c, AIOS_ENOTSUP, "key '%s': nested arrays are not supported", kv->key);
        kv->v.arr.type = et;
        kv->v.arr.n = n;
        kv->v.arr.data = c->base + c->pos;
        if (et == GGUF_VT_STRING) {
            /* each string needs at least its 8-byte length: bound n first */
            if (n > (c->size - c->pos) / 8)
                return fail(c, AIOS_ECORRUPT, "key '%s': array of %llu strings cannot fit in the file",
                            kv->key, (unsigned long long)n);
            kv->v.arr.str_off = malloc((n ? n : 1) * sizeof(uint64_t));
            if (!kv->v.arr.str_off)
                return fail(c, AIOS_ENOMEM, "key '%s': out of memory", kv->key);
            for (uint64_t i = 0; i < n; i++) {
                const char *p;
                uint64_t len;

                kv->v.arr.str_off[i] = c->pos;
                if (!rd_str(c, &p, &len))
                    return fail(c, AIOS_ECORRUPT, "key '%s': string %llu runs past end of file",
                                kv->key, (unsigned long long)i);
            }
            return 0;
        }
        if (n > (c->size - c->pos) / vtype_size[et])
            return fail(c, AIOS_ECORRUPT, "key '%s': array of %llu elements runs past end of file",
                        kv->key, (unsigned long long)n);
        c->pos += n * vtype_size[et];
        return 0;
    }
    /* fixed-size scalar */
    {
        uint8_t raw[8] = {0};

        if (!rd(c, raw, vtype_size[t]))
            return fail(c, AIOS_ECORRUPT, "key '%s': value runs past end of file", kv->key);
        switch (t) { /* decoding by width; a table would be longer here */
        case GGUF_VT_U8: kv->v.u = raw[0]; break;
        case GGUF_VT_I8: kv->v.i = (int8_t)raw[0]; break;
        case GGUF_VT_U16: { uint16_t x; memcpy(&x, raw, 2); kv->v.u = x; } break;
        case GGUF_VT_I16: { int16_t x; memcpy(&x, raw, 2); kv->v.i = x; } break;
        case GGUF_VT_U32: { uint32_t x; memcpy(&x, raw, 4); kv->v.u = x; } break;
        case GGUF_VT_I32: { int32_t x; memcpy(&x, raw, 4); kv->v.i = x; } break;
        case GGUF_VT_F32: { float x; memcpy(&x, raw, 4); kv->v.f = x; } break;
        case GGUF_VT_BOOL:
            b = raw[0];
            if (b > 1)
                return fail(c, AIOS_ECORRUPT, "key '%s': bool value %u", kv->key, b);
            kv->v.b = b;
            break;
        case GGUF_VT_U64: memcpy(&kv->v.u, raw, 8); break;
        case GGUF_VT_I64: memcpy(&kv->v.i, raw, 8); break;
        case GGUF_VT_F64: memcpy(&kv->v.f, raw, 8); break;
        default: break;
        }
    }
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reject duplicate names in a list of n strings (sorted copy). */
static bool has_duplicates(const char **names, uint64_t n, const char **dup)
{
    const char **s;
    bool found = false;

    if (n < 2)
        return false;
    s = malloc(n * sizeof(*s));
    if (!s)
        return false;
    memcpy(s, names, n * sizeof(*s));
    qsort(s, n, sizeof(*s), cmp_str);
    for (uint64_t i = 1; i < n && !found; i++) {
        if (strcmp(s[i - 1], s[i]) == 0) {
            *dup = s[i];
            found = true;
        }
    }
    free(s);
    return found;
}

typedef struct {
    uint64_t start, end;
    const char *name;
} span;

static int cmp_span(const void *a, const void *b)
{
    const span *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

/* ---- open / close -------------------------------------------------------- */

static int parse(llm_gguf *g, cursor *c)
{
    uint32_t magic;
    uint64_t n_tensors, n_kv;
    const char **names = NULL;
    const char *dup = NULL;
    span *spans = NULL;
    int rc;

    if (!rd(c, &magic, 4) || memcmp(&magic, "GGUF", 4) != 0)
        return fail(c, AIOS_ECORRUPT, "not a GGUF file (bad magic)");
    if (!rd(c, &g->version, 4))
        return fail(c, AIOS_ECORRUPT, "truncated header");
    if (g->version != 2 && g->version != 3)
        return fail(c, AIOS_ENOTSUP, "GGUF version %u is not supported (2 and 3 are)", g->version);
    if (!rd(c, &n_tensors, 8) || !rd(c, &n_kv, 8))
        return fail(c, AIOS_ECORRUPT, "truncated header");
    /* each kv needs >= 8+4 bytes, each tensor info >= 8+4+8+4+8 bytes */
    if (n_kv > c->size / 12 || n_tensors > c->size / 32)
        return fail(c, AIOS_ECORRUPT, "header counts (%llu tensors, %llu keys) exceed the file size",
                    (unsigned long long)n_tensors, (unsigned long long)n_kv);

    g->kv = calloc(n_kv ? n_kv : 1, sizeof(*g->kv));
    g->tensors = calloc(n_tensors ? n_tensors : 1, sizeof(*g->tensors));
    if (!g->kv || !g->tensors)
        return fail(c, AIOS_ENOMEM, "out of memory");

    g->alignment = 32;
    for (uint64_t i = 0; i < n_kv; i++) {
        llm_gguf_kv *kv = &g->kv[i];
        const char *kp;
        uint64_t klen;
        uint32_t t;

        if (!rd_str(c, &kp, &klen))
            return fail(c, AIOS_ECORRUPT, "metadata key %llu runs past end of file", (unsigned long long)i);
        if (klen == 0 || memchr(kp, 0, klen))
            return fail(c, AIOS_ECORRUPT, "metadata key %llu is empty or holds a NUL byte",
                        (unsigned long long)i);
        kv->key = dup_n(kp, klen);
        g->n_kv = i + 1;
        if (!kv->key)
            return fail(c, AIOS_ENOMEM, "out of memory");
        if (!rd(c, &t, 4))
            return fail(c, AIOS_ECORRUPT, "key '%s': truncated type", kv->key);
        if ((rc = read_value(c, kv, t)) < 0)
            return rc;
        if (strcmp(kv->key, "general.alignment") == 0) {
            if (t != GGUF_VT_U32 || kv->v.u == 0 || (kv->v.u & (kv->v.u - 1)) != 0)
                return fail(c, AIOS_ECORRUPT, "general.alignment must be a power-of-two u32");
            g->alignment = kv->v.u;
        }
    }

    names = malloc((n_kv > n_tensors ? n_kv : n_tensors) * sizeof(*names) + 1);
    if (!names)
        return fail(c, AIOS_ENOMEM, "out of memory");
    for (uint64_t i = 0; i < n_kv; i++)
        names[i] = g->kv[i].key;
    if (has_duplicates(names, n_kv, &dup)) {
        rc = fail(c, AIOS_ECORRUPT, "duplicate metadata key '%s'", dup);
        goto out_free_names;
    }

    for (uint64_t i = 0; i < n_tensors; i++) {
        llm_gguf_tensor *t = &g->tensors[i];
        const char *np;
        uint64_t nlen, nel = 1;
        const llm_type_size *ts;

        if (!rd_str(c, &np, &nlen) || nlen == 0 || memchr(np, 0, nlen)) {
            rc = fail(c, AIOS_ECORRUPT, "tensor %llu: bad or truncated name", (unsigned long long)i);
            goto out_free_names;
        }
        t->name = dup_n(np, nlen);
        g->n_tensors = i + 1;
        if (!t->name) {
            rc = fail(c, AIOS_ENOMEM, "out of memory");
            goto out_free_names;
        }
        if (!rd(c, &t->n_dims, 4) || t->n_dims < 1 || t->n_dims > 4) {
            rc = fail(c, AIOS_ECORRUPT, "tensor '%s': bad dimension count", t->name);
            goto out_free_names;
        }
        for (int d = 0; d < 4; d++)
            t->ne[d] = 1;
        for (uint32_t d = 0; d < t->n_dims; d++) {
            uint64_t ne;
            if (!rd(c, &ne, 8) || ne == 0 || ne > (1ull << 40) || nel > (1ull << 50) / ne) {
                rc = fail(c, AIOS_ECORRUPT, "tensor '%s': bad dimension %u", t->name, d);
                goto out_free_names;
            }
            t->ne[d] = (int64_t)ne;
            nel *= ne;
        }
        if (!rd(c, &t->type, 4) || !rd(c, &t->offset, 8)) {
            rc = fail(c, AIOS_ECORRUPT, "tensor '%s': truncated info", t->name);
            goto out_free_names;
        }
        ts = llm_type_size_of(t->type);
        if (!ts) {
            rc = fail(c, AIOS_ENOTSUP, "tensor '%s': unknown tensor type %u", t->name, t->type);
            goto out_free_names;
        }
        if (t->ne[0] % ts->blck != 0) {
            rc = fail(c, AIOS_ECORRUPT, "tensor '%s': row of %lld is not a multiple of the %s block (%u)",
                      t->name, (long long)t->ne[0], ts->name, ts->blck);
            goto out_free_names;
        }
        if (t->offset % g->alignment != 0) {
            rc = fail(c, AIOS_ECORRUPT, "tensor '%s': offset %llu not aligned to %llu", t->name,
                      (unsigned long long)t->offset, (unsigned long long)g->alignment);
            goto out_free_names;
        }
        t->size = nel / ts->blck * ts->bytes;
        names[i] = t->name;
    }
    if (has_duplicates(names, n_tensors, &dup)) {
        rc = fail(c, AIOS_ECORRUPT, "duplicate tensor name '%s'", dup);
        goto out_free_names;
    }

    g->data_offset = (c->pos + g->alignment - 1) / g->alignment * g->alignment;
    if (n_tensors > 0 && g->data_offset > c->size) {
        rc = fail(c, AIOS_ECORRUPT, "file ends before the tensor data section");
        goto out_free_names;
    }
    spans = malloc((n_tensors ? n_tensors : 1) * sizeof(*spans));
    if (!spans) {
        rc = fail(c, AIOS_ENOMEM, "out of memory");
        goto out_free_names;
    }
    for (uint64_t i = 0; i < n_tensors; i++) {
        llm_gguf_tensor *t = &g->tensors[i];
        uint64_t room = c->size - g->data_offset;

        if (t->offset > room || t->size > room - t->offset) {
            rc = fail(c, AIOS_ECORRUPT, "tensor '%s': data past end of file (file truncated?)", t->name);
            goto out_free_spans;
        }
        t->data = c->base + g->data_offset + t->offset;
        spans[i] = (span){t->offset, t->offset + t->size, t->name};
    }
    qsort(spans, n_tensors, sizeof(*spans), cmp_span);
    for (uint64_t i = 1; i < n_tensors; i++) {
        if (spans[i].start < spans[i - 1].end) {
            rc = fail(c, AIOS_ECORRUPT, "tensors '%s' and '%s' overlap", spans[i - 1].name, spans[i].name);
            goto out_free_spans;
        }
    }
    rc = 0;
out_free_spans:
    free(spans);
out_free_names:
    free(names);
    return rc;
}

int llm_gguf_open(const char *path, llm_gguf **out, char *err, size_t errlen)
{
    llm_gguf *g;
    struct stat st;
    cursor c = {0};
    int fd, rc;

    *out = NULL;
    c.err = err;
    c.errlen = errlen;
    if (err && errlen)
        err[0] = '\0';
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fail(&c, aios_from_errno(errno), "cannot open '%s': %s", path, strerror(errno));
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return fail(&c, AIOS_EINVAL, "'%s' is not a regular file", path);
    }
    if (st.st_size < 24) {
        close(fd);
        return fail(&c, AIOS_ECORRUPT, "'%s' is too short to be a GGUF file", path);
    }
    g = calloc(1, sizeof(*g));
    if (!g) {
        close(fd);
        return fail(&c, AIOS_ENOMEM, "out of memory");
    }
    g->map_size = (size_t)st.st_size;
    g->map = mmap(NULL, g->map_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (g->map == MAP_FAILED) {
        g->map = NULL;
        free(g);
        return fail(&c, AIOS_EIO, "cannot map '%s': %s", path, strerror(errno));
    }
    g->path = strdup(path);
    c.base = g->map;
    c.size = g->map_size;
    rc = g->path ? parse(g, &c) : AIOS_ENOMEM;
    if (rc < 0) {
        llm_gguf_close(g);
        return rc;
    }
    *out = g;
    return 0;
}

void llm_gguf_close(llm_gguf *g)
{
    if (!g)
        return;
    for (uint64_t i = 0; i < g->n_kv; i++) {
        free((char *)g->kv[i].key);
        if (g->kv[i].type == GGUF_VT_ARRAY && g->kv[i].v.arr.type == GGUF_VT_STRING)
            free(g->kv[i].v.arr.str_off);
    }
    for (uint64_t i = 0; i < g->n_tensors; i++)
        free((char *)g->tensors[i].name);
    free(g->kv);
    free(g->tensors);
    if (g->map)
        munmap(g->map, g->map_size);
    free(g->path);
    free(g);
}

/* ---- lookups ------------------------------------------------------------- */

const llm_gguf_kv *llm_gguf_find(const llm_gguf *g, const char *key)
{
    for (uint64_t i = 0; i < g->n_kv; i++)
        if (strcmp(g->kv[i].key, key) == 0)
            return &g->kv[i];
    return NULL;
}

const llm_gguf_tensor *llm_gguf_tensor_find(const llm_gguf *g, const char *name)
{
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if (strcmp(g->tensors[i].name, name) == 0)
            return &g->tensors[i];
    return NULL;
}

static bool is_unsigned(uint32_t t)
{
    return t == GGUF_VT_U8 || t == GGUF_VT_U16 || t == GGUF_VT_U32 || t == GGUF_VT_U64;
}

static bool is_signed(uint32_t t)
{
    return t == GGUF_VT_I8 || t == GGUF_VT_I16 || t == GGUF_VT_I32 || t == GGUF_VT_I64;
}

bool llm_gguf_get_u64(const llm_gguf *g, const char *key, uint64_t *out)
{
    const llm_gguf_kv *kv = llm_gguf_find(g, key);

    if (!kv)
        return false;
    if (is_unsigned(kv->type)) {
        *out = kv->v.u;
        return true;
    }
    if (is_signed(kv->type) && kv->v.i >= 0) {
        *out = (uint64_t)kv->v.i;
        return true;
    }
    return false;
}

bool llm_gguf_get_i64(const llm_gguf *g, const char *key, int64_t *out)
{
    const llm_gguf_kv *kv = llm_gguf_find(g, key);

    if (!kv)
        return false;
    if (is_signed(kv->type)) {
        *out = kv->v.i;
        return true;
    }
    if (is_unsigned(kv->type) && kv->v.u <= (uint64_t)INT64_MAX) {
        *out = (int64_t)kv->v.u;
        return true;
    }
    return false;
}

bool llm_gguf_get_f64(const llm_gguf *g, const char *key, double *out)
{
    const llm_gguf_kv *kv = llm_gguf_find(g, key);

    if (!kv)
        return false;
    if (kv->type == GGUF_VT_F32 || kv->type == GGUF_VT_F64) {
        *out = kv->v.f;
        return true;
    }
    if (is_unsigned(kv->type)) {
        *out = (double)kv->v.u;
        return true;
    }
    if (is_signed(kv->type)) {
        *out = (double)kv->v.i;
        return true;
    }
    return false;
}

bool llm_gguf_get_bool(const llm_gguf *g, const char *key, bool *out)
{
    const llm_gguf_kv *kv = llm_gguf_find(g, key);

    if (!kv || kv->type != GGUF_VT_BOOL)
        return false;
    *out = kv->v.b;
    return true;
}

bool llm_gguf_get_str(const llm_gguf *g, const char *key, const char **ptr, uint64_t *len)
{
    const llm_gguf_kv *kv = llm_gguf_find(g, key);

    if (!kv || kv->type != GGUF_VT_STRING)
        return false;
    *ptr = kv->v.str.ptr;
    *len = kv->v.str.len;
    return true;
}

char *llm_gguf_dup_str(const llm_gguf *g, const char *key)
{
    const char *p;
    uint64_t n;

    if (!llm_gguf_get_str(g, key, &p, &n))
        return NULL;
    return dup_n(p, n);
}

const llm_gguf_kv *llm_gguf_arr(const llm_gguf *g, const char *key, int elem_type)
{
    const llm_gguf_kv *kv = llm_gguf_find(g, key);

    if (!kv || kv->type != GGUF_VT_ARRAY)
        return NULL;
    if (elem_type >= 0 && kv->v.arr.type != (uint32_t)elem_type)
        return NULL;
    return kv;
}

bool llm_gguf_arr_str(const llm_gguf_kv *kv, uint64_t i, const char **ptr, uint64_t *len)
{
    const uint8_t *base;
    uint64_t n;

    if (kv->type != GGUF_VT_ARRAY || kv->v.arr.type != GGUF_VT_STRING || i >= kv->v.arr.n)
        return false;
    /* str_off holds offsets from the start of the mapping; data points at
     * the first string's length prefix, whose offset is str_off[0] */
    base = kv->v.arr.data - kv->v.arr.str_off[0];
    memcpy(&n, base + kv->v.arr.str_off[i], 8);
    *ptr = (const char *)base + kv->v.arr.str_off[i] + 8;
    *len = n;
    return true;
}

/* Read element i of a fixed-size array as the widest type of its kind. */
static bool arr_elem(const llm_gguf_kv *kv, uint64_t i, uint64_t *u, int64_t *s, double *f, int *kind)
{
    uint32_t t = kv->v.arr.type;
    const uint8_t *p;

    if (kv->type != GGUF_VT_ARRAY || t == GGUF_VT_STRING || i >= kv->v.arr.n)
        return false;
    p = kv->v.arr.data + i * vtype_size[t];
    *kind = 0;
    switch (t) {
    case GGUF_VT_U8: case GGUF_VT_BOOL: *u = p[0]; break;
    case GGUF_VT_I8: *s = (int8_t)p[0]; *kind = 1; break;
    case GGUF_VT_U16: { uint16_t x; memcpy(&x, p, 2); *u = x; } break;
    case GGUF_VT_I16: { int16_t x; memcpy(&x, p, 2); *s = x; *kind = 1; } break;
    case GGUF_VT_U32: { uint32_t x; memcpy(&x, p, 4); *u = x; } break;
    case GGUF_VT_I32: { int32_t x; memcpy(&x, p, 4); *s = x; *kind = 1; } break;
    case GGUF_VT_U64: memcpy(u, p, 8); break;
    case GGUF_VT_I64: memcpy(s, p, 8); *kind = 1; break;
    case GGUF_VT_F32: { float x; memcpy(&x, p, 4); *f = x; *kind = 2; } break;
    case GGUF_VT_F64: memcpy(f, p, 8); *kind = 2; break;
    default: return false;
    }
    return true;
}

double llm_gguf_arr_f64(const llm_gguf_kv *kv, uint64_t i)
{
    uint64_t u = 0;
    int64_t s = 0;
    double f = 0;
    int kind;

    if (!arr_elem(kv, i, &u, &s, &f, &kind))
        return 0.0;
    return kind == 2 ? f : kind == 1 ? (double)s : (double)u;
}

int64_t llm_gguf_arr_i64(const llm_gguf_kv *kv, uint64_t i)
{
    uint64_t u = 0;
    int64_t s = 0;
    double f = 0;
    int kind;

    if (!arr_elem(kv, i, &u, &s, &f, &kind))
        return 0;
    return kind == 2 ? (int64_t)f : kind == 1 ? s : (int64_t)u;
}

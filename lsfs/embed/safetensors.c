/*
 * safetensors.c - read-only access to a .safetensors weight file.
 *
 * Format: an 8-byte little-endian header length N, N bytes of JSON mapping
 * each tensor name to {"dtype", "shape", "data_offsets": [begin, end]}
 * (offsets relative to the byte after the header; an optional
 * "__metadata__" entry holds strings), then the raw little-endian data.
 *
 * Owns the file mapping and the parsed tensor table; both are immutable after
 * lsfs__st_open(), so any thread may read them.  Every offset, shape and
 * size is checked against the file so a corrupt file is refused, not read
 * out of bounds.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "aios/log.h"
#include "lsfs/embed/embed_int.h"

/* Bytes per element of the dtypes we accept. */
static const struct {
    const char *name;
    size_t size;
} dtypes[] = {
    {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"F64", 8}, {"I64", 8}, {"I32", 4}, {"I8", 1}, {"U8", 1},
};

static size_t dtype_size(const char *name)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (strcmp(dtypes[i].name, name) == 0)
            return dtypes[i].size;
    return 0;
}

/* Fill t from one header entry; AIOS_ECORRUPT when anything is off. */
static int parse_tensor(const char *name, json_t *desc, const uint8_t *data, size_t data_len,
                        lsfs__st_tensor *t)
{
    const char *dtype = json_string_value(json_object_get(desc, "dtype"));
    json_t *shape = json_object_get(desc, "shape");
    json_t *offs = json_object_get(desc, "data_offsets");
    if (!dtype || !json_is_array(shape) || !json_is_array(offs) || json_array_size(offs) != 2 ||
        strlen(name) >= sizeof t->name || strlen(dtype) >= sizeof t->dtype ||
        json_array_size(shape) > 4)
        return AIOS_ECORRUPT;
    size_t esize = dtype_size(dtype);
    if (esize == 0)
        return AIOS_ECORRUPT;
    json_int_t b = json_integer_value(json_array_get(offs, 0));
    json_int_t e = json_integer_value(json_array_get(offs, 1));
    if (!json_is_integer(json_array_get(offs, 0)) || !json_is_integer(json_array_get(offs, 1)) ||
        b < 0 || e < b || (size_t)e > data_len)
        return AIOS_ECORRUPT;
    size_t count = 1;
    t->n_dims = (int)json_array_size(shape);
    for (int i = 0; i < t->n_dims; i++) {
        json_t *d = json_array_get(shape, (size_t)i);
        if (!json_is_integer(d) || json_integer_value(d) < 0 ||
            json_integer_value(d) > (json_int_t)1 << 40)
            return AIOS_ECORRUPT;
        t->shape[i] = json_integer_value(d);
        if (__builtin_mul_overflow(count, (size_t)t->shape[i], &count))
            return AIOS_ECORRUPT;
    }
    if (__builtin_mul_overflow(count, esize, &count) || count != (size_t)(e - b))
        return AIOS_ECORRUPT;
    if (((uintptr_t)(data + b)) % esize != 0)
        return AIOS_ECORRUPT;   /* misaligned data cannot be read in place */
    snprintf(t->name, sizeof t->name, "%s", name);
    snprintf(t->dtype, sizeof t->dtype, "%s", dtype);
    t->data = data + b;
    t->nbytes = count;
    return 0;
}

int lsfs__st_open(const char *path, lsfs__safetensors **out)
{
    int rc, fd;
    struct stat sb;
    json_t *hdr = NULL;
    lsfs__safetensors *st = NULL;
    *out = NULL;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = errno == ENOENT ? AIOS_ENOENT : aios_from_errno(errno);
        aios_log(AIOS_LOG_ERROR, "embed", "cannot open '%s': %s", path, strerror(errno));
        return rc;
    }
    rc = AIOS_ENOMEM;
    st = calloc(1, sizeof *st);
    if (!st)
        goto out_close;
    if (fstat(fd, &sb) != 0) {
        rc = aios_from_errno(errno);
        goto out_free;
    }
    if (sb.st_size < 8) {
        rc = AIOS_ECORRUPT;
        goto out_bad;
    }
    st->map_len = (size_t)sb.st_size;
    st->map = mmap(NULL, st->map_len, PROT_READ, MAP_PRIVATE, fd, 0);
    if (st->map == MAP_FAILED) {
        st->map = NULL;
        rc = aios_from_errno(errno);
        goto out_free;
    }

    const uint8_t *base = st->map;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = (hlen << 8) | base[i];
    if (hlen == 0 || hlen > st->map_len - 8 || hlen > (100u << 20)) {
        rc = AIOS_ECORRUPT;
        goto out_bad;
    }
    json_error_t jerr;
    hdr = json_loadb((const char *)base + 8, (size_t)hlen, 0, &jerr);
    if (!json_is_object(hdr)) {
        rc = AIOS_ECORRUPT;
        goto out_bad;
    }
    st->tensors = calloc(json_object_size(hdr) + 1, sizeof *st->tensors);
    if (!st->tensors)
        goto out_free;
    const uint8_t *data = base + 8 + hlen;
    size_t data_len = st->map_len - 8 - (size_t)hlen;
    const char *name;
    json_t *desc;
    json_object_foreach(hdr, name, desc) {
        if (strcmp(name, "__metadata__") == 0)
            continue;
        rc = parse_tensor(name, desc, data, data_len, &st->tensors[st->n_tensors]);
        if (rc < 0) {
            aios_log(AIOS_LOG_ERROR, "embed", "'%s': bad tensor entry '%s'", path, name);
            goto out_bad;
        }
        st->n_tensors++;
    }
    json_decref(hdr);
    close(fd);
    *out = st;
    return 0;

out_bad:
    aios_log(AIOS_LOG_ERROR, "embed", "'%s' is not a valid safetensors file", path);
out_free:
    json_decref(hdr);
    lsfs__st_close(st);
out_close:
    close(fd);
    return rc;
}

void lsfs__st_close(lsfs__safetensors *st)
{
    if (!st)
        return;
    if (st->map)
        munmap(st->map, st->map_len);
    free(st->tensors);
    free(st);
}

const float *lsfs__st_f32(const lsfs__safetensors *st, const char *name, int n_dims,
                          const int64_t *shape)
{
    for (size_t i = 0; i < st->n_tensors; i++) {
        const lsfs__st_tensor *t = &st->tensors[i];
        if (strcmp(t->name, name) != 0)
            continue;
        bool ok = strcmp(t->dtype, "F32") == 0 && t->n_dims == n_dims;
        for (int d = 0; ok && d < n_dims; d++)
            ok = t->shape[d] == shape[d];
        if (!ok) {
            aios_log(AIOS_LOG_ERROR, "embed", "tensor '%s' has an unexpected type or shape", name);
            return NULL;
        }
        return t->data;
    }
    aios_log(AIOS_LOG_ERROR, "embed", "tensor '%s' is missing", name);
    return NULL;
}

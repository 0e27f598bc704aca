/*
 * gguf.h - read-only access to GGUF v2/v3 model files over mmap (private to
 * llmcore).
 *
 * llm_gguf_open() maps the file and validates everything before anyone uses
 * it: magic, version, counts against the file size, every string and array
 * length, metadata types, tensor dims, types, offsets, alignment and that
 * every tensor's bytes lie inside the file.  After a successful open, all
 * accessors are bounds-safe and never fail on a corrupt file.  A failed open
 * returns a negative AIOS_E* code and a message naming the problem.
 *
 * The handle is immutable after open; any thread may read it.
 */
#ifndef LLM_GGUF_H
#define LLM_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Metadata value types (GGUF spec numbering). */
typedef enum {
    GGUF_VT_U8 = 0,
    GGUF_VT_I8 = 1,
    GGUF_VT_U16 = 2,
    GGUF_VT_I16 = 3,
    GGUF_VT_U32 = 4,
    GGUF_VT_I32 = 5,
    GGUF_VT_F32 = 6,
    GGUF_VT_BOOL = 7,
    GGUF_VT_STRING = 8,
    GGUF_VT_ARRAY = 9,
    GGUF_VT_U64 = 10,
    GGUF_VT_I64 = 11,
    GGUF_VT_F64 = 12,
    GGUF_VT_COUNT
} llm_gguf_vtype;

/* Tensor element types (ggml numbering, as stored in the file). */
typedef enum {
    LLM_T_F32 = 0,
    LLM_T_F16 = 1,
    LLM_T_Q4_0 = 2,
    LLM_T_Q4_1 = 3,
    LLM_T_Q5_0 = 6,
    LLM_T_Q5_1 = 7,
    LLM_T_Q8_0 = 8,
    LLM_T_Q8_1 = 9,
    LLM_T_Q2_K = 10,
    LLM_T_Q3_K = 11,
    LLM_T_Q4_K = 12,
    LLM_T_Q5_K = 13,
    LLM_T_Q6_K = 14,
    LLM_T_Q8_K = 15,
    LLM_T_I8 = 24,
    LLM_T_I16 = 25,
    LLM_T_I32 = 26,
    LLM_T_I64 = 27,
    LLM_T_F64 = 28,
    LLM_T_BF16 = 30,
    LLM_T_COUNT = 40
} llm_type;

/* Size facts of a tensor type: weights per block and bytes per block. */
typedef struct llm_type_size {
    const char *name;   /* "Q4_1"; NULL for ids no GGUF file should hold */
    uint32_t blck;      /* elements per block */
    uint32_t bytes;     /* bytes per block */
} llm_type_size;

/* The size row of a type, or NULL for an unknown id. */
const llm_type_size *llm_type_size_of(uint32_t type);

/* Bytes taken by n elements of type (n must be a multiple of the block). */
uint64_t llm_type_row_bytes(uint32_t type, uint64_t n);

/* One metadata entry.  Strings are not NUL-terminated in the file, so they
 * are given as pointer + length into the mapping. */
typedef struct llm_gguf_kv {
    const char *key;          /* owned, NUL-terminated copy */
    uint32_t type;            /* llm_gguf_vtype */
    union {
        uint64_t u;
        int64_t i;
        double f;
        bool b;
        struct {
            const char *ptr;
            uint64_t len;
        } str;
        struct {
            uint32_t type;          /* element type */
            uint64_t n;             /* element count */
            const uint8_t *data;    /* fixed-size elements, little-endian */
            uint64_t *str_off;      /* for string arrays: offset of each length prefix */
        } arr;
    } v;
} llm_gguf_kv;

typedef struct llm_gguf_tensor {
    const char *name;     /* owned, NUL-terminated copy */
    uint32_t n_dims;      /* 1..4 */
    int64_t ne[4];        /* ne[0] is the contiguous dimension; unused dims are 1 */
    uint32_t type;        /* llm_type */
    uint64_t offset;      /* relative to the data section */
    uint64_t size;        /* bytes */
    const void *data;     /* inside the mapping */
} llm_gguf_tensor;

typedef struct llm_gguf {
    char *path;
    void *map;
    size_t map_size;
    uint32_t version;
    uint64_t alignment;
    uint64_t data_offset;
    uint64_t n_kv;
    llm_gguf_kv *kv;
    uint64_t n_tensors;
    llm_gguf_tensor *tensors;
} llm_gguf;

/*
 * Map and validate path.  On failure returns a negative code (AIOS_ENOENT,
 * AIOS_ECORRUPT, AIOS_ENOTSUP, AIOS_ENOMEM, AIOS_EIO) and writes a message
 * such as "tensor 'blk.3.ffn_up.weight': data past end of file" to err.
 */
int llm_gguf_open(const char *path, llm_gguf **out, char *err, size_t errlen);
void llm_gguf_close(llm_gguf *g);

/* Lookup by key / name; NULL when absent. */
const llm_gguf_kv *llm_gguf_find(const llm_gguf *g, const char *key);
const llm_gguf_tensor *llm_gguf_tensor_find(const llm_gguf *g, const char *name);

/* Typed getters: return true and set *out when the key exists and its value
 * converts losslessly (any integer type to u64/i64 within range, f32/f64 to
 * double). */
bool llm_gguf_get_u64(const llm_gguf *g, const char *key, uint64_t *out);
bool llm_gguf_get_i64(const llm_gguf *g, const char *key, int64_t *out);
bool llm_gguf_get_f64(const llm_gguf *g, const char *key, double *out);
bool llm_gguf_get_bool(const llm_gguf *g, const char *key, bool *out);
/* String value as pointer + length (not NUL-terminated). */
bool llm_gguf_get_str(const llm_gguf *g, const char *key, const char **ptr, uint64_t *len);
/* A malloc'd NUL-terminated copy of a string value, or NULL. */
char *llm_gguf_dup_str(const llm_gguf *g, const char *key);

/* Array access.  llm_gguf_arr returns the array entry when key holds an
 * array of elem_type (any element type when elem_type < 0). */
const llm_gguf_kv *llm_gguf_arr(const llm_gguf *g, const char *key, int elem_type);
/* i-th string of a string array (bounds-checked; false when out of range). */
bool llm_gguf_arr_str(const llm_gguf_kv *kv, uint64_t i, const char **ptr, uint64_t *len);
/* i-th numeric element of a fixed-size array converted to double / int64. */
double llm_gguf_arr_f64(const llm_gguf_kv *kv, uint64_t i);
int64_t llm_gguf_arr_i64(const llm_gguf_kv *kv, uint64_t i);

#endif /* LLM_GGUF_H */

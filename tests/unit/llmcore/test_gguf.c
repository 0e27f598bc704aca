/*
 * test_gguf.c - the GGUF reader on the real default model and on small
 * files built here, then truncated and corrupted byte by byte: every bad
 * file must be refused with a message, never crash.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aios/error.h"
#include "llmcore/gguf.h"

static const char *model_path(void)
{
    const char *p = getenv("AIOS_TEST_MODEL");
    static char buf[1024];

    if (p && *p)
        return p;
    snprintf(buf, sizeof(buf), "%s/.local/share/aios/models/SmolLM2-135M-Instruct.Q4_1.gguf",
             getenv("HOME") ? getenv("HOME") : "/root");
    return buf;
}

Test(gguf, default_model, .timeout = 30)
{
    llm_gguf *g;
    char err[256];
    uint64_t u;
    const llm_gguf_kv *tok;
    const char *s;
    uint64_t n;
    int rc = llm_gguf_open(model_path(), &g, err, sizeof(err));

    cr_assert_eq(rc, 0, "open %s: %s", model_path(), err);
    cr_assert_eq(g->version, 3);
    cr_assert_eq(g->n_tensors, 272);
    cr_assert(llm_gguf_get_u64(g, "llama.block_count", &u));
    cr_assert_eq(u, 30);
    cr_assert(llm_gguf_get_u64(g, "llama.embedding_length", &u));
    cr_assert_eq(u, 576);
    tok = llm_gguf_arr(g, "tokenizer.ggml.tokens", GGUF_VT_STRING);
    cr_assert_not_null(tok);
    cr_assert_eq(tok->v.arr.n, 49152);
    cr_assert(llm_gguf_arr_str(tok, 1, &s, &n));
    cr_assert_eq(n, strlen("<|im_start|>"));
    cr_assert(memcmp(s, "<|im_start|>", n) == 0);
    cr_assert_not(llm_gguf_arr_str(tok, 49152, &s, &n));
    const llm_gguf_tensor *t = llm_gguf_tensor_find(g, "token_embd.weight");
    cr_assert_not_null(t);
    cr_assert_eq(t->type, LLM_T_Q8_0);
    cr_assert_eq(t->ne[0], 576);
    cr_assert_eq(t->ne[1], 49152);
    cr_assert_eq(t->size, 576ull / 32 * 34 * 49152);
    llm_gguf_close(g);
}

/* ---- a tiny file writer ---- */

typedef struct {
    unsigned char *b;
    size_t n, cap;
} buf;

static void put(buf *b, const void *p, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2;
        b->b = realloc(b->b, b->cap);
    }
    memcpy(b->b + b->n, p, n);
    b->n += n;
}
static void put_u32(buf *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(buf *b, uint64_t v) { put(b, &v, 8); }
static void put_str(buf *b, const char *s) { put_u64(b, strlen(s)); put(b, s, strlen(s)); }

/* Two tensors (F32 [4], Q8_0 [32x2]) and a few keys of every kind. */
static buf tiny_file(void)
{
    buf b = {0};
    float f[4] = {1, 2, 3, 4};
    unsigned char q[68];

    put(&b, "GGUF", 4);
    put_u32(&b, 3);
    put_u64(&b, 2);   /* tensors */
    put_u64(&b, 4);   /* kvs */
    put_str(&b, "general.architecture"); put_u32(&b, GGUF_VT_STRING); put_str(&b, "llama");
    put_str(&b, "llama.block_count"); put_u32(&b, GGUF_VT_U32); put_u32(&b, 2);
    put_str(&b, "tokenizer.ggml.tokens"); put_u32(&b, GGUF_VT_ARRAY); put_u32(&b, GGUF_VT_STRING);
    put_u64(&b, 3); put_str(&b, "a"); put_str(&b, "bc"); put_str(&b, "");
    put_str(&b, "tokenizer.ggml.scores"); put_u32(&b, GGUF_VT_ARRAY); put_u32(&b, GGUF_VT_F32);
    put_u64(&b, 2); put(&b, f, 8);
    put_str(&b, "a.weight"); put_u32(&b, 1); put_u64(&b, 4); put_u32(&b, LLM_T_F32); put_u64(&b, 0);
    put_str(&b, "b.weight"); put_u32(&b, 2); put_u64(&b, 32); put_u64(&b, 2); put_u32(&b, LLM_T_Q8_0);
    put_u64(&b, 32);
    while (b.n % 32)
        put(&b, "", 1);
    put(&b, f, 16);
    put(&b, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16);
    for (int i = 0; i < 68; i++)
        q[i] = (unsigned char)i;
    put(&b, q, 68);
    return b;
}

static int open_bytes(const buf *b, llm_gguf **g, char *err, size_t errlen)
{
    char path[] = "/tmp/aios-gguf-XXXXXX";
    int fd = mkstemp(path), rc;

    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, b->b, b->n), (ssize_t)b->n);
    close(fd);
    rc = llm_gguf_open(path, g, err, errlen);
    unlink(path);
    return rc;
}

Test(gguf, tiny_valid, .timeout = 10)
{
    buf b = tiny_file();
    llm_gguf *g;
    char err[256];
    const char *s;
    uint64_t n;

    cr_assert_eq(open_bytes(&b, &g, err, sizeof(err)), 0, "%s", err);
    const llm_gguf_kv *kv = llm_gguf_arr(g, "tokenizer.ggml.tokens", GGUF_VT_STRING);
    cr_assert(llm_gguf_arr_str(kv, 1, &s, &n) && n == 2 && memcmp(s, "bc", 2) == 0);
    cr_assert(llm_gguf_arr_str(kv, 2, &s, &n) && n == 0);
    kv = llm_gguf_arr(g, "tokenizer.ggml.scores", GGUF_VT_F32);
    cr_assert_float_eq(llm_gguf_arr_f64(kv, 1), 2.0, 1e-9);
    cr_assert_eq(llm_gguf_tensor_find(g, "b.weight")->size, 68);
    cr_assert_eq(((const float *)llm_gguf_tensor_find(g, "a.weight")->data)[3], 4.0f);
    llm_gguf_close(g);
    free(b.b);
}

Test(gguf, every_truncation_refused, .timeout = 30)
{
    buf b = tiny_file();
    char err[256];

    for (size_t len = 0; len < b.n; len++) {
        buf t = {b.b, len, len};
        llm_gguf *g = NULL;
        int rc = open_bytes(&t, &g, err, sizeof(err));
        cr_assert(rc < 0, "truncated to %zu bytes was accepted", len);
        cr_assert_null(g);
        cr_assert(err[0] != '\0', "no message at %zu", len);
    }
    free(b.b);
}

Test(gguf, byte_corruption_never_crashes, .timeout = 60)
{
    buf b = tiny_file();
    char err[256];
    size_t header_end = b.n - 16 - 16 - 68; /* corrupt only the header part */
    static const unsigned char vals[] = {0x00, 0x01, 0x7f, 0x80, 0xff};

    for (size_t i = 0; i < header_end; i++) {
        for (size_t v = 0; v < sizeof(vals); v++) {
            unsigned char old = b.b[i];
            llm_gguf *g = NULL;
            b.b[i] = vals[v];
            if (open_bytes(&b, &g, err, sizeof(err)) == 0) {
                /* still valid: every accessor must stay in bounds */
                for (uint64_t k = 0; k < g->n_kv; k++)
                    if (g->kv[k].type == GGUF_VT_ARRAY && g->kv[k].v.arr.type == GGUF_VT_STRING) {
                        const char *s;
                        uint64_t n;
                        for (uint64_t j = 0; j < g->kv[k].v.arr.n; j++)
                            cr_assert(llm_gguf_arr_str(&g->kv[k], j, &s, &n));
                    }
                llm_gguf_close(g);
            } else {
                cr_assert_null(g);
            }
            b.b[i] = old;
        }
    }
    free(b.b);
}

Test(gguf, messages_name_the_problem, .timeout = 10)
{
    buf b = tiny_file();
    llm_gguf *g;
    char err[256];

    memcpy(b.b, "GGUX", 4);
    cr_assert_eq(open_bytes(&b, &g, err, sizeof(err)), AIOS_ECORRUPT);
    cr_assert(strstr(err, "magic"), "%s", err);
    memcpy(b.b, "GGUF", 4);
    b.b[4] = 9;
    cr_assert_eq(open_bytes(&b, &g, err, sizeof(err)), AIOS_ENOTSUP);
    cr_assert(strstr(err, "version 9"), "%s", err);
    b.b[4] = 3;
    buf t = {b.b, b.n - 10, b.n};
    cr_assert_eq(open_bytes(&t, &g, err, sizeof(err)), AIOS_ECORRUPT);
    cr_assert(strstr(err, "b.weight") && strstr(err, "past end"), "%s", err);
    cr_assert_eq(llm_gguf_open("/nonexistent/x.gguf", &g, err, sizeof(err)), AIOS_ENOENT);
    free(b.b);
}

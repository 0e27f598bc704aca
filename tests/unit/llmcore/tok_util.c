/*
 * tok_util.c - see tok_util.h.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "llmcore/gguf.h"
#include "tok_util.h"

const char *tu_data_dir(void)
{
    static char buf[1024];
    const char *p = getenv("AIOS_DATA");

    if (p && *p)
        return p;
    p = getenv("XDG_DATA_HOME");
    if (p && *p) {
        snprintf(buf, sizeof(buf), "%s/aios", p);
        return buf;
    }
    snprintf(buf, sizeof(buf), "%s/.local/share/aios", getenv("HOME") ? getenv("HOME") : "/root");
    return buf;
}

const char *tu_data_path(const char *rel)
{
    static char buf[2048];

    snprintf(buf, sizeof(buf), "%s/%s", tu_data_dir(), rel);
    return buf;
}

static llm_tokenizer *open_tok(const char *path)
{
    llm_gguf *g;
    llm_tokenizer *t;
    char err[256];

    if (access(path, R_OK) != 0)
        cr_assert_fail("missing test file %s: run `make model` (it fetches the model and the "
                 "tokenizer vocabularies)", path);
    if (llm_gguf_open(path, &g, err, sizeof(err)) != 0)
        cr_assert_fail("cannot open %s: %s", path, err);
    if (llm_tokenizer_from_gguf(g, &t, err, sizeof(err)) != 0)
        cr_assert_fail("cannot build the tokenizer of %s: %s", path, err);
    llm_gguf_close(g);
    return t;
}

llm_tokenizer *tu_tokenizer(const char *rel)
{
    return open_tok(tu_data_path(rel));
}

llm_tokenizer *tu_default_tokenizer(void)
{
    const char *p = getenv("AIOS_TEST_MODEL");

    if (p && *p)
        return open_tok(p);
    return tu_tokenizer("models/SmolLM2-135M-Instruct.Q4_1.gguf");
}

json_t *tu_fixture(const char *name)
{
    char path[2048], dir[1024];
    const char *slash;
    json_error_t jerr;
    json_t *j;

    /* fixtures live beside this source file's tree: __FILE__ is relative
     * to the repository root the tests are built and run from */
    slash = strrchr(__FILE__, '/');
    snprintf(dir, sizeof(dir), "%.*s", (int)(slash ? slash - __FILE__ : 0), __FILE__);
    snprintf(path, sizeof(path), "%s%s../../reference/tokenizer/%s", dir, *dir ? "/" : "", name);
    j = json_load_file(path, 0, &jerr);
    if (!j)
        cr_assert_fail("cannot read fixture %s: %s (line %d)", path, jerr.text, jerr.line);
    return j;
}

char *tu_unhex(const char *hex, size_t *len)
{
    size_t n = strlen(hex) / 2;
    char *out = malloc(n + 1);

    cr_assert_not_null(out);
    for (size_t i = 0; i < n; i++) {
        unsigned v;

        sscanf(hex + 2 * i, "%2x", &v);
        out[i] = (char)v;
    }
    out[n] = '\0';
    *len = n;
    return out;
}

int tu_ids_equal(const int32_t *a, size_t na, const json_t *expect, char *msg, size_t msglen)
{
    size_t n = json_array_size(expect), i;

    for (i = 0; i < na && i < n; i++) {
        if (a[i] != json_integer_value(json_array_get(expect, i)))
            break;
    }
    if (i == na && i == n)
        return 1;
    snprintf(msg, msglen, "first difference at index %zu: got %d of %zu ids, expected %lld of %zu",
             i, i < na ? a[i] : -1, na, i < n ? (long long)json_integer_value(json_array_get(expect, i)) : -1LL,
             n);
    return 0;
}

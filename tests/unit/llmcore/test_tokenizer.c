/*
 * test_tokenizer.c - the tokenizer's behaviour beyond the llama.cpp
 * fixtures: the original tokenizers' own test strings shipped with the
 * vocabularies (.inp/.out), the pre-tokenizer splits, BPE rules on small
 * vocabularies written here as real GGUF files, BOS/EOS rules, errors,
 * round trips, the streaming detokenizer at every split point of
 * multi-byte characters and on invalid UTF-8, and tokenizing from several
 * threads at once.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aios/error.h"
#include "aios/log.h"
#include "llmcore/gguf.h"
#include "llmcore/tokenizer.h"
#include "llmcore/tokenizer_int.h"
#include "llmcore/unicode.h"
#include "tok_util.h"

/* ---- the tokenizers' own test strings ------------------------------------ */

/* ggml-vocab-<name>.gguf.inp holds strings separated by
 * "\n__ggml_vocab_test__\n"; .out one line of ids per string, from the
 * original (Hugging Face) tokenizer. */
static void check_inp_out(const char *name)
{
    char rel[256], *inp, *outp, *line, *save = NULL;
    size_t ni, no, count = 0, bad = 0;
    llm_tokenizer *t;
    const char *sep = "\n__ggml_vocab_test__\n";
    char *p;

    snprintf(rel, sizeof(rel), "vocabs/ggml-vocab-%s.gguf", name);
    t = tu_tokenizer(rel);
    snprintf(rel, sizeof(rel), "vocabs/ggml-vocab-%s.gguf.inp", name);
    {
        FILE *f = fopen(tu_data_path(rel), "rb");

        cr_assert_not_null(f, "missing %s: run `make model`", tu_data_path(rel));
        fseek(f, 0, SEEK_END);
        ni = (size_t)ftell(f);
        fseek(f, 0, SEEK_SET);
        inp = calloc(1, ni + 1);
        cr_assert_eq(fread(inp, 1, ni, f), ni);
        fclose(f);
    }
    snprintf(rel, sizeof(rel), "vocabs/ggml-vocab-%s.gguf.out", name);
    {
        FILE *f = fopen(tu_data_path(rel), "rb");

        cr_assert_not_null(f, "missing %s: run `make model`", tu_data_path(rel));
        fseek(f, 0, SEEK_END);
        no = (size_t)ftell(f);
        fseek(f, 0, SEEK_SET);
        outp = calloc(1, no + 1);
        cr_assert_eq(fread(outp, 1, no, f), no);
        fclose(f);
    }
    p = inp;
    line = outp;
    for (;;) {
        char *end = strstr(p, sep), *nl = strchr(line, '\n');
        size_t len = end ? (size_t)(end - p) : strlen(p), n, k = 0;
        int32_t *ids;
        char *tok;

        if (nl)
            *nl = '\0';
        cr_assert_eq(llm_tokenize(t, p, len, false, false, &ids, &n), 0);
        for (tok = strtok_r(line, " ", &save); tok; tok = strtok_r(NULL, " ", &save), k++) {
            if (k >= n || ids[k] != atoi(tok))
                break;
        }
        if (tok || k != n) {
            if (bad++ < 3)
                cr_log_error("%s: string %zu '%.*s' differs at id %zu", name, count, (int)len, p, k);
        }
        free(ids);
        count++;
        if (!end || !nl)
            break;
        p = end + strlen(sep);
        line = nl + 1;
    }
    cr_expect_eq(bad, 0, "%s: %zu of %zu strings differ from the original tokenizer", name, bad, count);
    cr_expect_geq(count, 40);
    free(inp);
    free(outp);
    llm_tokenizer_free(t);
}

Test(tokenizer, original_tests_gpt2, .timeout = 30) { check_inp_out("gpt-2"); }
Test(tokenizer, original_tests_llama_bpe, .timeout = 30) { check_inp_out("llama-bpe"); }
Test(tokenizer, original_tests_qwen2, .timeout = 30) { check_inp_out("qwen2"); }
Test(tokenizer, original_tests_llama_spm, .timeout = 30) { check_inp_out("llama-spm"); }
Test(tokenizer, original_tests_starcoder, .timeout = 30) { check_inp_out("starcoder"); }

/* ---- pre-tokenizer splits ------------------------------------------------- */

/* Split UTF-8 text with a pre-tokenizer and join the words with '|'. */
static char *split_str(tok_pre_kind kind, const char *s)
{
    uint32_t cps[256];
    size_t n = 0, i, adv, cp0 = 0;
    tok_u32s lens = {0};
    static char out[1024];
    char *o = out;

    for (i = 0; s[i]; i += adv)
        cps[n++] = llm_utf8_decode_lenient((const unsigned char *)s + i, strlen(s) - i, &adv);
    cr_assert_eq(llm__pre_split(kind, cps, n, &lens), 0);
    for (size_t w = 0; w < lens.n; w++) {
        if (w)
            *o++ = '|';
        for (size_t k = cp0; k < cp0 + lens.v[w]; k++)
            o += llm_utf8_encode(cps[k], o);
        cp0 += lens.v[w];
    }
    *o = '\0';
    cr_assert_eq(cp0, n, "words cover %zu of %zu code points", cp0, n);
    free(lens.v);
    return out;
}

Test(tokenizer, pre_tokenizer_splits, .timeout = 10)
{
    static const struct {
        tok_pre_kind kind;
        const char *in, *out;
    } cases[] = {
        {TOK_PRE_GPT2, "Hello world", "Hello| world"},
        {TOK_PRE_GPT2, "Hello  world", "Hello| | world"},
        {TOK_PRE_GPT2, "I'm fine, you're", "I|'m| fine|,| you|'re"},
        {TOK_PRE_GPT2, "I'M", "I|'|M"},                 /* case-sensitive */
        {TOK_PRE_GPT2, " 12345abc", " 12345|abc"},
        {TOK_PRE_GPT2, "a  ", "a|  "},                  /* trailing run stays whole */
        {TOK_PRE_GPT2, "x\n\ny", "x|\n|\n|y"},
        {TOK_PRE_GPT2, "x\n\n y", "x|\n\n| y"},
        {TOK_PRE_GPT2, "?!?! ok", "?!?!| ok"},
        {TOK_PRE_GPT2, "e\xcc\x81t", "e|\xcc\x81|t"},   /* a combining mark is neither L nor N */
        {TOK_PRE_LLAMA3, "I'M HERE", "I|'M| HERE"},     /* case-insensitive */
        {TOK_PRE_LLAMA3, "1234567", "123|456|7"},
        {TOK_PRE_LLAMA3, "$hello", "$hello"},           /* one non-letter joins the letters */
        {TOK_PRE_LLAMA3, "x!!\n\ny", "x|!!\n\n|y"},
        {TOK_PRE_LLAMA3, "a \n\n  b", "a| \n\n| | b"},
        {TOK_PRE_LLAMA3, "a ", "a| "},
        {TOK_PRE_QWEN2, "1234 x", "1|2|3|4| x"},
        {TOK_PRE_SMOLLM, "abc 123", "abc| |1|2|3"},
        {TOK_PRE_SMOLLM, "x\xd9\xa3y", "x|\xd9\xa3|y"}, /* Arabic-Indic digit three */
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        cr_expect_str_eq(split_str(cases[i].kind, cases[i].in), cases[i].out, "case %zu: '%s'", i,
                         cases[i].in);
}

/* ---- small vocabularies written as GGUF files ----------------------------- */

typedef struct {
    unsigned char *b;
    size_t n, cap;
} buf;

static void put(buf *b, const void *p, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->b = realloc(b->b, b->cap);
    }
    memcpy(b->b + b->n, p, n);
    b->n += n;
}
static void put_u32(buf *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(buf *b, uint64_t v) { put(b, &v, 8); }
static void put_str(buf *b, const char *s) { put_u64(b, strlen(s)); put(b, s, strlen(s)); }

static void kv_str(buf *b, const char *k, const char *v)
{
    put_str(b, k);
    put_u32(b, GGUF_VT_STRING);
    put_str(b, v);
}

static void kv_strs(buf *b, const char *k, const char *const *v, size_t n)
{
    put_str(b, k);
    put_u32(b, GGUF_VT_ARRAY);
    put_u32(b, GGUF_VT_STRING);
    put_u64(b, n);
    for (size_t i = 0; i < n; i++)
        put_str(b, v[i]);
}

static void kv_i32s(buf *b, const char *k, const int32_t *v, size_t n)
{
    put_str(b, k);
    put_u32(b, GGUF_VT_ARRAY);
    put_u32(b, GGUF_VT_I32);
    put_u64(b, n);
    put(b, v, n * 4);
}

static void kv_f32s(buf *b, const char *k, const float *v, size_t n)
{
    put_str(b, k);
    put_u32(b, GGUF_VT_ARRAY);
    put_u32(b, GGUF_VT_F32);
    put_u64(b, n);
    put(b, v, n * 4);
}

static void kv_u32(buf *b, const char *k, uint32_t v)
{
    put_str(b, k);
    put_u32(b, GGUF_VT_U32);
    put_u32(b, v);
}

/* Write b to a temporary file, build the tokenizer, remove the file. */
static int build(buf *b, llm_tokenizer **t, char *err, size_t errlen)
{
    char path[] = "/tmp/aios-tok-XXXXXX";
    int fd = mkstemp(path), rc;
    llm_gguf *g;

    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, b->b, b->n), (ssize_t)b->n);
    close(fd);
    rc = llm_gguf_open(path, &g, err, errlen);
    unlink(path);
    cr_assert_eq(rc, 0, "%s", err);
    rc = llm_tokenizer_from_gguf(g, t, err, errlen);
    llm_gguf_close(g);
    free(b->b);
    return rc;
}

static void header(buf *b, uint64_t n_kv)
{
    put(b, "GGUF", 4);
    put_u32(b, 3);
    put_u64(b, 0);
    put_u64(b, n_kv);
}

static void ids_are(const llm_tokenizer *t, const char *text, const int32_t *want, size_t nwant)
{
    int32_t *ids;
    size_t n;

    cr_assert_eq(llm_tokenize(t, text, strlen(text), false, false, &ids, &n), 0);
    cr_expect_eq(n, nwant, "'%s': %zu ids, want %zu", text, n, nwant);
    for (size_t i = 0; i < n && i < nwant; i++)
        cr_expect_eq(ids[i], want[i], "'%s': id %zu is %d, want %d", text, i, ids[i], want[i]);
    free(ids);
}

/* byte-level vocab: a b c (as themselves), Ġ (space), ab, bc, abc, aa,
 * <|end|> (control) */
static llm_tokenizer *tiny_bpe(const char *const *merges, size_t nmerges)
{
    static const char *const toks[] = {"a", "b", "c", "\xc4\xa0", "ab", "bc", "abc", "aa", "<|end|>",
                                       "\xc4\xa0" "a"};
    static const int32_t types[] = {1, 1, 1, 1, 1, 1, 1, 1, 3, 1};
    buf b = {0};
    llm_tokenizer *t;
    char err[256];

    header(&b, 6);
    kv_str(&b, "tokenizer.ggml.model", "gpt2");
    kv_str(&b, "tokenizer.ggml.pre", "gpt-2");
    kv_strs(&b, "tokenizer.ggml.tokens", toks, 10);
    kv_i32s(&b, "tokenizer.ggml.token_type", types, 10);
    kv_strs(&b, "tokenizer.ggml.merges", merges, nmerges);
    kv_u32(&b, "tokenizer.ggml.eos_token_id", 8);
    cr_assert_eq(build(&b, &t, err, sizeof(err)), 0, "%s", err);
    return t;
}

Test(tokenizer, bpe_merge_order, .timeout = 10)
{
    /* "b c" ranks before "a b": abc -> a + bc; once both exist "ab c"
     * does not apply */
    static const char *const m1[] = {"b c", "a b", "ab c"};
    static const char *const m2[] = {"a b", "b c", "ab c"};
    static const char *const m3[] = {"a a"};
    static const char *const m4[] = {"\xc4\xa0 a"};
    llm_tokenizer *t = tiny_bpe(m1, 3);

    ids_are(t, "abc", (int32_t[]){0, 5}, 2);
    llm_tokenizer_free(t);
    t = tiny_bpe(m2, 3);
    ids_are(t, "abc", (int32_t[]){6}, 1);
    llm_tokenizer_free(t);
    /* equal ranks merge leftmost first: aaa -> aa + a */
    t = tiny_bpe(m3, 1);
    ids_are(t, "aaa", (int32_t[]){7, 0}, 2);
    ids_are(t, "aaaa", (int32_t[]){7, 7}, 2);
    /* a character the vocabulary lacks yields nothing (no byte token) */
    ids_are(t, "axa", (int32_t[]){0, 0}, 2);
    /* control text is split out only with parse_special */
    {
        int32_t *ids;
        size_t n;

        cr_assert_eq(llm_tokenize(t, "a<|end|>", 8, false, true, &ids, &n), 0);
        cr_expect_eq(n, 2);
        cr_expect_eq(ids[1], 8);
        free(ids);
        cr_assert(llm_token_is_eog(t, 8));
        cr_assert(llm_token_is_special(t, 8));
    }
    llm_tokenizer_free(t);
    /* the space mapped to Ġ merges with the letter after it */
    t = tiny_bpe(m4, 1);
    ids_are(t, "a a", (int32_t[]){0, 9}, 2);
    llm_tokenizer_free(t);
}

/* A corrupted vocabulary must be refused or give a tokenizer that works:
 * every byte of a small BPE file set to a few values, then everything
 * used.  (Run under `make asan` this also checks every access.) */
Test(tokenizer, corrupt_vocab_never_crashes, .timeout = 120)
{
    static const char *const toks[] = {"a", "b", "\xc4\xa0", "ab", "<|end|>", "<x>"};
    static const int32_t types[] = {1, 1, 1, 1, 3, 4};
    static const char *const merges[] = {"a b", "\xc4\xa0 a"};
    static const unsigned char vals[] = {0x00, 0x01, 0x20, 0x7f, 0xc4, 0xff};
    /* thousands of small files: tmpfs when there is one */
    char path[64];
    int fd;

    snprintf(path, sizeof(path), "%s/aios-tokc-XXXXXX", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    fd = mkstemp(path);
    buf b = {0};
    size_t accepted = 0;

    cr_assert(fd >= 0);
    close(fd);
    aios_log_set_level(AIOS_LOG_ERROR);   /* corrupt ids are warned about */
    header(&b, 6);
    kv_str(&b, "tokenizer.ggml.model", "gpt2");
    kv_str(&b, "tokenizer.ggml.pre", "gpt-2");
    kv_strs(&b, "tokenizer.ggml.tokens", toks, 6);
    kv_i32s(&b, "tokenizer.ggml.token_type", types, 6);
    kv_strs(&b, "tokenizer.ggml.merges", merges, 2);
    kv_u32(&b, "tokenizer.ggml.eos_token_id", 4);
    for (size_t i = 24; i < b.n; i++) {
        for (size_t v = 0; v < sizeof(vals); v++) {
            unsigned char old = b.b[i];
            llm_gguf *g;
            llm_tokenizer *t;
            char err[256];
            FILE *f;

            b.b[i] = vals[v];
            f = fopen(path, "wb");
            cr_assert_eq(fwrite(b.b, 1, b.n, f), b.n);
            fclose(f);
            b.b[i] = old;
            if (llm_gguf_open(path, &g, err, sizeof(err)) != 0)
                continue;
            if (llm_tokenizer_from_gguf(g, &t, err, sizeof(err)) == 0) {
                static const char text[] = "ab a<|end|><x> b\xff\xc4";
                int32_t *ids;
                size_t n, tl;
                char *back;

                accepted++;
                for (int mode = 0; mode < 4; mode++) {
                    cr_assert_eq(llm_tokenize(t, text, sizeof(text) - 1, mode & 1, mode & 2, &ids, &n), 0);
                    cr_assert_eq(llm_detokenize(t, ids, n, mode & 1, &back, &tl), 0);
                    free(back);
                    free(ids);
                }
                for (int32_t id = 0; id < (int32_t)llm_tokenizer_n_vocab(t); id++) {
                    const char *p;
                    size_t pl;

                    cr_assert_eq(llm_token_piece(t, id, true, &p, &pl), 0);
                }
                llm_tokenizer_free(t);
            } else {
                cr_assert(err[0], "refused without a message");
            }
            llm_gguf_close(g);
        }
    }
    unlink(path);
    free(b.b);
    cr_expect_gt(accepted, 100);
}

/* SentencePiece: highest score first, byte fallback, prefix space. */
Test(tokenizer, spm_scores_and_byte_fallback, .timeout = 10)
{
    const char *toks[3 + 256 + 5];
    char hex[256][8];
    int32_t types[3 + 256 + 5];
    float scores[3 + 256 + 5];
    size_t n = 0;
    buf b = {0};
    llm_tokenizer *t;
    char err[256];
    int32_t *ids;
    size_t nid;
    char *text;
    size_t tl;

    toks[n] = "<unk>", types[n] = 2, scores[n++] = 0;
    toks[n] = "<s>", types[n] = 3, scores[n++] = 0;
    toks[n] = "</s>", types[n] = 3, scores[n++] = 0;
    for (int i = 0; i < 256; i++) {
        snprintf(hex[i], sizeof(hex[i]), "<0x%02X>", i);
        toks[n] = hex[i], types[n] = 6, scores[n++] = 0;
    }
    toks[n] = "\xe2\x96\x81", types[n] = 1, scores[n++] = -1;      /* 259 ▁ */
    toks[n] = "a", types[n] = 1, scores[n++] = -2;                 /* 260 */
    toks[n] = "b", types[n] = 1, scores[n++] = -2;                 /* 261 */
    toks[n] = "\xe2\x96\x81" "a", types[n] = 1, scores[n++] = -3;  /* 262 ▁a */
    toks[n] = "ab", types[n] = 1, scores[n++] = -1.5f;             /* 263 */
    header(&b, 4);
    kv_str(&b, "tokenizer.ggml.model", "llama");
    kv_strs(&b, "tokenizer.ggml.tokens", toks, n);
    kv_i32s(&b, "tokenizer.ggml.token_type", types, n);
    kv_f32s(&b, "tokenizer.ggml.scores", scores, n);
    cr_assert_eq(build(&b, &t, err, sizeof(err)), 0, "%s", err);

    /* "▁ab": ab (-1.5) beats ▁a (-3) */
    ids_are(t, "ab", (int32_t[]){259, 263}, 2);
    /* "▁a": the only merge */
    ids_are(t, "a", (int32_t[]){262}, 1);
    /* é is not in the vocabulary: its two bytes */
    ids_are(t, "\xc3\xa9", (int32_t[]){259, 3 + 0xc3, 3 + 0xa9}, 3);
    /* BOS by default for this kind, and the prefix space comes back off */
    cr_assert_eq(llm_tokenize(t, "ab a", 4, true, false, &ids, &nid), 0);
    cr_assert_eq(nid, 4);                      /* <s> ▁ ab ▁a */
    cr_expect_eq(ids[3], 262);
    cr_expect_eq(ids[0], 1);
    /* as llama_detokenize: the leading-space rule applies to the first
     * token, here the (invisible) BOS, so the prefix space stays */
    cr_assert_eq(llm_detokenize(t, ids, nid, false, &text, &tl), 0);
    cr_expect_str_eq(text, " ab a");
    free(text);
    cr_assert_eq(llm_detokenize(t, ids + 1, nid - 1, false, &text, &tl), 0);
    cr_expect_str_eq(text, "ab a");
    free(text);
    free(ids);
    /* empty text with add_special is just BOS */
    cr_assert_eq(llm_tokenize(t, "", 0, true, false, &ids, &nid), 0);
    cr_expect_eq(nid, 1);
    free(ids);
    llm_tokenizer_free(t);
}

Test(tokenizer, build_errors_name_the_problem, .timeout = 10)
{
    static const char *const toks[] = {"a", "b"};
    llm_tokenizer *t = (llm_tokenizer *)1;
    char err[256];
    buf b = {0};

    header(&b, 1);
    kv_strs(&b, "tokenizer.ggml.tokens", toks, 2);
    cr_expect_eq(build(&b, &t, err, sizeof(err)), AIOS_ECORRUPT);
    cr_expect_null(t);
    cr_expect(strstr(err, "tokenizer.ggml.model"), "%s", err);

    b = (buf){0};
    header(&b, 2);
    kv_str(&b, "tokenizer.ggml.model", "t5");
    kv_strs(&b, "tokenizer.ggml.tokens", toks, 2);
    cr_expect_eq(build(&b, &t, err, sizeof(err)), AIOS_ENOTSUP);
    cr_expect(strstr(err, "'t5'"), "%s", err);

    b = (buf){0};
    header(&b, 4);
    kv_str(&b, "tokenizer.ggml.model", "gpt2");
    kv_str(&b, "tokenizer.ggml.pre", "deepseek-llm");
    kv_strs(&b, "tokenizer.ggml.tokens", toks, 2);
    kv_strs(&b, "tokenizer.ggml.merges", toks, 0);
    cr_expect_eq(build(&b, &t, err, sizeof(err)), AIOS_ENOTSUP);
    cr_expect(strstr(err, "'deepseek-llm'"), "%s", err);

    b = (buf){0};
    header(&b, 3);
    kv_str(&b, "tokenizer.ggml.model", "gpt2");
    kv_str(&b, "tokenizer.ggml.pre", "gpt-2");
    kv_strs(&b, "tokenizer.ggml.tokens", toks, 2);
    cr_expect_eq(build(&b, &t, err, sizeof(err)), AIOS_ECORRUPT);
    cr_expect(strstr(err, "merges"), "%s", err);

    b = (buf){0};
    header(&b, 3);
    kv_str(&b, "tokenizer.ggml.model", "llama");
    kv_strs(&b, "tokenizer.ggml.tokens", toks, 2);
    kv_i32s(&b, "tokenizer.ggml.token_type", (int32_t[]){1}, 1);
    cr_expect_eq(build(&b, &t, err, sizeof(err)), AIOS_ECORRUPT);
    cr_expect(strstr(err, "token_type"), "%s", err);
}

/* ---- the default model ---------------------------------------------------- */

Test(tokenizer, default_model_rules, .timeout = 30)
{
    llm_tokenizer *t = tu_default_tokenizer();
    int32_t *ids;
    size_t n, neog;
    const int32_t *eog = llm_token_eog_ids(t, &neog);
    const char *p;
    size_t pl;

    cr_assert_eq(llm_tokenizer_kind(t), LLM_VOCAB_BPE);
    cr_assert_str_eq(llm_tokenizer_pre(t), "smollm");
    cr_assert_eq(llm_tokenizer_n_vocab(t), 49152);
    cr_assert_eq(llm_token_bos(t), 1);
    cr_assert_eq(llm_token_eos(t), 2);
    cr_assert_eq(llm_token_eot(t), 2);          /* <|im_end|> */
    cr_assert_not(llm_tokenizer_add_bos(t));
    cr_assert_eq(neog, 3);
    cr_assert_eq(eog[0], 0);                    /* <|endoftext|> */
    cr_assert_eq(eog[1], 2);                    /* <|im_end|> */
    cr_assert_eq(eog[2], 4);                    /* <reponame> (fill-in-the-middle repo) */
    cr_assert_not(llm_token_is_eog(t, 1));
    /* no BOS even with add_special */
    cr_assert_eq(llm_tokenize(t, "Hi", 2, true, false, &ids, &n), 0);
    cr_assert_eq(n, 1);
    free(ids);
    /* control text is text unless parse_special */
    cr_assert_eq(llm_tokenize(t, "<|im_end|>", 10, false, false, &ids, &n), 0);
    cr_assert_gt(n, 1);
    free(ids);
    cr_assert_eq(llm_tokenize(t, "<|im_end|>", 10, false, true, &ids, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_eq(ids[0], 2);
    free(ids);
    /* pieces */
    cr_assert_eq(llm_token_piece(t, 2, false, &p, &pl), 0);
    cr_assert_eq(pl, 0);
    cr_assert_eq(llm_token_piece(t, 2, true, &p, &pl), 0);
    cr_assert(pl == 10 && !memcmp(p, "<|im_end|>", 10));
    cr_assert_eq(llm_token_lookup(t, "\xc4\xa0world", 7), 905);
    cr_assert_eq(llm_token_piece(t, 905, false, &p, &pl), 0);
    cr_assert(pl == 6 && !memcmp(p, " world", 6));
    cr_assert_eq(llm_token_piece(t, -1, false, &p, &pl), AIOS_ERANGE);
    cr_assert_eq(llm_token_piece(t, 49152, false, &p, &pl), AIOS_ERANGE);
    cr_assert_eq(llm_detokenize(t, (int32_t[]){905, 49152}, 2, false, (char **)&p, &pl), AIOS_ERANGE);
    cr_assert_eq(llm_tokenize(NULL, "x", 1, false, false, &ids, &n), AIOS_EINVAL);
    cr_assert_eq(llm_tokenize(t, NULL, 1, false, false, &ids, &n), AIOS_EINVAL);
    cr_assert_eq(llm_tokenize(t, NULL, 0, false, false, &ids, &n), 0);
    cr_assert_eq(n, 0);
    llm_tokenizer_free(t);
}

/* Random valid UTF-8 (all planes, every kind of character) comes back
 * byte for byte through tokenize + detokenize. */
Test(tokenizer, round_trip_random_text, .timeout = 60)
{
    llm_tokenizer *t = tu_default_tokenizer();
    unsigned seed = 12345;
    int skipped = 0;

    for (int iter = 0; iter < 400; iter++) {
        char s[1024], *back;
        size_t n = 0, nid, bl;
        int32_t *ids;
        int len = 1 + (int)(rand_r(&seed) % 60);

        for (int k = 0; k < len; k++) {
            uint32_t cp;

            switch (rand_r(&seed) % 4) {
            case 0: cp = 0x20 + rand_r(&seed) % 0x5f; break;
            case 1: cp = rand_r(&seed) % 0x800; break;
            case 2: cp = rand_r(&seed) % 0x10000; break;
            default: cp = 0x10000 + rand_r(&seed) % 0x30000; break;
            }
            if (cp >= 0xd800 && cp <= 0xdfff)
                cp = 'x';
            n += llm_utf8_encode(cp, s + n);
        }
        /* the vocabulary has no token for a few bytes (some C0 controls,
         * lead bytes of unassigned planes): such text cannot come back */
        bool representable = true;

        for (size_t k = 0; k < n; k++) {
            char u[2];
            size_t ul = llm_bytelevel_encode((unsigned char)s[k], u);

            representable = representable && llm_token_lookup(t, u, ul) >= 0;
        }
        if (!representable) {
            skipped++;
            continue;
        }
        cr_assert_eq(llm_tokenize(t, s, n, false, false, &ids, &nid), 0);
        cr_assert_eq(llm_detokenize(t, ids, nid, false, &back, &bl), 0);
        cr_assert(bl == n && !memcmp(back, s, n), "round trip %d changed the text", iter);
        free(back);
        free(ids);
    }
    cr_expect_lt(skipped, 100, "%d of 400 texts not representable", skipped);
    llm_tokenizer_free(t);
}

/* ---- streaming ------------------------------------------------------------ */

/* The <0xXX> token of a byte in a SentencePiece vocabulary: its piece is
 * that single byte. */
static int32_t byte_id(const llm_tokenizer *t, unsigned char b)
{
    char name[8];
    int32_t id;

    snprintf(name, sizeof(name), "<0x%02X>", b);
    id = llm_token_lookup(t, name, 6);
    cr_assert_geq(id, 0);
    return id;
}

/* Feed bytes through the stream one single-byte token at a time; check
 * each output is valid UTF-8 and return the joined output. */
static char *stream_bytes(const llm_tokenizer *t, const unsigned char *s, size_t n, size_t *out_len)
{
    llm_detok_stream *st;
    char *all = malloc(n * 3 + 8);
    size_t o = 0;
    const char *p;
    size_t pl;

    cr_assert_eq(llm_detok_stream_new(t, false, &st), 0);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(llm_detok_stream_push(st, byte_id(t, s[i]), &p, &pl), 0);
        cr_assert(llm_utf8_valid(p, pl), "output after byte %zu is not valid UTF-8", i);
        memcpy(all + o, p, pl);
        o += pl;
    }
    cr_assert_eq(llm_detok_stream_flush(st, &p, &pl), 0);
    cr_assert(llm_utf8_valid(p, pl));
    memcpy(all + o, p, pl);
    o += pl;
    llm_detok_stream_free(st);
    *out_len = o;
    return all;
}

Test(tokenizer, stream_every_split_point, .timeout = 30)
{
    llm_tokenizer *t = tu_tokenizer("vocabs/ggml-vocab-llama-spm.gguf");
    /* 1-, 2-, 3- and 4-byte characters, back to back */
    static const char text[] = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\xa6\x99z\xe6\x97\xa5\xf4\x8f\xbf\xbf";
    size_t n = sizeof(text) - 1;
    llm_detok_stream *st;

    /* one byte at a time: each character appears exactly when complete */
    {
        size_t o = 0, i;
        const char *p;
        size_t pl;

        cr_assert_eq(llm_detok_stream_new(t, false, &st), 0);
        for (i = 0; i < n; i++) {
            size_t complete = 0, k, len;

            cr_assert_eq(llm_detok_stream_push(st, byte_id(t, (unsigned char)text[i]), &p, &pl), 0);
            o += pl;
            /* the longest prefix of text[0..i] made of whole characters */
            for (k = 0; k <= i; k += len) {
                if (llm_utf8_next_strict((const unsigned char *)text + k, i + 1 - k, &len) != LLM_UTF8_OK)
                    break;
                complete = k + len;
            }
            cr_expect_eq(o, complete, "after byte %zu: %zu bytes out, %zu complete", i, o, complete);
        }
        llm_detok_stream_flush(st, &p, &pl);
        cr_expect_eq(pl, 0);
        llm_detok_stream_free(st);
    }
    llm_tokenizer_free(t);

    /* real tokens that split characters: llama-bpe cuts rare CJK and
     * emoji into partial pieces */
    {
        static const char s2[] = "\xf0\x9f\xa6\x99\xf0\x9f\xab\xa0 \xe9\xbe\x98\xf0\xa0\x80\x80 ok";
        int32_t *ids;
        size_t nid, o = 0, partial = 0;
        char out[64];
        const char *p;
        size_t pl;

        t = tu_tokenizer("vocabs/ggml-vocab-llama-bpe.gguf");
        cr_assert_eq(llm_tokenize(t, s2, sizeof(s2) - 1, false, false, &ids, &nid), 0);
        cr_assert_eq(llm_detok_stream_new(t, false, &st), 0);
        for (size_t i = 0; i < nid; i++) {
            cr_assert_eq(llm_token_piece(t, ids[i], false, &p, &pl), 0);
            partial += !llm_utf8_valid(p, pl);
            cr_assert_eq(llm_detok_stream_push(st, ids[i], &p, &pl), 0);
            cr_assert(llm_utf8_valid(p, pl));
            memcpy(out + o, p, pl);
            o += pl;
        }
        llm_detok_stream_flush(st, &p, &pl);
        cr_expect_eq(pl, 0);
        cr_expect_geq(partial, 2, "the text should split characters across tokens");
        cr_expect(o == sizeof(s2) - 1 && !memcmp(out, s2, o));
        llm_detok_stream_free(st);
        free(ids);
    }
    llm_tokenizer_free(t);
}

Test(tokenizer, stream_invalid_utf8, .timeout = 30)
{
    llm_tokenizer *t = tu_tokenizer("vocabs/ggml-vocab-llama-spm.gguf");
    static const struct {
        const char *in;
        size_t n;
        const char *out;
    } cases[] = {
        {"\xf0\x9f\x98" "A", 4, "\xef\xbf\xbd" "A"},               /* truncated, then ASCII */
        {"\xed\xa0\x80", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* surrogate: 3 subparts */
        {"\xc0\x80", 2, "\xef\xbf\xbd\xef\xbf\xbd"},               /* overlong */
        {"x\xe2\x82", 3, "x\xef\xbf\xbd"},                         /* truncated at the end */
        {"\x80\xbf", 2, "\xef\xbf\xbd\xef\xbf\xbd"},               /* lone continuations */
        {"\xf8\x88\x80\x80\x80", 5,
         "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
        {"\xf4\x90\x80\x80", 4, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* > U+10FFFF */
        {"\xe2\x28\xa1", 3, "\xef\xbf\xbd(\xef\xbf\xbd"},
        {"\xc3\xa9\xc3", 3, "\xc3\xa9\xef\xbf\xbd"},
        {"", 0, ""},
    };
    unsigned seed = 7;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t ol, sl;
        char *out = stream_bytes(t, (const unsigned char *)cases[i].in, cases[i].n, &ol), *san;

        cr_expect(ol == strlen(cases[i].out) && !memcmp(out, cases[i].out, ol), "case %zu", i);
        cr_assert_eq(llm_utf8_sanitize(cases[i].in, cases[i].n, &san, &sl), 0);
        cr_expect(sl == ol && !memcmp(san, out, ol), "case %zu: sanitize differs", i);
        free(san);
        free(out);
    }
    /* random bytes: always valid output, equal to the one-shot sanitizer */
    for (int iter = 0; iter < 300; iter++) {
        unsigned char s[64];
        size_t n = rand_r(&seed) % sizeof(s), ol, sl;
        char *out, *san;

        for (size_t k = 0; k < n; k++)
            s[k] = (unsigned char)(rand_r(&seed) % 3 ? 0x80 + rand_r(&seed) % 0x80 : rand_r(&seed));
        out = stream_bytes(t, s, n, &ol);
        cr_assert_eq(llm_utf8_sanitize((char *)s, n, &san, &sl), 0);
        cr_assert(sl == ol && !memcmp(san, out, ol), "random case %d", iter);
        free(san);
        free(out);
    }
    llm_tokenizer_free(t);
}

/* ---- threads -------------------------------------------------------------- */

typedef struct {
    const llm_tokenizer *t;
    const char *text;
    int32_t *ids;
    size_t n;
} job;

static void *tok_thread(void *arg)
{
    job *j = arg;

    for (int k = 0; k < 20; k++) {
        free(j->ids);
        if (llm_tokenize(j->t, j->text, strlen(j->text), true, true, &j->ids, &j->n) != 0)
            return (void *)1;
    }
    return NULL;
}

Test(tokenizer, shared_by_threads, .timeout = 60)
{
    llm_tokenizer *t = tu_default_tokenizer();
    const char *text = "<|im_start|>user\nThe quick brown fox 🦊 jumps over 13 lazy dogs; "
                       "日本語も。<|im_end|>\n";
    int32_t *ref;
    size_t nref;
    pthread_t th[4];
    job jobs[4] = {{0}};

    cr_assert_eq(llm_tokenize(t, text, strlen(text), true, true, &ref, &nref), 0);
    for (int i = 0; i < 4; i++) {
        jobs[i] = (job){.t = t, .text = text};
        pthread_create(&th[i], NULL, tok_thread, &jobs[i]);
    }
    for (int i = 0; i < 4; i++) {
        void *rv;

        pthread_join(th[i], &rv);
        cr_assert_null(rv);
        cr_assert_eq(jobs[i].n, nref);
        cr_assert(!memcmp(jobs[i].ids, ref, nref * sizeof(*ref)));
        free(jobs[i].ids);
    }
    free(ref);
    llm_tokenizer_free(t);
}

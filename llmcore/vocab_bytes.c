/*
 * vocab_bytes.c - map the token strings of a GGUF vocabulary back to raw
 * bytes (see vocab_bytes.h).
 *
 * Byte-level BPE stores each byte as a printable code point: the bytes
 * '!'..'~', 0xa1..0xac and 0xae..0xff stand for themselves, the other 68
 * bytes are given the code points 256, 257, ... in increasing byte order.
 * SentencePiece stores U+2581 for a space and <0xXX> for byte-fallback
 * tokens.  Owns the byte copies.  Runs once per model load, on the loading
 * thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aios/error.h"
#include "llmcore/vocab_bytes.h"

/* tokenizer.ggml.token_type values */
enum { TT_NORMAL = 1, TT_UNKNOWN = 2, TT_CONTROL = 3, TT_USER = 4, TT_UNUSED = 5, TT_BYTE = 6 };

/* The byte each GPT-2 alphabet code point < 324 stands for, -1 if none. */
static void gpt2_table(int16_t cp2byte[324])
{
    int next = 256;

    for (int i = 0; i < 324; i++)
        cp2byte[i] = -1;
    for (int b = 0; b < 256; b++) {
        bool printable = (b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) || (b >= 0xae);
        if (printable)
            cp2byte[b] = (int16_t)b;
        else
            cp2byte[next++] = (int16_t)b;
    }
}

/* Decode one UTF-8 code point from s[*i..n); -1 on a malformed sequence. */
static int32_t utf8_next(const char *s, uint64_t n, uint64_t *i)
{
    const uint8_t *u = (const uint8_t *)s;
    uint8_t c = u[*i];
    int need;
    int32_t cp;

    if (c < 0x80) {
        (*i)++;
        return c;
    }
    if (c >= 0xc2 && c <= 0xdf) {
        need = 1;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        need = 2;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 3;
        cp = c & 0x07;
    } else {
        return -1;
    }
    if (*i + (uint64_t)need >= n)
        return -1;
    for (int k = 1; k <= need; k++) {
        uint8_t cc = u[*i + (uint64_t)k];
        if ((cc & 0xc0) != 0x80)
            return -1;
        cp = (cp << 6) | (cc & 0x3f);
    }
    *i += (uint64_t)need + 1;
    return cp;
}

/* Token text -> bytes for byte-level BPE; false when a code point is outside
 * the alphabet. */
static bool decode_gpt2(const int16_t *cp2byte, const char *s, uint64_t n, char *out, uint32_t *olen)
{
    uint64_t i = 0;
    uint32_t o = 0;

    while (i < n) {
        int32_t cp = utf8_next(s, n, &i);
        if (cp < 0 || cp >= 324 || cp2byte[cp] < 0)
            return false;
        out[o++] = (char)cp2byte[cp];
    }
    *olen = o;
    return true;
}

/* Token text -> bytes for SentencePiece: U+2581 -> ' ', <0xXX> byte tokens. */
static bool decode_spm(const char *s, uint64_t n, int type, char *out, uint32_t *olen)
{
    uint32_t o = 0;

    if (type == TT_BYTE) {
        unsigned v;
        char tmp[8];
        if (n != 6 || s[0] != '<' || s[5] != '>')
            return false;
        memcpy(tmp, s, 6);
        tmp[6] = 0;
        if (sscanf(tmp, "<0x%2X>", &v) != 1)
            return false;
        out[0] = (char)v;
        *olen = 1;
        return true;
    }
    for (uint64_t i = 0; i < n;) {
        if (i + 3 <= n && memcmp(s + i, "\xe2\x96\x81", 3) == 0) {
            out[o++] = ' ';
            i += 3;
        } else {
            out[o++] = s[i++];
        }
    }
    *olen = o;
    return true;
}

/* Names of control tokens that end a turn in the chat formats we know. */
static const char *const eog_names[] = {
    "<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|end|>", "<end_of_turn>", "<|eom_id|>",
    "</s>",
};

static void add_eog(llm_vocab_bytes *vb, int64_t id)
{
    if (id < 0 || id >= vb->n_vocab)
        return;
    for (int i = 0; i < vb->n_eog; i++)
        if (vb->eog[i] == id)
            return;
    if (vb->n_eog < LLM_VB_MAX_EOG)
        vb->eog[vb->n_eog++] = (int32_t)id;
}

int llm_vocab_bytes_load(const llm_gguf *g, llm_vocab_bytes **out)
{
    const llm_gguf_kv *toks = llm_gguf_arr(g, "tokenizer.ggml.tokens", GGUF_VT_STRING);
    const llm_gguf_kv *types = llm_gguf_arr(g, "tokenizer.ggml.token_type", -1);
    const char *model;
    uint64_t model_len;
    bool spm;
    int16_t cp2byte[324];
    llm_vocab_bytes *vb;
    int rc = AIOS_ENOMEM;

    *out = NULL;
    if (!toks || toks->v.arr.n == 0 || toks->v.arr.n > (1u << 24))
        return AIOS_ENOENT;
    if (!llm_gguf_get_str(g, "tokenizer.ggml.model", &model, &model_len))
        return AIOS_ENOENT;
    if (model_len == 4 && memcmp(model, "gpt2", 4) == 0)
        spm = false;
    else if (model_len == 5 && memcmp(model, "llama", 5) == 0)
        spm = true;
    else
        return AIOS_ENOTSUP;
    if (types && types->v.arr.n != toks->v.arr.n)
        types = NULL;

    gpt2_table(cp2byte);
    vb = calloc(1, sizeof(*vb));
    if (!vb)
        return AIOS_ENOMEM;
    vb->n_vocab = (int)toks->v.arr.n;
    vb->bytes = calloc((size_t)vb->n_vocab, sizeof(char *));
    vb->len = calloc((size_t)vb->n_vocab, sizeof(uint32_t));
    vb->special = calloc((size_t)vb->n_vocab, 1);
    if (!vb->bytes || !vb->len || !vb->special)
        goto out_free;

    for (int i = 0; i < vb->n_vocab; i++) {
        const char *s;
        uint64_t n;
        int type = types ? (int)llm_gguf_arr_i64(types, (uint64_t)i) : TT_NORMAL;
        bool ok;

        if (!llm_gguf_arr_str(toks, (uint64_t)i, &s, &n))
            n = 0, s = "";
        vb->bytes[i] = malloc(n + 1);
        if (!vb->bytes[i])
            goto out_free;
        if (type == TT_CONTROL || type == TT_UNKNOWN || type == TT_UNUSED) {
            /* not text: keep the name for logs, never match it as bytes */
            memcpy(vb->bytes[i], s, n);
            vb->len[i] = (uint32_t)n;
            vb->special[i] = 1;
            ok = true;
        } else if (type == TT_USER) {
            memcpy(vb->bytes[i], s, n);
            vb->len[i] = (uint32_t)n;
            ok = true;
        } else if (spm) {
            ok = decode_spm(s, n, type, vb->bytes[i], &vb->len[i]);
        } else {
            ok = decode_gpt2(cp2byte, s, n, vb->bytes[i], &vb->len[i]);
        }
        if (!ok) {
            vb->len[i] = 0;
            vb->special[i] = 1;
        }
        vb->bytes[i][vb->len[i]] = 0;
        if (vb->len[i] == 0)
            vb->special[i] = 1;
    }

    int64_t id;
    if (llm_gguf_get_i64(g, "tokenizer.ggml.eos_token_id", &id))
        add_eog(vb, id);
    if (llm_gguf_get_i64(g, "tokenizer.ggml.eot_token_id", &id))
        add_eog(vb, id);
    if (llm_gguf_get_i64(g, "tokenizer.ggml.eom_token_id", &id))
        add_eog(vb, id);
    for (int i = 0; i < vb->n_vocab; i++) {
        if (!vb->special[i])
            continue;
        for (size_t k = 0; k < sizeof(eog_names) / sizeof(eog_names[0]); k++)
            if (strcmp(vb->bytes[i], eog_names[k]) == 0)
                add_eog(vb, i);
    }
    *out = vb;
    return 0;

out_free:
    llm_vocab_bytes_free(vb);
    return rc;
}

int llm_vocab_bytes_load_file(const char *path, llm_vocab_bytes **out)
{
    llm_gguf *g;
    char err[256];
    int rc = llm_gguf_open(path, &g, err, sizeof(err));

    *out = NULL;
    if (rc < 0)
        return rc;
    rc = llm_vocab_bytes_load(g, out);
    llm_gguf_close(g);
    return rc;
}

void llm_vocab_bytes_free(llm_vocab_bytes *vb)
{
    if (!vb)
        return;
    if (vb->bytes)
        for (int i = 0; i < vb->n_vocab; i++)
            free(vb->bytes[i]);
    free(vb->bytes);
    free(vb->len);
    free(vb->special);
    free(vb);
}

/*
 * vocab_bytes.c - the raw bytes of every token, taken from the project's
 * tokenizer (see vocab_bytes.h).  Owns the byte copies.  Runs once per
 * model load, on the loading thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aios/error.h"
#include "aios/log.h"
#include "llmcore/vocab_bytes.h"

int llm_vocab_bytes_from_tokenizer(const llm_tokenizer *t, llm_vocab_bytes **out)
{
    const uint32_t never_text = LLM_TOKATTR_CONTROL | LLM_TOKATTR_UNKNOWN | LLM_TOKATTR_UNUSED;
    llm_vocab_bytes *vb = calloc(1, sizeof(*vb));
    const int32_t *eog;
    size_t n_eog;

    *out = NULL;
    if (!vb)
        return AIOS_ENOMEM;
    vb->n_vocab = (int)llm_tokenizer_n_vocab(t);
    eog = llm_token_eog_ids(t, &n_eog);
    vb->bytes = calloc((size_t)vb->n_vocab, sizeof(char *));
    vb->len = calloc((size_t)vb->n_vocab, sizeof(uint32_t));
    vb->special = calloc((size_t)vb->n_vocab, 1);
    vb->eog = malloc(sizeof(int32_t) * (n_eog ? n_eog : 1));
    if (!vb->bytes || !vb->len || !vb->special || !vb->eog)
        goto out_nomem;
    for (int i = 0; i < vb->n_vocab; i++) {
        const char *s = "";
        size_t n = 0;

        if (llm_token_piece(t, i, true, &s, &n) < 0)
            s = "", n = 0;
        if (!(vb->bytes[i] = malloc(n + 1)))
            goto out_nomem;
        memcpy(vb->bytes[i], s, n);
        vb->bytes[i][n] = 0;
        vb->len[i] = (uint32_t)n;
        vb->special[i] = n == 0 || (llm_token_attr(t, i) & never_text) != 0;
    }
    memcpy(vb->eog, eog, sizeof(int32_t) * n_eog);
    vb->n_eog = (int)n_eog;
    *out = vb;
    return 0;
out_nomem:
    llm_vocab_bytes_free(vb);
    return AIOS_ENOMEM;
}

int llm_vocab_bytes_load(const llm_gguf *g, llm_vocab_bytes **out)
{
    llm_tokenizer *t;
    char err[256] = "";
    int rc;

    *out = NULL;
    if ((rc = llm_tokenizer_from_gguf(g, &t, err, sizeof(err))) < 0) {
        AIOS_LOG(AIOS_LOG_DEBUG, "llm", "vocabulary bytes: %s", err);
        return rc;
    }
    rc = llm_vocab_bytes_from_tokenizer(t, out);
    llm_tokenizer_free(t);
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
    free(vb->eog);
    free(vb);
}

/*
 * service_text.c - the LLM service's text path (see service_text.h): the
 * project's tokenizer and chat templates, the vocabulary as bytes for the
 * grammar, and the pieces a context needs to continue a conversation.
 *
 * Continuations are rendered by difference: the template renders a fixed
 * one-message conversation P, then P followed by the new messages; the text
 * after P is what the new messages add to any conversation of that
 * template, with the content spans carried over so that text typed by a
 * user never becomes a control token.  The same trick gives the text that
 * closes an assistant turn (what the template writes after a reply).
 *
 * Immutable after llm_text_new(); any thread may use it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aios/error.h"
#include "aios/log.h"
#include "llmcore/chat.h"
#include "llmcore/gguf.h"
#include "llmcore/service_text.h"
#include "llmcore/tokenizer.h"
#include "llmcore/vocab_bytes.h"

struct llm_text {
    llm_gvocab *gv;
    llm_tokenizer *tok;      /* the project's tokenizer (llmcore/tokenizer.h) */
    llm_chat_template *ct;   /* the project's chat templates (llmcore/chat.h) */
    char tok_name[32];
    int32_t turn_end;        /* token that ends a turn (<|im_end|>, <|eot_id|>), -1 if none */
    char *turn_suffix;       /* template text after that token ("\n" for ChatML) */
};

/* The fixed conversation continuations are rendered after. */
static json_t *probe_messages(bool with_reply)
{
    json_t *m = json_pack("[{s:s,s:s},{s:s,s:s}]", "role", "system", "content", "S", "role", "user",
                          "content", "U");

    if (m && with_reply && json_array_append_new(m, json_pack("{s:s,s:s}", "role", "assistant", "content",
                                                              "\x01")) < 0) {
        json_decref(m);
        return NULL;
    }
    return m;
}

/* Render base, then base + more; *out gets the text the second adds after
 * the first, with its content spans (offsets into *out).  AIOS_EPROTO when
 * the template does not render the longer conversation as an extension of
 * the shorter one. */
static int render_diff(const llm_text *t, const json_t *base, const json_t *more, bool agp, char **out,
                       llm_chat_span **spans, size_t *nspans, char *err, size_t errlen)
{
    json_t *all = json_copy((json_t *)base);
    char *a = NULL, *b = NULL;
    llm_chat_span *sp = NULL;
    size_t nsp = 0, na, k = 0;
    int rc = AIOS_ENOMEM;

    *out = NULL;
    *spans = NULL;
    *nspans = 0;
    if (!all || json_array_extend(all, (json_t *)more) < 0)
        goto out;
    if ((rc = llm_chat_render_template(t->ct, base, false, NULL, &a, NULL, NULL, err, errlen)) < 0 ||
        (rc = llm_chat_render_template(t->ct, all, agp, NULL, &b, &sp, &nsp, err, errlen)) < 0)
        goto out;
    na = strlen(a);
    if (strncmp(a, b, na) != 0) {
        snprintf(err, errlen, "the chat template does not extend a conversation by appending to it");
        rc = AIOS_EPROTO;
        goto out;
    }
    for (size_t i = 0; i < nsp; i++)
        if (sp[i].off >= na) {
            sp[k].off = sp[i].off - na;
            sp[k++].len = sp[i].len;
        }
    memmove(b, b + na, strlen(b) - na + 1);
    *out = b;
    *spans = sp;
    *nspans = k;
    b = NULL;
    sp = NULL;
    rc = 0;
out:
    json_decref(all);
    free(a);
    free(b);
    free(sp);
    return rc;
}

/* What the template writes after an assistant reply's content: the
 * end-of-turn token and the text after it. */
static int find_turn_close(llm_text *t, char *err, size_t errlen)
{
    json_t *base = probe_messages(false), *reply = json_pack("[{s:s,s:s}]", "role", "assistant", "content",
                                                             "\x01");
    llm_chat_span *sp = NULL;
    size_t nsp = 0, n = 0;
    char *text = NULL;
    int32_t *ids = NULL;
    const char *close;
    int rc = AIOS_ENOMEM;

    t->turn_end = -1;
    if (!base || !reply)
        goto out;
    if ((rc = render_diff(t, base, reply, false, &text, &sp, &nsp, err, errlen)) < 0)
        goto out;
    close = strchr(text, '\x01');
    close = close ? close + 1 : text + strlen(text);
    if ((rc = llm_tokenize(t->tok, close, strlen(close), false, true, &ids, &n)) < 0)
        goto out;
    if (n > 0 && llm_token_is_special(t->tok, ids[0])) {
        const char *name;
        size_t len;
        t->turn_end = ids[0];
        if (llm_token_piece(t->tok, ids[0], true, &name, &len) == 0 && strncmp(close, name, len) == 0)
            close += len;
    } else {
        t->turn_end = llm_token_eot(t->tok) >= 0 ? llm_token_eot(t->tok) : llm_token_eos(t->tok);
    }
    rc = (t->turn_suffix = strdup(close)) ? 0 : AIOS_ENOMEM;
out:
    json_decref(base);
    json_decref(reply);
    free(text);
    free(sp);
    free(ids);
    return rc;
}

int llm_text_new(const llm_model *m, llm_text **out, char *err, size_t errlen)
{
    const llm_gguf *g = llm_model_gguf(m);
    llm_text *t = calloc(1, sizeof(*t));
    llm_vocab_bytes *vb = NULL;
    char terr[256] = "";
    int rc;

    *out = NULL;
    if (!t)
        return AIOS_ENOMEM;
    if ((rc = llm_tokenizer_from_gguf(g, &t->tok, terr, sizeof(terr))) < 0) {
        snprintf(err, errlen, "unsupported vocabulary: %s", terr);
        goto out_free;
    }
    snprintf(t->tok_name, sizeof(t->tok_name), "%s%s%s",
             llm_tokenizer_kind(t->tok) == LLM_VOCAB_BPE ? "bpe" : "spm",
             *llm_tokenizer_pre(t->tok) ? "/" : "", llm_tokenizer_pre(t->tok));
    if ((rc = llm_chat_template_new(llm_tokenizer_chat_template(t->tok), &t->ct)) < 0) {
        snprintf(err, errlen, "cannot read the chat template: %s", aios_strerror(rc));
        goto out_free;
    }
    /* the byte table only feeds the grammar's vocabulary, which copies it */
    if ((rc = llm_vocab_bytes_from_tokenizer(t->tok, &vb)) < 0) {
        snprintf(err, errlen, "cannot read the model's vocabulary: %s", aios_strerror(rc));
        goto out_free;
    }
    rc = llm_gvocab_new((const char *const *)vb->bytes, vb->len, vb->n_vocab, vb->special, vb->eog, vb->n_eog,
                        &t->gv);
    llm_vocab_bytes_free(vb);
    if (rc < 0) {
        snprintf(err, errlen, "cannot index the vocabulary: %s", aios_strerror(rc));
        goto out_free;
    }
    if ((rc = find_turn_close(t, terr, sizeof(terr))) < 0) {
        snprintf(err, errlen, "chat template: %s", terr[0] ? terr : aios_strerror(rc));
        goto out_free;
    }
    *out = t;
    return 0;
out_free:
    llm_text_free(t);
    return rc;
}

void llm_text_free(llm_text *t)
{
    if (!t)
        return;
    llm_gvocab_free(t->gv);
    llm_chat_template_free(t->ct);
    llm_tokenizer_free(t->tok);
    free(t->turn_suffix);
    free(t);
}

const llm_gvocab *llm_text_gvocab(const llm_text *t)
{
    return t->gv;
}

const char *llm_text_tokenizer_name(const llm_text *t)
{
    return t->tok_name;
}

const char *llm_text_template_name(const llm_text *t)
{
    return llm_chat_style_name(llm_chat_template_style(t->ct));
}

int llm_text_n_vocab(const llm_text *t)
{
    return (int)llm_tokenizer_n_vocab(t->tok);
}

const int32_t *llm_text_eog(const llm_text *t, int *n)
{
    size_t k;
    const int32_t *ids = llm_token_eog_ids(t->tok, &k);

    *n = (int)k;
    return ids;
}

int32_t llm_text_turn_end(const llm_text *t)
{
    return t->turn_end;
}

const char *llm_text_turn_suffix(const llm_text *t)
{
    return t->turn_suffix;
}

/* size_t ids -> the service's int ids; *ids is never NULL on success. */
static int int_ids(int32_t *v, size_t cnt, int32_t **ids, int *n_ids)
{
    if (cnt > (size_t)INT32_MAX / 2) {
        free(v);
        return AIOS_ETOOBIG;
    }
    if (!v && !(v = malloc(sizeof(int32_t))))
        return AIOS_ENOMEM;
    *ids = v;
    *n_ids = (int)cnt;
    return 0;
}

int llm_text_tokenize(const llm_text *t, const char *s, size_t n, bool parse_special, int32_t **ids,
                      int *n_ids)
{
    size_t cnt = 0;
    int32_t *v = NULL;
    int rc;

    *ids = NULL;
    *n_ids = 0;
    if ((rc = llm_tokenize(t->tok, s, n, false, parse_special, &v, &cnt)) < 0)
        return rc;
    return int_ids(v, cnt, ids, n_ids);
}

int llm_text_detokenize(const llm_text *t, const int32_t *ids, int n, bool special, char **out, size_t *len)
{
    size_t l = 0;
    int rc = llm_detokenize(t->tok, ids, (size_t)n, special, out, &l);

    if (rc == AIOS_ERANGE)
        rc = AIOS_EINVAL;
    if (rc == 0 && len)
        *len = l;
    return rc;
}

int llm_text_chat_tokens(const llm_text *t, const json_t *messages, bool add_generation_prompt,
                         bool continuation, int32_t **ids, int *n_ids, char *msg, size_t msglen)
{
    llm_chat_span *sp = NULL;
    size_t nsp = 0, cnt = 0;
    char *text = NULL;
    int32_t *v = NULL;
    json_t *base;
    int rc;

    *ids = NULL;
    *n_ids = 0;
    /* the messages alone first: errors name the caller's indices */
    if ((rc = llm_chat_tokenize(t->tok, messages, add_generation_prompt, NULL, &v, &cnt, msg, msglen)) < 0)
        return rc;
    if (!continuation)
        return int_ids(v, cnt, ids, n_ids);
    free(v);
    v = NULL;
    if (!(base = probe_messages(true)))
        return AIOS_ENOMEM;
    rc = render_diff(t, base, messages, add_generation_prompt, &text, &sp, &nsp, msg, msglen);
    json_decref(base);
    if (rc == 0) {
        rc = llm_tokenize_trusted(t->tok, text, strlen(text), sp, nsp, false, &v, &cnt);
        if (rc == 0)
            rc = int_ids(v, cnt, ids, n_ids);
    }
    free(text);
    free(sp);
    return rc;
}

/*
 * service_text.c - vocabulary bytes, prompt tokenization, detokenization
 * and chat templates for the LLM service (see service_text.h).
 *
 * Owns the byte table of the vocabulary, the grammar vocabulary built on
 * it, the list of control-token names and the detected template.
 * Immutable after llm_text_new(); any thread may use it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aios/error.h"
#include "aios/log.h"
#include "llmcore/gguf.h"
#include "llmcore/service_bpe.h"
#include "llmcore/service_text.h"
#include "llmcore/tokenizer.h"
#include "llmcore/chat.h"
#include "llmcore/vocab_bytes.h"

typedef enum { TPL_NONE = 0, TPL_CHATML, TPL_LLAMA3 } tpl_kind;

typedef struct special_name {
    const char *s;           /* borrowed from the byte table */
    uint32_t len;
    int32_t id;
} special_name;

struct llm_text {
    llm_vocab_bytes *vb;
    llm_gvocab *gv;
    llm_tokenizer *tok;      /* the project's tokenizer (llmcore/tokenizer.h) */
    llm_chat_template *ct;   /* the project's chat templates (llmcore/chat.h), with tok */
    llm_bpe *bpe;            /* interim BPE when the tokenizer refuses the file */
    char tok_name[32];
    special_name *sp;        /* control tokens, longest first */
    int n_sp;
    tpl_kind tpl;
    char *default_system;    /* ChatML prelude's system text, or NULL */
    int32_t bos;             /* -1 when not added */
    int32_t turn_end;        /* token that ends a turn (<|im_end|>, <|eot_id|>) */
};

static int sp_cmp(const void *a, const void *b)
{
    const special_name *x = a, *y = b;

    return x->len != y->len ? (x->len < y->len ? 1 : -1) : x->id - y->id;
}

static int32_t find_special(const llm_text *t, const char *name)
{
    for (int i = 0; i < t->n_sp; i++)
        if (strlen(name) == t->sp[i].len && memcmp(t->sp[i].s, name, t->sp[i].len) == 0)
            return t->sp[i].id;
    return -1;
}

/* The default system prompt a ChatML template inserts when the first
 * message is not a system message ("<|im_start|>system\n...<|im_end|>"
 * inside a quoted literal of the template). */
static char *chatml_default_system(const char *tpl)
{
    const char *key = "<|im_start|>system\n", *a = strstr(tpl, key), *b;
    char *out;

    if (!a || !strstr(tpl, "loop.first"))
        return NULL;
    a += strlen(key);
    b = strstr(a, "<|im_end|>");
    if (!b || memchr(a, '{', (size_t)(b - a)) || memchr(a, '\'', (size_t)(b - a)))
        return NULL;
    out = malloc((size_t)(b - a) + 1);
    if (!out)
        return NULL;
    memcpy(out, a, (size_t)(b - a));
    out[b - a] = 0;
    return out;
}

int llm_text_new(const llm_model *m, llm_text **out, char *err, size_t errlen)
{
    const llm_gguf *g = llm_model_gguf(m);
    llm_text *t = calloc(1, sizeof(*t));
    const char *tpl;
    uint64_t tpl_len;
    bool add_bos = false;
    int64_t bos = -1;
    int rc;

    *out = NULL;
    if (!t)
        return AIOS_ENOMEM;
    if ((rc = llm_vocab_bytes_load(g, &t->vb)) < 0) {
        snprintf(err, errlen, "cannot read the model's vocabulary: %s", aios_strerror(rc));
        goto out_free;
    }
    if ((rc = llm_gvocab_new((const char *const *)t->vb->bytes, t->vb->len, t->vb->n_vocab, t->vb->special,
                             t->vb->eog, t->vb->n_eog, &t->gv)) < 0) {
        snprintf(err, errlen, "cannot index the vocabulary: %s", aios_strerror(rc));
        goto out_free;
    }
    {
        char terr[256] = "";
        if (llm_tokenizer_from_gguf(g, &t->tok, terr, sizeof(terr)) == 0) {
            snprintf(t->tok_name, sizeof(t->tok_name), "%s%s%s",
                     llm_tokenizer_kind(t->tok) == LLM_VOCAB_BPE ? "bpe" : "spm",
                     *llm_tokenizer_pre(t->tok) ? "/" : "", llm_tokenizer_pre(t->tok));
            if ((rc = llm_chat_template_new(llm_tokenizer_chat_template(t->tok), &t->ct)) < 0) {
                snprintf(err, errlen, "cannot read the chat template: %s", aios_strerror(rc));
                goto out_free;
            }
        } else {
            /* fall back to the interim BPE (or a greedy match) and say so */
            if ((rc = llm_bpe_new(g, &t->bpe)) < 0 && rc != AIOS_ENOTSUP) {
                snprintf(err, errlen, "cannot build the BPE tables: %s", aios_strerror(rc));
                goto out_free;
            }
            snprintf(t->tok_name, sizeof(t->tok_name), "%s", t->bpe ? "bpe-interim" : "greedy-trie");
            AIOS_LOG(AIOS_LOG_WARN, "llm", "tokenizer: %s; using the %s fallback", terr, t->tok_name);
        }
    }
    t->sp = calloc((size_t)t->vb->n_vocab, sizeof(*t->sp));
    if (!t->sp) {
        rc = AIOS_ENOMEM;
        goto out_free;
    }
    for (int i = 0; i < t->vb->n_vocab; i++)
        if (t->vb->special[i] && t->vb->len[i] >= 2 && t->vb->bytes[i][0] == '<') {
            t->sp[t->n_sp].s = t->vb->bytes[i];
            t->sp[t->n_sp].len = t->vb->len[i];
            t->sp[t->n_sp].id = i;
            t->n_sp++;
        }
    qsort(t->sp, (size_t)t->n_sp, sizeof(*t->sp), sp_cmp);
    llm_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &add_bos);
    t->bos = -1;
    if (add_bos && llm_gguf_get_i64(g, "tokenizer.ggml.bos_token_id", &bos) && bos >= 0 && bos < t->vb->n_vocab)
        t->bos = (int32_t)bos;
    t->tpl = TPL_NONE;
    if (llm_gguf_get_str(g, "tokenizer.chat_template", &tpl, &tpl_len)) {
        char *copy = strndup(tpl, (size_t)tpl_len);
        if (!copy) {
            rc = AIOS_ENOMEM;
            goto out_free;
        }
        if (strstr(copy, "<|im_start|>")) {
            t->tpl = TPL_CHATML;
            t->default_system = chatml_default_system(copy);
        } else if (strstr(copy, "<|start_header_id|>")) {
            t->tpl = TPL_LLAMA3;
        }
        free(copy);
    }
    t->turn_end = t->tpl == TPL_CHATML ? find_special(t, "<|im_end|>")
                  : t->tpl == TPL_LLAMA3 ? find_special(t, "<|eot_id|>")
                                         : (t->vb->n_eog ? t->vb->eog[0] : -1);
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
    llm_bpe_free(t->bpe);
    llm_vocab_bytes_free(t->vb);
    free(t->sp);
    free(t->default_system);
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
    static const char *const names[] = {"none", "chatml", "llama3"};
    return t->ct ? llm_chat_style_name(llm_chat_template_style(t->ct)) : names[t->tpl];
}

int llm_text_n_vocab(const llm_text *t)
{
    return t->vb->n_vocab;
}

int32_t llm_text_bos(const llm_text *t)
{
    return t->bos;
}

const int32_t *llm_text_eog(const llm_text *t, int *n)
{
    *n = t->vb->n_eog;
    return t->vb->eog;
}

int32_t llm_text_turn_end(const llm_text *t)
{
    return t->turn_end;
}

/* ---- tokenizing ------------------------------------------------------------------------------- */

typedef struct idbuf {
    int32_t *v;
    int n, cap;
} idbuf;

static int idbuf_reserve(idbuf *b, int more)
{
    if (b->n + more <= b->cap)
        return 0;
    int cap = b->cap ? b->cap : 64;
    while (cap < b->n + more)
        cap *= 2;
    int32_t *v = realloc(b->v, sizeof(int32_t) * (size_t)cap);
    if (!v)
        return AIOS_ENOMEM;
    b->v = v;
    b->cap = cap;
    return 0;
}

/* Plain text (no special names) by longest match over the byte trie. */
static int plain(const llm_text *t, const char *s, size_t n, idbuf *b)
{
    int k, rc;

    if (n == 0)
        return 0;
    if (t->bpe)
        return llm_bpe_encode(t->bpe, s, n, &b->v, &b->n, &b->cap);
    k = llm_gvocab_greedy_tokens(t->gv, s, n, NULL, 0);
    if (k < 0)
        return k;
    if ((rc = idbuf_reserve(b, k)) < 0)
        return rc;
    k = llm_gvocab_greedy_tokens(t->gv, s, n, b->v + b->n, k);
    if (k < 0)
        return k;
    b->n += k;
    return 0;
}

int llm_text_tokenize(const llm_text *t, const char *s, size_t n, bool parse_special, int32_t **ids,
                      int *n_ids)
{
    idbuf b = {0};
    size_t start = 0, i = 0;
    int rc = 0;

    *ids = NULL;
    *n_ids = 0;
    if (t->tok) {
        size_t cnt = 0;
        int32_t *v = NULL;
        if ((rc = llm_tokenize(t->tok, s, n, false, parse_special, &v, &cnt)) < 0)
            return rc;
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
    if (parse_special) {
        while (i < n) {
            int hit = -1;
            if (s[i] == '<')
                for (int k = 0; k < t->n_sp; k++)
                    if (t->sp[k].len <= n - i && memcmp(s + i, t->sp[k].s, t->sp[k].len) == 0) {
                        hit = k;
                        break;
                    }
            if (hit < 0) {
                i++;
                continue;
            }
            if ((rc = plain(t, s + start, i - start, &b)) < 0 || (rc = idbuf_reserve(&b, 1)) < 0)
                goto out_fail;
            b.v[b.n++] = t->sp[hit].id;
            i += t->sp[hit].len;
            start = i;
        }
    }
    if ((rc = plain(t, s + start, n - start, &b)) < 0)
        goto out_fail;
    if (!b.v && (rc = idbuf_reserve(&b, 1)) < 0)
        goto out_fail;
    *ids = b.v;
    *n_ids = b.n;
    return 0;
out_fail:
    free(b.v);
    return rc;
}

int llm_text_detokenize(const llm_text *t, const int32_t *ids, int n, bool special, char **out, size_t *len)
{
    size_t total = 0;
    char *s, *p;

    if (t->tok) {
        size_t l = 0;
        int rc = llm_detokenize(t->tok, ids, (size_t)n, special, out, &l);
        if (rc == AIOS_ERANGE)
            rc = AIOS_EINVAL;
        if (rc == 0 && len)
            *len = l;
        return rc;
    }

    for (int i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= t->vb->n_vocab)
            return AIOS_EINVAL;
        if (!t->vb->special[ids[i]] || special)
            total += t->vb->len[ids[i]];
    }
    s = malloc(total + 1);
    if (!s)
        return AIOS_ENOMEM;
    p = s;
    for (int i = 0; i < n; i++)
        if (!t->vb->special[ids[i]] || special) {
            memcpy(p, t->vb->bytes[ids[i]], t->vb->len[ids[i]]);
            p += t->vb->len[ids[i]];
        }
    *p = 0;
    *out = s;
    if (len)
        *len = total;
    return 0;
}

/* ---- chat templates ---------------------------------------------------------------------------- */

/* Rendering emits segments: template text (may name control tokens) and
 * message content (never parsed for control-token names). */
typedef struct emitter {
    int (*fn)(struct emitter *e, const char *s, size_t n, bool tpl);
    char *s;                 /* render: the text */
    size_t n, cap;
    idbuf ids;               /* tokens: the ids */
    const llm_text *t;
} emitter;

static int emit_text(emitter *e, const char *s, size_t n, bool tpl)
{
    (void)tpl;
    if (e->n + n + 1 > e->cap) {
        size_t cap = e->cap ? e->cap : 256;
        while (cap < e->n + n + 1)
            cap *= 2;
        char *x = realloc(e->s, cap);
        if (!x)
            return AIOS_ENOMEM;
        e->s = x;
        e->cap = cap;
    }
    memcpy(e->s + e->n, s, n);
    e->n += n;
    e->s[e->n] = 0;
    return 0;
}

static int emit_ids(emitter *e, const char *s, size_t n, bool tpl)
{
    int32_t *ids;
    int k, rc;

    if (n == 0)
        return 0;
    if ((rc = llm_text_tokenize(e->t, s, n, tpl, &ids, &k)) < 0)
        return rc;
    if ((rc = idbuf_reserve(&e->ids, k)) == 0) {
        memcpy(e->ids.v + e->ids.n, ids, sizeof(int32_t) * (size_t)k);
        e->ids.n += k;
    }
    free(ids);
    return rc;
}

static int tpl_(emitter *e, const char *s)
{
    return e->fn(e, s, strlen(s), true);
}

static const char *const roles[] = {"system", "user", "assistant", "tool"};

/* A message's content: a string, or OpenAI content parts
 * [{"type":"text","text":...}] in order. */
static int content_of(emitter *e, const json_t *msg)
{
    const json_t *c = json_object_get(msg, "content");
    const json_t *part;
    size_t i;
    int rc;

    if (!c || json_is_null(c))
        return 0;
    if (json_is_string(c))
        return e->fn(e, json_string_value(c), json_string_length(c), false);
    if (!json_is_array(c))
        return AIOS_EINVAL;
    json_array_foreach(c, i, part) {
        const json_t *txt = json_object_get(part, "text");
        if (!json_is_string(txt))
            return AIOS_EINVAL;
        if ((rc = e->fn(e, json_string_value(txt), json_string_length(txt), false)) < 0)
            return rc;
    }
    return 0;
}

static int render(const llm_text *t, const json_t *messages, bool add_generation_prompt, bool continuation,
                  emitter *e, char *msg, size_t msglen)
{
    const char *first_role = NULL;
    const json_t *m;
    size_t i;
    int rc = 0;

    if (!json_is_array(messages)) {
        snprintf(msg, msglen, "'messages' must be an array");
        return AIOS_EINVAL;
    }
    json_array_foreach(messages, i, m) {
        const char *role = json_string_value(json_object_get(m, "role"));
        bool ok = false;
        for (size_t k = 0; role && k < sizeof(roles) / sizeof(roles[0]); k++)
            ok |= strcmp(role, roles[k]) == 0;
        if (!json_is_object(m) || !ok) {
            snprintf(msg, msglen, "messages[%zu]: 'role' must be system, user, assistant or tool", i);
            return AIOS_EINVAL;
        }
        if (i == 0)
            first_role = role;
    }
    if (t->tpl == TPL_LLAMA3 && !continuation)
        rc = tpl_(e, "<|begin_of_text|>");
    if (rc == 0 && t->tpl == TPL_CHATML && !continuation && t->default_system &&
        (!first_role || strcmp(first_role, "system") != 0)) {
        if ((rc = tpl_(e, "<|im_start|>system\n")) == 0 && (rc = tpl_(e, t->default_system)) == 0)
            rc = tpl_(e, "<|im_end|>\n");
    }
    json_array_foreach(messages, i, m) {
        const char *role = json_string_value(json_object_get(m, "role"));

        if (rc < 0)
            break;
        if (t->tpl == TPL_LLAMA3) {
            if ((rc = tpl_(e, "<|start_header_id|>")) < 0 ||
                (rc = tpl_(e, strcmp(role, "tool") == 0 ? "ipython" : role)) < 0 ||
                (rc = tpl_(e, "<|end_header_id|>\n\n")) < 0)
                break;
            if ((rc = content_of(e, m)) == AIOS_EINVAL)
                goto bad_content;
            if (rc < 0 || (rc = tpl_(e, "<|eot_id|>")) < 0)
                break;
        } else {
            if ((rc = tpl_(e, "<|im_start|>")) < 0 || (rc = tpl_(e, role)) < 0 || (rc = tpl_(e, "\n")) < 0)
                break;
            if ((rc = content_of(e, m)) == AIOS_EINVAL)
                goto bad_content;
            if (rc < 0 || (rc = tpl_(e, "<|im_end|>\n")) < 0)
                break;
        }
    }
    if (rc == 0 && add_generation_prompt)
        rc = tpl_(e, t->tpl == TPL_LLAMA3 ? "<|start_header_id|>assistant<|end_header_id|>\n\n"
                                          : "<|im_start|>assistant\n");
    return rc;
bad_content:
    snprintf(msg, msglen, "messages[%zu]: 'content' must be a string or text parts", i);
    return AIOS_EINVAL;
}

int llm_text_chat_render(const llm_text *t, const json_t *messages, bool add_generation_prompt,
                         bool continuation, char **out, char *msg, size_t msglen)
{
    emitter e = {.fn = emit_text, .t = t};
    int rc;

    *out = NULL;
    rc = render(t, messages, add_generation_prompt, continuation, &e, msg, msglen);
    if (rc == 0 && !e.s)
        rc = emit_text(&e, "", 0, true);
    if (rc < 0) {
        free(e.s);
        return rc;
    }
    *out = e.s;
    return 0;
}

int llm_text_chat_tokens(const llm_text *t, const json_t *messages, bool add_generation_prompt,
                         bool continuation, int32_t **ids, int *n_ids, char *msg, size_t msglen)
{
    emitter e = {.fn = emit_ids, .t = t};
    int rc;

    *ids = NULL;
    *n_ids = 0;
    if (!continuation && t->tok && t->ct) {
        /* a new conversation: the project's renderer, exactly the model's template */
        size_t cnt = 0;
        int32_t *v = NULL;
        rc = llm_chat_tokenize(t->tok, messages, add_generation_prompt, NULL, &v, &cnt, msg, msglen);
        if (rc < 0)
            return rc;
        if (!v && !(v = malloc(sizeof(int32_t))))
            return AIOS_ENOMEM;
        *ids = v;
        *n_ids = (int)cnt;
        return 0;
    }
    if (!continuation && t->bos >= 0 && t->tpl != TPL_LLAMA3) {
        if ((rc = idbuf_reserve(&e.ids, 1)) < 0)
            return rc;
        e.ids.v[e.ids.n++] = t->bos;
    }
    rc = render(t, messages, add_generation_prompt, continuation, &e, msg, msglen);
    if (rc == 0 && !e.ids.v)
        rc = idbuf_reserve(&e.ids, 1);
    if (rc < 0) {
        free(e.ids.v);
        return rc;
    }
    *ids = e.ids.v;
    *n_ids = e.ids.n;
    return 0;
}

const char *llm_text_turn_suffix(const llm_text *t)
{
    return t->tpl == TPL_CHATML ? "\n" : "";
}

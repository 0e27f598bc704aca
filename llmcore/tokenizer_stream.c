/*
 * tokenizer_stream.c - the streaming detokenizer: generated ids in, only
 * complete well-formed UTF-8 out (see tokenizer.h).
 *
 * A token's piece may end inside a multi-byte character (byte-level BPE
 * and <0xXX> byte tokens split characters freely), so up to three bytes of
 * a well-formed but unfinished sequence are held until the next piece
 * completes or breaks them.  Ill-formed bytes are replaced by U+FFFD, one
 * per maximal ill-formed subpart, so what comes out is the same text
 * Python's bytes.decode("utf-8", "replace") gives for the joined pieces.
 *
 * A stream is owned by one sequence; one thread at a time.
 */
#include <stdlib.h>
#include <string.h>

#include "aios/error.h"
#include "llmcore/tokenizer_int.h"
#include "llmcore/unicode.h"

struct llm_detok_stream {
    const llm_tokenizer *t;
    bool special;
    unsigned char held[4];  /* a well-formed prefix waiting for its end */
    size_t n_held;
    char *out;              /* text released by the last call */
    size_t cap;
};

int llm_detok_stream_new(const llm_tokenizer *t, bool special, llm_detok_stream **out)
{
    llm_detok_stream *s;

    *out = NULL;
    if (!t)
        return AIOS_EINVAL;
    s = calloc(1, sizeof(*s));
    if (!s)
        return AIOS_ENOMEM;
    s->t = t;
    s->special = special;
    *out = s;
    return 0;
}

void llm_detok_stream_free(llm_detok_stream *s)
{
    if (!s)
        return;
    free(s->out);
    free(s);
}

static int reserve(llm_detok_stream *s, size_t need)
{
    char *p;

    if (need <= s->cap)
        return 0;
    p = realloc(s->out, need);
    if (!p)
        return AIOS_ENOMEM;
    s->out = p;
    s->cap = need;
    return 0;
}

/*
 * Append the checked form of held bytes + piece to s->out: complete
 * sequences are copied, ill-formed subparts become U+FFFD, and a
 * well-formed prefix at the very end is held back.
 */
static size_t feed(llm_detok_stream *s, const unsigned char *p, size_t n)
{
    unsigned char buf[8];
    size_t o = 0, i = 0, len;

    /* finish the held prefix first, using as much of p as it needs */
    while (s->n_held && (i < n)) {
        size_t take = n - i < 4 - s->n_held ? n - i : 4 - s->n_held;
        llm_utf8_status st;

        memcpy(buf, s->held, s->n_held);
        memcpy(buf + s->n_held, p + i, take);
        st = llm_utf8_next_strict(buf, s->n_held + take, &len);
        if (st == LLM_UTF8_INCOMPLETE) {
            /* still unfinished: p was too short */
            memcpy(s->held + s->n_held, p + i, take);
            s->n_held += take;
            return o;
        }
        if (st == LLM_UTF8_OK)
            memcpy(s->out + o, buf, len), o += len;
        else
            o += llm_utf8_encode(LLM_UC_REPLACEMENT, s->out + o);
        /* len bytes of buf are consumed; those past the held ones came from p */
        if (len >= s->n_held) {
            i += len - s->n_held;
            s->n_held = 0;
        } else {
            memmove(s->held, s->held + len, s->n_held - len);
            s->n_held -= len;
        }
    }
    while (i < n) {
        if (p[i] < 0x80) {
            s->out[o++] = (char)p[i++];
            continue;
        }
        llm_utf8_status st = llm_utf8_next_strict(p + i, n - i, &len);

        if (st == LLM_UTF8_INCOMPLETE) {
            memcpy(s->held, p + i, len);
            s->n_held = len;
            break;
        }
        if (st == LLM_UTF8_OK)
            memcpy(s->out + o, p + i, len), o += len;
        else
            o += llm_utf8_encode(LLM_UC_REPLACEMENT, s->out + o);
        i += len;
    }
    return o;
}

int llm_detok_stream_push(llm_detok_stream *s, int32_t id, const char **text, size_t *len)
{
    const char *piece;
    size_t plen;
    int rc;

    *text = "";
    *len = 0;
    rc = llm_token_piece(s->t, id, s->special, &piece, &plen);
    if (rc)
        return rc;
    /* each input byte yields at most 3 output bytes */
    rc = reserve(s, (plen + s->n_held) * 3 + 4);
    if (rc)
        return rc;
    *len = feed(s, (const unsigned char *)piece, plen);
    s->out[*len] = '\0';
    *text = s->out;
    return 0;
}

int llm_detok_stream_flush(llm_detok_stream *s, const char **text, size_t *len)
{
    size_t o = 0;
    int rc;

    *text = "";
    *len = 0;
    rc = reserve(s, 16);
    if (rc)
        return rc;
    /* the held bytes are a valid prefix: one U+FFFD stands for them all */
    if (s->n_held)
        o = llm_utf8_encode(LLM_UC_REPLACEMENT, s->out);
    s->n_held = 0;
    s->out[o] = '\0';
    *text = s->out;
    *len = o;
    return 0;
}

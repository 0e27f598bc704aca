/*
 * gen.c - the per-sequence decoding step (see gen.h).
 *
 * Owns the sampler, the grammar state (plus a probe copy used to check the
 * token budget), the stop-string filter, the output text and the queue of
 * forced closing tokens of one sequence.  Runs on whichever thread steps the
 * sequence (the engine thread), one step at a time.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aios/error.h"
#include "aios/log.h"
#include "llmcore/gen.h"

#define RESAMPLE_TRIES 8

struct llm_gen {
    llm_gen_params p;
    const llm_gvocab *v;
    llm_grammar *g;
    llm_gstate *gs;        /* NULL without a grammar */
    llm_gstate *probe;     /* scratch for budget checks */
    llm_sampler *smp;
    llm_stop *stop;
    bool tools;
    uint32_t *mask;
    int32_t n_tokens;
    llm_finish finish;
    bool forcing;
    char *text;            /* everything released so far */
    size_t n_text, cap_text;
    char *step;            /* the text of the current step */
    size_t n_step, cap_step;
    int32_t *forced;       /* closing tokens still to emit */
    int n_forced, i_forced, cap_forced;
    char *comp;            /* completion scratch */
    size_t cap_comp;
    json_t *tool_calls;
};

const char *llm_finish_name(llm_finish f)
{
    static const char *const names[] = {
        [LLM_FINISH_NONE] = NULL,          [LLM_FINISH_STOP] = "stop",
        [LLM_FINISH_LENGTH] = "length",    [LLM_FINISH_TOOL_CALLS] = "tool_calls",
        [LLM_FINISH_CANCELLED] = "cancelled",
    };
    return (unsigned)f < sizeof(names) / sizeof(names[0]) ? names[f] : NULL;
}

void llm_gen_params_default(llm_gen_params *p)
{
    llm_sample_params_default(&p->sample);
    p->max_tokens = 0;
    p->close_on_length = true;
}

int llm_gen_new(const llm_gen_params *p, const llm_gvocab *v, llm_grammar *g, llm_stop *stop,
                bool tools, llm_gen **out)
{
    llm_gen *gen = calloc(1, sizeof(*gen));
    int n = llm_gvocab_n_vocab(v);
    int rc = AIOS_ENOMEM;

    *out = NULL;
    if (!gen) {
        llm_stop_free(stop);
        return AIOS_ENOMEM;
    }
    gen->p = *p;
    gen->v = v;
    gen->tools = tools;
    gen->stop = stop;
    if (!gen->stop && (rc = llm_stop_new(NULL, NULL, 0, &gen->stop)) < 0)
        goto out_free;
    if ((rc = llm_sampler_new(&p->sample, n, &gen->smp)) < 0)
        goto out_free;
    if (g) {
        gen->g = g;
        llm_grammar_ref(g);
        if ((rc = llm_gstate_new(g, &gen->gs)) < 0 || (rc = llm_gstate_new(g, &gen->probe)) < 0)
            goto out_free;
        gen->mask = malloc((size_t)(n + 31) / 32 * 4);
        if (!gen->mask) {
            rc = AIOS_ENOMEM;
            goto out_free;
        }
    }
    gen->text = malloc(1);
    if (!gen->text) {
        rc = AIOS_ENOMEM;
        goto out_free;
    }
    gen->text[0] = 0;
    gen->cap_text = 1;
    *out = gen;
    return 0;

out_free:
    llm_gen_free(gen);
    return rc;
}

void llm_gen_free(llm_gen *gen)
{
    if (!gen)
        return;
    llm_gstate_free(gen->gs);
    llm_gstate_free(gen->probe);
    llm_grammar_unref(gen->g);
    llm_sampler_free(gen->smp);
    llm_stop_free(gen->stop);
    free(gen->mask);
    free(gen->text);
    free(gen->step);
    free(gen->forced);
    free(gen->comp);
    json_decref(gen->tool_calls);
    free(gen);
}

static bool append(char **buf, size_t *n, size_t *cap, const char *s, size_t len)
{
    if (*n + len + 1 > *cap) {
        size_t nc = *cap ? *cap : 64;
        while (nc < *n + len + 1)
            nc *= 2;
        char *p = realloc(*buf, nc);
        if (!p)
            return false;
        *buf = p;
        *cap = nc;
    }
    memcpy(*buf + *n, s, len);
    *n += len;
    (*buf)[*n] = 0;
    return true;
}

/* Release text: into the step's text and the whole output. */
static int release(llm_gen *gen, const char *s, size_t len)
{
    if (!append(&gen->step, &gen->n_step, &gen->cap_step, s, len) ||
        !append(&gen->text, &gen->n_text, &gen->cap_text, s, len))
        return AIOS_ENOMEM;
    return 0;
}

/*
 * Tokens needed to close the document from st (0 when it may end now).
 * With store, the closing tokens are queued in gen->forced.
 */
static int need_tokens(llm_gen *gen, llm_gstate *st, bool store)
{
    int n, k;

    if (llm_gstate_can_end(st))
        return 0;
    n = llm_gstate_completion(st, gen->comp, gen->cap_comp);
    if (n < 0)
        return n;
    if ((size_t)n > gen->cap_comp) {
        char *c = realloc(gen->comp, (size_t)n);
        if (!c)
            return AIOS_ENOMEM;
        gen->comp = c;
        gen->cap_comp = (size_t)n;
        n = llm_gstate_completion(st, gen->comp, gen->cap_comp);
        if (n < 0)
            return n;
    }
    k = llm_gvocab_greedy_tokens(gen->v, gen->comp, (size_t)n, NULL, 0);
    if (k < 0 || !store)
        return k;
    if (k > gen->cap_forced) {
        int32_t *f = realloc(gen->forced, (size_t)k * sizeof(int32_t));
        if (!f)
            return AIOS_ENOMEM;
        gen->forced = f;
        gen->cap_forced = k;
    }
    gen->n_forced = llm_gvocab_greedy_tokens(gen->v, gen->comp, (size_t)n, gen->forced, k);
    gen->i_forced = 0;
    return k;
}

/* Whether the budget still closes the document after tok. */
static int fits_after(llm_gen *gen, int32_t tok, int32_t remaining)
{
    int need, rc;

    if (llm_gvocab_is_eog(gen->v, tok))
        return 1;
    if ((rc = llm_gstate_copy(gen->probe, gen->gs)) < 0 ||
        (rc = llm_gstate_accept(gen->probe, tok)) < 0)
        return rc;
    need = need_tokens(gen, gen->probe, false);
    if (need < 0)
        return need;
    return need <= remaining - 1;
}

/* End the sequence: flush the held text, settle the finish reason. */
static void end(llm_gen *gen, llm_finish why, llm_gen_step *out)
{
    const char *t;
    size_t n;

    llm_stop_flush(gen->stop, &t, &n);
    if (n)
        release(gen, t, n);
    if (gen->tools && (why == LLM_FINISH_STOP || why == LLM_FINISH_LENGTH)) {
        /* a call closed by the budget is still a call; the reason stays "length" */
        json_t *calls = NULL;
        if (llm_grammar_parse_tool_calls(gen->text, gen->n_text, &calls) == 0) {
            gen->tool_calls = calls;
            if (why == LLM_FINISH_STOP)
                why = LLM_FINISH_TOOL_CALLS;
        }
    }
    gen->finish = why;
    out->finish = why;
    out->text = gen->step ? gen->step : "";
    out->text_len = gen->n_step;
}

void llm_gen_finish(llm_gen *gen, llm_finish why, llm_gen_step *out)
{
    memset(out, 0, sizeof(*out));
    out->token = -1;
    gen->n_step = 0;
    if (gen->finish != LLM_FINISH_NONE) {
        out->finish = gen->finish;
        out->text = "";
        return;
    }
    end(gen, why, out);
}

/* Choose the token of this step (sampling, masking, budget). */
static int32_t choose(llm_gen *gen, const float *logits, llm_gen_step *out)
{
    llm_sample_info *info = &out->info;
    int32_t remaining = gen->p.max_tokens > 0 ? gen->p.max_tokens - gen->n_tokens : INT32_MAX;
    bool budget = gen->gs && gen->p.close_on_length && gen->p.max_tokens > 0;
    bool have_mask = false;
    int32_t tok;
    int rc;

    if (gen->i_forced < gen->n_forced) {
        tok = gen->forced[gen->i_forced++];
        out->forced = true;
        llm_sampler_logprobs(gen->smp, logits, tok, info);
        return tok;
    }
    if (!gen->gs)
        return llm_sampler_sample(gen->smp, logits, NULL, info);
    if (budget) {
        int need = need_tokens(gen, gen->gs, false);
        if (need == AIOS_ENOENT) {
            /* some closing byte has no token in this vocabulary: the budget
             * cannot be kept, generate as if close_on_length were off */
            AIOS_LOG(AIOS_LOG_WARN, "llm", "cannot tokenize the closing text; max_tokens may cut "
                                           "the document");
            gen->p.close_on_length = false;
            return choose(gen, logits, out);
        }
        if (need < 0)
            return need;
        if (need > 0 && need >= remaining) {
            if ((rc = need_tokens(gen, gen->gs, true)) < 0)
                return rc;
            gen->forcing = true;
            return choose(gen, logits, out);
        }
    }
    /* greedy picks are checked before a whole mask is computed */
    if (llm_sampler_params(gen->smp)->temperature <= 0.0f ||
        llm_sampler_params(gen->smp)->top_k == 1) {
        tok = llm_sampler_sample(gen->smp, logits, NULL, info);
        if (tok >= 0 && !llm_gstate_allows(gen->gs, tok))
            tok = -1;
    } else {
        tok = -1;
    }
    for (int tries = 0; tries <= RESAMPLE_TRIES; tries++) {
        if (tok < 0) {
            if (!have_mask) {
                if ((rc = llm_gstate_mask(gen->gs, gen->mask)) < 0)
                    return rc;
                have_mask = true;
            }
            tok = llm_sampler_sample(gen->smp, logits, gen->mask, info);
            if (tok < 0)
                break;
        }
        if (!budget)
            return tok;
        rc = fits_after(gen, tok, remaining);
        if (rc < 0)
            return rc;
        if (rc)
            return tok;
        if (!have_mask) {
            if ((rc = llm_gstate_mask(gen->gs, gen->mask)) < 0)
                return rc;
            have_mask = true;
        }
        gen->mask[tok >> 5] &= ~(1u << (tok & 31));
        tok = -1;
    }
    /* nothing that fits was drawn: close the document now */
    if ((rc = need_tokens(gen, gen->gs, true)) < 0)
        return rc;
    if (gen->n_forced == 0)
        return AIOS_EINTERNAL;
    gen->forcing = true;
    return choose(gen, logits, out);
}

int llm_gen_next(llm_gen *gen, const float *logits, llm_gen_step *out)
{
    const char *bytes, *t;
    uint32_t len;
    size_t n;
    int32_t tok;
    int rc;

    memset(out, 0, sizeof(*out));
    out->token = -1;
    out->text = "";
    gen->n_step = 0;
    if (gen->finish != LLM_FINISH_NONE)
        return AIOS_EINVAL;
    if (gen->p.max_tokens > 0 && gen->n_tokens >= gen->p.max_tokens) {
        end(gen, LLM_FINISH_LENGTH, out);
        return 0;
    }
    tok = choose(gen, logits, out);
    if (tok < 0)
        return tok;
    out->token = tok;
    if (llm_gvocab_is_eog(gen->v, tok)) {
        end(gen, LLM_FINISH_STOP, out);
        return 0;
    }
    if (gen->gs && (rc = llm_gstate_accept(gen->gs, tok)) < 0)
        return rc;
    if ((rc = llm_sampler_accept(gen->smp, tok)) < 0)
        return rc;
    gen->n_tokens++;
    bytes = llm_gvocab_token(gen->v, tok, &len);
    if (llm_gvocab_is_special(gen->v, tok))
        len = 0; /* control tokens are not text */
    rc = llm_stop_feed(gen->stop, bytes, len, &t, &n);
    if (rc < 0)
        return rc;
    if (n && (rc = release(gen, t, n)) < 0)
        return rc;
    if (rc == 1 || llm_stop_matched(gen->stop, NULL)) {
        end(gen, LLM_FINISH_STOP, out);
        return 0;
    }
    if (gen->gs && llm_gstate_finished(gen->gs)) {
        end(gen, gen->forcing ? LLM_FINISH_LENGTH : LLM_FINISH_STOP, out);
        return 0;
    }
    if (gen->p.max_tokens > 0 && gen->n_tokens >= gen->p.max_tokens) {
        end(gen, LLM_FINISH_LENGTH, out);
        return 0;
    }
    out->text = gen->step ? gen->step : "";
    out->text_len = gen->n_step;
    return 0;
}

const char *llm_gen_text(const llm_gen *gen, size_t *len)
{
    if (len)
        *len = gen->n_text;
    return gen->text;
}

int32_t llm_gen_n_tokens(const llm_gen *gen)
{
    return gen->n_tokens;
}

llm_finish llm_gen_finish_reason(const llm_gen *gen)
{
    return gen->finish;
}

const json_t *llm_gen_tool_calls(const llm_gen *gen)
{
    return gen->tool_calls;
}

int llm_gen_run(llm_gen *gen, const llm_gen_io *io)
{
    llm_gen_step st;
    int rc;

    while (gen->finish == LLM_FINISH_NONE) {
        const float *logits;
        if (io->cancelled && io->cancelled(io->ud)) {
            llm_gen_finish(gen, LLM_FINISH_CANCELLED, &st);
            if (io->emit && (rc = io->emit(io->ud, &st)) < 0)
                return rc;
            break;
        }
        if ((rc = io->logits(io->ud, &logits)) < 0)
            return rc;
        if ((rc = llm_gen_next(gen, logits, &st)) < 0)
            return rc;
        if (io->emit && (rc = io->emit(io->ud, &st)) < 0)
            return rc;
        if (st.finish != LLM_FINISH_NONE)
            break;
        if ((rc = io->feed(io->ud, st.token)) < 0)
            return rc;
    }
    return 0;
}

int llm_gen_from_request(const json_t *req, const llm_gvocab *v, int32_t default_max_tokens,
                         llm_gen **out, char *err, size_t errlen)
{
    llm_gen_params p;
    llm_grammar *g = NULL;
    llm_stop *stop = NULL;
    bool tools = false;
    const json_t *mt;
    int rc;

    *out = NULL;
    if (err && errlen)
        err[0] = 0;
    llm_gen_params_default(&p);
    p.max_tokens = default_max_tokens;
    if ((rc = llm_sample_params_from_json(req, &p.sample, err, errlen)) < 0)
        return rc;
    mt = json_object_get(req, "max_completion_tokens");
    if (!mt || json_is_null(mt))
        mt = json_object_get(req, "max_tokens");
    if (mt && !json_is_null(mt)) {
        if (!json_is_integer(mt) || json_integer_value(mt) < 1 ||
            json_integer_value(mt) > INT32_MAX) {
            snprintf(err, errlen, "'max_tokens' must be a positive integer");
            return AIOS_EINVAL;
        }
        p.max_tokens = (int32_t)json_integer_value(mt);
    }
    if ((rc = llm_stop_from_json(json_object_get(req, "stop"), &stop, err, errlen)) < 0)
        return rc;
    if ((rc = llm_grammar_from_request(v, req, &g, &tools, err, errlen)) < 0) {
        llm_stop_free(stop);
        return rc;
    }
    rc = llm_gen_new(&p, v, g, stop, tools && g, out);
    llm_grammar_unref(g);
    return rc;
}

/* ---- snapshots ---------------------------------------------------------------------------- */

#define GEN_MAGIC 0x314e4547u /* "GEN1" */

typedef struct gen_hdr {
    uint32_t magic;
    int32_t n_tokens;
    int32_t finish;
    int32_t forcing;
    int32_t n_forced, i_forced;
    uint64_t n_text;
    uint64_t n_smp, n_gs, n_stop;
} gen_hdr;

size_t llm_gen_save(const llm_gen *gen, void *buf, size_t cap)
{
    gen_hdr h = {GEN_MAGIC, gen->n_tokens, (int32_t)gen->finish, gen->forcing, gen->n_forced,
                 gen->i_forced, gen->n_text, 0, 0, 0};
    size_t need;
    uint8_t *p = buf;

    h.n_smp = llm_sampler_save(gen->smp, NULL, 0);
    h.n_gs = gen->gs ? llm_gstate_save(gen->gs, NULL, 0) : 0;
    h.n_stop = llm_stop_save(gen->stop, NULL, 0);
    need = sizeof(h) + (size_t)gen->n_forced * 4 + gen->n_text + h.n_smp + h.n_gs + h.n_stop;
    if (!buf || cap < need)
        return need;
    memcpy(p, &h, sizeof(h));
    p += sizeof(h);
    if (gen->n_forced)
        memcpy(p, gen->forced, (size_t)gen->n_forced * 4);
    p += (size_t)gen->n_forced * 4;
    memcpy(p, gen->text, gen->n_text);
    p += gen->n_text;
    p += llm_sampler_save(gen->smp, p, h.n_smp);
    if (gen->gs)
        p += llm_gstate_save(gen->gs, p, h.n_gs);
    llm_stop_save(gen->stop, p, h.n_stop);
    return need;
}

int llm_gen_restore(llm_gen *gen, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    gen_hdr h;
    size_t need;
    int rc;

    if (len < sizeof(h))
        return AIOS_ECORRUPT;
    memcpy(&h, p, sizeof(h));
    if (h.magic != GEN_MAGIC || h.n_forced < 0 || h.n_forced > (1 << 20) || h.i_forced < 0 ||
        h.i_forced > h.n_forced || h.finish < 0 || h.finish > LLM_FINISH_CANCELLED ||
        (h.n_gs != 0) != (gen->gs != NULL) || h.n_text > len || h.n_smp > len ||
        h.n_gs > len || h.n_stop > len)
        return AIOS_ECORRUPT;
    need = sizeof(h) + (size_t)h.n_forced * 4 + h.n_text + h.n_smp + h.n_gs + h.n_stop;
    if (need != len)
        return AIOS_ECORRUPT;
    p += sizeof(h);
    if (h.n_forced > gen->cap_forced) {
        int32_t *f = realloc(gen->forced, (size_t)h.n_forced * 4);
        if (!f)
            return AIOS_ENOMEM;
        gen->forced = f;
        gen->cap_forced = h.n_forced;
    }
    const uint8_t *forced = p;
    p += (size_t)h.n_forced * 4;
    const uint8_t *text = p;
    p += h.n_text;
    if ((rc = llm_sampler_restore(gen->smp, p, h.n_smp)) < 0)
        return rc;
    p += h.n_smp;
    if (gen->gs && (rc = llm_gstate_restore(gen->gs, p, h.n_gs)) < 0)
        return rc;
    p += h.n_gs;
    if ((rc = llm_stop_restore(gen->stop, p, h.n_stop)) < 0)
        return rc;
    if (h.n_forced)
        memcpy(gen->forced, forced, (size_t)h.n_forced * 4);
    gen->n_forced = h.n_forced;
    gen->i_forced = h.i_forced;
    gen->n_text = 0;
    if (!append(&gen->text, &gen->n_text, &gen->cap_text, (const char *)text, h.n_text))
        return AIOS_ENOMEM;
    gen->n_tokens = h.n_tokens;
    gen->finish = (llm_finish)h.finish;
    gen->forcing = h.forcing;
    json_decref(gen->tool_calls);
    gen->tool_calls = NULL;
    if (gen->finish == LLM_FINISH_TOOL_CALLS)
        llm_grammar_parse_tool_calls(gen->text, gen->n_text, &gen->tool_calls);
    return 0;
}

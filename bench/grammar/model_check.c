/*
 * model_check.c - the JSON-schema check with the real model: for each of
 * the ten test schemas (tests/reference/grammar/schemas.json), N sampled
 * generations by the default model through the engine's batched forward,
 * every one constrained by the grammar; each output must parse and validate
 * (an independent validator and the kernel's aios_jschema_check).
 *
 * The N generations of a schema run as one batch: the prompt is prefilled
 * once, its KV sequence forked N times, and each decode step runs every
 * live sequence's next token in one llm_forward call, each sequence with its
 * own llm_gen (sampler, grammar state, budget) - the way the engine is meant
 * to use llmcore/gen.h.  The prompt is rendered with the model's chat
 * template and tokenized by the project's tokenizer (llmcore/chat.h).
 *
 *   build/grammar-model-check [--model PATH] [-n N] [-t THREADS] [--max-tokens M]
 * Prints per schema: valid/total, finish reasons, tokens, and a RESULT line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aios/error.h"
#include "aios/jschema.h"
#include "aios/llm.h"
#include "llmcore/chat.h"
#include "llmcore/gen.h"
#include "llmcore/grammar.h"
#include "llmcore/vocab_bytes.h"
#include "tests/unit/llmcore/jsonschema_check.h"

#define MAX_N 64

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static bool check(const json_t *schema, const char *text, size_t len, char *why, size_t n)
{
    json_error_t je;
    json_t *doc = json_loadb(text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
    bool ok;

    if (!doc) {
        snprintf(why, n, "does not parse: %s", je.text);
        return false;
    }
    ok = tv_validate(schema, schema, doc, why, n);
    if (ok && aios_jschema_validate_schema(schema, NULL, 0) == 0) {
        char path[128], msg[128];
        if (aios_jschema_check(schema, doc, path, sizeof(path), msg, sizeof(msg)) != 0) {
            snprintf(why, n, "aios_jschema_check: %.100s: %.100s", path, msg);
            ok = false;
        }
    }
    json_decref(doc);
    return ok;
}

int main(int argc, char **argv)
{
    const char *model = NULL;
    char defpath[1024];
    int n_gen = 20, n_threads = 0, max_tokens = 96, total = 0, valid = 0, tokens = 0;
    int fin[5] = {0};
    llm_model *m;
    llm_kv *kv;
    llm_ctx *ctx;
    llm_tokenizer *tok;
    llm_vocab_bytes *vb;
    llm_gvocab *v;
    char err[512];
    json_error_t je;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--model") && i + 1 < argc)
            model = argv[++i];
        else if (!strcmp(argv[i], "-n") && i + 1 < argc)
            n_gen = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-t") && i + 1 < argc)
            n_threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--max-tokens") && i + 1 < argc)
            max_tokens = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--model PATH] [-n N] [-t THREADS] [--max-tokens M]\n",
                    argv[0]);
            return 2;
        }
    }
    if (n_gen < 1 || n_gen > MAX_N)
        n_gen = 20;
    if (!model) {
        snprintf(defpath, sizeof(defpath),
                 "%s/.local/share/aios/models/SmolLM2-135M-Instruct.Q4_1.gguf",
                 getenv("HOME") ? getenv("HOME") : "/root");
        model = defpath;
    }
    json_t *cases = json_load_file("tests/reference/grammar/schemas.json", 0, &je);
    if (!cases) {
        fprintf(stderr, "schemas: %s (run from the repository root)\n", je.text);
        return 1;
    }
    if (llm_model_load(model, NULL, &m, err, sizeof(err)) < 0) {
        fprintf(stderr, "model: %s\n", err);
        return 1;
    }
    if (llm_tokenizer_from_gguf(llm_model_gguf(m), &tok, err, sizeof(err)) < 0) {
        fprintf(stderr, "tokenizer: %s\n", err);
        return 1;
    }
    if (llm_vocab_bytes_from_tokenizer(tok, &vb) < 0 ||
        llm_gvocab_new((const char *const *)vb->bytes, vb->len, vb->n_vocab, vb->special,
                       vb->eog, vb->n_eog, &v) < 0)
        return 1;
    llm_gvocab_prewarm(v);
    if (llm_kv_new(m, (size_t)512 << 20, 16, LLM_KV_F16, &kv) < 0 ||
        llm_ctx_new(m, kv, n_threads, 1024, &ctx) < 0) {
        fprintf(stderr, "engine setup failed\n");
        return 1;
    }
    int nv = vb->n_vocab;
    float *logits = malloc((size_t)nv * MAX_N * sizeof(float));
    double t_start = now();

    for (size_t ci = 0; ci < json_array_size(cases); ci++) {
        const json_t *c = json_array_get(cases, ci);
        const char *name = json_string_value(json_object_get(c, "name"));
        const json_t *schema = json_object_get(c, "schema");
        json_t *check_schema, *req;
        int32_t prompt[2048], np = 0, *ids = NULL;
        size_t nids = 0;
        json_t *msgs;
        char *stext;
        char sys[8192];
        double t0 = now();

        /* the request: response_format or tools, sampling varied per generation */
        if (schema) {
            check_schema = json_incref((json_t *)schema);
            stext = json_dumps(schema, JSON_COMPACT);
            snprintf(sys, sizeof(sys),
                     "You answer with one JSON value that matches this JSON Schema: %s",
                     stext);
        } else {
            const json_t *tools = json_object_get(c, "tools");
            check_schema = llm_grammar_tools_schema(tools, json_object_get(c, "tool_choice"),
                                                    false, err, sizeof(err));
            stext = json_dumps(tools, JSON_COMPACT);
            snprintf(sys, sizeof(sys),
                     "You call one of these tools by answering with "
                     "{\"name\": <tool name>, \"arguments\": {...}}: %s", stext);
        }
        free(stext);
        msgs = json_pack("[{s:s,s:s},{s:s,s:s}]", "role", "system", "content", sys, "role", "user", "content",
                         json_string_value(json_object_get(c, "prompt")));
        if (!msgs || llm_chat_tokenize(tok, msgs, true, NULL, &ids, &nids, err, sizeof(err)) < 0 ||
            nids > 2048) {
            fprintf(stderr, "%s: prompt does not tokenize: %s\n", name, err);
            return 1;
        }
        json_decref(msgs);
        memcpy(prompt, ids, sizeof(int32_t) * nids);
        np = (int32_t)nids;
        free(ids);

        /* prefill once */
        int32_t base, seqs[MAX_N], pos[MAX_N], toks[MAX_N];
        int32_t posv[2048], seqv[2048];
        uint8_t want[2048];
        llm_kv_seq_new(kv, &base);
        for (int i = 0; i < np; i++) {
            posv[i] = i;
            seqv[i] = base;
            want[i] = i == np - 1;
        }
        llm_batch b = {np, prompt, seqv, posv, want};
        if (llm_forward(ctx, &b, logits) < 0) {
            fprintf(stderr, "%s: prefill failed\n", name);
            return 1;
        }
        llm_gen *gens[MAX_N];
        bool live[MAX_N];
        int row[MAX_N];
        for (int k = 0; k < n_gen; k++) {
            req = schema ? json_pack("{s:{s:s,s:{s:s,s:O}}}", "response_format", "type",
                                     "json_schema", "json_schema", "name", name, "schema", schema)
                         : json_pack("{s:O,s:O}", "tools", json_object_get(c, "tools"),
                                     "tool_choice", json_object_get(c, "tool_choice"));
            json_object_set_new(req, "seed", json_integer(k));
            json_object_set_new(req, "temperature", json_real(k % 4 == 0 ? 0.0 : 0.6 + 0.1 * (k % 5)));
            json_object_set_new(req, "top_p", json_real(0.95));
            json_object_set_new(req, "max_tokens", json_integer(max_tokens));
            if (llm_gen_from_request(req, v, max_tokens, &gens[k], err, sizeof(err)) < 0) {
                fprintf(stderr, "%s: %s\n", name, err);
                return 1;
            }
            json_decref(req);
            llm_kv_seq_fork(kv, base, &seqs[k]);
            pos[k] = np;
            live[k] = true;
            row[k] = -1; /* first step: the prefill's logits */
        }
        /* decode: one batch per step */
        int n_live = n_gen;
        while (n_live > 0) {
            int nb = 0;
            for (int k = 0; k < n_gen; k++) {
                if (!live[k])
                    continue;
                llm_gen_step st;
                const float *l = row[k] < 0 ? logits + (size_t)0 : logits + (size_t)row[k] * nv;
                if (llm_gen_next(gens[k], l, &st) < 0) {
                    fprintf(stderr, "%s #%d: step failed\n", name, k);
                    return 1;
                }
                if (st.finish != LLM_FINISH_NONE) {
                    live[k] = false;
                    n_live--;
                    llm_kv_seq_free(kv, seqs[k]);
                    continue;
                }
                toks[nb] = st.token;
                seqv[nb] = seqs[k];
                posv[nb] = pos[k]++;
                want[nb] = 1;
                row[k] = nb++;
            }
            if (nb == 0)
                break;
            llm_batch d = {nb, toks, seqv, posv, want};
            if (llm_forward(ctx, &d, logits) < 0) {
                fprintf(stderr, "%s: forward failed\n", name);
                return 1;
            }
        }
        llm_kv_seq_free(kv, base);
        /* check */
        int ok = 0, ntok = 0;
        for (int k = 0; k < n_gen; k++) {
            size_t len;
            const char *text = llm_gen_text(gens[k], &len);
            char why[256];
            llm_finish f = llm_gen_finish_reason(gens[k]);
            fin[f]++;
            ntok += llm_gen_n_tokens(gens[k]);
            if (check(check_schema, text, len, why, sizeof(why)))
                ok++;
            else
                printf("  INVALID %s #%d (%s): %s\n    %s\n", name, k, llm_finish_name(f), why, text);
            if (k < 2)
                printf("  %s #%d (%s): %.200s\n", name, k, llm_finish_name(f), text);
            llm_gen_free(gens[k]);
        }
        printf("%-12s %d/%d valid, %d tokens, %.1f s\n", name, ok, n_gen, ntok, now() - t0);
        fflush(stdout);
        total += n_gen;
        valid += ok;
        tokens += ntok;
        json_decref(check_schema);
    }
    printf("RESULT valid=%d total=%d tokens=%d finish_stop=%d finish_length=%d "
           "finish_tool_calls=%d seconds=%.1f\n",
           valid, total, tokens, fin[LLM_FINISH_STOP], fin[LLM_FINISH_LENGTH],
           fin[LLM_FINISH_TOOL_CALLS], now() - t_start);
    free(logits);
    llm_ctx_free(ctx);
    llm_kv_free(kv);
    llm_gvocab_free(v);
    llm_vocab_bytes_free(vb);
    llm_tokenizer_free(tok);
    llm_model_free(m);
    json_decref(cases);
    return valid == total ? 0 : 1;
}

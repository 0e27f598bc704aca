/*
 * grammar_bench.c - cost of constrained decoding per token on the default
 * model's vocabulary (49,152 tokens).
 *
 * For each bench schema it walks a fixed valid document token by token and
 * times llm_gstate_mask() at every step: once with an empty mask cache
 * ("cold": the first document a new schema sees) and once more ("warm":
 * every later document).  It then runs random-logit generations through
 * the whole decode loop and times the sampler alone.  The token ids and
 * schemas are written to an output folder so the peer script
 * (peer_llamacpp.py) can time llama.cpp's grammar sampler on exactly the
 * same steps.  Single-threaded; run it on a quiet machine, twice.
 *
 *   build/grammar-bench [--model PATH] [--out DIR] [--reps N]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "aios/error.h"
#include "llmcore/gen.h"
#include "llmcore/grammar.h"
#include "llmcore/sample.h"
#include "llmcore/vocab_bytes.h"

typedef struct bench_case {
    const char *name;
    const char *schema;  /* NULL: any JSON object */
    const char *doc;     /* a valid instance, properties in schema order */
} bench_case;

static const bench_case cases[] = {
    {"person",
     "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"maxLength\":40},"
     "\"age\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":150},\"email\":{\"type\":\"string\"},"
     "\"tags\":{\"type\":\"array\",\"items\":{\"enum\":[\"admin\",\"dev\",\"ops\"]},\"maxItems\":4}},"
     "\"required\":[\"name\",\"age\"],\"additionalProperties\":false}",
     "{\"name\":\"Ada Lovelace\",\"age\":36,\"email\":\"ada@example.org\",\"tags\":[\"dev\","
     "\"ops\"]}"},
    {"order",
     "{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"string\",\"format\":\"uuid\"},"
     "\"placed\":{\"type\":\"string\",\"format\":\"date\"},\"lines\":{\"type\":\"array\","
     "\"minItems\":1,\"items\":{\"type\":\"object\",\"properties\":{\"sku\":{\"type\":\"string\"},"
     "\"qty\":{\"type\":\"integer\",\"minimum\":1},\"price\":{\"type\":\"number\"}},"
     "\"required\":[\"sku\",\"qty\",\"price\"],\"additionalProperties\":false}},"
     "\"note\":{\"type\":\"string\"}},\"required\":[\"id\",\"placed\",\"lines\",\"note\"],"
     "\"additionalProperties\":false}",
     "{\"id\":\"0f8fad5b-d9cb-469f-a165-70867728950e\",\"placed\":\"2024-02-29\",\"lines\":["
     "{\"sku\":\"BOOK-42\",\"qty\":2,\"price\":19.99},{\"sku\":\"PEN\",\"qty\":10,\"price\":1.5}],"
     "\"note\":\"Please deliver to the back door, ring twice and wait.\"}"},
    {"tree",
     "{\"$defs\":{\"node\":{\"type\":\"object\",\"properties\":{\"value\":{\"type\":\"integer\"},"
     "\"children\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/$defs/node\"}}},"
     "\"required\":[\"value\",\"children\"],\"additionalProperties\":false}},"
     "\"$ref\":\"#/$defs/node\"}",
     "{\"value\":1,\"children\":[{\"value\":2,\"children\":[]},{\"value\":3,\"children\":["
     "{\"value\":4,\"children\":[]}]}]}"},
    {"tool_call",
     "{\"anyOf\":[{\"type\":\"object\",\"properties\":{\"name\":{\"const\":\"get_weather\"},"
     "\"arguments\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"},"
     "\"unit\":{\"enum\":[\"celsius\",\"fahrenheit\"]}},\"required\":[\"city\",\"unit\"],"
     "\"additionalProperties\":false}},\"required\":[\"name\",\"arguments\"],"
     "\"additionalProperties\":false},{\"type\":\"object\",\"properties\":{\"name\":{\"const\":"
     "\"search_web\"},\"arguments\":{\"type\":\"object\",\"properties\":{\"query\":{\"type\":"
     "\"string\"},\"limit\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":20}},"
     "\"required\":[\"query\",\"limit\"],\"additionalProperties\":false}},"
     "\"required\":[\"name\",\"arguments\"],\"additionalProperties\":false}]}",
     "{\"name\":\"search_web\",\"arguments\":{\"query\":\"constrained decoding with pushdown "
     "automata\",\"limit\":5}}"},
    {"any_object", NULL,
     "{\"title\":\"Report\",\"pages\":12,\"draft\":false,\"authors\":[\"A. B.\",\"C. D.\"],"
     "\"meta\":{\"rev\":3.5,\"tags\":[],\"extra\":null}}"},
};
#define N_CASES (sizeof(cases) / sizeof(cases[0]))

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct stats {
    double p50, p99, mean, max;
} stats;

static stats summarize(double *v, int n)
{
    stats s = {0, 0, 0, 0};
    if (n <= 0)
        return s;
    qsort(v, (size_t)n, sizeof(double), cmp_d);
    for (int i = 0; i < n; i++)
        s.mean += v[i];
    s.mean /= n;
    s.p50 = v[n / 2];
    s.p99 = v[(int)((n - 1) * 0.99)];
    s.max = v[n - 1];
    return s;
}

static int compile(const llm_gvocab *v, const bench_case *c, llm_grammar **g)
{
    char err[256];
    json_error_t je;
    json_t *s;
    int rc;

    if (!c->schema)
        return llm_grammar_any_json(v, true, NULL, g);
    s = json_loads(c->schema, 0, &je);
    if (!s) {
        fprintf(stderr, "%s: bad schema: %s\n", c->name, je.text);
        return AIOS_EINVAL;
    }
    rc = llm_grammar_from_schema(v, s, NULL, g, err, sizeof(err));
    if (rc < 0)
        fprintf(stderr, "%s: %s\n", c->name, err);
    json_decref(s);
    return rc;
}

/* Walk the document's tokens, timing the mask before each; times[] gets
 * one entry per step (the last one is the eog step). */
static int walk_doc(llm_grammar *g, const int32_t *ids, int n, uint32_t *bits, double *times)
{
    llm_gstate *st;
    int rc = llm_gstate_new(g, &st);

    if (rc < 0)
        return rc;
    for (int i = 0; i <= n; i++) {
        double t0 = now_us();
        int cnt = llm_gstate_mask(st, bits);
        times[i] = now_us() - t0;
        if (cnt <= 0) {
            llm_gstate_free(st);
            return AIOS_EINTERNAL;
        }
        if (i < n && (rc = llm_gstate_accept(st, ids[i])) < 0) {
            fprintf(stderr, "token %d refused at step %d\n", ids[i], i);
            llm_gstate_free(st);
            return rc;
        }
    }
    rc = llm_gstate_can_end(st) ? 0 : AIOS_EINTERNAL;
    llm_gstate_free(st);
    return rc;
}

static void write_file(const char *dir, const char *name, const char *ext, const char *data,
                       size_t len)
{
    char path[1024];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s.%s", dir, name, ext);
    f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "cannot write '%s': %s\n", path, strerror(errno));
        return;
    }
    fwrite(data, 1, len, f);
    fclose(f);
}

/* Random logits (uniform noise) for the sampler timing. */
static void noise(float *l, int n, uint64_t *x)
{
    for (int i = 0; i < n; i++) {
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        l[i] = (float)(*x >> 40) / 16777216.0f * 12.0f;
    }
}

int main(int argc, char **argv)
{
    const char *model = NULL, *out = "bench/_work/grammar";
    char defpath[1024];
    int reps = 3;
    llm_vocab_bytes *vb;
    llm_gvocab *v;
    int rc;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--model") && i + 1 < argc)
            model = argv[++i];
        else if (!strcmp(argv[i], "--out") && i + 1 < argc)
            out = argv[++i];
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--model PATH] [--out DIR] [--reps N]\n", argv[0]);
            return 2;
        }
    }
    if (!model) {
        snprintf(defpath, sizeof(defpath),
                 "%s/.local/share/aios/models/SmolLM2-135M-Instruct.Q4_1.gguf",
                 getenv("HOME") ? getenv("HOME") : "/root");
        model = defpath;
    }
    mkdir("bench/_work", 0755);
    mkdir(out, 0755);
    double t0 = now_us();
    if ((rc = llm_vocab_bytes_load_file(model, &vb)) < 0) {
        fprintf(stderr, "cannot load '%s': %s\n", model, aios_strerror(rc));
        return 1;
    }
    if ((rc = llm_gvocab_new((const char *const *)vb->bytes, vb->len, vb->n_vocab, vb->special,
                             vb->eog, vb->n_eog, &v)) < 0)
        return 1;
    printf("vocabulary: %d tokens, trie built in %.1f ms (with the GGUF read)\n", vb->n_vocab,
           (now_us() - t0) / 1e3);
    uint32_t *bits = malloc((size_t)(vb->n_vocab + 31) / 32 * 4);
    static double all_cold[4096], all_warm[4096];
    int n_all_cold = 0, n_all_warm = 0;

    printf("%-11s %6s %8s | %26s | %26s | %26s\n", "", "", "", "cold (nothing cached)",
           "new grammar, vocab warm", "same grammar again");
    printf("%-11s %6s %8s | %8s %8s %8s | %8s %8s %8s | %8s %8s %8s\n", "schema", "tokens",
           "compile", "p50", "p99", "max", "p50", "p99", "max", "p50", "p99", "mean");
    static double all_fresh[4096];
    int n_all_fresh = 0;
    char json_path[1024];
    snprintf(json_path, sizeof(json_path), "%s/ours.jsonl", out);
    for (size_t c = 0; c < N_CASES; c++) {
        int32_t ids[1024];
        double cold[1024], fresh[1024], warm[1024], tmp[1024];
        int n = llm_gvocab_greedy_tokens(v, cases[c].doc, strlen(cases[c].doc), ids, 1024);
        llm_grammar *g = NULL;
        char line[16384];
        size_t o = 0;
        double tc = 1e30;

        if (n <= 0 || n > 1000)
            return 1;
        for (int i = 0; i < n; i++)
            o += (size_t)snprintf(line + o, sizeof(line) - o, "%d%s", ids[i], i + 1 < n ? " " : "\n");
        write_file(out, cases[c].name, "tokens", line, o);
        if (cases[c].schema)
            write_file(out, cases[c].name, "schema.json", cases[c].schema, strlen(cases[c].schema));

        /* 0: cold (vocabulary cache emptied), 1: new grammar, 2: same grammar */
        for (int phase = 0; phase < 3; phase++) {
            double *best = phase == 0 ? cold : phase == 1 ? fresh : warm;
            for (int r = 0; r < reps; r++) {
                if (phase < 2) {
                    if (phase == 0)
                        llm_gvocab_clear_cache(v);
                    llm_grammar_unref(g);
                    double c0 = now_us();
                    if (compile(v, &cases[c], &g) < 0)
                        return 1;
                    if (now_us() - c0 < tc)
                        tc = now_us() - c0;
                }
                if (walk_doc(g, ids, n, bits, tmp) < 0) {
                    fprintf(stderr, "%s: the document does not fit the grammar\n", cases[c].name);
                    return 1;
                }
                for (int i = 0; i <= n; i++)
                    best[i] = r == 0 || tmp[i] < best[i] ? tmp[i] : best[i];
            }
        }
        for (int i = 0; i <= n && n_all_cold < 4096; i++) {
            all_cold[n_all_cold++] = cold[i];
            all_fresh[n_all_fresh++] = fresh[i];
            all_warm[n_all_warm++] = warm[i];
        }
        stats sc = summarize(cold, n + 1), sf = summarize(fresh, n + 1), sw = summarize(warm, n + 1);
        printf("%-11s %6d %6.2fms | %6.1fus %6.0fus %6.0fus | %6.1fus %6.1fus %6.0fus | %6.1fus "
               "%6.1fus %6.1fus\n",
               cases[c].name, n, tc / 1e3, sc.p50, sc.p99, sc.max, sf.p50, sf.p99, sf.max, sw.p50,
               sw.p99, sw.mean);
        o = (size_t)snprintf(line, sizeof(line),
                             "{\"case\":\"%s\",\"steps\":%d,\"cold_p50_us\":%.1f,"
                             "\"cold_mean_us\":%.1f,\"new_p50_us\":%.1f,\"new_mean_us\":%.1f,"
                             "\"warm_p50_us\":%.1f,\"warm_p99_us\":%.1f,\"warm_mean_us\":%.1f}\n",
                             cases[c].name, n + 1, sc.p50, sc.mean, sf.p50, sf.mean, sw.p50,
                             sw.p99, sw.mean);
        FILE *jf = fopen(json_path, c == 0 ? "w" : "a");
        if (jf) {
            fputs(line, jf);
            fclose(jf);
        }
        llm_grammar_unref(g);
    }
    stats sc = summarize(all_cold, n_all_cold), sf = summarize(all_fresh, n_all_fresh),
          sw = summarize(all_warm, n_all_warm);
    printf("all steps:  cold p50 %.1fus p99 %.0fus mean %.0fus | new grammar p50 %.1fus p99 %.1fus "
           "mean %.1fus | warm p50 %.1fus p99 %.1fus mean %.1fus\n",
           sc.p50, sc.p99, sc.mean, sf.p50, sf.p99, sf.mean, sw.p50, sw.p99, sw.mean);

    /* the sampler alone on 49,152 random logits */
    static const struct { const char *name; float temp; int top_k; float top_p; } modes[] = {
        {"greedy", 0.0f, 0, 1.0f},
        {"temp=1", 1.0f, 0, 1.0f},
        {"top_k=40", 0.8f, 40, 1.0f},
        {"top_p=0.9", 0.8f, 0, 0.9f},
    };
    float *l = malloc((size_t)vb->n_vocab * sizeof(float));
    uint64_t x = 88172645463325252ull;
    double smp_p50[4];
    printf("sampler per token (49152 logits):");
    for (size_t m = 0; m < 4; m++) {
        llm_sample_params p;
        llm_sampler *s;
        double t[200];
        llm_sample_params_default(&p);
        p.temperature = modes[m].temp;
        p.top_k = modes[m].top_k;
        p.top_p = modes[m].top_p;
        p.repeat_penalty = 1.1f;
        p.seed = 1;
        p.has_seed = true;
        llm_sampler_new(&p, vb->n_vocab, &s);
        for (int i = 0; i < 200; i++) {
            noise(l, vb->n_vocab, &x);
            double a = now_us();
            int32_t tok = llm_sampler_sample(s, l, NULL, NULL);
            t[i] = now_us() - a;
            llm_sampler_accept(s, tok);
        }
        stats ss = summarize(t, 200);
        smp_p50[m] = ss.p50;
        printf(" %s %.0fus", modes[m].name, ss.p50);
        llm_sampler_free(s);
    }
    printf("\n");
    /* a whole decode step (llm_gen_next) with and without a grammar */
    static const struct { const char *name; const char *req; } steps[] = {
        {"text top_k=40", "{\"temperature\":0.8,\"top_k\":40,\"max_tokens\":64}"},
        {"person top_k=40", NULL},
        {"person greedy", NULL},
    };
    double step_p50[3];
    printf("decode step (llm_gen_next, random logits, 64-token budget):");
    for (int m = 0; m < 3; m++) {
        static double t[20 * 64];
        int nt = 0;
        char req[4096];
        if (steps[m].req)
            snprintf(req, sizeof(req), "%s", steps[m].req);
        else
            snprintf(req, sizeof(req),
                     "{\"temperature\":%s,\"top_k\":40,\"max_tokens\":64,\"response_format\":"
                     "{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"p\",\"schema\":%s}}}",
                     m == 2 ? "0" : "0.8", cases[0].schema);
        json_t *rq = json_loads(req, 0, NULL);
        for (int k = 0; k < 20; k++) {
            llm_gen *gen;
            char err[256];
            if (llm_gen_from_request(rq, v, 64, &gen, err, sizeof(err)) < 0) {
                fprintf(stderr, "%s\n", err);
                return 1;
            }
            while (llm_gen_finish_reason(gen) == LLM_FINISH_NONE && nt < 20 * 64) {
                llm_gen_step st;
                noise(l, vb->n_vocab, &x);
                double a = now_us();
                if (llm_gen_next(gen, l, &st) < 0)
                    return 1;
                t[nt++] = now_us() - a;
            }
            llm_gen_free(gen);
        }
        json_decref(rq);
        stats ss = summarize(t, nt);
        step_p50[m] = ss.p50;
        printf(" %s %.0fus (p99 %.0fus)", steps[m].name, ss.p50, ss.p99);
    }
    printf("\n");
    printf("RESULT step_text_us=%.0f step_json_us=%.0f step_json_greedy_us=%.0f ", step_p50[0],
           step_p50[1], step_p50[2]);
    printf("mask_cold_p50_us=%.1f mask_cold_p99_us=%.0f mask_cold_mean_us=%.0f "
           "mask_new_p50_us=%.1f mask_new_p99_us=%.1f mask_warm_p50_us=%.1f "
           "mask_warm_p99_us=%.1f mask_warm_mean_us=%.1f sampler_greedy_us=%.0f "
           "sampler_temp_us=%.0f sampler_topk_us=%.0f sampler_topp_us=%.0f\n",
           sc.p50, sc.p99, sc.mean, sf.p50, sf.p99, sw.p50, sw.p99, sw.mean, smp_p50[0],
           smp_p50[1], smp_p50[2], smp_p50[3]);
    free(l);
    free(bits);
    llm_gvocab_free(v);
    llm_vocab_bytes_free(vb);
    return 0;
}

/*
 * service.c - the LLM service: the one shared model, its text adapter and
 * engine, and the API the kernel and other subsystems call
 * (include/aios/llm.h, service section).
 *
 * Owns the loaded model, the text adapter and the engine.  Start and stop
 * run on the loop thread; submit, cancel, command, status and
 * llm_service_chat may be called from any thread (the state they read is
 * set before the engine starts and cleared after it stopped).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "aios/error.h"
#include "aios/llm.h"
#include "aios/log.h"
#include "llmcore/engine.h"
#include "llmcore/service_text.h"

static struct {
    llm_model *model;
    llm_text *text;
    llm_engine *engine;
    char *path;
    char reason[512];
    double load_s;
    bool available;
} svc;

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

bool llm_service_available(void)
{
    return svc.available;
}

/* Read the file once from start to end, logging progress: the model is
 * mapped, and reading it ahead keeps the first requests from stalling on
 * page faults (and shows a slow disk at start-up). */
static void read_ahead(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    static char buf[1 << 20];
    uint64_t done = 0, next_report = 0;
    ssize_t n;

    if (fd < 0)
        return;
    if (fstat(fd, &sb) < 0) {
        close(fd);
        return;
    }
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        done += (uint64_t)n;
        if (done >= next_report) {
            AIOS_LOG(AIOS_LOG_INFO, "llm", "loading model: %3d%% (%llu of %llu MiB)",
                     (int)(sb.st_size ? done * 100 / (uint64_t)sb.st_size : 100), (unsigned long long)(done >> 20),
                     (unsigned long long)((uint64_t)sb.st_size >> 20));
            next_report = done + (uint64_t)sb.st_size / 4 + 1;
        }
    }
    close(fd);
}

int llm_service_start(const llm_service_opts *o)
{
    char err[512] = "";
    double t0 = mono_s();
    llm_service_opts opts = *o;
    const llm_model_info *mi;
    int rc;

    svc.available = false;
    svc.reason[0] = 0;
    if (!o->model || !*o->model || strcmp(o->model, "none") == 0) {
        snprintf(svc.reason, sizeof(svc.reason), "no model configured (--model none)");
        return AIOS_EUNAVAIL;
    }
    svc.path = strdup(o->model);
    if (access(o->model, R_OK) != 0) {
        snprintf(svc.reason, sizeof(svc.reason), "cannot read model file '%.300s': %s", o->model, strerror(errno));
        AIOS_LOG(AIOS_LOG_ERROR, "llm", "%s; running without an LLM", svc.reason);
        return AIOS_EUNAVAIL;
    }
    AIOS_LOG(AIOS_LOG_INFO, "llm", "loading model '%s'", o->model);
    read_ahead(o->model);
    if ((rc = llm_model_load(o->model, NULL, &svc.model, err, sizeof(err))) < 0) {
        snprintf(svc.reason, sizeof(svc.reason), "cannot load model '%.200s': %.280s", o->model,
                 err[0] ? err : aios_strerror(rc));
        AIOS_LOG(AIOS_LOG_ERROR, "llm", "%s; running without an LLM", svc.reason);
        return AIOS_EUNAVAIL;
    }
    mi = llm_model_get_info(svc.model);
    if ((rc = llm_text_new(svc.model, &svc.text, err, sizeof(err))) < 0) {
        snprintf(svc.reason, sizeof(svc.reason), "model '%.200s': %.280s", o->model, err);
        AIOS_LOG(AIOS_LOG_ERROR, "llm", "%s; running without an LLM", svc.reason);
        goto out_free;
    }
    if (!opts.kv_bytes)
        opts.kv_bytes = (size_t)256 << 20;
    if (!opts.max_tokens)
        opts.max_tokens = 256;
    if (!opts.snap_host_bytes)
        opts.snap_host_bytes = (size_t)512 << 20;
    if (!opts.snap_disk_bytes)
        opts.snap_disk_bytes = (size_t)4 << 30;
    if (!opts.zstd_level)
        opts.zstd_level = 1;
    if (!opts.state_dir)
        opts.state_dir = "/tmp";
    mkdir(opts.state_dir, 0700);
    if ((rc = llm_engine_new(svc.model, svc.text, &opts, &svc.engine, err, sizeof(err))) < 0) {
        snprintf(svc.reason, sizeof(svc.reason), "cannot start the engine: %.400s", err);
        AIOS_LOG(AIOS_LOG_ERROR, "llm", "%s; running without an LLM", svc.reason);
        goto out_free;
    }
    svc.load_s = mono_s() - t0;
    svc.available = true;
    AIOS_LOG(AIOS_LOG_INFO, "llm",
             "model '%s' ready in %.2f s: %s, %s weights, %d layers, %.0f M parameters, vocab %d (%s, %s template), "
             "context %d, KV %zu MiB",
             mi->name && *mi->name ? mi->name : o->model, svc.load_s, mi->arch_name, mi->weight_type, mi->n_layer,
             (double)mi->n_params / 1e6, mi->n_vocab, llm_text_tokenizer_name(svc.text),
             llm_text_template_name(svc.text), mi->n_ctx_train, opts.kv_bytes >> 20);
    return 0;
out_free:
    llm_text_free(svc.text);
    svc.text = NULL;
    llm_model_free(svc.model);
    svc.model = NULL;
    return AIOS_EUNAVAIL;
}

void llm_service_stop(void)
{
    if (svc.engine)
        llm_engine_stop(svc.engine);
    svc.available = false;
}

void llm_service_free(void)
{
    llm_engine_free(svc.engine);
    svc.engine = NULL;
    llm_text_free(svc.text);
    svc.text = NULL;
    llm_model_free(svc.model);
    svc.model = NULL;
    free(svc.path);
    svc.path = NULL;
    svc.available = false;
}

static json_t *model_json(void)
{
    const llm_model_info *mi = llm_model_get_info(svc.model);

    const char *base = strrchr(svc.path, '/') ? strrchr(svc.path, '/') + 1 : svc.path;
    size_t bl = strlen(base);
    char id[256];

    if (bl > 5 && strcmp(base + bl - 5, ".gguf") == 0)
        bl -= 5;
    snprintf(id, sizeof(id), "%.*s", (int)bl, base);
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:i,s:i,s:i,s:i,s:i,s:I,s:I,s:s,s:s,s:s,s:f}", "id", id, "name",
                     mi->name && *mi->name ? mi->name : "", "path", svc.path, "arch", mi->arch_name,
                     "weight_type", mi->weight_type ? mi->weight_type : "", "n_vocab", mi->n_vocab, "n_ctx",
                     mi->n_ctx_train, "n_layer", mi->n_layer, "n_embd", mi->n_embd, "n_head", mi->n_head,
                     "n_params", (json_int_t)mi->n_params, "file_bytes", (json_int_t)mi->file_bytes, "tokenizer",
                     llm_text_tokenizer_name(svc.text), "chat_template", llm_text_template_name(svc.text),
                     "object", "model", "load_s", svc.load_s);
}

json_t *llm_service_status(void)
{
    json_t *o = json_pack("{s:b}", "available", svc.available);

    if (svc.available)
        json_object_set_new(o, "model", model_json());
    else
        json_object_set_new(o, "reason", json_string(svc.reason[0] ? svc.reason : "not started"));
    return o;
}

json_t *llm_service_stats(void)
{
    return svc.available && svc.engine ? llm_engine_stats(svc.engine) : json_pack("{s:b}", "available", 0);
}

static int unavailable(llm_err *e)
{
    if (e) {
        e->field[0] = 0;
        snprintf(e->msg, sizeof(e->msg), "no LLM: %.380s", svc.reason[0] ? svc.reason : "not started");
    }
    return AIOS_EUNAVAIL;
}

int llm_service_submit(llm_req_kind kind, const json_t *params, const llm_caller *who, bool stream,
                       const llm_cb *cb, uint64_t *id, llm_err *e)
{
    if (!svc.available)
        return unavailable(e);
    return llm_engine_submit(svc.engine, kind, params, who, stream, cb, id, e);
}

int llm_service_cancel(uint64_t id, const llm_caller *who)
{
    if (!svc.available)
        return AIOS_EUNAVAIL;
    return llm_engine_cancel(svc.engine, id, who);
}

/* Commands that need only the immutable model and vocabulary run at once
 * on the caller's thread; the rest go to the engine thread. */
static int text_command(llm_cmd cmd, const json_t *params, json_t **res, llm_err *e)
{
    bool special = json_is_true(json_object_get(params, "special"));
    int rc;

    if (cmd == LLM_CMD_MODELS) {
        *res = json_pack("{s:b,s:[o]}", "available", 1, "models", model_json());
        return 0;
    }
    if (cmd == LLM_CMD_TOKENIZE) {
        const json_t *t = json_object_get(params, "text");
        int32_t *ids;
        int n;
        json_t *arr;

        if ((rc = llm_text_tokenize(svc.text, json_string_value(t), json_string_length(t), special, &ids, &n)) < 0) {
            snprintf(e->field, sizeof(e->field), "text");
            snprintf(e->msg, sizeof(e->msg), "cannot tokenize: %s", aios_strerror(rc));
            return rc;
        }
        arr = json_array();
        for (int i = 0; i < n; i++)
            json_array_append_new(arr, json_integer(ids[i]));
        free(ids);
        *res = json_pack("{s:o,s:i,s:s}", "tokens", arr, "count", n, "tokenizer", llm_text_tokenizer_name(svc.text));
        return 0;
    }
    if (cmd == LLM_CMD_DETOKENIZE) {
        const json_t *arr = json_object_get(params, "tokens"), *v;
        size_t i, len;
        int32_t *ids = malloc(sizeof(int32_t) * (json_array_size(arr) + 1));
        char *text;

        if (!ids)
            return AIOS_ENOMEM;
        json_array_foreach(arr, i, v) {
            if (!json_is_integer(v) || json_integer_value(v) < 0 ||
                json_integer_value(v) >= llm_text_n_vocab(svc.text)) {
                free(ids);
                snprintf(e->field, sizeof(e->field), "tokens");
                snprintf(e->msg, sizeof(e->msg), "tokens[%zu] is not a token id of this model", i);
                return AIOS_EINVAL;
            }
            ids[i] = (int32_t)json_integer_value(v);
        }
        rc = llm_text_detokenize(svc.text, ids, (int)json_array_size(arr), special, &text, &len);
        free(ids);
        if (rc < 0)
            return rc;
        *res = json_pack("{s:s%}", "text", text, len);
        free(text);
        return 0;
    }
    return 1;
}

int llm_service_command(llm_cmd cmd, const json_t *params, const llm_caller *who, const llm_cb *cb, llm_err *e)
{
    json_t *res = NULL;
    int rc;

    memset(e, 0, sizeof(*e));
    if (!svc.available) {
        if (cmd == LLM_CMD_MODELS) {
            cb->done(cb->ud, 0, json_pack("{s:b,s:s,s:[]}", "available", 0, "reason",
                                           svc.reason[0] ? svc.reason : "not started", "models"),
                     e);
            return 0;
        }
        return unavailable(e);
    }
    rc = text_command(cmd, params, &res, e);
    if (rc <= 0) {
        if (rc < 0)
            return rc;
        cb->done(cb->ud, 0, res, e);
        return 0;
    }
    return llm_engine_command(svc.engine, cmd, params, who, cb, e);
}

/* ---- the blocking chat for other subsystems ---------------------------------------------------------------- */

typedef struct chat_wait {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    int rc;
    json_t *result;
} chat_wait;

static void chat_done(void *ud, int rc, json_t *result, const llm_err *e)
{
    chat_wait *w = ud;

    (void)e;
    pthread_mutex_lock(&w->mu);
    w->rc = rc;
    w->result = result;
    w->done = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

int llm_service_chat(const json_t *messages, const json_t *opts, int64_t proc_id, char **text_out)
{
    chat_wait w = {.done = false};
    llm_cb cb = {.ud = &w, .stream = NULL, .done = chat_done};
    llm_caller who = {.principal = "kernel", .uid = (uint32_t)getuid(), .proc_id = proc_id, .admin = true};
    json_t *params;
    llm_err e;
    uint64_t id;
    int rc;

    *text_out = NULL;
    if (!svc.available)
        return AIOS_EUNAVAIL;
    params = opts && json_is_object(opts) ? json_deep_copy(opts) : json_object();
    if (!params)
        return AIOS_ENOMEM;
    json_object_set(params, "messages", (json_t *)messages);
    json_object_del(params, "stream");
    json_object_del(params, "context");
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    rc = llm_service_submit(LLM_REQ_CHAT, params, &who, false, &cb, &id, &e);
    json_decref(params);
    if (rc == 0) {
        pthread_mutex_lock(&w.mu);
        while (!w.done)
            pthread_cond_wait(&w.cv, &w.mu);
        pthread_mutex_unlock(&w.mu);
        rc = w.rc;
        if (rc == 0) {
            const char *t = json_string_value(json_object_get(w.result, "text"));
            *text_out = strdup(t ? t : "");
            if (!*text_out)
                rc = AIOS_ENOMEM;
        }
        json_decref(w.result);
    } else {
        AIOS_LOG(AIOS_LOG_DEBUG, "llm", "service chat refused: %s", e.msg);
    }
    pthread_mutex_destroy(&w.mu);
    pthread_cond_destroy(&w.cv);
    return rc;
}

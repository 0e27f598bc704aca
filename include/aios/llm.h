/*
 * llm.h - the LLM core: models, tokenizers, the batched engine and the
 * service the rest of the kernel calls.
 *
 * Service API (this section): what other subsystems (LSFS summaries, tools,
 * agents) use to run a generation on the shared model without knowing about
 * the engine.  Blocking; call it from worker threads, never from the loop
 * thread.  Returns AIOS_EUNAVAIL when aiosd runs without a model.
 */
#ifndef AIOS_LLM_H
#define AIOS_LLM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/*
 * Run one chat completion on the shared model and wait for it.
 * messages: [{"role": "system"|"user"|"assistant"|"tool", "content": "..."}]
 * opts: optional object with llm.chat's sampling keys (max_tokens,
 *       temperature, seed, stop, response_format, ...); may be NULL.
 * proc_id: the process charged for the tokens (0 for the kernel itself).
 * On success *text_out is a malloc'd NUL-terminated string the caller frees.
 * Any thread except the loop thread.
 */
int llm_service_chat(const json_t *messages, const json_t *opts, int64_t proc_id,
                     char **text_out);

/* Whether a model is loaded (any thread). */
bool llm_service_available(void);

/* ---- the service as the kernel drives it (syscalls/llm.c, sched.c, ctx.c) ----
 * One model, one engine thread running the scheduler's step loop.  Requests
 * and commands are JSON in, JSON out; answers come through callbacks that
 * run on the engine thread (or on the calling thread for immediate errors).
 */

/* What the service is started with (the kernel's config keys in
 * docs/SCHEDULER.md); zero values pick the defaults. */
typedef struct llm_service_opts {
    const char *model;          /* GGUF path; NULL or "none" = run without a model */
    const char *state_dir;      /* folder for snapshots and contexts (created) */
    const char *backend;        /* forward backend by name (llm_backend_find), NULL = "cpu" */
    int threads;                /* forward threads, 0 = cores */
    size_t kv_bytes;            /* KV cache arena (default 256 MiB) */
    int block_tokens;           /* KV block size (default 16) */
    int max_tokens;             /* default max_tokens of a request (default 256) */
    size_t snap_host_bytes;     /* host snapshot store (default 512 MiB) */
    size_t snap_disk_bytes;     /* spill budget on disk (default 4 GiB) */
    int zstd_level;             /* spill and context compression (default 1) */
    bool no_prefix_cache;       /* disable prefix sharing */
    const json_t *sched;        /* initial sched.set parameters, may be NULL */
    /* hooks into the kernel (may be NULL); any thread */
    int (*priority_of)(int64_t proc_id);
    void (*account)(int64_t proc_id, uint64_t tokens_in, uint64_t tokens_out);
} llm_service_opts;

/* Load the model (progress and time in the log) and start the engine.
 * Without a model (or when it cannot be loaded) returns AIOS_EUNAVAIL and
 * the reason is kept for llm_service_status(); the service stays usable
 * for llm_service_status() only.  Loop thread, once. */
int llm_service_start(const llm_service_opts *o);
/* Cancel every request, join the engine thread (keeps contexts on disk). */
void llm_service_stop(void);
/* Free everything (after stop). */
void llm_service_free(void);
/* {available, reason?, model?: {...}} (new reference, any thread). */
json_t *llm_service_status(void);
/* Counters for sys.stats (new reference, any thread). */
json_t *llm_service_stats(void);

/* Who makes a request: the kernel's identity, flattened. */
typedef struct llm_caller {
    const char *principal;      /* owner key of contexts, scheduler client */
    uint32_t uid;
    int64_t proc_id;            /* charged for tokens; priority source */
    bool admin;
} llm_caller;

/* An error detail: the offending field (may be "") and a message. */
typedef struct llm_err {
    char field[64];
    char msg[400];
} llm_err;

/*
 * Callbacks of one request or command.  stream gets each chunk
 * ({"text": "...", "token": id, ...}, stolen) and returns a negative code
 * when nobody listens any more (the request is then cancelled).  done runs
 * exactly once with rc 0 and the result (stolen), or rc < 0 and e.
 */
typedef struct llm_cb {
    void *ud;
    int (*stream)(void *ud, json_t *chunk);
    void (*done)(void *ud, int rc, json_t *result, const llm_err *e);
} llm_cb;

typedef enum { LLM_REQ_COMPLETE = 0, LLM_REQ_CHAT = 1 } llm_req_kind;

/*
 * Queue a generation: params are llm.complete's / llm.chat's (checked
 * against the syscall schema already).  stream says whether to call
 * cb->stream.  On success *id is the request id (for llm_service_cancel)
 * and cb->done will run; on failure returns a negative code with e filled
 * and cb->done never runs.  Any thread.
 */
int llm_service_submit(llm_req_kind kind, const json_t *params, const llm_caller *who, bool stream,
                       const llm_cb *cb, uint64_t *id, llm_err *e);
/* Cancel a request (its done reports AIOS_ECANCELED).  who must own it
 * unless admin.  0, AIOS_ENOENT or AIOS_EPERM.  Any thread. */
int llm_service_cancel(uint64_t id, const llm_caller *who);

/* Commands answered through cb->done on the engine thread (params already
 * checked against the syscall's schema).  Any thread. */
typedef enum {
    LLM_CMD_MODELS = 0,         /* llm.models */
    LLM_CMD_TOKENIZE,           /* llm.tokenize {text, special?} */
    LLM_CMD_DETOKENIZE,         /* llm.detokenize {tokens, special?} */
    LLM_CMD_SCHED_SET,          /* sched.set {...} (admin) */
    LLM_CMD_SCHED_STATS,        /* sched.stats */
    LLM_CMD_CTX_SNAPSHOT,       /* ctx.snapshot {name, from?} */
    LLM_CMD_CTX_RESTORE,        /* ctx.restore {name, as?} */
    LLM_CMD_CTX_FORK,           /* ctx.fork {name, as} */
    LLM_CMD_CTX_LIST,           /* ctx.list */
    LLM_CMD_CTX_DROP,           /* ctx.drop {name} */
    LLM_CMD__N
} llm_cmd;

int llm_service_command(llm_cmd cmd, const json_t *params, const llm_caller *who, const llm_cb *cb,
                        llm_err *e);

/* ==========================================================================
 * Engine API (llmcore): models, the paged KV cache and the batched forward.
 * Used by the engine thread; see docs/LLMCORE.md.  Every function returns 0
 * or a negative AIOS_E* code unless its comment says otherwise.
 * ========================================================================== */

struct llm_gguf;

/* A loaded model: immutable after load, shared by all threads. */
typedef struct llm_model llm_model;

typedef struct llm_model_opts {
    bool no_mmap_check;   /* reserved; zero-initialise the struct */
} llm_model_opts;

typedef enum { LLM_ARCH_LLAMA = 0, LLM_ARCH_QWEN2 = 1 } llm_arch;

typedef struct llm_model_info {
    llm_arch arch;
    const char *arch_name;    /* "llama", "qwen2" */
    const char *name;         /* general.name, or "" */
    int n_vocab;
    int n_ctx_train;
    int n_layer;
    int n_embd;
    int n_head;
    int n_head_kv;
    int head_dim;
    int n_ff;
    int n_rot;                /* rotary dimensions per head */
    float rope_base;
    float rope_scale;         /* linear position scale (1 = none) */
    float rms_eps;
    bool rope_neox;           /* rotate i with i+n_rot/2 (qwen2) vs adjacent pairs */
    bool tied_output;         /* output = token_embd */
    bool has_rope_freqs;      /* rope_freqs.weight present */
    bool has_qkv_bias;
    uint32_t file_type;       /* general.file_type, or 0 */
    const char *weight_type;  /* type name of the attention/FFN matrices, e.g. "Q4_1" */
    uint64_t n_params;
    uint64_t file_bytes;
} llm_model_info;

/* Load and validate a GGUF model.  On failure *out is NULL and err holds a
 * message naming the problem (file, key or tensor). */
int llm_model_load(const char *path, const llm_model_opts *o, llm_model **out, char *err,
                   size_t errlen);
void llm_model_free(llm_model *m);
const llm_model_info *llm_model_get_info(const llm_model *m);
/* The model's GGUF file (for the tokenizer to read its vocabulary). */
const struct llm_gguf *llm_model_gguf(const llm_model *m);

/* ---- the paged KV cache ----------------------------------------------------
 * Fixed-size blocks of block_tokens positions (all layers' K and V of those
 * positions) carved from one arena sized by a byte budget.  A sequence is a
 * block table; blocks carry reference counts so sequences share them (fork,
 * prefix caching) and a shared block is copied before it is written
 * (copy-on-write).  A block that becomes full gets a hash of its tokens
 * chained with the previous block's hash, for prefix caching.
 * Not thread-safe: one engine thread owns a cache. */
typedef struct llm_kv llm_kv;

enum { LLM_KV_F16 = 0, LLM_KV_F32 = 1 };

typedef struct llm_kv_stats {
    int blocks_total;
    int blocks_free;
    int blocks_used;          /* total - free */
    int block_tokens;
    int n_seqs;
    size_t block_bytes;
    size_t arena_bytes;
} llm_kv_stats;

/* block_tokens 0 = 16; kv_type LLM_KV_F16 or LLM_KV_F32.  AIOS_EINVAL when
 * the budget holds no block. */
int llm_kv_new(const llm_model *m, size_t budget_bytes, int block_tokens, int kv_type,
               llm_kv **out);
void llm_kv_free(llm_kv *kv);
void llm_kv_get_stats(const llm_kv *kv, llm_kv_stats *st);

int llm_kv_seq_new(llm_kv *kv, int32_t *seq);
/* A sequence made of existing full blocks (a cached prefix), referencing
 * them; its length is n_blocks * block_tokens. */
int llm_kv_seq_new_from_blocks(llm_kv *kv, const int32_t *blocks, int n_blocks, int32_t *seq);
int llm_kv_seq_free(llm_kv *kv, int32_t seq);
/* A new sequence sharing all of src's blocks (the partial last block is
 * copied when either sequence writes to it). */
int llm_kv_seq_fork(llm_kv *kv, int32_t src, int32_t *dst);
/* Tokens held (>= 0) or a negative code. */
int llm_kv_seq_len(const llm_kv *kv, int32_t seq);
/* Drop positions >= len (len <= current length). */
int llm_kv_seq_truncate(llm_kv *kv, int32_t seq, int len);
/* The block table (valid until the sequence changes). */
int llm_kv_seq_blocks(const llm_kv *kv, int32_t seq, const int32_t **blocks, int *n_blocks);
/* Blocks that appending n_new tokens to seq would take from the free list
 * (new blocks plus a copy-on-write), for admission control. */
int llm_kv_blocks_needed(const llm_kv *kv, int32_t seq, int n_new);

/* Block references for a prefix cache: ref/unref keep a block alive
 * without a sequence; a block whose count drops to 0 returns to the free
 * list. */
int llm_kv_block_ref(llm_kv *kv, int32_t block);
int llm_kv_block_unref(llm_kv *kv, int32_t block);
int llm_kv_block_refcount(const llm_kv *kv, int32_t block);
/* Hash of a full block (false while it is not full). */
bool llm_kv_block_hash(const llm_kv *kv, int32_t block, uint64_t *hash);
/* The block's token ids (block_tokens entries; only the filled ones are
 * meaningful). */
const int32_t *llm_kv_block_tokens(const llm_kv *kv, int32_t block);
/* Called (on the engine thread) each time a block becomes full. */
typedef void (*llm_kv_full_fn)(void *user, int32_t block, uint64_t hash);
void llm_kv_set_full_hook(llm_kv *kv, llm_kv_full_fn fn, void *user);

/* Context snapshots: a sequence's tokens and K/V of every layer as one
 * self-describing contiguous buffer, and back into fresh blocks. */
size_t llm_kv_seq_export_size(const llm_kv *kv, int32_t seq);
int llm_kv_seq_export(const llm_kv *kv, int32_t seq, void *buf, size_t cap);
int llm_kv_seq_import(llm_kv *kv, const void *buf, size_t len, int32_t *seq);

/* ---- the batched forward ------------------------------------------------
 * One call runs a batch made of prefill chunks and decode tokens of many
 * sequences.  Entry i appends tokens[i] at position pos[i] of sequence
 * seq[i]; a sequence's entries must continue it in order (pos = its length,
 * then +1, ...), interleaved with other sequences' entries in any way.
 * Logits are written for the entries with want_logits[i] != 0 (all when
 * want_logits is NULL), in batch order, n_vocab floats each.  */
typedef struct llm_batch {
    int n;
    const int32_t *tokens;
    const int32_t *seq;
    const int32_t *pos;
    const uint8_t *want_logits;
} llm_batch;

/* Run state: scratch buffers and a thread pool, for one engine thread. */
typedef struct llm_ctx llm_ctx;

/* n_threads 0 = the machine's cores; max_batch_tokens 0 = 512. */
int llm_ctx_new(const llm_model *m, llm_kv *kv, int n_threads, int max_batch_tokens,
                llm_ctx **out);
void llm_ctx_free(llm_ctx *c);
/* AIOS_EINVAL for a malformed batch, AIOS_ENOSPC when the cache lacks
 * blocks (nothing is changed then), AIOS_ELIMIT past the context length. */
int llm_forward(llm_ctx *c, const llm_batch *b, float *logits);

/* Counters since the context was made, for measuring the pass's
 * synchronisation cost: forward calls, barriers passed, waits that went
 * to sleep, and the nanoseconds threads spent waiting at barriers or for
 * the other threads to finish (summed over threads). */
typedef struct llm_ctx_stats {
    uint64_t forwards;
    uint64_t barriers;
    uint64_t sleeps;
    uint64_t wait_ns;
    int n_threads;
} llm_ctx_stats;
void llm_ctx_get_stats(const llm_ctx *c, llm_ctx_stats *st);

/* ---- backends ------------------------------------------------------------
 * The forward runs on a backend, chosen by name (config key llm.backend);
 * "cpu" is always there.  A device backend (CUDA, in .cu files) adds a row
 * to the table in llmcore/backend.c with the same four entry points. */
typedef struct llm_backend {
    const char *name;
    int (*init)(void);
    int (*ctx_new)(const llm_model *m, llm_kv *kv, int n_threads, int max_batch_tokens,
                   llm_ctx **out);
    void (*ctx_free)(llm_ctx *c);
    int (*forward)(llm_ctx *c, const llm_batch *b, float *logits);
} llm_backend;

/* The backend called name, or NULL. */
const llm_backend *llm_backend_find(const char *name);
/* The names of this build's backends, ", "-separated, into buf.  0 or
 * AIOS_ERANGE. */
int llm_backend_names(char *buf, size_t len);

#endif /* AIOS_LLM_H */

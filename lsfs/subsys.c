/*
 * subsys.c - LSFS as an aiosd subsystem (kern_subsys_lsfs).
 *
 * init (loop thread): open <data>/lsfs.db with options from the config
 * (lsfs.*), which runs migrations, loads the embedding model and rebuilds
 * the vector index; start watching mounted folders; queue the embedding
 * backfill (chunks a crash or a model change left without vectors) and,
 * while a language model is loaded, a periodic refresh of stale summaries.
 * stop (loop thread, shutdown): stop the watchers and timers; background
 * jobs notice kern_stopping() and end early.  fini (after the loop has
 * drained): close the store.
 *
 * Config keys: lsfs.embed_model (path or "none"), lsfs.chunk_tokens,
 * lsfs.chunk_overlap, lsfs.max_file_bytes, lsfs.mount_max_file_bytes,
 * lsfs.rrf_k, lsfs.summary_refresh_ms (0 = off), lsfs.embed_async (default true:
 * writes return after their commit and one background job embeds new
 * chunks, so the worker pool is never held up by the encoder).
 */
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "aios/kernel.h"
#include "aios/llm.h"
#include "aios/log.h"
#include "aios/lsfs.h"

static lsfs_store *g_store;
static uv_timer_t refresh_timer;
static bool refresh_timer_on, refresh_running, backfill_running, backfill_again;

lsfs_store *lsfs_global(void)
{
    return g_store;
}

/* ---- background jobs on the worker pool ---------------------------------------- */

static void backfill_work(void *arg)
{
    lsfs_db *db = lsfs_db_thread(g_store);
    int total = 0, n;

    (void)arg;
    if (!db)
        return;
    while (!kern_stopping() && (n = lsfs_embed_backfill(db, 64)) > 0)
        total += n;
    if (total > 0)
        aios_log(AIOS_LOG_INFO, "lsfs", "embedded %d chunks that had no vector", total);
}

static void backfill_done(void *arg, int status)
{
    (void)arg;
    (void)status;
    backfill_running = false;
    if (backfill_again && !kern_stopping()) {
        backfill_again = false;
        backfill_running = kern_queue_work(backfill_work, backfill_done, NULL) == 0;
    }
}

/* Loop thread: one embedding job at a time; a request during one runs
 * another right after it. */
static void schedule_backfill(void *arg)
{
    (void)arg;
    if (!g_store || kern_stopping())
        return;
    if (backfill_running) {
        backfill_again = true;
        return;
    }
    backfill_running = kern_queue_work(backfill_work, backfill_done, NULL) == 0;
}

/* Any thread: a write left chunks to embed. */
static void on_embed_pending(void *arg)
{
    (void)arg;
    kern_post(schedule_backfill, NULL);
}

static void refresh_work(void *arg)
{
    lsfs_db *db = lsfs_db_thread(g_store);
    int n;

    (void)arg;
    if (db && !kern_stopping() && (n = lsfs_summaries_refresh(db, 4)) > 0)
        aios_log(AIOS_LOG_DEBUG, "lsfs", "refreshed %d summaries", n);
}

static void refresh_done(void *arg, int status)
{
    (void)arg;
    (void)status;
    refresh_running = false;
}

static void on_refresh_timer(uv_timer_t *t)
{
    (void)t;
    if (refresh_running || kern_stopping() || !llm_service_available())
        return;
    refresh_running = kern_queue_work(refresh_work, refresh_done, NULL) == 0;
}

/* ---- the subsystem -------------------------------------------------------------- */

static int lsfs_init(void)
{
    lsfs_options o = {0};
    const char *model = kern_config_str("lsfs.embed_model", NULL);
    long long refresh_ms = kern_config_int("lsfs.summary_refresh_ms", 15000);
    int rc;

    o.embed_model = model && *model ? model : NULL;
    o.chunk_tokens = (int)kern_config_int("lsfs.chunk_tokens", 0);
    o.chunk_overlap = (int)kern_config_int("lsfs.chunk_overlap", 0);
    o.max_file_bytes = kern_config_int("lsfs.max_file_bytes", 0);
    o.mount_max_file_bytes = kern_config_int("lsfs.mount_max_file_bytes", 0);
    o.rrf_k = (int)kern_config_int("lsfs.rrf_k", 0);
    o.rrf_w_keyword = kern_config_double("lsfs.rrf_w_keyword", 1.0);
    o.rrf_w_semantic = kern_config_double("lsfs.rrf_w_semantic", 1.0);
    o.embed_async = kern_config_bool("lsfs.embed_async", true);
    o.embed_pending = on_embed_pending;
    rc = lsfs_store_open(kern_data_dir(), &o, &g_store);
    if (rc < 0) {
        aios_log(AIOS_LOG_ERROR, "lsfs", "cannot open the store in '%s': %s", kern_data_dir(),
                 aios_strerror(rc));
        return rc;
    }
    if ((rc = lsfs_mounts_watch_start(g_store, kern_loop())) < 0)
        aios_log(AIOS_LOG_WARN, "lsfs", "cannot watch mounted folders: %s", aios_strerror(rc));
    if (lsfs_store_has_embedder(g_store))
        backfill_running = kern_queue_work(backfill_work, backfill_done, NULL) == 0;
    if (refresh_ms > 0) {
        uv_timer_init(kern_loop(), &refresh_timer);
        uv_timer_start(&refresh_timer, on_refresh_timer, (uint64_t)refresh_ms, (uint64_t)refresh_ms);
        uv_unref((uv_handle_t *)&refresh_timer);
        refresh_timer_on = true;
    }
    aios_log(AIOS_LOG_INFO, "lsfs", "store '%s' open (%s)", lsfs_store_db_path(g_store),
             lsfs_store_has_embedder(g_store) ? "keyword and semantic search"
                                              : "keyword search only");
    return 0;
}

static void lsfs_stop(void)
{
    if (!g_store)
        return;
    lsfs_mounts_watch_stop(g_store);
    if (refresh_timer_on) {
        uv_timer_stop(&refresh_timer);
        uv_close((uv_handle_t *)&refresh_timer, NULL);
        refresh_timer_on = false;
    }
}

static void lsfs_fini(void)
{
    lsfs_store_close(g_store);
    g_store = NULL;
}

static json_t *lsfs_stats(void)
{
    return g_store ? lsfs_store_stats(g_store) : json_object();
}

const kern_subsys kern_subsys_lsfs = {
    .name = "lsfs",
    .init = lsfs_init,
    .stop = lsfs_stop,
    .fini = lsfs_fini,
    .optional = true,
    .stats = lsfs_stats,
};

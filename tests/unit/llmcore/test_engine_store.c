/*
 * test_engine_store.c - context images, snapshot files (zstd, checksums,
 * every kind of damage), the host snapshot store with spill to disk and
 * its disk budget, and the persistent context store (ownership, restart,
 * model fingerprint).  Real files in a temporary folder.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aios/error.h"
#include "llmcore/snapshot.h"

static char *tmpdir(void)
{
    char *d = strdup("/tmp/aios-snap-XXXXXX");
    cr_assert_not_null(mkdtemp(d));
    return d;
}

static void rmrf(const char *path)
{
    char cmd[4200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
    cr_assert_eq(system(cmd), 0);
}

/* An image with n tokens, a fake decode state and k/v bytes of a pattern. */
static void *make_image(uint32_t n, size_t kv_len, size_t *len)
{
    int32_t *tok = malloc(sizeof(int32_t) * (n + 1));
    uint8_t *kv = malloc(kv_len + 1), gen[37];
    llm_image_view v = {0};
    void *buf;

    for (uint32_t i = 0; i < n; i++)
        tok[i] = (int32_t)(i * 7 + 3);
    for (size_t i = 0; i < kv_len; i++)
        kv[i] = (uint8_t)((i * 131) ^ (i >> 9));
    for (size_t i = 0; i < sizeof(gen); i++)
        gen[i] = (uint8_t)i;
    v.meta = json_pack("{s:i,s:s}", "kv_tokens", (int)n, "owner", "agent:x");
    v.tokens = tok;
    v.n_tokens = n;
    v.gen = gen;
    v.gen_len = sizeof(gen);
    v.kv = kv;
    v.kv_len = kv_len;
    cr_assert_eq(llm_image_pack(&v, &buf, len), 0);
    cr_assert_eq(*len, llm_image_size(&v));
    json_decref(v.meta);
    free(tok);
    free(kv);
    return buf;
}

static void check_image(const void *buf, size_t len, uint32_t n, size_t kv_len)
{
    llm_image_view v;

    cr_assert_eq(llm_image_unpack(buf, len, &v), 0);
    cr_assert_eq(v.n_tokens, n);
    for (uint32_t i = 0; i < n; i++)
        cr_assert_eq(v.tokens[i], (int32_t)(i * 7 + 3));
    cr_assert_eq(v.gen_len, 37);
    cr_assert_eq(((const uint8_t *)v.gen)[36], 36);
    cr_assert_eq(v.kv_len, kv_len);
    for (size_t i = 0; i < kv_len; i += 4097)
        cr_assert_eq(((const uint8_t *)v.kv)[i], (uint8_t)((i * 131) ^ (i >> 9)));
    cr_assert_str_eq(json_string_value(json_object_get(v.meta, "owner")), "agent:x");
    json_decref(v.meta);
}

Test(engine_store, image_round_trip_and_damage, .timeout = 10)
{
    size_t len;
    void *img = make_image(1000, 300000, &len);

    check_image(img, len, 1000, 300000);
    cr_assert_eq(((uintptr_t)((const uint8_t *)img + 32) % 8), 0, "sections are 8-byte aligned");
    /* wrong length, wrong magic */
    llm_image_view v;
    cr_assert_eq(llm_image_unpack(img, len - 1, &v), AIOS_ECORRUPT);
    ((char *)img)[0] ^= 1;
    cr_assert_eq(llm_image_unpack(img, len, &v), AIOS_ECORRUPT);
    free(img);
}

Test(engine_store, snapfile_compresses_and_detects_every_flip, .timeout = 60)
{
    char *d = tmpdir(), path[512];
    size_t len, written;
    void *img = make_image(500, 1 << 20, &len), *back;
    size_t blen;
    struct stat sb;

    snprintf(path, sizeof(path), "%s/a.snap", d);
    cr_assert_eq(llm_snapfile_write(path, img, len, 1, &written), 0);
    cr_assert_eq(stat(path, &sb), 0);
    cr_assert_eq((size_t)sb.st_size, written);
    cr_assert_eq(sb.st_mode & 0777, 0600);
    cr_assert_lt(written, len, "zstd made it smaller (%zu of %zu)", written, len);
    cr_assert_eq(llm_snapfile_read(path, &back, &blen), 0);
    cr_assert_eq(blen, len);
    cr_assert(memcmp(back, img, len) == 0);
    free(back);
    /* flip one byte at many places: always refused, never a wrong image */
    {
        int fd = open(path, O_RDWR);
        cr_assert_geq(fd, 0);
        for (off_t off = 0; off < sb.st_size; off += sb.st_size / 97 + 1) {
            unsigned char c;
            cr_assert_eq(pread(fd, &c, 1, off), 1);
            c ^= 0x40;
            cr_assert_eq(pwrite(fd, &c, 1, off), 1);
            cr_assert_eq(llm_snapfile_read(path, &back, &blen), AIOS_ECORRUPT, "flip at %lld", (long long)off);
            c ^= 0x40;
            cr_assert_eq(pwrite(fd, &c, 1, off), 1);
        }
        /* truncated */
        cr_assert_eq(ftruncate(fd, sb.st_size - 3), 0);
        close(fd);
        cr_assert_eq(llm_snapfile_read(path, &back, &blen), AIOS_ECORRUPT);
    }
    /* stored without compression (level 0) */
    cr_assert_eq(llm_snapfile_write(path, img, len, 0, &written), 0);
    cr_assert_gt(written, len);
    cr_assert_eq(llm_snapfile_read(path, &back, &blen), 0);
    cr_assert(memcmp(back, img, len) == 0);
    free(back);
    free(img);
    rmrf(d);
    free(d);
}

static int count_files(const char *dir, const char *suffix)
{
    DIR *dd = opendir(dir);
    struct dirent *e;
    int n = 0;

    if (!dd)
        return 0;
    while ((e = readdir(dd)) != NULL) {
        size_t l = strlen(e->d_name), s = strlen(suffix);
        n += l > s && strcmp(e->d_name + l - s, suffix) == 0;
    }
    closedir(dd);
    return n;
}

Test(engine_store, store_spills_over_budget_and_loads_back, .timeout = 60)
{
    char *d = tmpdir(), sd[512];
    llm_snapstore *st;
    llm_snap *s[6];
    llm_snapstore_stats ss;
    size_t len;

    snprintf(sd, sizeof(sd), "%s/snaps", d);
    /* 3 images fit in memory; the oldest go to disk */
    cr_assert_eq(llm_snapstore_new(sd, 3 * 1100000, (size_t)1 << 30, 1, &st), 0);
    for (int i = 0; i < 6; i++) {
        void *img = make_image(100 + (uint32_t)i, 1 << 20, &len);
        cr_assert_eq(llm_snap_put(st, img, len, &s[i]), 0);
    }
    /* the I/O thread writes asynchronously: wait for it */
    for (int tries = 0; tries < 500; tries++) {
        llm_snapstore_get_stats(st, &ss);
        if (ss.spills >= 3)
            break;
        usleep(10000);
    }
    llm_snapstore_get_stats(st, &ss);
    cr_assert_eq(ss.spills, 3, "spills %llu", (unsigned long long)ss.spills);
    cr_assert_eq(ss.n_disk, 3);
    cr_assert_eq(ss.n_host, 3);
    cr_assert_eq(count_files(sd, ".snap"), 3);
    cr_assert(llm_snap_is_on_disk(st, s[0]) && !llm_snap_is_on_disk(st, s[5]));
    /* every image comes back intact, from disk or memory */
    for (int i = 0; i < 6; i++) {
        const void *b;
        size_t bl;
        bool disk;
        cr_assert_eq(llm_snap_get(st, s[i], &b, &bl, &disk), 0);
        cr_assert_eq(disk, i < 3, "image %d from %s", i, disk ? "disk" : "memory");
        check_image(b, bl, 100 + (uint32_t)i, 1 << 20);
    }
    for (int i = 0; i < 6; i++)
        llm_snap_drop(st, s[i]);
    llm_snapstore_get_stats(st, &ss);
    cr_assert_eq(ss.n_host + ss.n_disk, 0);
    cr_assert_eq(ss.host_bytes + ss.disk_bytes, 0);
    cr_assert_eq(count_files(sd, ".snap"), 0, "dropped snapshots leave no file");
    llm_snapstore_free(st);
    rmrf(d);
    free(d);
}

Test(engine_store, past_the_disk_budget_images_lose_their_kv, .timeout = 30)
{
    char *d = tmpdir(), sd[512];
    llm_snapstore *st;
    llm_snap *s[3];
    llm_snapstore_stats ss;
    size_t len;

    snprintf(sd, sizeof(sd), "%s/snaps", d);
    cr_assert_eq(llm_snapstore_new(sd, 1000, 1000, 1, &st), 0);
    for (int i = 0; i < 3; i++) {
        void *img = make_image(50, 200000, &len);
        cr_assert_eq(llm_snap_put(st, img, len, &s[i]), 0);
    }
    llm_snapstore_get_stats(st, &ss);
    cr_assert_eq(ss.lost, 3);
    for (int i = 0; i < 3; i++) {
        const void *b;
        size_t bl;
        llm_image_view v;
        cr_assert_eq(llm_snap_get(st, s[i], &b, &bl, NULL), 0);
        cr_assert_eq(llm_image_unpack(b, bl, &v), 0);
        cr_assert_eq(v.kv_len, 0, "K/V dropped: recompute from the tokens");
        cr_assert_eq(v.n_tokens, 50);
        cr_assert_eq(v.gen_len, 37, "the decode state is kept");
        json_decref(v.meta);
        llm_snap_drop(st, s[i]);
    }
    llm_snapstore_free(st);
    rmrf(d);
    free(d);
}

/* make_image() then put (argument order would leave len unset) */
static int put_new(llm_ctxstore *cs, const char *owner, const char *name, uint32_t n, size_t kv)
{
    size_t len;
    void *img = make_image(n, kv, &len);
    return llm_ctxstore_put(cs, owner, name, img, len, n);
}

Test(engine_store, contexts_persist_belong_to_their_owner_and_check_the_model, .timeout = 30)
{
    char *d = tmpdir(), cd[512];
    llm_ctxstore *cs;
    const void *b;
    size_t bl;
    json_t *list;

    snprintf(cd, sizeof(cd), "%s/contexts", d);
    cr_assert_eq(llm_ctxstore_new(cd, "model-A", 1 << 20, 1, &cs), 0);
    cr_assert_eq(put_new(cs, "agent:alice", "chat1", 300, 400000), 0);
    cr_assert_eq(put_new(cs, "agent:alice", "chat2", 10, 1000), 0);
    cr_assert_eq(put_new(cs, "agent:bob", "chat1", 20, 2000), 0);
    /* bad names are refused (the buffer is still freed) */
    cr_assert_eq(put_new(cs, "agent:bob", "../x", 1, 10), AIOS_EINVAL);
    cr_assert(!llm_ctx_name_ok(".hidden") && !llm_ctx_name_ok("") && !llm_ctx_name_ok("a/b"));
    cr_assert(llm_ctx_name_ok("Chat-1.v2_x"));
    /* owners see only their own */
    cr_assert_eq(llm_ctxstore_get(cs, "agent:bob", "chat2", &b, &bl), AIOS_ENOENT);
    list = llm_ctxstore_list(cs, "agent:alice");
    cr_assert_eq(json_array_size(list), 2);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(list, 0), "name")), "chat1");
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(list, 0), "tokens")), 300);
    json_decref(list);
    llm_ctxstore_free(cs);

    /* a restart finds them again, from disk */
    cr_assert_eq(llm_ctxstore_new(cd, "model-A", 1 << 20, 1, &cs), 0);
    list = llm_ctxstore_list(cs, "agent:alice");
    cr_assert_eq(json_array_size(list), 2);
    cr_assert(json_is_false(json_object_get(json_array_get(list, 0), "in_memory")));
    json_decref(list);
    cr_assert_eq(llm_ctxstore_get(cs, "agent:alice", "chat1", &b, &bl), 0);
    check_image(b, bl, 300, 400000);
    cr_assert_eq(llm_ctxstore_drop(cs, "agent:alice", "chat2"), 0);
    cr_assert_eq(llm_ctxstore_drop(cs, "agent:alice", "chat2"), AIOS_ENOENT);
    llm_ctxstore_free(cs);

    /* another model: listed, but refused */
    cr_assert_eq(llm_ctxstore_new(cd, "model-B", 1 << 20, 1, &cs), 0);
    cr_assert_eq(llm_ctxstore_get(cs, "agent:bob", "chat1", &b, &bl), AIOS_ECONFLICT);
    list = llm_ctxstore_list(cs, "agent:bob");
    cr_assert_eq(json_array_size(list), 1);
    cr_assert(json_is_false(json_object_get(json_array_get(list, 0), "same_model")));
    json_decref(list);
    llm_ctxstore_free(cs);

    /* a damaged file is reported, not loaded */
    {
        char cmd[1200];
        snprintf(cmd, sizeof(cmd), "for f in %s/*/chat1.ctx; do printf 'XXXX' | dd of=$f bs=1 seek=200 conv=notrunc 2>/dev/null; done", cd);
        cr_assert_eq(system(cmd), 0);
    }
    cr_assert_eq(llm_ctxstore_new(cd, "model-A", 1 << 20, 1, &cs), 0);
    cr_assert_eq(llm_ctxstore_get(cs, "agent:alice", "chat1", &b, &bl), AIOS_ECORRUPT);
    llm_ctxstore_free(cs);
    rmrf(d);
    free(d);
}

Test(engine_store, context_writes_are_behind_coalesced_and_ordered, .timeout = 60)
{
    char *d = tmpdir(), cd[512], path[1024];
    llm_ctxstore *cs;
    const void *b;
    size_t bl;
    int n_files = 0;

    snprintf(cd, sizeof(cd), "%s/contexts", d);
    cr_assert_eq(llm_ctxstore_new(cd, "m", 64u << 20, 1, &cs), 0);
    /* many versions of one context: the last one is what lands on disk */
    for (uint32_t v = 1; v <= 20; v++)
        cr_assert_eq(put_new(cs, "agent:w", "turns", v * 10, 50000), 0);
    /* readable at once, from memory, before the writer got to it */
    cr_assert_eq(llm_ctxstore_get(cs, "agent:w", "turns", &b, &bl), 0);
    check_image(b, bl, 200, 50000);
    /* write then drop: after the queue drains nothing is left */
    cr_assert_eq(put_new(cs, "agent:w", "gone", 5, 1000), 0);
    cr_assert_eq(llm_ctxstore_drop(cs, "agent:w", "gone"), 0);
    llm_ctxstore_flush(cs);
    {
        json_t *l = llm_ctxstore_list(cs, "agent:w");
        cr_assert_eq(json_array_size(l), 1);
        cr_assert_gt(json_integer_value(json_object_get(json_array_get(l, 0), "file_bytes")), 0);
        json_decref(l);
    }
    llm_ctxstore_free(cs);
    snprintf(path, sizeof(path), "ls %s/*/ | wc -l > %s/count", cd, d);
    cr_assert_eq(system(path), 0);
    snprintf(path, sizeof(path), "%s/count", d);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    cr_assert_eq(fscanf(f, "%d", &n_files), 1);
    fclose(f);
    cr_assert_eq(n_files, 2, "turns.ctx and turns.json only (%d files)", n_files);
    /* and the restarted store has the last version */
    cr_assert_eq(llm_ctxstore_new(cd, "m", 64u << 20, 1, &cs), 0);
    cr_assert_eq(llm_ctxstore_get(cs, "agent:w", "turns", &b, &bl), 0);
    check_image(b, bl, 200, 50000);
    llm_ctxstore_free(cs);
    rmrf(d);
    free(d);
}

/*
 * blob.c - content-addressed, compressed, deduplicated file contents.
 *
 * A blob is keyed by the SHA-256 of its raw bytes (a cryptographic hash on
 * purpose: blobs are shared between agents, so a colliding write must not
 * be able to stand in for someone else's content).  Contents are stored
 * zstd-compressed when that saves space, raw otherwise.  Versions point at
 * blobs by rowid; blobs no version references are removed by lsfs__blob_gc()
 * after a purge.
 *
 * Threads: any, on the caller's connection.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <zstd.h>

#include "lsfs/lsfs_int.h"

#define BLOB_RAW 0
#define BLOB_ZSTD 1
#define BLOB_MIN_COMPRESS 64
#define BLOB_ZSTD_LEVEL 3

int lsfs__sha256(const void *data, size_t len, unsigned char out[32])
{
    unsigned int n = 0;

    if (EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) != 1 || n != 32)
        return AIOS_EINTERNAL;
    return 0;
}

int lsfs__blob_put(lsfs_db *db, const void *data, size_t len, int64_t *blob_id)
{
    unsigned char hash[32];
    sqlite3_stmt *st;
    void *z = NULL;
    const void *store = data;
    size_t store_len = len;
    int codec = BLOB_RAW;
    int rc;

    if (lsfs__sha256(data, len, hash) < 0)
        return lsfs__err(db, AIOS_EINTERNAL, NULL, "sha-256 failed");
    st = lsfs__stmt(db, "SELECT id FROM blobs WHERE hash=?1");
    if (!st)
        return AIOS_EIO;
    sqlite3_bind_blob(st, 1, hash, 32, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *blob_id = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        return 0;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return lsfs__sqlerr(db, rc, "blob lookup");

    if (len >= BLOB_MIN_COMPRESS) {
        size_t bound = ZSTD_compressBound(len);
        size_t zn;
        z = malloc(bound);
        if (!z)
            return lsfs__err(db, AIOS_ENOMEM, NULL, "out of memory compressing %zu bytes", len);
        zn = ZSTD_compress(z, bound, data, len, BLOB_ZSTD_LEVEL);
        if (!ZSTD_isError(zn) && zn < len) {
            store = z;
            store_len = zn;
            codec = BLOB_ZSTD;
        }
    }
    st = lsfs__stmt(db, "INSERT INTO blobs(hash,size,codec,data) VALUES(?1,?2,?3,?4)");
    if (!st) {
        free(z);
        return AIOS_EIO;
    }
    sqlite3_bind_blob(st, 1, hash, 32, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)len);
    sqlite3_bind_int(st, 3, codec);
    /* a zero-length blob must still be non-NULL for the NOT NULL column */
    sqlite3_bind_blob64(st, 4, store_len ? store : "", store_len, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    free(z);
    if (rc != SQLITE_DONE)
        return lsfs__sqlerr(db, rc, "blob insert");
    *blob_id = sqlite3_last_insert_rowid(db->h);
    return 0;
}

int lsfs__blob_get(lsfs_db *db, int64_t blob_id, char **data, size_t *len)
{
    sqlite3_stmt *st = lsfs__stmt(db, "SELECT size, codec, data FROM blobs WHERE id=?1");
    const void *src;
    size_t size, srclen;
    char *buf;
    int codec, rc;

    *data = NULL;
    *len = 0;
    if (!st)
        return AIOS_EIO;
    sqlite3_bind_int64(st, 1, blob_id);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        if (rc == SQLITE_DONE)
            return lsfs__err(db, AIOS_ECORRUPT, NULL, "blob %lld is missing", (long long)blob_id);
        return lsfs__sqlerr(db, rc, "blob read");
    }
    size = (size_t)sqlite3_column_int64(st, 0);
    codec = sqlite3_column_int(st, 1);
    src = sqlite3_column_blob(st, 2);
    srclen = (size_t)sqlite3_column_bytes(st, 2);
    buf = malloc(size + 1);
    if (!buf) {
        sqlite3_reset(st);
        return lsfs__err(db, AIOS_ENOMEM, NULL, "out of memory reading %zu bytes", size);
    }
    if (codec == BLOB_ZSTD) {
        size_t n = ZSTD_decompress(buf, size, src, srclen);
        if (ZSTD_isError(n) || n != size) {
            free(buf);
            sqlite3_reset(st);
            return lsfs__err(db, AIOS_ECORRUPT, NULL, "blob %lld does not decompress",
                             (long long)blob_id);
        }
    } else if (codec == BLOB_RAW && srclen == size) {
        if (size)
            memcpy(buf, src, size);
    } else {
        free(buf);
        sqlite3_reset(st);
        return lsfs__err(db, AIOS_ECORRUPT, NULL, "blob %lld has a bad codec or size",
                         (long long)blob_id);
    }
    sqlite3_reset(st);
    buf[size] = 0;
    *data = buf;
    *len = size;
    return 0;
}

int lsfs__blob_gc(lsfs_db *db)
{
    sqlite3_stmt *st = lsfs__stmt(db,
        "DELETE FROM blobs WHERE id NOT IN (SELECT blob FROM versions)"
        " AND id NOT IN (SELECT blob FROM nodes WHERE blob IS NOT NULL)");
    int rc;

    if (!st)
        return AIOS_EIO;
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : lsfs__sqlerr(db, rc, "blob gc");
}

/*
 * mem.c - the mem.* syscall family: agent memory notes stored in LSFS
 * (content, keywords, tags, links), private to their owner unless shared,
 * found by keyword and meaning.
 *
 * Threads: worker threads.
 */
#include "aios/kernel.h"
#include "aios/lsfs.h"
#include "syscalls/lsfs_sys_int.h"

static int mem_add(kern_call *c, json_t *params, json_t **result)
{
    lsfs_actor a;
    lsfs_db *db;
    int rc;

    if ((rc = sys__lsfs_begin(c, &a, &db)) < 0)
        return rc;
    rc = lsfs_mem_add(db, &a, params, result);
    return rc < 0 ? sys__lsfs_fail(c, db, rc) : 0;
}

static int mem_get(kern_call *c, json_t *params, json_t **result)
{
    lsfs_actor a;
    lsfs_db *db;
    int rc;

    if ((rc = sys__lsfs_begin(c, &a, &db)) < 0)
        return rc;
    rc = lsfs_mem_get(db, &a, json_integer_value(json_object_get(params, "id")), result);
    return rc < 0 ? sys__lsfs_fail(c, db, rc) : 0;
}

static int mem_update(kern_call *c, json_t *params, json_t **result)
{
    lsfs_actor a;
    lsfs_db *db;
    int rc;

    if ((rc = sys__lsfs_begin(c, &a, &db)) < 0)
        return rc;
    rc = lsfs_mem_update(db, &a, params, result);
    return rc < 0 ? sys__lsfs_fail(c, db, rc) : 0;
}

static int mem_delete(kern_call *c, json_t *params, json_t **result)
{
    lsfs_actor a;
    lsfs_db *db;
    int rc;

    if ((rc = sys__lsfs_begin(c, &a, &db)) < 0)
        return rc;
    rc = lsfs_mem_delete(db, &a, json_integer_value(json_object_get(params, "id")), result);
    return rc < 0 ? sys__lsfs_fail(c, db, rc) : 0;
}

static int mem_search(kern_call *c, json_t *params, json_t **result)
{
    lsfs_actor a;
    lsfs_db *db;
    int rc;

    if ((rc = sys__lsfs_begin(c, &a, &db)) < 0)
        return rc;
    rc = lsfs_mem_search(db, &a, params, result);
    return rc < 0 ? sys__lsfs_fail(c, db, rc) : 0;
}

#define STRS "{\"type\":\"array\",\"items\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":128},\"maxItems\":64}"
#define NOTE_P                                                                               \
    "\"content\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":65536},"                   \
    "\"keywords\":" STRS ","                                                                 \
    "\"tags\":" STRS ","                                                                     \
    "\"links\":{\"type\":\"array\",\"items\":{\"type\":\"integer\",\"minimum\":1},\"maxItems\":256," \
    "  \"description\":\"ids of related notes\"},"                                            \
    "\"share\":{\"type\":\"array\",\"items\":{\"type\":\"string\"},\"maxItems\":64,"              \
    "  \"description\":\"agent:<name>, uid:<n>, group:<name> or * (replaces the list)\"}"
#define NOTE_R "{id, owner, content, keywords, tags, links, shared_with, created, updated}"

const sys_method sys_mem_methods[] = {
    {"mem.add", mem_add, SYS_F_WORKER | SYS_F_MUTATES,
     "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"content\"],\"properties\":{"
     NOTE_P "}}",
     NOTE_R, "EINVAL", "remember a note (keywords are extracted when not given)"},
    {"mem.get", mem_get, SYS_F_WORKER,
     "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"id\"],\"properties\":{"
     "\"id\":{\"type\":\"integer\",\"minimum\":1}}}",
     NOTE_R, "ENOENT", "one note you may read"},
    {"mem.update", mem_update, SYS_F_WORKER | SYS_F_MUTATES,
     "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"id\"],\"properties\":{"
     "\"id\":{\"type\":\"integer\",\"minimum\":1}," NOTE_P "}}",
     NOTE_R, "ENOENT EPERM EINVAL", "change a note you own (given fields only)"},
    {"mem.delete", mem_delete, SYS_F_WORKER | SYS_F_MUTATES,
     "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"id\"],\"properties\":{"
     "\"id\":{\"type\":\"integer\",\"minimum\":1}}}",
     "{id, deleted}", "ENOENT EPERM", "forget a note you own"},
    {"mem.search", mem_search, SYS_F_WORKER,
     "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"query\"],\"properties\":{"
     "\"query\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":4096},"
     "\"k\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":100,\"default\":5},"
     "\"mode\":{\"enum\":[\"keyword\",\"semantic\",\"hybrid\"],\"default\":\"hybrid\"},"
     "\"tags\":" STRS "}}",
     "{query, mode, results: [note + score, keyword_rank?, semantic_rank?], fallback?}",
     "EINVAL EUNAVAIL", "find your notes (and notes shared with you) by keywords and meaning, "
     "optionally requiring tags"},
};

const size_t sys_mem_count = sizeof(sys_mem_methods) / sizeof(sys_mem_methods[0]);

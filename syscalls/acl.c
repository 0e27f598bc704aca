/*
 * acl.c - the acl.* syscall family: agent groups for sharing.  Groups live
 * in LSFS tables; a group's owner (its creator) adds and removes members;
 * fs.share and mem.* grant rights to "group:<name>".
 *
 * Threads: worker threads.
 */
#include "aios/kernel.h"
#include "aios/lsfs.h"
#include "syscalls/lsfs_sys_int.h"

#define G(k) json_string_value(json_object_get(params, k))

static int acl_group_create(kern_call *c, json_t *params, json_t **result)
{
    lsfs_actor a;
    lsfs_db *db;
    int rc;

    if ((rc = sys__lsfs_begin(c, &a, &db)) < 0)
        return rc;
    rc = lsfs_group_create(db, &a, G("group"), result);
    return rc < 0 ? sys__lsfs_fail(c, db, rc) : 0;
}

static int acl_group_delete(kern_call *c, json_t *params, json_t **result)
{
    lsfs_actor a;
    lsfs_db *db;
    int rc;

    if ((rc = sys__lsfs_begin(c, &a, &db)) < 0)
        return rc;
    rc = lsfs_group_delete(db, &a, G("group"));
    if (rc < 0)
        return sys__lsfs_fail(c, db, rc);
    *result = json_pack("{s:s,s:b}", "group", G("group"), "deleted", 1);
    return 0;
}

static int edit(kern_call *c, json_t *params, json_t **result, bool add)
{
    lsfs_actor a;
    lsfs_db *db;
    int rc;

    if ((rc = sys__lsfs_begin(c, &a, &db)) < 0)
        return rc;
    rc = add ? lsfs_group_add(db, &a, G("group"), G("member"))
             : lsfs_group_remove(db, &a, G("group"), G("member"));
    if (rc < 0)
        return sys__lsfs_fail(c, db, rc);
    *result = json_pack("{s:s,s:s,s:b}", "group", G("group"), "member", G("member"),
                        add ? "added" : "removed", 1);
    return 0;
}

static int acl_group_add(kern_call *c, json_t *params, json_t **result)
{
    return edit(c, params, result, true);
}

static int acl_group_remove(kern_call *c, json_t *params, json_t **result)
{
    return edit(c, params, result, false);
}

static int acl_groups(kern_call *c, json_t *params, json_t **result)
{
    lsfs_actor a;
    lsfs_db *db;
    int rc;

    (void)params;
    if ((rc = sys__lsfs_begin(c, &a, &db)) < 0)
        return rc;
    rc = lsfs_group_list(db, &a, result);
    return rc < 0 ? sys__lsfs_fail(c, db, rc) : 0;
}

#define GROUP_P "\"group\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":64,\"description\":\"a-z, 0-9, - _ .\"}"
#define MEMBER_P "\"member\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":72,\"description\":\"agent:<name> (or <name>) or uid:<n>\"}"

const sys_method sys_acl_methods[] = {
    {"acl.group_create", acl_group_create, SYS_F_WORKER | SYS_F_MUTATES,
     "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"group\"],\"properties\":{" GROUP_P "}}",
     "{group, owner, members}", "EEXIST EINVAL", "create a group you own (you are its first member)"},
    {"acl.group_delete", acl_group_delete, SYS_F_WORKER | SYS_F_MUTATES,
     "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"group\"],\"properties\":{" GROUP_P "}}",
     "{group, deleted}", "ENOENT EPERM", "delete a group you own"},
    {"acl.group_add", acl_group_add, SYS_F_WORKER | SYS_F_MUTATES,
     "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"group\",\"member\"],\"properties\":{"
     GROUP_P "," MEMBER_P "}}",
     "{group, member, added}", "ENOENT EPERM EINVAL", "add a member to a group you own"},
    {"acl.group_remove", acl_group_remove, SYS_F_WORKER | SYS_F_MUTATES,
     "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"group\",\"member\"],\"properties\":{"
     GROUP_P "," MEMBER_P "}}",
     "{group, member, removed}", "ENOENT EPERM EINVAL", "remove a member from a group you own"},
    {"acl.groups", acl_groups, SYS_F_WORKER,
     "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{}}",
     "{groups: [{group, owner, members}]}", "", "the groups you own or belong to (all for admins)"},
};

const size_t sys_acl_count = sizeof(sys_acl_methods) / sizeof(sys_acl_methods[0]);

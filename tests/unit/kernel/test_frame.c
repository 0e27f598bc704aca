/*
 * test_frame.c - the wire framing and request checks, fed like a socket
 * would feed them: byte by byte, many messages per read, over-long lines,
 * invalid UTF-8, invalid JSON and wrong member types.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "aios/error.h"
#include "kernel/kern_int.h"

typedef struct {
    char lines[64][256];
    int n;
    int too_long;
} sink;

static int collect(void *arg, kern_frame_event ev, const char *line, size_t len)
{
    sink *s = arg;

    if (ev == KERN_FRAME_TOO_LONG) {
        s->too_long++;
        return 0;
    }
    cr_assert(len < 256);
    memcpy(s->lines[s->n], line, len);
    s->lines[s->n][len] = '\0';
    s->n++;
    return 0;
}

Test(frame, byte_by_byte)
{
    kern_frame f;
    sink s = {0};
    const char *in = "{\"a\":1}\n{\"b\":2}\n{\"c\"";

    kern__frame_init(&f, 1024);
    for (size_t i = 0; i < strlen(in); i++)
        cr_assert_eq(kern__frame_feed(&f, in + i, 1, collect, &s), 0);
    cr_assert_eq(s.n, 2);
    cr_assert_str_eq(s.lines[0], "{\"a\":1}");
    cr_assert_str_eq(s.lines[1], "{\"b\":2}");
    cr_assert_eq(f.len, 4);   /* the partial third line is kept */
    cr_assert_eq(kern__frame_feed(&f, ":3}\n", 4, collect, &s), 0);
    cr_assert_str_eq(s.lines[2], "{\"c\":3}");
    kern__frame_free(&f);
}

Test(frame, many_in_one_read)
{
    kern_frame f;
    sink s = {0};
    char buf[4096] = "";

    for (int i = 0; i < 50; i++)
        snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "line %d\n", i);
    kern__frame_init(&f, 1024);
    cr_assert_eq(kern__frame_feed(&f, buf, strlen(buf), collect, &s), 0);
    cr_assert_eq(s.n, 50);
    cr_assert_str_eq(s.lines[49], "line 49");
    cr_assert_eq(f.len, 0);
    kern__frame_free(&f);
}

Test(frame, oversized_line_reported_once_then_skipped)
{
    kern_frame f;
    sink s = {0};
    char big[300];

    memset(big, 'x', sizeof(big));
    kern__frame_init(&f, 100);
    /* the long line arrives in three pieces, then a good line */
    cr_assert_eq(kern__frame_feed(&f, big, 60, collect, &s), 0);
    cr_assert_eq(kern__frame_feed(&f, big, 60, collect, &s), 0);
    cr_assert_eq(s.too_long, 1);
    cr_assert(f.len <= 100, "buffered %zu bytes past the cap", f.len);
    cr_assert_eq(kern__frame_feed(&f, big, 180, collect, &s), 0);
    cr_assert_eq(kern__frame_feed(&f, "\nok\n", 4, collect, &s), 0);
    cr_assert_eq(s.too_long, 1);
    cr_assert_eq(s.n, 1);
    cr_assert_str_eq(s.lines[0], "ok");
    /* exactly max_line bytes is allowed */
    memset(big, 'y', 100);
    big[100] = '\n';
    cr_assert_eq(kern__frame_feed(&f, big, 101, collect, &s), 0);
    cr_assert_eq(s.n, 2);
    kern__frame_free(&f);
}

static int check(const char *text, const char **method, json_t **id, json_t **params, char *err)
{
    json_error_t je;
    json_t *msg = json_loads(text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
    int rc;

    if (!msg)
        return AIOS_EPARSE;
    rc = kern__rpc_check(msg, method, id, params, err, 256);
    json_decref(msg);   /* borrowed pointers are not used after this */
    return rc;
}

Test(frame, request_shapes)
{
    const char *m;
    json_t *id, *p;
    char err[256];

    cr_assert_eq(check("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"sys.ping\"}", &m, &id, &p, err), 0);
    cr_assert_eq(check("{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"params\":{}}", &m, &id, &p, err), 0);
    cr_assert_eq(check("[1,2]", &m, &id, &p, err), AIOS_EPROTO);
    cr_assert(strstr(err, "batch"));
    cr_assert_eq(check("\"hello\"", &m, &id, &p, err), AIOS_EPROTO);
    cr_assert_eq(check("{\"id\":1,\"method\":\"x\"}", &m, &id, &p, err), AIOS_EPROTO);
    cr_assert_eq(check("{\"jsonrpc\":2,\"id\":1,\"method\":\"x\"}", &m, &id, &p, err), AIOS_EPROTO);
    cr_assert_eq(check("{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"x\"}", &m, &id, &p, err), AIOS_EPROTO);
    cr_assert_eq(check("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":7}", &m, &id, &p, err), AIOS_EPROTO);
    cr_assert_eq(check("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\"}", &m, &id, &p, err), AIOS_EPROTO);
    cr_assert_eq(check("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\",\"params\":[1]}", &m, &id, &p, err),
                 AIOS_EINVAL);
    cr_assert(strstr(err, "positional"));
    cr_assert_eq(check("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\",\"params\":3}", &m, &id, &p, err),
                 AIOS_EINVAL);
    cr_assert_eq(check("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\",\"extra\":3}", &m, &id, &p, err),
                 AIOS_EPROTO);
    /* invalid JSON and invalid UTF-8 never reach the checks */
    cr_assert_eq(check("{\"jsonrpc\":\"2.0\",", &m, &id, &p, err), AIOS_EPARSE);
    cr_assert_eq(check("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xff\"}", &m, &id, &p, err), AIOS_EPARSE);
    cr_assert_eq(check("{\"id\":1,\"id\":2,\"jsonrpc\":\"2.0\",\"method\":\"x\"}", &m, &id, &p, err), AIOS_EPARSE);
}

/* ---- table validation ---- */

static int h(kern_call *c, json_t *p, json_t **r)
{
    return 0;
}

static int row(const char *name, const char *schema, const char *help)
{
    sys_method m = {name, h, 0, schema, "", "", help};
    json_t *s = NULL;
    char err[256];
    int rc = kern__method_row_check(&m, "fs", &s, err, sizeof(err));

    json_decref(s);
    return rc;
}

Test(table, rows_are_checked)
{
    const char *ok = "{\"type\":\"object\",\"properties\":{\"path\":{\"type\":\"string\"}}}";

    cr_assert_eq(row("fs.read", ok, "read a file"), 0);
    cr_assert_eq(row("fs.read_range", ok, "read"), 0);
    cr_assert_eq(row("llm.read", ok, "wrong family"), AIOS_EINVAL);
    cr_assert_eq(row("fs.", ok, "empty"), AIOS_EINVAL);
    cr_assert_eq(row("fs.Read", ok, "upper case"), AIOS_EINVAL);
    cr_assert_eq(row("fs.read", ok, ""), AIOS_EINVAL);
    cr_assert_eq(row("fs.read", "{not json", "x"), AIOS_EINVAL);
    cr_assert_eq(row("fs.read", "{\"type\":\"array\"}", "x"), AIOS_EINVAL);
    cr_assert_eq(row("fs.read", "{\"type\":\"object\",\"propertes\":{}}", "x"), AIOS_EINVAL);
}

Test(table, the_real_table_builds)
{
    char err[256] = "";

    cr_assert_eq(kern__table_build(err, sizeof(err)), 0, "%s", err);
    cr_assert_not_null(kern__method_find("sys.ping"));
    cr_assert_not_null(kern__method_find("proc.spawn"));
    cr_assert_null(kern__method_find("sys.nope"));
    for (size_t i = 1; i < kern__method_count(); i++)
        cr_assert(strcmp(kern__method_at(i - 1)->name, kern__method_at(i)->name) < 0);
    kern__table_free();
}

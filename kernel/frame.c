/*
 * frame.c - newline framing of the wire protocol and JSON-RPC shape checks.
 *
 * Bytes arrive in arbitrary pieces; kern__frame_feed() joins them and hands
 * out complete lines.  A line longer than max_line is reported once and its
 * bytes are dropped as they come, so a hostile client cannot make the
 * daemon buffer more than max_line bytes per connection.  Pure code with no
 * libuv, so the unit tests drive it directly.  Loop thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aios/error.h"
#include "kernel/kern_int.h"

void kern__frame_init(kern_frame *f, size_t max_line)
{
    memset(f, 0, sizeof(*f));
    f->max_line = max_line;
}

void kern__frame_free(kern_frame *f)
{
    free(f->buf);
    memset(f, 0, sizeof(*f));
}

static int reserve(kern_frame *f, size_t need)
{
    size_t cap;
    char *nb;

    if (need <= f->cap)
        return 0;
    cap = f->cap ? f->cap : 4096;
    while (cap < need)
        cap *= 2;
    nb = realloc(f->buf, cap);
    if (!nb)
        return AIOS_ENOMEM;
    f->buf = nb;
    f->cap = cap;
    return 0;
}

int kern__frame_feed(kern_frame *f, const char *data, size_t n, kern_frame_cb cb, void *arg)
{
    while (n > 0) {
        const char *nl = memchr(data, '\n', n);
        size_t take = nl ? (size_t)(nl - data) : n;
        int rc;

        if (f->overflow) {
            /* dropping the rest of an over-long line */
            if (!nl)
                return 0;
            f->overflow = false;
            data += take + 1;
            n -= take + 1;
            continue;
        }
        if (f->len + take > f->max_line) {
            f->len = 0;
            f->overflow = true;
            if ((rc = cb(arg, KERN_FRAME_TOO_LONG, NULL, 0)) < 0)
                return rc;
            continue;
        }
        if (!nl) {
            if ((rc = reserve(f, f->len + take)) < 0)
                return rc;
            memcpy(f->buf + f->len, data, take);
            f->len += take;
            return 0;
        }
        if (f->len == 0) {
            /* the whole line is in this chunk: no copy */
            rc = cb(arg, KERN_FRAME_LINE, data, take);
        } else {
            if ((rc = reserve(f, f->len + take + 1)) < 0)
                return rc;
            memcpy(f->buf + f->len, data, take);
            f->len += take;
            rc = cb(arg, KERN_FRAME_LINE, f->buf, f->len);
            f->len = 0;
        }
        if (rc < 0)
            return rc;
        data += take + 1;
        n -= take + 1;
    }
    /* give back memory after a burst of large lines */
    if (f->len == 0 && f->cap > 1 << 20) {
        free(f->buf);
        f->buf = NULL;
        f->cap = 0;
    }
    return 0;
}

int kern__rpc_check(const json_t *msg, const char **method, json_t **id, json_t **params,
                    char *err, size_t errlen)
{
    json_t *v, *jid, *p;
    const char *key;

    *method = NULL;
    *id = NULL;
    *params = NULL;
    if (json_is_array(msg)) {
        snprintf(err, errlen, "batch requests are not supported; send one request per line");
        return AIOS_EPROTO;
    }
    if (!json_is_object(msg)) {
        snprintf(err, errlen, "a request must be a JSON object");
        return AIOS_EPROTO;
    }
    jid = json_object_get(msg, "id");
    if (jid && !json_is_string(jid) && !json_is_integer(jid) && !json_is_null(jid)) {
        snprintf(err, errlen, "'id' must be a string, an integer or null");
        return AIOS_EPROTO;
    }
    *id = jid;
    v = json_object_get(msg, "jsonrpc");
    if (!json_is_string(v) || strcmp(json_string_value(v), "2.0") != 0) {
        snprintf(err, errlen, "'jsonrpc' must be \"2.0\"");
        return AIOS_EPROTO;
    }
    v = json_object_get(msg, "method");
    if (!json_is_string(v) || json_string_length(v) == 0) {
        snprintf(err, errlen, "'method' must be a non-empty string");
        return AIOS_EPROTO;
    }
    *method = json_string_value(v);
    json_object_foreach((json_t *)msg, key, v) {
        if (strcmp(key, "jsonrpc") && strcmp(key, "method") && strcmp(key, "params") &&
            strcmp(key, "id")) {
            snprintf(err, errlen, "unknown member '%s' in request", key);
            return AIOS_EPROTO;
        }
    }
    p = json_object_get(msg, "params");
    if (p && !json_is_object(p) && !json_is_null(p)) {
        snprintf(err, errlen, json_is_array(p) ? "positional params are not supported; 'params' must be an object"
                                               : "'params' must be an object");
        return AIOS_EINVAL;
    }
    *params = json_is_object(p) ? p : NULL;
    return 0;
}

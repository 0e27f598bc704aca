/*
 * result.c - sandbox results as JSON, and tool output made safe for JSON
 * (invalid UTF-8 replaced, chunks cut on character boundaries).
 *
 * No state; any thread.
 */
#include <stdlib.h>
#include <string.h>

#include "aios/error.h"
#include "aios/sandbox.h"

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid,
 * -1 if it is valid so far but cut off by the end of the buffer. */
static int utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    int len;
    unsigned min;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        min = 0x10000;
    } else {
        return 0;
    }
    {
        unsigned cp = c & (0x7fu >> len);

        for (int i = 1; i < len; i++) {
            if ((size_t)i >= n)
                return -1;
            if ((s[i] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i] & 0x3fu);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
    }
    return len;
}

size_t sbx_utf8_complete(const char *data, size_t len)
{
    size_t i = len;

    /* look back at most 3 bytes for a cut-off sequence */
    for (size_t back = 1; back <= 3 && back <= len; back++) {
        unsigned char c = (unsigned char)data[len - back];

        if ((c & 0xc0) != 0x80) {
            if (utf8_seq((const unsigned char *)data + len - back, back) == -1)
                i = len - back;
            break;
        }
    }
    return i;
}

json_t *sbx_text_json(const char *data, size_t len)
{
    const unsigned char *s = (const unsigned char *)data;
    char *out;
    size_t o = 0;
    json_t *j;

    if (!data)
        return json_string("");
    out = malloc(len * 3 + 1);
    if (!out)
        return NULL;
    for (size_t i = 0; i < len;) {
        int n = utf8_seq(s + i, len - i);

        if (n > 0) {
            memcpy(out + o, s + i, (size_t)n);
            o += (size_t)n;
            i += (size_t)n;
        } else {
            memcpy(out + o, "\xef\xbf\xbd", 3);  /* U+FFFD */
            o += 3;
            i++;
        }
    }
    j = json_stringn(out, o);
    free(out);
    return j;
}

json_t *sbx_result_to_json(const sbx_result *r)
{
    json_t *j = json_object(), *l = json_object();

    if (!j || !l) {
        json_decref(j);
        json_decref(l);
        return NULL;
    }
    json_object_set_new(j, "exit_code", r->exited ? json_integer(r->exit_code) : json_null());
    json_object_set_new(j, "signal", r->term_signal ? json_integer(r->term_signal) : json_null());
    json_object_set_new(j, "timed_out", json_boolean(r->timed_out));
    json_object_set_new(j, "cancelled", json_boolean(r->cancelled));
    json_object_set_new(j, "oom_killed", json_boolean(r->oom_killed));
    json_object_set_new(j, "stdout", sbx_text_json(r->out, r->out_len));
    json_object_set_new(j, "stderr", sbx_text_json(r->err, r->err_len));
    json_object_set_new(j, "stdout_truncated", json_boolean(r->out_truncated));
    json_object_set_new(j, "stderr_truncated", json_boolean(r->err_truncated));
    json_object_set_new(j, "stdout_bytes", json_integer((json_int_t)r->out_total));
    json_object_set_new(j, "stderr_bytes", json_integer((json_int_t)r->err_total));
    json_object_set_new(j, "wall_ms", json_real(r->wall_ms));
    json_object_set_new(j, "cpu_ms", json_real(r->cpu_ms));
    json_object_set_new(j, "maxrss_kb", json_integer(r->maxrss_kb));
    json_object_set_new(j, "warm", json_boolean(r->warm));
    for (int i = 0; i < SBX_L_COUNT; i++)
        json_object_set_new(l, sbx_layer_name(i), json_string(sbx_state_name(r->layers[i])));
    json_object_set_new(j, "layers", l);
    if (r->detail)
        json_object_set(j, "sandbox", r->detail);
    if (r->rc < 0 || r->error[0]) {
        json_object_set_new(j, "error", json_string(r->error[0] ? r->error : aios_strerror(r->rc)));
        json_object_set_new(j, "error_code", json_string(aios_errname(r->rc)));
        if (r->error_layer[0])
            json_object_set_new(j, "error_stage", json_string(r->error_layer));
    }
    return j;
}

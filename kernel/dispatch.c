/*
 * dispatch.c - the syscall table and the path of every request through it.
 *
 * At start-up the family arrays listed in syscalls/families.def are joined
 * into one sorted table, and every row is checked: unique well-formed name,
 * a handler, help text, a parameter schema that parses and uses only
 * supported keywords.  A bad row stops the daemon at start, never at run
 * time.
 *
 * For each request line: decode, check the JSON-RPC shape, find the method,
 * check the caller's rights (admin flag, the capabilities of a bound agent
 * process), check params against the schema (and fill defaults), then run
 * the handler on the loop thread or, for SYS_F_WORKER rows, on the worker
 * pool under a per-agent concurrency limit.  Latency statistics per method
 * are kept here as log-scaled histograms.  Loop thread only.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aios/error.h"
#include "aios/jschema.h"
#include "aios/log.h"
#include "kernel/kern_int.h"

/* ---- the table ----------------------------------------------------------------- */

#define SYS_FAMILY(name)                                                                \
    extern const sys_method sys_##name##_methods[];                                    \
    extern const size_t sys_##name##_count;
#include "syscalls/families.def"
#undef SYS_FAMILY

typedef struct {
    const char *name;
    const sys_method *rows;
    const size_t *count;
} family;

static const family families[] = {
#define SYS_FAMILY(name) {#name, sys_##name##_methods, &sys_##name##_count},
#include "syscalls/families.def"
#undef SYS_FAMILY
};

#define N_FAMILIES (sizeof(families) / sizeof(families[0]))

/* Latency histogram: 4 buckets per power of two of nanoseconds. */
#define HIST_BUCKETS 160

typedef struct {
    const sys_method *m;
    json_t *schema;
    int family;
    uint64_t calls, errors;
    uint64_t hist[HIST_BUCKETS];
    uint64_t total_ns;
} method_entry;

static method_entry *table;
static size_t table_len;
static size_t inflight;

/* Per-principal queue for worker calls over the concurrency limit. */
typedef struct agent_slot {
    char principal[80];
    int running;
    kern_call *head, *tail;
    struct agent_slot *next;
} agent_slot;

static agent_slot *slots;

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const method_entry *)a)->m->name, ((const method_entry *)b)->m->name);
}

static bool valid_name(const char *name, const char *fam)
{
    size_t fl = strlen(fam);

    if (strncmp(name, fam, fl) != 0 || name[fl] != '.' || name[fl + 1] == '\0')
        return false;
    for (const char *p = name + fl + 1; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '.'))
            return false;
    return true;
}

int kern__method_row_check(const sys_method *m, const char *fam, json_t **schema_out, char *err,
                           size_t errlen)
{
    json_error_t je;
    json_t *schema;
    char msg[256] = "";

    *schema_out = NULL;
    if (!m->name || !valid_name(m->name, fam)) {
        snprintf(err, errlen, "family '%s': bad method name '%s'", fam, m->name ? m->name : "(null)");
        return AIOS_EINVAL;
    }
    if (!m->handler || !m->help || !*m->help || !m->params) {
        snprintf(err, errlen, "method '%s': handler, params schema and help are required", m->name);
        return AIOS_EINVAL;
    }
    schema = json_loads(m->params, 0, &je);
    if (!schema) {
        snprintf(err, errlen, "method '%s': params schema is not JSON: %s", m->name, je.text);
        return AIOS_EINVAL;
    }
    if (aios_jschema_validate_schema(schema, msg, sizeof(msg)) < 0 || !json_is_object(schema) ||
        strcmp(json_string_value(json_object_get(schema, "type")) ?: "", "object") != 0) {
        snprintf(err, errlen, "method '%s': bad params schema: %s", m->name,
                 msg[0] ? msg : "must be an object schema with type object");
        json_decref(schema);
        return AIOS_EINVAL;
    }
    *schema_out = schema;
    return 0;
}

int kern__table_build(char *err, size_t errlen)
{
    size_t n = 0, k = 0;
    int rc;

    if (N_FAMILIES > 32) {
        snprintf(err, errlen, "more than 32 syscall families");
        return AIOS_EINVAL;
    }
    for (size_t f = 0; f < N_FAMILIES; f++)
        n += *families[f].count;
    table = calloc(n ? n : 1, sizeof(*table));
    if (!table)
        return AIOS_ENOMEM;
    for (size_t f = 0; f < N_FAMILIES; f++) {
        for (size_t i = 0; i < *families[f].count; i++) {
            const sys_method *m = &families[f].rows[i];

            if ((rc = kern__method_row_check(m, families[f].name, &table[k].schema, err, errlen)) < 0)
                return rc;
            table[k].m = m;
            table[k].family = (int)f;
            k++;
        }
    }
    table_len = k;
    qsort(table, table_len, sizeof(*table), cmp_entry);
    for (size_t i = 1; i < table_len; i++) {
        if (strcmp(table[i - 1].m->name, table[i].m->name) == 0) {
            snprintf(err, errlen, "method '%s' is defined twice", table[i].m->name);
            return AIOS_EINVAL;
        }
    }
    return 0;
}

void kern__table_free(void)
{
    for (size_t i = 0; i < table_len; i++)
        json_decref(table[i].schema);
    free(table);
    table = NULL;
    table_len = 0;
    while (slots) {
        agent_slot *s = slots;
        slots = s->next;
        free(s);
    }
}

static method_entry *entry_find(const char *name)
{
    size_t lo = 0, hi = table_len;

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(name, table[mid].m->name);
        if (c == 0)
            return &table[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

static method_entry *entry_of(const sys_method *m)
{
    return m ? entry_find(m->name) : NULL;
}

const sys_method *kern__method_find(const char *name)
{
    method_entry *e = entry_find(name);
    return e ? e->m : NULL;
}

size_t kern__method_count(void)
{
    return table_len;
}

const sys_method *kern__method_at(size_t i)
{
    return i < table_len ? table[i].m : NULL;
}

const json_t *kern__method_schema(const sys_method *m)
{
    method_entry *e = entry_of(m);
    return e ? e->schema : NULL;
}

int kern__family_index(const char *method)
{
    const char *dot = strchr(method, '.');
    size_t n = dot ? (size_t)(dot - method) : strlen(method);

    for (size_t f = 0; f < N_FAMILIES; f++)
        if (strlen(families[f].name) == n && strncmp(families[f].name, method, n) == 0)
            return (int)f;
    return -1;
}

size_t kern__family_count(void)
{
    return N_FAMILIES;
}

const char *kern__family_name(size_t i)
{
    return i < N_FAMILIES ? families[i].name : NULL;
}

/* ---- statistics ------------------------------------------------------------------ */

static int bucket_of(uint64_t ns)
{
    int b;

    if (ns < 1)
        return 0;
    b = (int)floor(log2((double)ns) * 4.0);
    return b < 0 ? 0 : b >= HIST_BUCKETS ? HIST_BUCKETS - 1 : b;
}

static double bucket_upper_us(int b)
{
    return pow(2.0, (b + 1) / 4.0) / 1000.0;
}

void kern__stats_record(const sys_method *m, uint64_t ns, int code)
{
    method_entry *e = entry_of(m);

    if (!e)
        return;
    e->calls++;
    if (code < 0)
        e->errors++;
    e->total_ns += ns;
    e->hist[bucket_of(ns)]++;
}

static double percentile(const method_entry *e, double p)
{
    uint64_t want = (uint64_t)ceil(p * (double)e->calls), seen = 0;

    if (e->calls == 0)
        return 0;
    for (int b = 0; b < HIST_BUCKETS; b++) {
        seen += e->hist[b];
        if (seen >= want)
            return bucket_upper_us(b);
    }
    return bucket_upper_us(HIST_BUCKETS - 1);
}

json_t *kern__stats_methods(void)
{
    json_t *o = json_object();

    for (size_t i = 0; i < table_len; i++) {
        method_entry *e = &table[i];
        if (e->calls == 0)
            continue;
        json_object_set_new(o, e->m->name,
                            json_pack("{s:I,s:I,s:f,s:f,s:f,s:f}", "calls", (json_int_t)e->calls,
                                      "errors", (json_int_t)e->errors, "mean_us",
                                      (double)e->total_ns / (double)e->calls / 1000.0, "p50_us",
                                      percentile(e, 0.50), "p90_us", percentile(e, 0.90), "p99_us",
                                      percentile(e, 0.99)));
    }
    return o;
}

size_t kern__inflight(void)
{
    return inflight;
}

void kern__inflight_add(int d)
{
    inflight = (size_t)((long)inflight + d);
}

/* ---- running handlers ------------------------------------------------------------ */

/* Answer c from a handler's return value (loop thread). */
static void complete(kern_call *c, int rc, json_t *result)
{
    if (rc == KERN_ASYNC)
        return;
    if (rc < 0) {
        json_decref(result);
        kern__call_reply_error(c, rc);
    } else {
        kern__call_reply_result(c, result ? result : json_null());
    }
}

static void run_loop(kern_call *c)
{
    json_t *result = NULL;
    int rc;

    kern_call_ref(c);   /* the handler's reference if it goes async */
    rc = c->m->handler(c, c->params, &result);
    complete(c, rc, result);
    if (rc != KERN_ASYNC)
        kern_call_unref(c);
}

/*
 * References on the worker path: start_worker() takes one for after_work_cb
 * (dropped there, always), and work_cb() takes the handler's own, which a
 * handler that goes async keeps and releases with kern_call_finish/fail -
 * possibly on another thread before after_work_cb runs, so after_work_cb
 * must never rely on the handler's reference.
 */
static void work_cb(uv_work_t *w)
{
    kern_call *c = w->data;

    c->worker_result = NULL;
    if (atomic_load(&c->cancelled)) {
        c->worker_rc = AIOS_ECANCELED;
        return;
    }
    kern_call_ref(c);
    c->worker_rc = c->m->handler(c, c->params, &c->worker_result);
    if (c->worker_rc != KERN_ASYNC)
        kern_call_unref(c);   /* never the last: after_work_cb's is held */
}

static agent_slot *slot_for(const char *principal)
{
    agent_slot *s;

    for (s = slots; s; s = s->next)
        if (strcmp(s->principal, principal) == 0)
            return s;
    s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    snprintf(s->principal, sizeof(s->principal), "%s", principal);
    s->next = slots;
    slots = s;
    return s;
}

static void start_worker(kern_call *c);

static void after_work_cb(uv_work_t *w, int status)
{
    kern_call *c = w->data;
    json_t *result = c->worker_result;

    c->worker_result = NULL;
    if (status == UV_ECANCELED)
        c->worker_rc = AIOS_ECANCELED;
    kern__worker_done(c);
    complete(c, c->worker_rc, result);
    kern_call_unref(c);       /* after_work_cb's reference */
}

static void start_worker(kern_call *c)
{
    int rc;

    c->work.data = c;
    c->on_worker = true;
    kern_call_ref(c);
    rc = uv_queue_work(kern__st.loop, &c->work, work_cb, after_work_cb);
    if (rc < 0) {
        c->on_worker = false;
        kern__worker_done(c);
        kern__call_reply_error(c, AIOS_ESYS);
        kern_call_unref(c);
    }
}

void kern__worker_done(kern_call *c)
{
    agent_slot *s;
    kern_call *next;

    if (!c->on_worker)
        return;
    c->on_worker = false;
    s = slot_for(c->ident.principal);
    if (!s)
        return;
    s->running--;
    /* start the next queued call of this agent that is still wanted */
    while ((next = s->head) != NULL) {
        s->head = next->wait_next;
        if (!s->head)
            s->tail = NULL;
        next->wait_next = NULL;
        if (!atomic_load(&next->done)) {
            s->running++;
            start_worker(next);
            kern_call_unref(next);  /* the queue's reference */
            break;
        }
        kern_call_unref(next);
    }
}

/* Queue or start a worker call under its agent's concurrency limit. */
static void run_worker(kern_call *c)
{
    agent_slot *s = slot_for(c->ident.principal);

    if (!s) {
        kern__call_reply_error(c, AIOS_ENOMEM);
        return;
    }
    if (s->running < kern__st.worker_limit) {
        s->running++;
        start_worker(c);
        return;
    }
    kern_call_ref(c);
    if (s->tail)
        s->tail->wait_next = c;
    else
        s->head = c;
    s->tail = c;
}

/* ---- the request path ------------------------------------------------------------- */

static void send_error(kern_conn *conn, const json_t *id, int code, const char *msg, const char *field,
                       json_t *data)
{
    json_t *e = kern__error_msg(id, code, msg, field, data);

    kern__conn_send(conn, e);
    json_decref(e);
}

static void handle_cancel(kern_conn *conn, json_t *id, json_t *params)
{
    json_t *target = params ? json_object_get(params, "id") : NULL;
    kern_call *c;

    if (!target || (!json_is_string(target) && !json_is_integer(target))) {
        if (id)
            send_error(conn, id, AIOS_EINVAL, "'$/cancel' needs the id of a call in flight", "id", NULL);
        return;
    }
    c = kern__call_find(conn, target);
    if (c)
        kern__call_cancel(c, "cancelled by the client");
    if (id) {
        json_t *r = json_pack("{s:s,s:O,s:{s:b}}", "jsonrpc", "2.0", "id", id, "result", "cancelled",
                              c != NULL);
        kern__conn_send(conn, r);
        json_decref(r);
    }
}

void kern__dispatch_line(kern_conn *conn, const char *line, size_t len)
{
    json_error_t je;
    json_t *msg, *id, *params, *owned_params = NULL;
    const char *method;
    method_entry *e;
    kern_call *c;
    char err[256], path[256];
    int rc, fam;

    /* tolerate CRLF and blank lines */
    while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
        len--;
    if (len == 0)
        return;
    msg = json_loadb(line, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
    if (!msg) {
        snprintf(err, sizeof(err), "parse error at column %d: %s", je.column, je.text);
        send_error(conn, NULL, AIOS_EPARSE, err, NULL, NULL);
        return;
    }
    rc = kern__rpc_check(msg, &method, &id, &params, err, sizeof(err));
    if (rc < 0) {
        send_error(conn, id, rc, err, rc == AIOS_EINVAL ? "params" : NULL, NULL);
        goto out;
    }
    if (strcmp(method, "$/cancel") == 0) {
        handle_cancel(conn, id, params);
        goto out;
    }
    e = entry_find(method);
    if (!e) {
        snprintf(err, sizeof(err), "no method '%.200s'", method);
        if (id)
            send_error(conn, id, AIOS_ENOMETHOD, err, NULL, json_pack("{s:s}", "method", method));
        goto out;
    }
    fam = e->family;
    if ((e->m->flags & SYS_F_ADMIN) && !conn->ident.admin) {
        snprintf(err, sizeof(err), "'%s' is reserved to root and the daemon's owner", method);
        if (id)
            send_error(conn, id, AIOS_EPERM, err, NULL, NULL);
        goto out;
    }
    if (!(e->m->flags & SYS_F_NOAUTH) && !(conn->caps & (1u << fam))) {
        snprintf(err, sizeof(err), "agent '%s' lacks the '%s' capability", conn->ident.agent, families[fam].name);
        if (id)
            send_error(conn, id, AIOS_EPERM, err, NULL, json_pack("{s:s}", "capability", families[fam].name));
        goto out;
    }
    /* params: checked against the schema on a private copy with defaults */
    owned_params = params ? json_deep_copy(params) : json_object();
    if (!owned_params) {
        if (id)
            send_error(conn, id, AIOS_ENOMEM, NULL, NULL, NULL);
        goto out;
    }
    rc = aios_jschema_check(e->schema, owned_params, path, sizeof(path), err, sizeof(err));
    if (rc < 0) {
        char full[600];
        snprintf(full, sizeof(full), "invalid params: %s%s%s", path[0] ? path : "", path[0] ? " " : "", err);
        if (id)
            send_error(conn, id, AIOS_EINVAL, full, path[0] ? path : NULL, NULL);
        e->calls++;
        e->errors++;
        goto out;
    }
    aios_jschema_apply_defaults(e->schema, owned_params);
    if (id && kern__call_find(conn, id)) {
        send_error(conn, id, AIOS_EPROTO, "a call with this id is already in flight on this connection",
                   "id", NULL);
        goto out;
    }
    c = kern__call_new(conn, e->m, id, owned_params);
    if (!c) {
        if (id)
            send_error(conn, id, AIOS_ENOMEM, NULL, NULL, NULL);
        goto out;
    }
    {
        json_t *s = json_object_get(owned_params, "stream");
        c->streaming = (e->m->flags & SYS_F_STREAM) && (s ? json_is_true(s) : true);
    }
    kern__proc_account_call(conn->ident.proc_id, fam);
    if (e->m->flags & SYS_F_WORKER)
        run_worker(c);
    else
        run_loop(c);
    /* c may be gone now: its creation reference belongs to the in-flight
     * list and is dropped when the call is answered (call.c) */
out:
    json_decref(owned_params);
    json_decref(msg);
}

/*
 * chat.c - chat templates (see chat.h): recognising a model's Jinja
 * template and rendering messages the way that template renders them.
 *
 * Recognition looks for the marker tokens of each family in the template
 * source (as llama.cpp does) and reads the few literals that vary between
 * models from it: the default system prompt of ChatML templates, the
 * knowledge-date line and fallback date of Llama 3.1+ templates.  Each
 * family is one render function in a table.  Jinja details the output
 * depends on are reproduced: `| trim` strips what Python's str.strip()
 * strips, and `| tojson` on a tool result writes a JSON string the way
 * json.dumps(ensure_ascii=False) does.
 *
 * Template handles are immutable; rendering uses only per-call buffers, so
 * any thread may render.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aios/error.h"
#include "aios/log.h"
#include "llmcore/chat.h"
#include "llmcore/unicode.h"

struct llm_chat_template {
    llm_chat_style style;
    char *default_system;   /* ChatML: the whole literal "<|im_start|>system\n...<|im_end|>\n" */
    char *default_prompt;   /* just the prompt inside it */
    char *knowledge_line;   /* Llama 3.1+: "Cutting Knowledge Date: December 2023\n" */
    char *fixed_date;       /* Llama 3.1+: the template's own date_string */
    bool uses_today;        /* Llama 3.1+: the template asks strftime_now */
    bool always_gen_prompt; /* the template adds the assistant header unconditionally */
};

/* ---- reading literals out of Jinja source -------------------------------- */

/*
 * Parse the Jinja string literal starting at s (a quote), unescaping the
 * Python-style escapes Jinja accepts.  Returns a malloc'd string and sets
 * *end past the closing quote, or NULL when s is not a complete literal.
 */
static char *jinja_literal(const char *s, const char **end)
{
    char q = *s, *out, *o;
    const char *p;

    if (q != '\'' && q != '"')
        return NULL;
    out = malloc(strlen(s) + 1);
    if (!out)
        return NULL;
    for (p = s + 1, o = out; *p && *p != q; p++) {
        if (*p != '\\') {
            *o++ = *p;
            continue;
        }
        switch (*++p) {
        case 'n': *o++ = '\n'; break;
        case 't': *o++ = '\t'; break;
        case 'r': *o++ = '\r'; break;
        case '\0': free(out); return NULL;
        default: *o++ = *p; break;     /* \\ \' \" */
        }
    }
    if (*p != q) {
        free(out);
        return NULL;
    }
    *o = '\0';
    *end = p + 1;
    return out;
}

/* The first string literal of src that starts with prefix (and, when
 * suffix is given, ends with it); malloc'd, or NULL. */
static char *find_literal(const char *src, const char *prefix, const char *suffix)
{
    for (const char *p = src; *p; p++) {
        const char *end;
        char *lit;

        if (*p != '\'' && *p != '"')
            continue;
        lit = jinja_literal(p, &end);
        if (!lit)
            continue;
        if (!strncmp(lit, prefix, strlen(prefix)) &&
            (!suffix || (strlen(lit) >= strlen(suffix) &&
                         !strcmp(lit + strlen(lit) - strlen(suffix), suffix))))
            return lit;
        free(lit);
        p = end - 1;
    }
    return NULL;
}

/* ---- recognition ---------------------------------------------------------- */

static const char *const style_names[] = {
    [LLM_CHAT_CHATML] = "chatml",     [LLM_CHAT_CHATML_TOOLS] = "chatml-tools",
    [LLM_CHAT_LLAMA3] = "llama3",     [LLM_CHAT_LLAMA31] = "llama3.1",
    [LLM_CHAT_FALLBACK] = "fallback",
};

const char *llm_chat_style_name(llm_chat_style s)
{
    if ((unsigned)s < sizeof(style_names) / sizeof(style_names[0]) && style_names[s])
        return style_names[s];
    return "unknown";
}

static llm_chat_style detect(const char *src)
{
    if (!src || !*src)
        return LLM_CHAT_FALLBACK;
    if (strstr(src, "<|im_start|>")) {
        /* Phi-4 and SmolVLM use the marker in other formats */
        if (strstr(src, "<|im_sep|>") || strstr(src, "<end_of_utterance>"))
            return LLM_CHAT_FALLBACK;
        return strstr(src, "<tool_response>") ? LLM_CHAT_CHATML_TOOLS : LLM_CHAT_CHATML;
    }
    if (strstr(src, "<|start_header_id|>") && strstr(src, "<|end_header_id|>"))
        return strstr(src, "Cutting Knowledge Date") ? LLM_CHAT_LLAMA31 : LLM_CHAT_LLAMA3;
    return LLM_CHAT_FALLBACK;
}

int llm_chat_template_new(const char *source, llm_chat_template **out)
{
    llm_chat_template *ct = calloc(1, sizeof(*ct));

    *out = NULL;
    if (!ct)
        return AIOS_ENOMEM;
    ct->style = detect(source);
    switch (ct->style) {
    case LLM_CHAT_CHATML:
    case LLM_CHAT_CHATML_TOOLS:
        ct->default_system = find_literal(source, "<|im_start|>system\n", "<|im_end|>\n");
        if (ct->default_system) {
            size_t n = strlen(ct->default_system) - strlen("<|im_start|>system\n") -
                       strlen("<|im_end|>\n");

            ct->default_prompt = strndup(ct->default_system + strlen("<|im_start|>system\n"), n);
            if (!ct->default_prompt)
                goto nomem;
        }
        break;
    case LLM_CHAT_LLAMA3:
        ct->always_gen_prompt = !strstr(source, "add_generation_prompt");
        break;
    case LLM_CHAT_LLAMA31: {
        const char *d = strstr(source, "set date_string = ");

        ct->knowledge_line = find_literal(source, "Cutting Knowledge Date", NULL);
        if (!ct->knowledge_line)
            ct->knowledge_line = strdup("Cutting Knowledge Date: December 2023\n");
        if (d) {
            const char *end;

            d += strlen("set date_string = ");
            ct->fixed_date = jinja_literal(d, &end);
        }
        if (!ct->fixed_date)
            ct->fixed_date = strdup("26 Jul 2024");
        ct->uses_today = strstr(source, "strftime_now") != NULL;
        if (!ct->knowledge_line || !ct->fixed_date)
            goto nomem;
        break;
    }
    case LLM_CHAT_FALLBACK:
        if (source && *source)
            AIOS_LOG(AIOS_LOG_WARN, "llm", "chat template not recognised: rendering plain chatml");
        break;
    }
    *out = ct;
    return 0;
nomem:
    llm_chat_template_free(ct);
    return AIOS_ENOMEM;
}

void llm_chat_template_free(llm_chat_template *ct)
{
    if (!ct)
        return;
    free(ct->default_system);
    free(ct->default_prompt);
    free(ct->knowledge_line);
    free(ct->fixed_date);
    free(ct);
}

llm_chat_style llm_chat_template_style(const llm_chat_template *ct)
{
    return ct->style;
}

const char *llm_chat_template_default_system(const llm_chat_template *ct)
{
    return ct->default_prompt;
}

/* ---- the output buffer ---------------------------------------------------- */

typedef struct {
    char *s;
    size_t n, cap;
    llm_chat_span *sp;
    size_t nsp, capsp;
    int rc;
} outbuf;

static void put(outbuf *o, const char *s, size_t n)
{
    if (o->rc)
        return;
    if (o->n + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : 256;
        char *p;

        while (cap < o->n + n + 1)
            cap *= 2;
        p = realloc(o->s, cap);
        if (!p) {
            o->rc = AIOS_ENOMEM;
            return;
        }
        o->s = p;
        o->cap = cap;
    }
    memcpy(o->s + o->n, s, n);
    o->n += n;
    o->s[o->n] = '\0';
}

static void puts_(outbuf *o, const char *s)
{
    put(o, s, strlen(s));
}

/* Append untrusted content and remember where it went. */
static void put_content(outbuf *o, const char *s, size_t n)
{
    size_t at = o->n;

    put(o, s, n);
    if (o->rc || n == 0)
        return;
    if (o->nsp == o->capsp) {
        size_t cap = o->capsp ? o->capsp * 2 : 16;
        llm_chat_span *p = realloc(o->sp, cap * sizeof(*p));

        if (!p) {
            o->rc = AIOS_ENOMEM;
            return;
        }
        o->sp = p;
        o->capsp = cap;
    }
    o->sp[o->nsp++] = (llm_chat_span){.off = at, .len = n};
}

/* Python's str.isspace(), which jinja's trim filter strips. */
static bool py_space(uint32_t cp)
{
    return (cp >= 0x09 && cp <= 0x0d) || (cp >= 0x1c && cp <= 0x20) || cp == 0x85 || cp == 0xa0 ||
           cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 ||
           cp == 0x202f || cp == 0x205f || cp == 0x3000;
}

/* content | trim */
static void put_trimmed(outbuf *o, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t a = 0, b = n, adv;

    while (a < b) {
        if (!py_space(llm_utf8_decode_lenient(p + a, b - a, &adv)))
            break;
        a += adv;
    }
    while (b > a) {
        size_t k = b - 1;

        while (k > a && (p[k] & 0xc0) == 0x80)
            k--;
        if (!py_space(llm_utf8_decode_lenient(p + k, b - k, &adv)))
            break;
        b = k;
    }
    put_content(o, s + a, b - a);
}

/* content | tojson: a JSON string as json.dumps(ensure_ascii=False) writes it. */
static void put_json_string(outbuf *o, const char *s, size_t n)
{
    outbuf tmp = {0};

    puts_(&tmp, "\"");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];

        switch (c) {
        case '"': puts_(&tmp, "\\\""); break;
        case '\\': puts_(&tmp, "\\\\"); break;
        case '\n': puts_(&tmp, "\\n"); break;
        case '\r': puts_(&tmp, "\\r"); break;
        case '\t': puts_(&tmp, "\\t"); break;
        case '\b': puts_(&tmp, "\\b"); break;
        case '\f': puts_(&tmp, "\\f"); break;
        default:
            if (c < 0x20) {
                snprintf(esc, sizeof(esc), "\\u%04x", c);
                puts_(&tmp, esc);
            } else {
                put(&tmp, (const char *)&c, 1);
            }
        }
    }
    puts_(&tmp, "\"");
    if (tmp.rc)
        o->rc = tmp.rc;
    else
        put_content(o, tmp.s, tmp.n);
    free(tmp.s);
}

/* ---- messages ----------------------------------------------------------- */

typedef struct {
    const char *role;
    const char *content;
    size_t len;
} msg;

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (!err || !errlen)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Check and unpack the message list. */
static int read_messages(const json_t *messages, msg **out, size_t *n, char *err, size_t errlen)
{
    static const char *const roles[] = {"system", "user", "assistant", "tool"};
    size_t i, count;
    msg *m;

    *out = NULL;
    *n = 0;
    if (!json_is_array(messages)) {
        seterr(err, errlen, "messages: not an array");
        return AIOS_EINVAL;
    }
    count = json_array_size(messages);
    m = calloc(count ? count : 1, sizeof(*m));
    if (!m)
        return AIOS_ENOMEM;
    for (i = 0; i < count; i++) {
        const json_t *e = json_array_get(messages, i);
        const json_t *role = json_object_get(e, "role"), *content = json_object_get(e, "content");
        size_t r;

        if (!json_is_object(e)) {
            seterr(err, errlen, "messages[%zu]: not an object", i);
            goto bad;
        }
        if (!json_is_string(role)) {
            seterr(err, errlen, "messages[%zu].role: not a string", i);
            goto bad;
        }
        for (r = 0; r < sizeof(roles) / sizeof(roles[0]); r++) {
            if (!strcmp(json_string_value(role), roles[r]))
                break;
        }
        if (r == sizeof(roles) / sizeof(roles[0])) {
            seterr(err, errlen, "messages[%zu].role: '%.40s' is not one of system, user, assistant, tool",
                   i, json_string_value(role));
            goto bad;
        }
        if (!json_is_string(content)) {
            seterr(err, errlen, "messages[%zu].content: not a string", i);
            goto bad;
        }
        m[i].role = roles[r];
        m[i].content = json_string_value(content);
        m[i].len = json_string_length(content);
    }
    *out = m;
    *n = count;
    return 0;
bad:
    free(m);
    return AIOS_EINVAL;
}

static bool is(const msg *m, const char *role)
{
    return !strcmp(m->role, role);
}

/* ---- renderers ------------------------------------------------------------ */

typedef struct {
    const llm_chat_template *ct;
    const msg *m;
    size_t n;
    bool gen;
    const char *date;
} render_in;

/* ChatML: SmolLM2, Qwen2 (and the fallback, without default system). */
static int render_chatml(const render_in *in, outbuf *o)
{
    for (size_t i = 0; i < in->n; i++) {
        if (i == 0 && in->ct->default_system && !is(&in->m[0], "system"))
            puts_(o, in->ct->default_system);
        puts_(o, "<|im_start|>");
        puts_(o, in->m[i].role);
        puts_(o, "\n");
        put_content(o, in->m[i].content, in->m[i].len);
        puts_(o, "<|im_end|>\n");
    }
    if (in->gen)
        puts_(o, "<|im_start|>assistant\n");
    return 0;
}

/* ChatML with tool results as <tool_response> blocks in a user turn
 * (Qwen2.5, without tool definitions). */
static int render_chatml_tools(const render_in *in, outbuf *o)
{
    const msg *m = in->m;

    if (in->n == 0)
        return AIOS_EINVAL;     /* the template reads messages[0] */
    if (is(&m[0], "system")) {
        puts_(o, "<|im_start|>system\n");
        put_content(o, m[0].content, m[0].len);
        puts_(o, "<|im_end|>\n");
    } else if (in->ct->default_system) {
        puts_(o, in->ct->default_system);
    }
    for (size_t i = 0; i < in->n; i++) {
        if (is(&m[i], "user") || (is(&m[i], "system") && i > 0) || is(&m[i], "assistant")) {
            puts_(o, "<|im_start|>");
            puts_(o, m[i].role);
            puts_(o, "\n");
            put_content(o, m[i].content, m[i].len);
            puts_(o, "<|im_end|>\n");
        } else if (is(&m[i], "tool")) {
            if (i == 0 || !is(&m[i - 1], "tool"))
                puts_(o, "<|im_start|>user");
            puts_(o, "\n<tool_response>\n");
            put_content(o, m[i].content, m[i].len);
            puts_(o, "\n</tool_response>");
            if (i + 1 == in->n || !is(&m[i + 1], "tool"))
                puts_(o, "<|im_end|>\n");
        }
    }
    if (in->gen)
        puts_(o, "<|im_start|>assistant\n");
    return 0;
}

static void llama3_header(outbuf *o, const char *role)
{
    puts_(o, "<|start_header_id|>");
    puts_(o, role);
    puts_(o, "<|end_header_id|>\n\n");
}

/* Llama 3 (3.0): every message under its role header, trimmed. */
static int render_llama3(const render_in *in, outbuf *o)
{
    for (size_t i = 0; i < in->n; i++) {
        llama3_header(o, in->m[i].role);
        put_trimmed(o, in->m[i].content, in->m[i].len);
        puts_(o, "<|eot_id|>");
    }
    if (in->gen || in->ct->always_gen_prompt)
        llama3_header(o, "assistant");
    return 0;
}

/* Llama 3.1-3.3: a system turn with the knowledge and today's date around
 * the (trimmed) system prompt; tool results as JSON under "ipython". */
static int render_llama31(const render_in *in, outbuf *o)
{
    size_t i = 0;

    if (in->n == 0)
        return AIOS_EINVAL;     /* the template reads messages[0] */
    llama3_header(o, "system");
    puts_(o, in->ct->knowledge_line);
    puts_(o, "Today Date: ");
    puts_(o, in->date);
    puts_(o, "\n\n");
    if (is(&in->m[0], "system")) {
        put_trimmed(o, in->m[0].content, in->m[0].len);
        i = 1;
    }
    puts_(o, "<|eot_id|>");
    for (; i < in->n; i++) {
        if (is(&in->m[i], "tool")) {
            llama3_header(o, "ipython");
            put_json_string(o, in->m[i].content, in->m[i].len);
        } else {
            llama3_header(o, in->m[i].role);
            put_trimmed(o, in->m[i].content, in->m[i].len);
        }
        puts_(o, "<|eot_id|>");
    }
    if (in->gen)
        llama3_header(o, "assistant");
    return 0;
}

typedef int (*render_fn)(const render_in *in, outbuf *o);

static const render_fn renderers[] = {
    [LLM_CHAT_CHATML] = render_chatml,
    [LLM_CHAT_CHATML_TOOLS] = render_chatml_tools,
    [LLM_CHAT_LLAMA3] = render_llama3,
    [LLM_CHAT_LLAMA31] = render_llama31,
    [LLM_CHAT_FALLBACK] = render_chatml,
};

int llm_chat_render_template(const llm_chat_template *ct, const json_t *messages,
                             bool add_generation_prompt, const llm_chat_opts *opts, char **out,
                             llm_chat_span **spans, size_t *nspans, char *err, size_t errlen)
{
    render_in in = {.ct = ct, .gen = add_generation_prompt};
    outbuf o = {0};
    msg *m;
    size_t n;
    char today[32];
    int rc;

    *out = NULL;
    if (spans)
        *spans = NULL;
    if (nspans)
        *nspans = 0;
    rc = read_messages(messages, &m, &n, err, errlen);
    if (rc)
        return rc;
    in.m = m;
    in.n = n;
    in.date = ct->fixed_date;
    if (ct->uses_today && opts && opts->date) {
        in.date = opts->date;
    } else if (ct->uses_today) {
        time_t now = time(NULL);
        struct tm tm;

        localtime_r(&now, &tm);
        strftime(today, sizeof(today), "%d %b %Y", &tm);
        in.date = today;
    }
    puts_(&o, "");
    rc = renderers[ct->style](&in, &o);
    if (rc == AIOS_EINVAL)
        seterr(err, errlen, "messages: the %s template needs at least one message",
               llm_chat_style_name(ct->style));
    if (rc == 0)
        rc = o.rc;
    free(m);
    if (rc) {
        free(o.s);
        free(o.sp);
        return rc;
    }
    *out = o.s;
    if (spans) {
        *spans = o.sp;
        *nspans = o.nsp;
    } else {
        free(o.sp);
    }
    return 0;
}

int llm_chat_render(const llm_tokenizer *t, const json_t *messages, bool add_generation_prompt,
                    char **out)
{
    llm_chat_template *ct;
    int rc = llm_chat_template_new(llm_tokenizer_chat_template(t), &ct);

    *out = NULL;
    if (rc)
        return rc;
    rc = llm_chat_render_template(ct, messages, add_generation_prompt, NULL, out, NULL, NULL, NULL,
                                  0);
    llm_chat_template_free(ct);
    return rc;
}

int llm_chat_tokenize(const llm_tokenizer *t, const json_t *messages, bool add_generation_prompt,
                      const llm_chat_opts *opts, int32_t **ids, size_t *n, char *err,
                      size_t errlen)
{
    llm_chat_template *ct;
    llm_chat_span *sp = NULL;
    size_t nsp = 0;
    char *text = NULL;
    int rc = llm_chat_template_new(llm_tokenizer_chat_template(t), &ct);

    *ids = NULL;
    *n = 0;
    if (rc)
        return rc;
    rc = llm_chat_render_template(ct, messages, add_generation_prompt, opts, &text, &sp, &nsp, err,
                                  errlen);
    if (rc == 0)
        rc = llm_tokenize_trusted(t, text, strlen(text), sp, nsp, true, ids, n);
    free(text);
    free(sp);
    llm_chat_template_free(ct);
    return rc;
}

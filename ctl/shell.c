/*
 * shell.c - aiosctl's interactive shell on libedit: the prompt, history
 * kept in a file, Tab completion of commands, method names (from
 * sys.methods), a method's parameter names, process and confirmation ids;
 * Ctrl-C clears the line at the prompt and cancels a call in flight;
 * Ctrl-D leaves.  Without a terminal on stdin it reads commands line by
 * line with no prompt.  Also the word splitter shared with main.c.
 * Single-threaded.
 */
#include <ctype.h>
#include <errno.h>
#include <histedit.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <wchar.h>

#include "ctl/ctl_int.h"

/* ---- words ---------------------------------------------------------------------- */

typedef struct {
    char *s;
    size_t len, cap;
} sbuf;

static int sb_put(sbuf *b, char c)
{
    if (b->len + 2 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 32;
        char *n = realloc(b->s, cap);
        if (!n)
            return -1;
        b->s = n;
        b->cap = cap;
    }
    b->s[b->len++] = c;
    b->s[b->len] = '\0';
    return 0;
}

void ctl_words_free(char **argv)
{
    if (!argv)
        return;
    for (char **p = argv; *p; p++)
        free(*p);
    free(argv);
}

/* Copy a bracketed JSON word verbatim up to its matching bracket. */
static const char *json_word(const char *p, sbuf *w, char *err, size_t errlen)
{
    int depth = 0;
    bool in_str = false;

    for (; *p; p++) {
        sb_put(w, *p);
        if (in_str) {
            if (*p == '\\' && p[1]) {
                sb_put(w, *++p);
            } else if (*p == '"') {
                in_str = false;
            }
            continue;
        }
        if (*p == '"')
            in_str = true;
        else if (*p == '{' || *p == '[')
            depth++;
        else if ((*p == '}' || *p == ']') && --depth == 0)
            return p + 1;
    }
    snprintf(err, errlen, "unterminated %s", in_str ? "string in JSON" : "JSON (a bracket is not closed)");
    return NULL;
}

int ctl_split_words(const char *line, char ***argv_out, char *err, size_t errlen)
{
    char **argv = NULL;
    int argc = 0, cap = 0;
    const char *p = line;

    *argv_out = NULL;
    for (;;) {
        sbuf w = {0};
        bool have = false;

        while (*p && isspace((unsigned char)*p))
            p++;
        if (!*p)
            break;
        if (*p == '{' || *p == '[') {
            if (!(p = json_word(p, &w, err, errlen))) {
                free(w.s);
                goto out_fail;
            }
            have = true;
        }
        while (*p && !isspace((unsigned char)*p)) {
            have = true;
            if (*p == '\'') {
                const char *end = strchr(p + 1, '\'');
                if (!end) {
                    snprintf(err, errlen, "unterminated ' quote");
                    free(w.s);
                    goto out_fail;
                }
                for (p++; p < end; p++)
                    sb_put(&w, *p);
                p++;
            } else if (*p == '"') {
                for (p++; *p && *p != '"'; p++) {
                    if (*p == '\\' && (p[1] == '"' || p[1] == '\\' || p[1] == '$' || p[1] == '`'))
                        p++;
                    sb_put(&w, *p);
                }
                if (!*p) {
                    snprintf(err, errlen, "unterminated \" quote");
                    free(w.s);
                    goto out_fail;
                }
                p++;
            } else if (*p == '\\' && p[1]) {
                sb_put(&w, p[1]);
                p += 2;
            } else {
                sb_put(&w, *p++);
            }
        }
        if (!have)
            continue;
        if (argc + 2 > cap) {
            int ncap = cap ? cap * 2 : 8;
            char **n = realloc(argv, (size_t)ncap * sizeof(*n));
            if (!n) {
                free(w.s);
                snprintf(err, errlen, "out of memory");
                goto out_fail;
            }
            argv = n;
            cap = ncap;
        }
        argv[argc++] = w.s ? w.s : strdup("");
        argv[argc] = NULL;
    }
    if (!argv) {
        argv = calloc(1, sizeof(*argv));
        if (!argv)
            return -1;
    }
    *argv_out = argv;
    return argc;
out_fail:
    if (argv) {
        argv[argc] = NULL;
        ctl_words_free(argv);
    }
    return -1;
}

/* ---- completion ----------------------------------------------------------------- */

typedef struct {
    char **v;
    size_t n, cap;
} strlist;

static void sl_add(strlist *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i], s) == 0)
            return;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 32;
        char **n = realloc(l->v, cap * sizeof(*n));
        if (!n)
            return;
        l->v = n;
        l->cap = cap;
    }
    l->v[l->n++] = strdup(s);
}

static void sl_free(strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof(*l));
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void add_commands(strlist *l)
{
    const ctl_cmd *c;

    for (size_t i = 0; (c = ctl_cmd_at(i)) != NULL; i++)
        if (!(c->flags & CTL_F_HIDDEN))
            sl_add(l, c->name);
}

static void add_methods(ctl_ctx *x, strlist *l, bool families)
{
    json_t *all = ctl_methods(x), *m;
    size_t i;

    json_array_foreach(all, i, m) {
        const char *name = json_string_value(json_object_get(m, "name"));
        if (!name)
            continue;
        sl_add(l, name);
        if (families) {
            char fam[64];
            snprintf(fam, sizeof(fam), "%.*s.", (int)strcspn(name, "."), name);
            sl_add(l, fam);
        }
    }
}

/* "key=" for each parameter of method not already given in words. */
static void add_params(ctl_ctx *x, strlist *l, const char *method, char **words, int n)
{
    json_t *m = ctl_method(x, method), *props = json_object_get(json_object_get(m, "params"), "properties"), *v;
    const char *key;

    json_object_foreach(props, key, v) {
        char k[128];
        bool given = false;
        size_t kl = strlen(key);

        for (int i = 0; i < n; i++)
            if (strncmp(words[i], key, kl) == 0 && words[i][kl] == '=')
                given = true;
        if (given)
            continue;
        snprintf(k, sizeof(k), "%s=", key);
        sl_add(l, k);
    }
}

/* Ids from a listing call: proc.list (running) or sys.confirmations. */
static void add_ids(ctl_ctx *x, strlist *l, const char *method, const char *key)
{
    aios_error e = {0};
    json_t *res = NULL, *row;
    size_t i;

    if (!ctl_methods(x) || aios_call(x->conn, method, NULL, 2000, &res, &e) < 0) {
        aios_error_clear(&e);
        return;
    }
    json_array_foreach(json_object_get(res, key), i, row) {
        const char *st = json_string_value(json_object_get(row, "state"));
        char id[32];
        if (st && strcmp(st, "running") && strcmp(st, "pending"))
            continue;
        snprintf(id, sizeof(id), "%lld", (long long)json_integer_value(json_object_get(row, "id")));
        sl_add(l, id);
    }
    json_decref(res);
}

/* The candidates for the word after `words` (n of them). */
static void candidates(ctl_ctx *x, char **words, int n, strlist *l)
{
    const ctl_cmd *c;

    while (n > 0 && strcmp(words[0], "--json") == 0) {
        words++;
        n--;
    }
    if (n == 0) {
        add_commands(l);
        add_methods(x, l, false);
        return;
    }
    c = ctl_cmd_find(words[0]);
    if (!c) {
        if (strchr(words[0], '.'))
            add_params(x, l, words[0], words + 1, n - 1);
        return;
    }
    switch (c->comp) {
    case CTL_COMP_METHOD:
        if (n == 1)
            add_methods(x, l, strcmp(c->name, "methods") == 0);
        else if (strcmp(c->name, "call") == 0)
            add_params(x, l, words[1], words + 2, n - 2);
        break;
    case CTL_COMP_TOPIC:
        if (n == 1) {
            add_commands(l);
            add_methods(x, l, false);
        }
        break;
    case CTL_COMP_PROC: add_ids(x, l, "proc.list", "processes"); break;
    case CTL_COMP_CONFIRM: add_ids(x, l, "sys.confirmations", "confirmations"); break;
    case CTL_COMP_NONE: break;
    }
}

static int term_width(void)
{
    struct winsize ws;
    return ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 ? ws.ws_col : 80;
}

/* Print the matches in columns under the line. */
static void show_matches(char **m, size_t n)
{
    size_t w = 0, cols, rows;

    for (size_t i = 0; i < n; i++)
        if (ctl_width(m[i]) > w)
            w = ctl_width(m[i]);
    cols = (size_t)term_width() / (w + 2);
    if (cols == 0)
        cols = 1;
    rows = (n + cols - 1) / cols;
    fputc('\n', stdout);
    for (size_t r = 0; r < rows; r++) {
        for (size_t col = 0; col < cols; col++) {
            size_t i = col * rows + r;
            if (i < n)
                printf("%-*s", (int)(w + 2), m[i]);
        }
        fputc('\n', stdout);
    }
    fflush(stdout);
}

/* Tab: complete the word under the cursor. */
static unsigned char on_tab(EditLine *el, int ch)
{
    const LineInfo *li = el_line(el);
    ctl_ctx *x = NULL;
    size_t upto = (size_t)(li->cursor - li->buffer), wl, common;
    char *head, *word, err[128], **words = NULL;
    strlist all = {0}, match = {0};
    unsigned char rc = CC_ERROR;
    int n;

    (void)ch;
    el_get(el, EL_CLIENTDATA, &x);
    head = strndup(li->buffer, upto);
    if (!head)
        return CC_ERROR;
    word = head + upto;
    while (word > head && !isspace((unsigned char)word[-1]))
        word--;
    wl = strlen(word);
    {
        char *before = strndup(head, (size_t)(word - head));
        n = before ? ctl_split_words(before, &words, err, sizeof(err)) : -1;
        free(before);
    }
    if (n < 0)
        goto out;
    candidates(x, words, n, &all);
    for (size_t i = 0; i < all.n; i++)
        if (strncmp(all.v[i], word, wl) == 0)
            sl_add(&match, all.v[i]);
    if (match.n == 0)
        goto out;
    qsort(match.v, match.n, sizeof(char *), cmp_str);
    /* the longest prefix every match shares */
    common = strlen(match.v[0]);
    for (size_t i = 1; i < match.n; i++) {
        size_t k = 0;
        while (k < common && match.v[i][k] == match.v[0][k])
            k++;
        common = k;
    }
    if (match.n == 1) {
        const char *m = match.v[0];
        size_t ml = strlen(m);
        el_insertstr(el, m + wl);
        /* a finished word gets its space; "key=" and "proc." wait for more */
        if (ml && m[ml - 1] != '=' && m[ml - 1] != '.')
            el_insertstr(el, " ");
        rc = CC_REFRESH;
    } else if (common > wl) {
        char *part = strndup(match.v[0] + wl, common - wl);
        if (part)
            el_insertstr(el, part);
        free(part);
        rc = CC_REFRESH;
    } else {
        show_matches(match.v, match.n);
        rc = CC_REDISPLAY;
    }
out:
    ctl_words_free(words);
    sl_free(&all);
    sl_free(&match);
    free(head);
    return rc;
}

/* ---- Ctrl-C at the prompt ---------------------------------------------------------- */

/*
 * libedit retries a read() that a signal interrupted, so Ctrl-C would do
 * nothing until the next key.  Our own read function turns the interrupt
 * into a ^C character, bound to on_ctrl_c: drop the line, fresh prompt.
 *
 * Between two lines the terminal is in canonical mode (a command runs
 * there), and a Ctrl-D typed then is stored by the line discipline as an
 * end-of-file mark that reads back as a NUL byte once libedit switches to
 * raw mode.  A NUL at an empty prompt is therefore that Ctrl-D; a NUL
 * inside a line (Ctrl-D after some typed-ahead text) only ended that text.
 */
static int shell_getc(EditLine *el, wchar_t *wc)
{
    static mbstate_t st;
    char c;

    for (;;) {
        ssize_t n;

        /* wait for input with SIGINT blocked until ppoll atomically opens
         * it, so a Ctrl-C that lands just before the wait is not lost */
        struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
        sigset_t block, orig;
        int pr;

        sigemptyset(&block);
        sigaddset(&block, SIGINT);
        sigprocmask(SIG_BLOCK, &block, &orig);
        pr = ctl_interrupted ? -1 : ppoll(&pfd, 1, NULL, &orig);
        if (pr < 0 && !ctl_interrupted && errno != EINTR) {
            sigprocmask(SIG_SETMASK, &orig, NULL);
            return -1;
        }
        sigprocmask(SIG_SETMASK, &orig, NULL);
        if (ctl_interrupted) {
            ctl_interrupted = 0;
            *wc = 3;   /* ^C */
            return 1;
        }
        if (pr < 0)
            continue;
        n = read(STDIN_FILENO, &c, 1);
        if (n == 1 && c == '\0') {
            const LineInfo *li = el_line(el);
            if (li->buffer != li->lastchar)
                continue;
            *wc = 4;   /* ^D */
            return 1;
        }
        if (n == 1) {
            wchar_t w;
            size_t r = mbrtowc(&w, &c, 1, &st);
            if (r == (size_t)-2)
                continue;   /* the middle of a character */
            if (r == (size_t)-1) {
                memset(&st, 0, sizeof(st));
                w = (unsigned char)c;
            }
            *wc = w;
            return 1;
        }
        if (n == 0)
            return 0;
        if (errno == EINTR) {
            if (ctl_interrupted) {
                ctl_interrupted = 0;
                *wc = 3;   /* ^C */
                return 1;
            }
            continue;
        }
        return -1;
    }
}

static bool intr_line;   /* the line just returned was dropped by Ctrl-C */

static unsigned char on_ctrl_c(EditLine *el, int ch)
{
    const LineInfo *li = el_line(el);

    (void)ch;
    el_cursor(el, (int)(li->lastchar - li->cursor));
    li = el_line(el);
    el_deletestr(el, (int)(li->lastchar - li->buffer));
    fputs("^C", stdout);
    fflush(stdout);
    intr_line = true;
    return CC_NEWLINE;
}

/* ---- the loop ---------------------------------------------------------------------- */

static const char *prompt(EditLine *el)
{
    (void)el;
    return "aios> ";
}

/* $AIOS_DATA, else $XDG_DATA_HOME/aios, else ~/.local/share/aios. */
static void history_path(char *buf, size_t len)
{
    const char *data = getenv("AIOS_DATA"), *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
    char dir[512];

    if (data && *data)
        snprintf(dir, sizeof(dir), "%s", data);
    else if (xdg && *xdg)
        snprintf(dir, sizeof(dir), "%s/aios", xdg);
    else
        snprintf(dir, sizeof(dir), "%s/.local/share/aios", home && *home ? home : ".");
    /* mkdir -p */
    for (char *p = dir + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(dir, 0755);
            *p = '/';
        }
    }
    mkdir(dir, 0700);
    snprintf(buf, len, "%s/aiosctl_history", dir);
}

/* Run one line; returns the command's code, or -1 for exit/quit. */
static int run_line(ctl_ctx *x, const char *line)
{
    char **words, err[128];
    int n, rc;

    n = ctl_split_words(line, &words, err, sizeof(err));
    if (n < 0) {
        ctl_errorf(x, "%s", err);
        return CTL_EUSAGE;
    }
    if (n == 0) {
        ctl_words_free(words);
        return CTL_OK;
    }
    if (strcmp(words[0], "exit") == 0 || strcmp(words[0], "quit") == 0) {
        ctl_words_free(words);
        return -1;
    }
    ctl_interrupted = 0;
    rc = ctl_run(x, n, words);
    ctl_words_free(words);
    return rc;
}

/* No terminal: commands from stdin, one per line; the last code wins. */
static int plain_loop(ctl_ctx *x)
{
    char *line = NULL;
    size_t cap = 0;
    int rc = CTL_OK;

    while (getline(&line, &cap, stdin) > 0) {
        int r;
        line[strcspn(line, "\n")] = '\0';
        if (line[0] == '#')
            continue;
        r = run_line(x, line);
        if (r < 0)
            break;
        rc = r;
    }
    free(line);
    return rc;
}

int ctl_shell(ctl_ctx *x)
{
    EditLine *el;
    History *hist;
    HistEvent ev;
    char hpath[600];
    json_t *hello;
    int rc;

    if (!isatty(STDIN_FILENO))
        return plain_loop(x);
    setlocale(LC_CTYPE, "");
    if ((rc = ctl_connect(x)) != CTL_OK)
        return rc;
    hello = aios_client_hello(x->conn);
    printf("aiosd %s at %s - `help` lists commands, Tab completes, Ctrl-D leaves\n",
           json_string_value(json_object_get(hello, "version")) ?: "?", x->socket);
    fflush(stdout);

    hist = history_init();
    history(hist, &ev, H_SETSIZE, 1000);
    history(hist, &ev, H_SETUNIQUE, 1);
    history_path(hpath, sizeof(hpath));
    history(hist, &ev, H_LOAD, hpath);

    el = el_init("aiosctl", stdin, stdout, stderr);
    el_set(el, EL_CLIENTDATA, x);
    el_set(el, EL_EDITOR, "emacs");
    el_set(el, EL_PROMPT, prompt);
    el_set(el, EL_HIST, history, hist);
    el_set(el, EL_GETCFN, shell_getc);
    el_set(el, EL_ADDFN, "aios-complete", "complete a command, method or parameter", on_tab);
    el_set(el, EL_BIND, "^I", "aios-complete", NULL);
    el_set(el, EL_ADDFN, "aios-interrupt", "drop the line", on_ctrl_c);
    el_set(el, EL_BIND, "^C", "aios-interrupt", NULL);
    el_source(el, NULL);   /* ~/.editrc, if any */

    for (;;) {
        const char *line;
        char *copy;
        int count = 0, r;

        ctl_interrupted = 0;
        line = el_gets(el, &count);
        if (intr_line) {
            /* Ctrl-C dropped the line (libedit returns NULL or "") */
            intr_line = false;
            fputc('\n', stdout);
            continue;
        }
        intr_line = false;
        if (!line || count <= 0) {
            fputc('\n', stdout);   /* Ctrl-D */
            break;
        }
        copy = strdup(line);
        if (!copy)
            break;
        copy[strcspn(copy, "\n")] = '\0';
        if (copy[strspn(copy, " \t")] != '\0') {
            history(hist, &ev, H_ENTER, copy);
            history(hist, &ev, H_SAVE, hpath);
        }
        r = run_line(x, copy);
        free(copy);
        if (r < 0)
            break;
    }
    el_end(el);
    history_end(hist);
    return CTL_OK;
}

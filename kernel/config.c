/*
 * config.c - the daemon's configuration: defaults, a config file, flags.
 *
 * The file is lines of `key = value`; `#` starts a comment; values may be
 * double-quoted.  Every value is kept as a string and converted on read.
 * Precedence is by source (default < file < flag), so a flag given on the
 * command line survives a SIGHUP reload of the file.
 *
 * Strings handed out by kern_config_str() stay valid until exit even if a
 * reload replaces them: replaced values are kept on a retired list, which
 * is what makes lock-free readers on other threads safe.  Writers hold the
 * lock; they run on the main/loop thread only.
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aios/error.h"
#include "aios/kernel.h"
#include "kernel/kern_int.h"

typedef struct cfg_entry {
    char *key;
    char *value;
    int source;
    struct cfg_entry *next;
} cfg_entry;

typedef struct retired {
    char *s;
    struct retired *next;
} retired;

static cfg_entry *entries;
static retired *retired_list;
static pthread_rwlock_t cfg_lock = PTHREAD_RWLOCK_INITIALIZER;

static cfg_entry *find(const char *key)
{
    for (cfg_entry *e = entries; e; e = e->next)
        if (strcmp(e->key, key) == 0)
            return e;
    return NULL;
}

int kern__config_set(const char *key, const char *value, int source)
{
    cfg_entry *e;
    char *v;
    int rc = 0;

    pthread_rwlock_wrlock(&cfg_lock);
    e = find(key);
    if (e && e->source > source)
        goto out;
    v = strdup(value);
    if (!v) {
        rc = AIOS_ENOMEM;
        goto out;
    }
    if (e) {
        retired *r = malloc(sizeof(*r));
        if (!r) {
            free(v);
            rc = AIOS_ENOMEM;
            goto out;
        }
        r->s = e->value;
        r->next = retired_list;
        retired_list = r;
        e->value = v;
        e->source = source;
        goto out;
    }
    e = calloc(1, sizeof(*e));
    if (!e || !(e->key = strdup(key))) {
        free(e);
        free(v);
        rc = AIOS_ENOMEM;
        goto out;
    }
    e->value = v;
    e->source = source;
    e->next = entries;
    entries = e;
out:
    pthread_rwlock_unlock(&cfg_lock);
    return rc;
}

static char *trim(char *s)
{
    char *end;

    while (isspace((unsigned char)*s))
        s++;
    end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

/* Parse one file into (key, value) pairs and apply them at source. */
static int load(const char *path, int source, char *err, size_t errlen)
{
    FILE *f = fopen(path, "re");
    char line[4096];
    int lineno = 0, rc = 0;

    if (!f) {
        snprintf(err, errlen, "cannot open config '%s': %s", path, strerror(errno));
        return aios_from_errno(errno);
    }
    while (fgets(line, sizeof(line), f)) {
        char *eq, *key, *val, *hash;
        size_t n;

        lineno++;
        n = strlen(line);
        if (n == sizeof(line) - 1 && line[n - 1] != '\n') {
            snprintf(err, errlen, "%s:%d: line too long", path, lineno);
            rc = AIOS_EINVAL;
            break;
        }
        key = trim(line);
        if (*key == '\0' || *key == '#')
            continue;
        eq = strchr(key, '=');
        if (!eq) {
            snprintf(err, errlen, "%s:%d: expected 'key = value'", path, lineno);
            rc = AIOS_EINVAL;
            break;
        }
        *eq = '\0';
        val = trim(eq + 1);
        key = trim(key);
        if (*key == '\0') {
            snprintf(err, errlen, "%s:%d: empty key", path, lineno);
            rc = AIOS_EINVAL;
            break;
        }
        for (char *k = key; *k; k++) {
            if (!isalnum((unsigned char)*k) && *k != '.' && *k != '_' && *k != '-') {
                snprintf(err, errlen, "%s:%d: bad character in key '%s'", path, lineno, key);
                rc = AIOS_EINVAL;
                goto out;
            }
        }
        if (*val == '"') {
            char *close = strrchr(val + 1, '"');
            if (!close) {
                snprintf(err, errlen, "%s:%d: unterminated quoted value", path, lineno);
                rc = AIOS_EINVAL;
                break;
            }
            *close = '\0';
            val++;
        } else if ((hash = strstr(val, " #")) != NULL) {
            *hash = '\0';
            val = trim(val);
        }
        if ((rc = kern__config_set(key, val, source)) < 0)
            break;
    }
out:
    fclose(f);
    return rc;
}

int kern__config_load(const char *path, char *err, size_t errlen)
{
    return load(path, KERN_CFG_FILE, err, errlen);
}

int kern__config_reload(const char *path, char *err, size_t errlen)
{
    return load(path, KERN_CFG_FILE, err, errlen);
}

json_t *kern__config_dump(void)
{
    json_t *o = json_object();

    pthread_rwlock_rdlock(&cfg_lock);
    for (cfg_entry *e = entries; e; e = e->next)
        json_object_set_new(o, e->key, json_string(e->value));
    pthread_rwlock_unlock(&cfg_lock);
    return o;
}

void kern__config_free(void)
{
    while (entries) {
        cfg_entry *e = entries;
        entries = e->next;
        free(e->key);
        free(e->value);
        free(e);
    }
    while (retired_list) {
        retired *r = retired_list;
        retired_list = r->next;
        free(r->s);
        free(r);
    }
}

const char *kern_config_str(const char *key, const char *def)
{
    const char *v;
    cfg_entry *e;

    pthread_rwlock_rdlock(&cfg_lock);
    e = find(key);
    v = e ? e->value : def;
    pthread_rwlock_unlock(&cfg_lock);
    return v;
}

long long kern_config_int(const char *key, long long def)
{
    const char *s = kern_config_str(key, NULL);
    char *end;
    long long v, mult = 1;

    if (!s || !*s)
        return def;
    errno = 0;
    v = strtoll(s, &end, 0);
    if (errno || end == s)
        return def;
    /* size suffixes: 16M, 4k, 2G */
    switch (*end) {
    case 'k': case 'K': mult = 1024LL; end++; break;
    case 'm': case 'M': mult = 1024LL * 1024; end++; break;
    case 'g': case 'G': mult = 1024LL * 1024 * 1024; end++; break;
    default: break;
    }
    if (*end == 'i' || *end == 'B')
        end++;
    if (*end == 'B')
        end++;
    return *end ? def : v * mult;
}

double kern_config_double(const char *key, double def)
{
    const char *s = kern_config_str(key, NULL);
    char *end;
    double v;

    if (!s || !*s)
        return def;
    v = strtod(s, &end);
    return *end ? def : v;
}

bool kern_config_bool(const char *key, bool def)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    const char *s = kern_config_str(key, NULL);

    if (!s)
        return def;
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0)
            return true;
        if (strcasecmp(s, no[i]) == 0)
            return false;
    }
    return def;
}

/*
 * embed_fixture.c - helpers shared by the embed unit tests (model location,
 * reference fixtures).  Runs in each test's own process.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "aios/error.h"
#include "embed_fixture.h"

const char *embed_test_model_dir(void)
{
    static char buf[4096];
    const char *env = getenv("AIOS_EMBED_MODEL");
    if (env && *env)
        return env;
    if ((env = getenv("AIOS_DATA")) && *env)
        snprintf(buf, sizeof buf, "%s/models/%s", env, LSFS_EMBED_DEFAULT_MODEL);
    else if ((env = getenv("XDG_DATA_HOME")) && *env)
        snprintf(buf, sizeof buf, "%s/aios/models/%s", env, LSFS_EMBED_DEFAULT_MODEL);
    else
        snprintf(buf, sizeof buf, "%s/.local/share/aios/models/%s",
                 getenv("HOME") ? getenv("HOME") : "/root", LSFS_EMBED_DEFAULT_MODEL);
    return buf;
}

lsfs_embedder *embed_test_open(const lsfs_embed_opts *opts)
{
    const char *dir = embed_test_model_dir();
    char file[4200];
    snprintf(file, sizeof file, "%s/model.safetensors", dir);
    if (access(file, R_OK) != 0)
        cr_assert_fail("embedding model missing: '%s' not found; run `make model` "
                       "(or set AIOS_EMBED_MODEL)", file);
    lsfs_embedder *e = NULL;
    int rc = lsfs_embed_open_opts(dir, opts, &e);
    cr_assert_eq(rc, 0, "lsfs_embed_open('%s'): %s", dir, aios_strerror(rc));
    return e;
}

char **embed_test_sentences(size_t *n)
{
    FILE *f = fopen(EMBED_REF_DIR "/sentences.jsonl", "r");
    cr_assert_not_null(f, "cannot open " EMBED_REF_DIR "/sentences.jsonl (run from the repo root)");
    char **v = calloc(201, sizeof *v), *line = NULL;
    size_t cap = 0, k = 0;
    while (k < 200 && getline(&line, &cap, f) > 0) {
        json_error_t err;
        json_t *j = json_loads(line, 0, &err);
        cr_assert_not_null(j, "sentences.jsonl line %zu: %s", k + 1, err.text);
        v[k++] = strdup(json_string_value(json_object_get(j, "text")));
        json_decref(j);
    }
    free(line);
    fclose(f);
    *n = k;
    return v;
}

void embed_test_free_strings(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

float *embed_test_ref_vectors(size_t n, int dim)
{
    FILE *f = fopen(EMBED_REF_DIR "/vectors.f32", "rb");
    cr_assert_not_null(f, "cannot open " EMBED_REF_DIR "/vectors.f32");
    float *v = malloc(n * (size_t)dim * sizeof *v);
    cr_assert_eq(fread(v, sizeof *v, n * (size_t)dim, f), n * (size_t)dim,
                 "vectors.f32 is shorter than %zu x %d", n, dim);
    fclose(f);
    return v;
}

double embed_test_cosine(const float *a, const float *b, int dim)
{
    double ab = 0, aa = 0, bb = 0;
    for (int i = 0; i < dim; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    return ab / (sqrt(aa) * sqrt(bb) + 1e-30);
}

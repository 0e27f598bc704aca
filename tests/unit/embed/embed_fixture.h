/*
 * embed_fixture.h - shared helpers of the embed unit tests: where the real
 * model is, and the committed reference fixtures in tests/reference/embed/.
 */
#ifndef EMBED_FIXTURE_H
#define EMBED_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "aios/embed.h"

#define EMBED_REF_DIR "tests/reference/embed"

/* The model folder `make model` fills: $AIOS_EMBED_MODEL, else
 * $AIOS_DATA/models/..., else $XDG_DATA_HOME/aios/models/..., else
 * ~/.local/share/aios/models/all-MiniLM-L6-v2. */
const char *embed_test_model_dir(void);
/* Open the real model with opts (NULL = defaults); fails the test with a
 * message naming the path and `make model` when it is missing. */
lsfs_embedder *embed_test_open(const lsfs_embed_opts *opts);
/* Read the reference sentences (100) into a NULL-terminated array. */
char **embed_test_sentences(size_t *n);
void embed_test_free_strings(char **v);
/* Read vectors.f32 (n x dim floats). */
float *embed_test_ref_vectors(size_t n, int dim);
/* Cosine similarity of two vectors. */
double embed_test_cosine(const float *a, const float *b, int dim);

#endif

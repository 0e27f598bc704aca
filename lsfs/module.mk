# lsfs: the semantic file system.  The embeddings and vector index live in
# lsfs/embed/ (module "embed"); the top Makefile only reads */module.mk, so
# its module file is included from here.
include lsfs/embed/module.mk

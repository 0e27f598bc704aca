# lsfs: the SQLite-backed semantic file system - store, versions, rights,
# chunking, FTS5 keyword index, hybrid search, mounts, memory notes.
# The sentence encoder and vector index live in lsfs/embed/ (module "embed");
# the top Makefile only reads */module.mk, so its module file is included
# from here.
include lsfs/embed/module.mk

MODULES += lsfs
lsfs_SRCS := $(wildcard lsfs/*.c)
EXTRA_LIBS += -lsqlite3 -lzstd -lxxhash -lcrypto
EXTRA_DEB_PKGS += libssl-dev

# The LSFS benchmark driver (bench/lsfs/run.sh runs it; never part of make test).
PROGRAMS += lsfs-bench
lsfs-bench_MAIN := bench/lsfs/lsfs_bench.c

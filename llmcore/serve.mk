# llmcore/serve.mk - what the LLM service (engine, scheduler, snapshots,
# prefix cache) adds to the llmcore module: zstd for snapshot files.
EXTRA_LIBS += -lzstd
EXTRA_DEB_PKGS += python3-jsonschema   # independent validation of JSON-schema output in tests
# bench/ctxswitch: save/restore of a context (host, disk) vs recompute
PROGRAMS += ctxswitch-bench
ctxswitch-bench_MAIN := bench/ctxswitch/ctxswitch.c
ctxswitch-bench_MODULES := common llmcore
ctxswitch-bench_LIBS := -lxxhash -lzstd

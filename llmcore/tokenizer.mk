# tokenizer: libraries the tokenizer needs and the vocabulary files the
# tokenizer tests read (`make model` fetches them; see scripts/fetch_vocabs.sh).
EXTRA_LIBS += -lxxhash
EXTRA_MODEL_TARGETS += $(AIOS_DATA)/vocabs/.done

# (a changed script fetches again: the file list may have grown)
$(AIOS_DATA)/vocabs/.done: scripts/fetch_vocabs.sh
	rm -f $@
	./scripts/fetch_vocabs.sh "$(AIOS_DATA)"

# bench/tokenizer: the tokenizer benchmark tool (run by bench/tokenizer/run.sh)
PROGRAMS += tokbench
tokbench_MAIN := bench/tokenizer/tokbench.c
tokbench_MODULES := common llmcore

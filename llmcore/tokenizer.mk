# tokenizer: libraries the tokenizer needs and the vocabulary files the
# tokenizer tests read (`make model` fetches them; see scripts/fetch_vocabs.sh).
EXTRA_LIBS += -lxxhash
EXTRA_MODEL_TARGETS += $(AIOS_DATA)/vocabs/.done

$(AIOS_DATA)/vocabs/.done: scripts/fetch_vocabs.sh
	./scripts/fetch_vocabs.sh "$(AIOS_DATA)"

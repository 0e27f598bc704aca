build-asan/tests/unit/llmcore/grammar_fixture.o: \
 tests/unit/llmcore/grammar_fixture.c \
 tests/unit/llmcore/grammar_fixture.h llmcore/gen.h llmcore/grammar.h \
 llmcore/sample.h llmcore/stop.h llmcore/vocab_bytes.h llmcore/gguf.h \
 tests/unit/llmcore/jsonschema_check.h
tests/unit/llmcore/grammar_fixture.h:
llmcore/gen.h:
llmcore/grammar.h:
llmcore/sample.h:
llmcore/stop.h:
llmcore/vocab_bytes.h:
llmcore/gguf.h:
tests/unit/llmcore/jsonschema_check.h:

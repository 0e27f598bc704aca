build-asan/tests/unit/llmcore/test_grammar.o: \
 tests/unit/llmcore/test_grammar.c include/aios/error.h \
 tests/unit/llmcore/grammar_fixture.h llmcore/gen.h llmcore/grammar.h \
 llmcore/sample.h llmcore/stop.h llmcore/vocab_bytes.h llmcore/gguf.h \
 tests/unit/llmcore/jsonschema_check.h
include/aios/error.h:
tests/unit/llmcore/grammar_fixture.h:
llmcore/gen.h:
llmcore/grammar.h:
llmcore/sample.h:
llmcore/stop.h:
llmcore/vocab_bytes.h:
llmcore/gguf.h:
tests/unit/llmcore/jsonschema_check.h:

build-asan/tests/unit/llmcore/test_gen.o: tests/unit/llmcore/test_gen.c \
 include/aios/error.h tests/unit/llmcore/grammar_fixture.h llmcore/gen.h \
 llmcore/grammar.h llmcore/sample.h llmcore/stop.h llmcore/vocab_bytes.h \
 llmcore/gguf.h
include/aios/error.h:
tests/unit/llmcore/grammar_fixture.h:
llmcore/gen.h:
llmcore/grammar.h:
llmcore/sample.h:
llmcore/stop.h:
llmcore/vocab_bytes.h:
llmcore/gguf.h:

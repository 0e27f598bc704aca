build-asan/tests/unit/llmcore/test_tokenizer.o: \
 tests/unit/llmcore/test_tokenizer.c include/aios/error.h llmcore/gguf.h \
 llmcore/tokenizer.h llmcore/tokenizer_int.h llmcore/unicode.h \
 tests/unit/llmcore/tok_util.h
include/aios/error.h:
llmcore/gguf.h:
llmcore/tokenizer.h:
llmcore/tokenizer_int.h:
llmcore/unicode.h:
tests/unit/llmcore/tok_util.h:

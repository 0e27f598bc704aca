build-asan/tests/unit/llmcore/test_tokenizer_ref.o: \
 tests/unit/llmcore/test_tokenizer_ref.c llmcore/tokenizer.h \
 llmcore/gguf.h tests/unit/llmcore/tok_util.h
llmcore/tokenizer.h:
llmcore/gguf.h:
tests/unit/llmcore/tok_util.h:

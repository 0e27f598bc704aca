build-asan/tests/unit/llmcore/tok_util.o: tests/unit/llmcore/tok_util.c \
 llmcore/gguf.h tests/unit/llmcore/tok_util.h llmcore/tokenizer.h
llmcore/gguf.h:
tests/unit/llmcore/tok_util.h:
llmcore/tokenizer.h:

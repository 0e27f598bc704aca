build-asan/tests/unit/llmcore/test_chat.o: tests/unit/llmcore/test_chat.c \
 include/aios/error.h include/aios/log.h llmcore/chat.h \
 llmcore/tokenizer.h llmcore/gguf.h tests/unit/llmcore/tok_util.h
include/aios/error.h:
include/aios/log.h:
llmcore/chat.h:
llmcore/tokenizer.h:
llmcore/gguf.h:
tests/unit/llmcore/tok_util.h:

build-asan/tests/unit/llmcore/test_gguf.o: tests/unit/llmcore/test_gguf.c \
 include/aios/error.h llmcore/gguf.h
include/aios/error.h:
llmcore/gguf.h:

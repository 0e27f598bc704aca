build-asan/llmcore/vocab_bytes.o: llmcore/vocab_bytes.c \
 include/aios/error.h llmcore/vocab_bytes.h llmcore/gguf.h
include/aios/error.h:
llmcore/vocab_bytes.h:
llmcore/gguf.h:

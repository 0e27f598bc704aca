build-asan/llmcore/gguf.o: llmcore/gguf.c include/aios/error.h \
 llmcore/gguf.h
include/aios/error.h:
llmcore/gguf.h:

build-asan/llmcore/kvcache.o: llmcore/kvcache.c include/aios/error.h \
 llmcore/engine_int.h include/aios/llm.h llmcore/gguf.h
include/aios/error.h:
llmcore/engine_int.h:
include/aios/llm.h:
llmcore/gguf.h:

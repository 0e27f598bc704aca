build-asan/llmcore/model.o: llmcore/model.c include/aios/error.h \
 llmcore/engine_int.h include/aios/llm.h llmcore/gguf.h llmcore/quant.h
include/aios/error.h:
llmcore/engine_int.h:
include/aios/llm.h:
llmcore/gguf.h:
llmcore/quant.h:

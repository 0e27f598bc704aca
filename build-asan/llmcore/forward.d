build-asan/llmcore/forward.o: llmcore/forward.c include/aios/error.h \
 llmcore/engine_int.h include/aios/llm.h llmcore/gguf.h llmcore/ops.h \
 llmcore/quant.h llmcore/threadpool.h
include/aios/error.h:
llmcore/engine_int.h:
include/aios/llm.h:
llmcore/gguf.h:
llmcore/ops.h:
llmcore/quant.h:
llmcore/threadpool.h:

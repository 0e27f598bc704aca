build-asan/llmcore/ops.o: llmcore/ops.c llmcore/ops.h llmcore/quant.h \
 llmcore/gguf.h
llmcore/ops.h:
llmcore/quant.h:
llmcore/gguf.h:

build-asan/llmcore/quant.o: llmcore/quant.c llmcore/quant.h \
 llmcore/gguf.h
llmcore/quant.h:
llmcore/gguf.h:

build-asan/llmcore/quant_simd.o: llmcore/quant_simd.c llmcore/quant.h \
 llmcore/gguf.h llmcore/quant_simd.inc
llmcore/quant.h:
llmcore/gguf.h:
llmcore/quant_simd.inc:

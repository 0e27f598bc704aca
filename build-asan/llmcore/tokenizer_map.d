build-asan/llmcore/tokenizer_map.o: llmcore/tokenizer_map.c \
 include/aios/error.h llmcore/tokenizer_int.h llmcore/tokenizer.h \
 llmcore/gguf.h
include/aios/error.h:
llmcore/tokenizer_int.h:
llmcore/tokenizer.h:
llmcore/gguf.h:

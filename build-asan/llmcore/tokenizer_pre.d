build-asan/llmcore/tokenizer_pre.o: llmcore/tokenizer_pre.c \
 include/aios/error.h llmcore/tokenizer_int.h llmcore/tokenizer.h \
 llmcore/gguf.h llmcore/unicode.h
include/aios/error.h:
llmcore/tokenizer_int.h:
llmcore/tokenizer.h:
llmcore/gguf.h:
llmcore/unicode.h:

build-asan/llmcore/tokenizer_stream.o: llmcore/tokenizer_stream.c \
 include/aios/error.h llmcore/tokenizer_int.h llmcore/tokenizer.h \
 llmcore/gguf.h llmcore/unicode.h
include/aios/error.h:
llmcore/tokenizer_int.h:
llmcore/tokenizer.h:
llmcore/gguf.h:
llmcore/unicode.h:

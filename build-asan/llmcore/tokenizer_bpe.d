build-asan/llmcore/tokenizer_bpe.o: llmcore/tokenizer_bpe.c \
 include/aios/error.h llmcore/tokenizer_int.h llmcore/tokenizer.h \
 llmcore/gguf.h llmcore/unicode.h
include/aios/error.h:
llmcore/tokenizer_int.h:
llmcore/tokenizer.h:
llmcore/gguf.h:
llmcore/unicode.h:

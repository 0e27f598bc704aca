build-asan/llmcore/tokenizer_spm.o: llmcore/tokenizer_spm.c \
 include/aios/error.h llmcore/tokenizer_int.h llmcore/tokenizer.h \
 llmcore/gguf.h llmcore/unicode.h
include/aios/error.h:
llmcore/tokenizer_int.h:
llmcore/tokenizer.h:
llmcore/gguf.h:
llmcore/unicode.h:

build-asan/llmcore/tokenizer.o: llmcore/tokenizer.c include/aios/error.h \
 include/aios/log.h llmcore/tokenizer_int.h llmcore/tokenizer.h \
 llmcore/gguf.h llmcore/unicode.h
include/aios/error.h:
include/aios/log.h:
llmcore/tokenizer_int.h:
llmcore/tokenizer.h:
llmcore/gguf.h:
llmcore/unicode.h:

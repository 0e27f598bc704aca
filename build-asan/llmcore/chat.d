build-asan/llmcore/chat.o: llmcore/chat.c include/aios/error.h \
 include/aios/log.h llmcore/chat.h llmcore/tokenizer.h llmcore/gguf.h \
 llmcore/unicode.h
include/aios/error.h:
include/aios/log.h:
llmcore/chat.h:
llmcore/tokenizer.h:
llmcore/gguf.h:
llmcore/unicode.h:

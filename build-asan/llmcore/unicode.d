build-asan/llmcore/unicode.o: llmcore/unicode.c include/aios/error.h \
 llmcore/unicode.h
include/aios/error.h:
llmcore/unicode.h:

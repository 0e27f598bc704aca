build-asan/llmcore/sample.o: llmcore/sample.c include/aios/error.h \
 llmcore/sample.h
include/aios/error.h:
llmcore/sample.h:

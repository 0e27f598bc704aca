build-asan/llmcore/prefix.o: llmcore/prefix.c include/aios/error.h \
 llmcore/prefix.h include/aios/llm.h
include/aios/error.h:
llmcore/prefix.h:
include/aios/llm.h:

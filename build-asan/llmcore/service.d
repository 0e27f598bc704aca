build-asan/llmcore/service.o: llmcore/service.c include/aios/error.h \
 include/aios/llm.h
include/aios/error.h:
include/aios/llm.h:

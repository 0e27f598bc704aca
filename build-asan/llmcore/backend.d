build-asan/llmcore/backend.o: llmcore/backend.c include/aios/error.h \
 include/aios/llm.h
include/aios/error.h:
include/aios/llm.h:

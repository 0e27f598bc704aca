build-asan/llmcore/stop.o: llmcore/stop.c include/aios/error.h \
 llmcore/stop.h
include/aios/error.h:
llmcore/stop.h:

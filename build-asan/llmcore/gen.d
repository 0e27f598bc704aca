build-asan/llmcore/gen.o: llmcore/gen.c include/aios/error.h \
 include/aios/log.h llmcore/gen.h llmcore/grammar.h llmcore/sample.h \
 llmcore/stop.h
include/aios/error.h:
include/aios/log.h:
llmcore/gen.h:
llmcore/grammar.h:
llmcore/sample.h:
llmcore/stop.h:

build-asan/llmcore/service.o: llmcore/service.c include/aios/error.h \
 include/aios/llm.h include/aios/log.h llmcore/engine.h \
 llmcore/service_text.h llmcore/grammar.h
include/aios/error.h:
include/aios/llm.h:
include/aios/log.h:
llmcore/engine.h:
llmcore/service_text.h:
llmcore/grammar.h:

build-asan/llmcore/engine.o: llmcore/engine.c include/aios/error.h \
 include/aios/log.h llmcore/engine.h include/aios/llm.h \
 llmcore/service_text.h llmcore/grammar.h llmcore/gen.h llmcore/sample.h \
 llmcore/stop.h llmcore/prefix.h llmcore/sched.h llmcore/snapshot.h
include/aios/error.h:
include/aios/log.h:
llmcore/engine.h:
include/aios/llm.h:
llmcore/service_text.h:
llmcore/grammar.h:
llmcore/gen.h:
llmcore/sample.h:
llmcore/stop.h:
llmcore/prefix.h:
llmcore/sched.h:
llmcore/snapshot.h:

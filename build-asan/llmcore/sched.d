build-asan/llmcore/sched.o: llmcore/sched.c include/aios/error.h \
 llmcore/sched.h
include/aios/error.h:
llmcore/sched.h:

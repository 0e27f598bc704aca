build-asan/tests/unit/llmcore/test_stop.o: tests/unit/llmcore/test_stop.c \
 include/aios/error.h llmcore/stop.h
include/aios/error.h:
llmcore/stop.h:

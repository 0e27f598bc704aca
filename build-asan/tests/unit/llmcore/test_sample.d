build-asan/tests/unit/llmcore/test_sample.o: \
 tests/unit/llmcore/test_sample.c include/aios/error.h llmcore/sample.h
include/aios/error.h:
llmcore/sample.h:

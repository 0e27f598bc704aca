build-asan/tests/unit/llmcore/jsonschema_check.o: \
 tests/unit/llmcore/jsonschema_check.c \
 tests/unit/llmcore/jsonschema_check.h
tests/unit/llmcore/jsonschema_check.h:

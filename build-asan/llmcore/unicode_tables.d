build-asan/llmcore/unicode_tables.o: llmcore/unicode_tables.c \
 llmcore/unicode.h
llmcore/unicode.h:

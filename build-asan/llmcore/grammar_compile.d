build-asan/llmcore/grammar_compile.o: llmcore/grammar_compile.c \
 include/aios/error.h llmcore/grammar_int.h llmcore/grammar.h
include/aios/error.h:
llmcore/grammar_int.h:
llmcore/grammar.h:

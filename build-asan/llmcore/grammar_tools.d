build-asan/llmcore/grammar_tools.o: llmcore/grammar_tools.c \
 include/aios/error.h llmcore/grammar_int.h llmcore/grammar.h
include/aios/error.h:
llmcore/grammar_int.h:
llmcore/grammar.h:

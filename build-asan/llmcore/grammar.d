build-asan/llmcore/grammar.o: llmcore/grammar.c include/aios/error.h \
 llmcore/grammar_nodes.h llmcore/grammar_int.h llmcore/grammar.h
include/aios/error.h:
llmcore/grammar_nodes.h:
llmcore/grammar_int.h:
llmcore/grammar.h:

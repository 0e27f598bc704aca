build-asan/llmcore/grammar_nodes.o: llmcore/grammar_nodes.c \
 llmcore/grammar_nodes.h llmcore/grammar_int.h llmcore/grammar.h
llmcore/grammar_nodes.h:
llmcore/grammar_int.h:
llmcore/grammar.h:

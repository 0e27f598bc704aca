build-asan/llmcore/grammar_vocab.o: llmcore/grammar_vocab.c \
 include/aios/error.h llmcore/grammar_int.h llmcore/grammar.h
include/aios/error.h:
llmcore/grammar_int.h:
llmcore/grammar.h:

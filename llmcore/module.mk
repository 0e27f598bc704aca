# llmcore: GGUF models, quant kernels, tokenizers, the batched engine,
# sampling and constraints.
MODULES += llmcore
llmcore_SRCS := $(wildcard llmcore/*.c)
EXTRA_LIBS += -lxxhash
# the engine benchmark driver (bench/llm/run.sh)
PROGRAMS += llmbench
llmbench_MAIN := bench/llm/llmbench.c
llmbench_MODULES := common llmcore
include llmcore/tokenizer.mk

# bench/grammar: mask and sampler cost per token (never part of make test)
PROGRAMS += grammar-bench
grammar-bench_MAIN := bench/grammar/grammar_bench.c
grammar-bench_MODULES := common llmcore
grammar-bench_LIBS := -lxxhash
# bench/grammar: the schema check with the real model through the batched forward
PROGRAMS += grammar-model-check
grammar-model-check_MAIN := bench/grammar/model_check.c tests/unit/llmcore/jsonschema_check.c
grammar-model-check_MODULES := common llmcore
grammar-model-check_LIBS := -lxxhash
include llmcore/serve.mk

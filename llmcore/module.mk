# llmcore: GGUF models, quant kernels, tokenizers, the batched engine,
# sampling and constraints.
MODULES += llmcore
llmcore_SRCS := $(wildcard llmcore/*.c)
EXTRA_LIBS += -lxxhash
# the engine benchmark driver (bench/llm/run.sh)
PROGRAMS += llmbench
llmbench_MAIN := bench/llm/llmbench.c
llmbench_MODULES := common llmcore
include llmcore/serve.mk

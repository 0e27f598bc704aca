# llmcore: GGUF models, quant kernels, tokenizers, the batched engine,
# sampling and constraints.
MODULES += llmcore
llmcore_SRCS := $(wildcard llmcore/*.c)
include llmcore/tokenizer.mk

# common: error table, logging, JSON-schema checking and small utilities
# shared by every program.
MODULES += common
common_SRCS := $(wildcard common/*.c)

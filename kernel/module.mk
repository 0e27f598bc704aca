# kernel: the aiosd daemon - loop, socket, connections, dispatch, processes.
MODULES += kernel
kernel_SRCS := $(filter-out kernel/main.c,$(wildcard kernel/*.c))
PROGRAMS += aiosd
aiosd_MAIN := kernel/main.c
EXTRA_LIBS += -lxxhash

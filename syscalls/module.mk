# syscalls: the syscall table (one file per family) and argument checking.
MODULES += syscalls
syscalls_SRCS := $(wildcard syscalls/*.c)

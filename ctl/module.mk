# ctl: aiosctl, the shell and one-shot command line of aios.  Commands are
# rows in per-file tables listed in ctl/cmdsets.def.
PROGRAMS += aiosctl
aiosctl_MAIN := $(wildcard ctl/*.c)
aiosctl_MODULES := client common
aiosctl_LIBS := -ledit -ljansson -lcrypto

build-asan/ctl/cmds_core.o: ctl/cmds_core.c include/aios/error.h \
 ctl/ctl_int.h include/aios/client.h
include/aios/error.h:
ctl/ctl_int.h:
include/aios/client.h:

build-asan/ctl/shell.o: ctl/shell.c ctl/ctl_int.h include/aios/client.h \
 include/aios/error.h
ctl/ctl_int.h:
include/aios/client.h:
include/aios/error.h:

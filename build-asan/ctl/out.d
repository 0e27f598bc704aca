build-asan/ctl/out.o: ctl/out.c ctl/ctl_int.h include/aios/client.h \
 include/aios/error.h
ctl/ctl_int.h:
include/aios/client.h:
include/aios/error.h:

build-asan/ctl/params.o: ctl/params.c ctl/ctl_int.h include/aios/client.h \
 include/aios/error.h
ctl/ctl_int.h:
include/aios/client.h:
include/aios/error.h:

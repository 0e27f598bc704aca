build-asan/ctl/main.o: ctl/main.c include/aios/error.h ctl/ctl_int.h \
 include/aios/client.h ctl/cmdsets.def
include/aios/error.h:
ctl/ctl_int.h:
include/aios/client.h:
ctl/cmdsets.def:

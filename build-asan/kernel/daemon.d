build-asan/kernel/daemon.o: kernel/daemon.c include/aios/error.h \
 include/aios/log.h kernel/kern_int.h include/aios/kernel.h \
 kernel/kern_proc.h kernel/subsys.def
include/aios/error.h:
include/aios/log.h:
kernel/kern_int.h:
include/aios/kernel.h:
kernel/kern_proc.h:
kernel/subsys.def:

build-asan/kernel/sysinfo.o: kernel/sysinfo.c include/aios/error.h \
 include/aios/log.h kernel/kern_int.h include/aios/kernel.h \
 kernel/kern_proc.h
include/aios/error.h:
include/aios/log.h:
kernel/kern_int.h:
include/aios/kernel.h:
kernel/kern_proc.h:

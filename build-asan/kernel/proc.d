build-asan/kernel/proc.o: kernel/proc.c include/aios/error.h \
 include/aios/log.h include/aios/util.h kernel/kern_int.h \
 include/aios/kernel.h kernel/kern_proc.h
include/aios/error.h:
include/aios/log.h:
include/aios/util.h:
kernel/kern_int.h:
include/aios/kernel.h:
kernel/kern_proc.h:

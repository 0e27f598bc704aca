build-asan/kernel/loop.o: kernel/loop.c include/aios/error.h \
 include/aios/log.h kernel/kern_int.h include/aios/kernel.h
include/aios/error.h:
include/aios/log.h:
kernel/kern_int.h:
include/aios/kernel.h:

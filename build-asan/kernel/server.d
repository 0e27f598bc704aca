build-asan/kernel/server.o: kernel/server.c include/aios/error.h \
 include/aios/log.h kernel/kern_int.h include/aios/kernel.h
include/aios/error.h:
include/aios/log.h:
kernel/kern_int.h:
include/aios/kernel.h:

build-asan/kernel/config.o: kernel/config.c include/aios/error.h \
 include/aios/kernel.h kernel/kern_int.h
include/aios/error.h:
include/aios/kernel.h:
kernel/kern_int.h:

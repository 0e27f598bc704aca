build-asan/kernel/frame.o: kernel/frame.c include/aios/error.h \
 kernel/kern_int.h include/aios/kernel.h
include/aios/error.h:
kernel/kern_int.h:
include/aios/kernel.h:

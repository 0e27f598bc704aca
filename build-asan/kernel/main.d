build-asan/kernel/main.o: kernel/main.c kernel/kern_int.h \
 include/aios/kernel.h include/aios/error.h
kernel/kern_int.h:
include/aios/kernel.h:
include/aios/error.h:

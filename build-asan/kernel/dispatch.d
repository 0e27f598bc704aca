build-asan/kernel/dispatch.o: kernel/dispatch.c include/aios/error.h \
 include/aios/jschema.h include/aios/log.h kernel/kern_int.h \
 include/aios/kernel.h syscalls/families.def
include/aios/error.h:
include/aios/jschema.h:
include/aios/log.h:
kernel/kern_int.h:
include/aios/kernel.h:
syscalls/families.def:

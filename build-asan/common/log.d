build-asan/common/log.o: common/log.c include/aios/error.h \
 include/aios/log.h
include/aios/error.h:
include/aios/log.h:

build-asan/common/error.o: common/error.c include/aios/error.h
include/aios/error.h:

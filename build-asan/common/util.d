build-asan/common/util.o: common/util.c include/aios/util.h
include/aios/util.h:

build-asan/common/jschema.o: common/jschema.c include/aios/error.h \
 include/aios/jschema.h
include/aios/error.h:
include/aios/jschema.h:

build-asan/sdk/c/io.o: sdk/c/io.c include/aios/error.h sdk/c/client_int.h \
 include/aios/client.h
include/aios/error.h:
sdk/c/client_int.h:
include/aios/client.h:

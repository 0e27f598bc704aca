build-asan/sdk/c/conn.o: sdk/c/conn.c include/aios/error.h \
 sdk/c/client_int.h include/aios/client.h
include/aios/error.h:
sdk/c/client_int.h:
include/aios/client.h:

build-asan/sdk/c/call.o: sdk/c/call.c include/aios/error.h \
 sdk/c/client_int.h include/aios/client.h
include/aios/error.h:
sdk/c/client_int.h:
include/aios/client.h:

build-asan/kernel/main.o: kernel/main.c

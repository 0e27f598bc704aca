# client: libaios, the C client of aiosd (include/aios/client.h).
# Besides the module archive the Makefile makes for every module, this
# folder builds the library others link: build/libaios.a and
# build/libaios.so (the client and common objects, exporting only aios_*
# names) and build/aios.pc for pkg-config (PKG_CONFIG_PATH=build).
MODULES += client
client_SRCS := $(wildcard sdk/c/*.c)

LIBAIOS_OBJS = $(client_OBJS) $(common_OBJS)

$(BUILD)/libaios.a: $(client_SRCS:%.c=$(BUILD)/%.o) $(common_SRCS:%.c=$(BUILD)/%.o)
	@mkdir -p $(dir $@)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libaios.so: $(client_SRCS:%.c=$(BUILD)/%.o) $(common_SRCS:%.c=$(BUILD)/%.o) sdk/c/libaios.map
	$(CC) -shared -Wl,-soname,libaios.so -Wl,--version-script=sdk/c/libaios.map -o $@ \
	    $(filter %.o,$^) $(LDFLAGS) -ljansson -lpthread -lm

$(BUILD)/aios.pc: sdk/c/module.mk
	@mkdir -p $(dir $@)
	printf '%s\n' \
	    'prefix=$(abspath .)' \
	    'includedir=$${prefix}/include' \
	    'libdir=$(abspath $(BUILD))' \
	    '' \
	    'Name: aios' \
	    'Description: C client of the aiosd agent kernel' \
	    'Version: 0.1.0' \
	    'Requires: jansson' \
	    'Cflags: -I$${includedir}' \
	    'Libs: -L$${libdir} -Wl,-rpath,$${libdir} -laios' \
	    'Libs.private: -lpthread' > $@

BINS += $(BUILD)/libaios.a $(BUILD)/libaios.so $(BUILD)/aios.pc

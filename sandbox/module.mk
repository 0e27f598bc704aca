# sandbox: policies, the daemon side of sandboxed execution (spawn, capture,
# timers, warm pool) and aios-exec, the helper that builds each sandbox.
MODULES += sandbox
sandbox_SRCS := $(wildcard sandbox/*.c)
EXTRA_LIBS += -lseccomp

# aios-exec: small and single-threaded; links the policy parser (from the
# sandbox archive), the error table and libseccomp; --as-needed drops the
# base libraries it does not use (libuv, pthread, ...).
PROGRAMS += aios-exec
aios-exec_MAIN := $(wildcard sandbox/exec/*.c)
aios-exec_MODULES := common sandbox
aios-exec_LIBS := -Wl,--as-needed -lseccomp

# sbx-run: runs a policy through sbx_spawn on its own loop (threat suite,
# benchmark, manual checks).
PROGRAMS += sbx-run
sbx-run_MAIN := sandbox/run/main.c
sbx-run_MODULES := common sandbox
sbx-run_LIBS := -lseccomp

# The threat report (docs/SANDBOX.md): every threat row under aios and bwrap.
.PHONY: sandbox-report
sandbox-report: $(BUILD)/sbx-run $(BUILD)/aios-exec
	AIOS_BUILD=$(abspath $(BUILD)) $(PYTHON) tests/sandbox/report.py

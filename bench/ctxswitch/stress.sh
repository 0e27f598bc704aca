#!/bin/sh
# bench/ctxswitch/stress.sh - the leak check at full size: N mixed requests
# (default 10,000: completed, cancelled before and while running, preempted
# every 2 tokens) through the engine; afterwards every KV block, snapshot and
# request must be gone.
#   bench/ctxswitch/stress.sh [N]          with build/unit-tests
#   ASAN=1 bench/ctxswitch/stress.sh [N]   with build-asan/unit-tests (make asan), ASan + UBSan + leaks
set -e
cd "$(dirname "$0")/../.."
N=${1:-10000}
if [ -n "$ASAN" ]; then
    make -s asan
    BIN=build-asan/unit-tests
else
    make -s build/unit-tests
    BIN=build/unit-tests
fi
echo "running $N requests with $BIN"
AIOS_STRESS=$N ASAN_OPTIONS=detect_leaks=1 $BIN --filter 'engine_run/cancel*' --timeout 14400 --verbose

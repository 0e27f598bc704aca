#!/bin/sh
# bench/ctxswitch/stress.sh - the leak check at full size: 10,000 mixed
# requests (completed, cancelled before and while running, preempted every
# 2 tokens) through the engine, then every KV block, snapshot and request
# must be gone.  With ASan+UBSan when build-asan/unit-tests exists (make asan).
#   bench/ctxswitch/stress.sh
set -e
cd "$(dirname "$0")/../.."
BIN=build/unit-tests
[ -x build-asan/unit-tests ] && BIN=build-asan/unit-tests
echo "running $BIN"
AIOS_STRESS=1 ASAN_OPTIONS=detect_leaks=1 $BIN --filter 'engine_run/cancel*' --timeout 7200 --verbose

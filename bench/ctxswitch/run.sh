#!/bin/sh
# bench/ctxswitch/run.sh - context switch cost: save/restore of a 2,048-token
# context to host memory and to disk vs recomputing it by prefill.
#   bench/ctxswitch/run.sh [MODEL] [TOKENS]
# Prints the measurements and a RESULT line (see docs/PERFORMANCE.md).
set -e
cd "$(dirname "$0")/../.."
MODEL=${1:-${AIOS_TEST_MODEL:-$HOME/.local/share/aios/models/SmolLM2-135M-Instruct.Q4_1.gguf}}
TOKENS=${2:-2048}
make -s build/ctxswitch-bench
mkdir -p bench/_work
exec build/ctxswitch-bench "$MODEL" -n "$TOKENS" -r 3 -d bench/_work

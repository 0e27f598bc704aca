#!/bin/sh
# bench/agents/tail.sh - p99 time to first token and between tokens of light
# agents while one agent floods, under fair and fifo.
#   bench/agents/tail.sh [tail.py args...]
set -e
cd "$(dirname "$0")/../.."
MODEL=${AIOS_TEST_MODEL:-$HOME/.local/share/aios/models/SmolLM2-135M-Instruct.Q4_1.gguf}
make -s all
W=bench/_work/tail
rm -rf "$W" && mkdir -p "$W"
build/aiosd --foreground --socket "$W/s.sock" --data "$W/data" --model "$MODEL" --log-level info \
    --set llm.kv_mib=256 --set sched.max_batch_tokens=256 > "$W/aiosd.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null' EXIT
for i in $(seq 100); do [ -S "$W/s.sock" ] && break; sleep 0.1; done
/usr/bin/python3 bench/agents/tail.py --socket "$W/s.sock" "$@"

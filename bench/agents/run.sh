#!/bin/sh
# bench/agents/run.sh - N agent processes in multi-turn chats with the shared
# model: makespan all at once vs one after another, tokens/s.
#   bench/agents/run.sh [AGENTS] [extra agents.py args...]     AGENTS default 1,4,16,64
# Starts its own aiosd (data in bench/_work/agents), prints RESULT lines
# (docs/PERFORMANCE.md).  Not part of make test.
set -e
cd "$(dirname "$0")/../.."
MODEL=${AIOS_TEST_MODEL:-$HOME/.local/share/aios/models/SmolLM2-135M-Instruct.Q4_1.gguf}
AGENTS=${1:-1,4,16,64}
[ $# -gt 0 ] && shift
make -s all
W=bench/_work/agents
rm -rf "$W" && mkdir -p "$W"
build/aiosd --foreground --socket "$W/s.sock" --data "$W/data" --model "$MODEL" --log-level info \
    --set llm.kv_mib=512 --set sched.policy=fair --set sched.max_running=64 \
    --set sched.max_batch_tokens=256 > "$W/aiosd.log" 2>&1 &
PID=$!
# the naive baseline: agents re-send their history, no prefix cache
build/aiosd --foreground --socket "$W/naive.sock" --data "$W/naive-data" --model "$MODEL" --log-level info \
    --set llm.kv_mib=512 --set llm.prefix_cache=false > "$W/naive.log" 2>&1 &
NPID=$!
trap 'kill $PID $NPID 2>/dev/null; wait $PID $NPID 2>/dev/null' EXIT
for i in $(seq 100); do [ -S "$W/s.sock" ] && [ -S "$W/naive.sock" ] && break; sleep 0.1; done
/usr/bin/python3 bench/agents/agents.py --socket "$W/s.sock" --naive-socket "$W/naive.sock" --agents "$AGENTS" "$@"

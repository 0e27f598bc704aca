#!/bin/sh
# bench/grammar/run.sh - constrained decoding cost per token, ours and the
# peer's (llama.cpp's grammar sampler via llama-cpp-python) on the same
# token steps of the same documents, with ratios and a RESULT line.
#
#   bench/grammar/run.sh                 # makes bench/_work/venv-grammar once
#   PEER_PYTHON=/path/to/python bench/grammar/run.sh   # reuse an environment
#                                        # that has llama-cpp-python==0.3.36
set -e
cd "$(dirname "$0")/../.."
MODEL=${MODEL:-${AIOS_TEST_MODEL:-$HOME/.local/share/aios/models/SmolLM2-135M-Instruct.Q4_1.gguf}}
OUT=bench/_work/grammar
CASES="person order tree tool_call any_object"
mkdir -p "$OUT"
make -s -j2 build/grammar-bench
build/grammar-bench --model "$MODEL" --out "$OUT" | tee "$OUT/ours.txt"

PY=${PEER_PYTHON:-}
if [ -z "$PY" ]; then
    VENV=bench/_work/venv-grammar
    if [ ! -x "$VENV/bin/python" ]; then
        /usr/bin/python3 -m venv "$VENV"
        # builds llama.cpp from source: about 20 minutes on 2 cores
        "$VENV/bin/pip" install -q "llama-cpp-python==0.3.36"
    fi
    PY=$VENV/bin/python
fi
echo "peer: llama.cpp grammar sampler, llama_sampler_apply over all candidates"
"$PY" bench/grammar/peer_llamacpp.py "$MODEL" "$OUT" $CASES 2>/dev/null | tee "$OUT/peer.jsonl"

/usr/bin/python3 - "$OUT" <<'PYEOF'
import json, sys
out = sys.argv[1]
ours = {j["case"]: j for j in map(json.loads, open(out + "/ours.jsonl"))}
peer = {j["case"]: j for j in map(json.loads, open(out + "/peer.jsonl"))}
print("%-11s %12s %12s %12s | %14s %14s" % ("case", "ours warm", "ours cold", "peer", "peer/ours warm", "peer/ours cold"))
rw, rc = [], []
for c, o in ours.items():
    p = peer.get(c)
    if not p or "p50_us" not in p:
        continue
    rw.append(p["mean_us"] / o["warm_mean_us"])
    rc.append(p["mean_us"] / o["cold_mean_us"])
    print("%-11s %10.1fus %10.1fus %10.0fus | %13.0fx %13.1fx" % (c, o["warm_mean_us"], o["cold_mean_us"], p["mean_us"], rw[-1], rc[-1]))
geo = lambda v: __import__("math").exp(sum(map(__import__("math").log, v)) / len(v)) if v else 0
print("RESULT peer_over_ours_warm=%.0f peer_over_ours_cold=%.1f ours_warm_mean_us=%.1f peer_mean_us=%.0f" % (
    geo(rw), geo(rc), sum(o["warm_mean_us"] for o in ours.values()) / len(ours),
    sum(p["mean_us"] for p in peer.values() if "mean_us" in p) / max(1, len(peer))))
PYEOF

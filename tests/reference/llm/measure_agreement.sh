#!/bin/sh
# measure_agreement.sh - how well implementations of the default model agree
# with the llama.cpp reference (model/smollm2.json, gen_model.py) and with
# each other: top-1 teacher-forced over the reference's 10 prompts x 256
# greedy positions, the RMS difference of the reference token's logit, and
# greedy continuations.  Runs
#   llama_b1     llama.cpp, one token per call, flash attention off: the
#                reference's own code path (it must reproduce the reference)
#   llama_b512   llama.cpp, whole sequences per call (batched matmuls)
#   llama_fa     llama.cpp, one token per call, flash attention on
#   llama_avx2   llama.cpp built for AVX2 only (no AVX-512), one token per call
#   ours         this engine (build/llmbench -f, one batch per sequence)
#   exact        float64 forward pass (exact_ref.py), when EXACT=1 (slow)
# and writes model/agreement.json, which the default-model test reads: the
# floor our agreement must reach is llama.cpp's own agreement with the
# reference through its other code paths.
#   tests/reference/llm/measure_agreement.sh [MODEL]     (REFENV= or the venv
#   of generate.sh provides numpy and gguf for EXACT=1)
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
MODEL=${1:-${AIOS_TEST_MODEL:-$HOME/.local/share/aios/models/SmolLM2-135M-Instruct.Q4_1.gguf}}
REF=$HERE/model/smollm2.json
W=$ROOT/bench/_work/agreement
mkdir -p "$W"
# the runs are short: real-time priority when allowed keeps the shared
# machine's load from stretching them (results do not depend on it)
PRIO=
if chrt -f 10 true 2>/dev/null; then PRIO="chrt -f 10"; fi
make -s -C "$ROOT" -j2 build/llmbench >&2
LR=$("$HERE/build_llama_ref.sh")
LR2=$(VARIANT=avx2 "$HERE/build_llama_ref.sh")
/usr/bin/python3 - "$REF" "$W" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
with open(sys.argv[2] + "/forced.txt", "w") as f, open(sys.argv[2] + "/prompts.txt", "w") as g:
    for p in d["prompts"]:
        f.write(",".join(map(str, p["tokens"])) + "\t" + ",".join(map(str, p["greedy"])) + "\n")
        g.write(",".join(map(str, p["tokens"])) + "\t\n")
EOF
NG=$(/usr/bin/python3 -c "import json,sys; print(len(json.load(open(sys.argv[1]))['prompts'][0]['greedy']))" "$REF")
run() { echo "$*" >&2; $PRIO "$@"; }
run "$LR" "$MODEL" "$W/forced.txt" "$W/llama_b1.jsonl" -b 1
run "$LR" "$MODEL" "$W/forced.txt" "$W/llama_b512.jsonl" -b 512
run "$LR" "$MODEL" "$W/forced.txt" "$W/llama_fa.jsonl" -b 1 -fa 1
run "$LR2" "$MODEL" "$W/forced.txt" "$W/llama_avx2.jsonl" -b 1
run "$ROOT/build/llmbench" "$MODEL" -t 2 -f "$W/forced.txt" "$W/ours.jsonl" >/dev/null
run "$LR" "$MODEL" "$W/prompts.txt" "$W/g_llama_b1.jsonl" -b 1 -g 64
run "$LR" "$MODEL" "$W/prompts.txt" "$W/g_llama_b512.jsonl" -b 512 -g 64
run "$LR" "$MODEL" "$W/prompts.txt" "$W/g_llama_fa.jsonl" -b 1 -fa 1 -g 64
run "$LR2" "$MODEL" "$W/prompts.txt" "$W/g_llama_avx2.jsonl" -b 1 -g 64
: > "$W/g_ours.jsonl"
while IFS= read -r line; do
    ids=$(printf '%s' "$line" | cut -f1)
    g=$($PRIO "$ROOT/build/llmbench" "$MODEL" -g "$ids" -n 64 | tail -1)
    echo "{\"top\":[],\"greedy\":[$g]}" >> "$W/g_ours.jsonl"
done < "$W/prompts.txt"
EXACT_RUN=
if [ "${EXACT:-0}" = 1 ]; then
    PY=${REFENV:+$REFENV/bin/python}
    PY=${PY:-$ROOT/tests/reference/_work/venv/bin/python}
    # minutes of numpy: at normal priority, one thread
    OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 nice "$PY" "$HERE/exact_ref.py" "$MODEL" "$REF" "$W/exact.jsonl"
    EXACT_RUN="exact=$W/exact.jsonl"
fi
/usr/bin/python3 "$HERE/agreement.py" "$REF" llama_b1="$W/llama_b1.jsonl" llama_b512="$W/llama_b512.jsonl" \
    llama_fa="$W/llama_fa.jsonl" llama_avx2="$W/llama_avx2.jsonl" ours="$W/ours.jsonl" $EXACT_RUN \
    --greedy llama_b1="$W/g_llama_b1.jsonl" llama_b512="$W/g_llama_b512.jsonl" llama_fa="$W/g_llama_fa.jsonl" \
    llama_avx2="$W/g_llama_avx2.jsonl" ours="$W/g_ours.jsonl" --json "$HERE/model/agreement.json"
echo "greedy positions per prompt in the reference: $NG; wrote $HERE/model/agreement.json" >&2

#!/bin/sh
# run.sh BUILD_DIR - the embeddings benchmarks: the C encoder against the model
# package's own runtime (sentence-transformers on torch, CPU) on the same
# inputs in the same run, then the vector index.  Prints ratios and RESULT
# lines.  Needs `make model`; the peer's venv is the reference venv
# (tests/reference/embed/gen_reference.py creates it, pinned) or $EMBED_PEER_VENV.
# The machine is shared and its load swings within a minute, so the two sides
# alternate: BENCH_ROUNDS rounds of (ours, peer), each side's best run counts.
#   BENCH_THREADS="1 2"  BENCH_ROUNDS=3  BENCH_KERNEL=avx512|avx2|scalar  BENCH_SKIP_VINDEX=1
set -eu
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
DATA=${AIOS_DATA:-${XDG_DATA_HOME:-$HOME/.local/share}/aios}
MODEL=${AIOS_EMBED_MODEL:-$DATA/models/all-MiniLM-L6-v2}
VENV=${EMBED_PEER_VENV:-$ROOT/tests/reference/_work/venv}
WORK=$ROOT/bench/_work/embed
THREADS=${BENCH_THREADS:-"1 2"}
ROUNDS=${BENCH_ROUNDS:-3}
KERNEL=${BENCH_KERNEL:-}

[ -f "$MODEL/model.safetensors" ] || { echo "no model at $MODEL: run make model" >&2; exit 1; }
if [ ! -x "$VENV/bin/python" ]; then
    /usr/bin/python3 tests/reference/embed/gen_reference.py --setup-venv
fi
/usr/bin/python3 bench/embed/make_inputs.py "$WORK"

field() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
# best LINE_A LINE_B: the line with the higher tokens_per_s
best() {
    if [ -z "$1" ]; then echo "$2"; return; fi
    awk -v a="$(field "$1" tokens_per_s)" -v b="$(field "$2" tokens_per_s)" 'BEGIN { exit !(b > a) }' \
        && echo "$2" || echo "$1"
}
for input in short long; do
    for t in $THREADS; do
        ours= peer=
        r=0
        while [ "$r" -lt "$ROUNDS" ]; do
            o1=$("$BUILD/bench-embed" "$MODEL" "$WORK/$input.jsonl" "$t" 1 $KERNEL)
            p1=$(HF_HUB_OFFLINE=1 "$VENV/bin/python" bench/embed/bench_peer.py "$WORK/$input.jsonl" "$t" 1 2>/dev/null | grep '^PEER')
            echo "$input threads=$t round=$r  $o1"
            echo "$input threads=$t round=$r  $p1"
            ours=$(best "$ours" "$o1"); peer=$(best "$peer" "$p1")
            r=$((r + 1))
        done
        o=$(field "$ours" tokens_per_s); p=$(field "$peer" tokens_per_s)
        ratio=$(awk -v o="$o" -v p="$p" 'BEGIN { printf "%.2f", o / p }')
        echo "RESULT bench=embed input=$input threads=$t ours_texts_per_s=$(field "$ours" texts_per_s) ours_tokens_per_s=$o peer_tokens_per_s=$p ratio=$ratio kernel=$(field "$ours" kernel)"
    done
done
if [ -z "${BENCH_SKIP_VINDEX:-}" ]; then
    "$BUILD/bench-vindex" 10000 100000
fi

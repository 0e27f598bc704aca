#!/bin/sh
# run.sh - tokenizer speed, ours against llama.cpp's (llama-cpp-python
# 0.3.36), on the same inputs in the same run.
#
#   bench/tokenizer/run.sh [ITERATIONS]
#
# Inputs (made here, deterministic, in bench/_work/tokenizer/): a 100 KB
# English prose + code text and a 100 KB multilingual text (CJK, emoji,
# combining marks, digits, whitespace runs) cut from the fixture strings,
# and a 1 MB prose file.  Vocabularies: the default model (SmolLM2, smollm
# pre-tokenizer), llama-bpe, qwen2 and llama-spm (`make model` fetches them).
# Both sides must produce the same ids (checked by a hash of the ids).
# The peer runs from AIOS_REFENV, else the venv of
# tests/reference/tokenizer/generate.sh.  Prints one line per case with the
# ratio peer_time / our_time and a final RESULT line.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
ITER=${1:-20}
DATA=${AIOS_DATA:-${XDG_DATA_HOME:-$HOME/.local/share}/aios}
VENV=${AIOS_REFENV:-$ROOT/tests/reference/_work/venv}
WORK=bench/_work/tokenizer
mkdir -p "$WORK"
if [ ! -x "$VENV/bin/python" ]; then
    echo "no peer environment at $VENV: run tests/reference/tokenizer/generate.sh first" >&2
    exit 1
fi
make -s build/tokbench

/usr/bin/python3 - "$WORK" <<'PY'
import json, sys
work = sys.argv[1]
s = json.load(open("tests/reference/tokenizer/strings.json"))["strings"]
def build(cats, size):
    out = b""
    i = 0
    pool = [bytes.fromhex(x["hex"]) for x in s if x["cat"] in cats]
    while len(out) < size:
        out += pool[i % len(pool)] + b"\n"
        i += 1
    return out[:size]
open(work + "/en100k.txt", "wb").write(build({"ascii_prose", "code", "long", "contractions", "digits"}, 100_000))
open(work + "/multi100k.txt", "wb").write(build({"cjk", "emoji", "combining", "random_unicode",
                                                 "whitespace", "ascii_prose"}, 100_000))
open(work + "/en1m.txt", "wb").write(build({"ascii_prose", "code", "long"}, 1_000_000))
PY

worst=1000000
line=""
for vocab in models/SmolLM2-135M-Instruct.Q4_1.gguf vocabs/ggml-vocab-llama-bpe.gguf \
             vocabs/ggml-vocab-qwen2.gguf vocabs/ggml-vocab-llama-spm.gguf; do
    for input in en100k multi100k en1m; do
        ours=$(build/tokbench "$DATA/$vocab" "$WORK/$input.txt" "$ITER")
        peer=$("$VENV/bin/python" bench/tokenizer/peer.py "$DATA/$vocab" "$WORK/$input.txt" "$ITER")
        r=$(/usr/bin/python3 -c '
import json, sys
o, p = json.loads(sys.argv[1]), json.loads(sys.argv[2])
same = o["ids_fnv"] == p["ids_fnv"] and o["tokens"] == p["tokens"]
ratio = p["tok_ms_median"] / o["tok_ms_median"]
dratio = p["detok_ms_median"] / max(o["detok_ms_median"], 1e-6)
print("%-40s %-10s tokens=%-7d same_ids=%s ours=%.2fms peer=%.2fms ratio=%.2f detok_ratio=%.2f build_ms=%.0f/%.0f"
      % (sys.argv[3], sys.argv[4], o["tokens"], same, o["tok_ms_median"], p["tok_ms_median"], ratio,
         dratio, o["build_ms"], p["build_ms"]))
' "$ours" "$peer" "$(basename "$vocab")" "$input")
        echo "$r"
        case "$r" in *same_ids=False*) echo "ids differ from the peer" >&2; exit 1;; esac
        ratio=$(echo "$r" | sed 's/.* ratio=\([0-9.]*\).*/\1/')
        key=$(basename "$vocab" .gguf | sed 's/ggml-vocab-//; s/-135M-Instruct.Q4_1//' | tr 'A-Z-' 'a-z_')
        line="$line ${key}_${input}=$ratio"
        worst=$(/usr/bin/python3 -c "print(min($worst, $ratio))")
    done
done
echo "RESULT min_ratio=$worst$line"

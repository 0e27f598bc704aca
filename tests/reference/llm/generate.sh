#!/bin/sh
# generate.sh - regenerate the committed LLM reference fixtures.
#
#   tests/reference/llm/generate.sh [quant|tiny|model|all]   (default: all)
#
# Creates a virtualenv under tests/reference/_work/venv (git-ignored) with
# pinned gguf, numpy and llama-cpp-python (the last builds llama.cpp from
# source: ~20-40 minutes on 2 cores; natively, but without AMX: this
# machine's CPU flags list AMX, the hypervisor faults on its tile
# instructions, and llama.cpp would route Q4_1/Q8_0 matmuls through its AMX
# buffer type - a different code path that crashes on batches - so the
# reference is llama.cpp's standard CPU path, the one bench/llm/build_llama.sh
# builds), then writes:
#   quant/<TYPE>.bin       random blocks of every tensor type, the gguf
#                          package's dequantization and float64 dot products
#   tiny/*.gguf, *.ref     tiny random-weight models written with gguf and the
#                          logits of an independent numpy forward pass
#   model/smollm2.json     the default model under llama.cpp: prompt token ids,
#                          greedy continuations, per-position argmax and top-k
# Set REFENV=/path/to/venv to reuse an existing environment that already
# has these exact versions.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
WORK=$ROOT/tests/reference/_work
what=${1:-all}
if [ -n "${REFENV:-}" ]; then
    PY=$REFENV/bin/python
else
    mkdir -p "$WORK"
    [ -x "$WORK/venv/bin/python" ] || /usr/bin/python3 -m venv "$WORK/venv"
    PY=$WORK/venv/bin/python
    "$PY" -m pip install --quiet "gguf==0.19.0" "numpy==2.4.6"
    if [ "$what" = model ] || [ "$what" = all ]; then
        NOAMX="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
        CMAKE_ARGS="-DGGML_NATIVE=ON -DCMAKE_C_FLAGS='$NOAMX' -DCMAKE_CXX_FLAGS='$NOAMX'" \
            "$PY" -m pip install --quiet --no-binary llama-cpp-python "llama-cpp-python==0.3.36"
    fi
fi
MODEL=${AIOS_TEST_MODEL:-$HOME/.local/share/aios/models/SmolLM2-135M-Instruct.Q4_1.gguf}
case $what in
quant) "$PY" "$HERE/gen_quant.py" "$HERE/quant" ;;
tiny) "$PY" "$HERE/gen_tiny.py" "$HERE/tiny" ;;
model) "$PY" "$HERE/gen_model.py" "$MODEL" "$HERE/model" ;;
all)
    "$PY" "$HERE/gen_quant.py" "$HERE/quant"
    "$PY" "$HERE/gen_tiny.py" "$HERE/tiny"
    "$PY" "$HERE/gen_model.py" "$MODEL" "$HERE/model"
    ;;
*) echo "usage: $0 [quant|tiny|model|all]" >&2; exit 2 ;;
esac

#!/bin/sh
# build_llama.sh - build llama.cpp's llama-bench (CPU only, native) from the
# llama-cpp-python 0.3.36 source distribution into bench/_work/ (git-ignored).
# Idempotent: does nothing when the binary exists.  Prints the binary path.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$ROOT/bench/_work
VER=0.3.36
BIN=$WORK/llama-build/bin/llama-bench
if [ -x "$BIN" ]; then echo "$BIN"; exit 0; fi
mkdir -p "$WORK"
cd "$WORK"
if [ ! -d "llama_cpp_python-$VER" ]; then
    /usr/bin/python3 -m pip download --quiet --no-binary llama-cpp-python --no-deps \
        "llama-cpp-python==$VER" -d "$WORK/sdist" >&2
    tar xzf "$WORK"/sdist/llama_cpp_python-$VER.tar.gz -C "$WORK"
fi
SRC=$WORK/llama_cpp_python-$VER/vendor/llama.cpp
# Native build for this CPU, except AMX: the tile instructions fault
# (SIGILL) under this machine's hypervisor although the CPU flags list them,
# so llama.cpp could not run its AMX matmul here anyway.
NOAMX="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
cmake -S "$SRC" -B "$WORK/llama-build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON \
    -DCMAKE_C_FLAGS="$NOAMX" -DCMAKE_CXX_FLAGS="$NOAMX" \
    -DBUILD_SHARED_LIBS=OFF -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_TOOLS=ON -DGGML_OPENMP=ON >&2
cmake --build "$WORK/llama-build" --target llama-bench -j "${JOBS:-2}" >&2
echo "$BIN"

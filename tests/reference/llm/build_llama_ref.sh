#!/bin/sh
# build_llama_ref.sh - link tests/reference/llm/llama_ref.c against llama.cpp
# built from the llama-cpp-python 0.3.36 sources by bench/llm/build_llama.sh
# (native: AVX-512 here, AMX off).  With VARIANT=avx2 it first builds
# llama.cpp's CPU backend a second time for AVX2+FMA+F16C only (no AVX-512)
# and links that instead: the same model through two "correct" builds of
# llama.cpp, for its agreement with itself.  Prints the binary path.
#   tests/reference/llm/build_llama_ref.sh            -> bench/_work/llama_ref
#   VARIANT=avx2 tests/reference/llm/build_llama_ref.sh -> bench/_work/llama_ref_avx2
set -eu
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
WORK=$ROOT/bench/_work
VARIANT=${VARIANT:-native}
"$ROOT/bench/llm/build_llama.sh" >/dev/null
SRC=$WORK/llama_cpp_python-0.3.36/vendor/llama.cpp
B=$WORK/llama-build
CPU=$B/ggml/src/libggml-cpu.a
OUTBIN=$WORK/llama_ref
if [ "$VARIANT" = avx2 ]; then
    A=$WORK/llama-build-avx2
    if [ ! -f "$A/ggml/src/libggml-cpu.a" ]; then
        cmake -S "$SRC" -B "$A" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON \
            -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF -DGGML_AVX_VNNI=OFF -DGGML_AMX_TILE=OFF \
            -DGGML_AMX_INT8=OFF -DGGML_BMI2=ON -DBUILD_SHARED_LIBS=OFF -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF \
            -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_TOOLS=OFF -DGGML_OPENMP=ON >&2
        cmake --build "$A" --target ggml-cpu -j "${JOBS:-2}" >&2
    fi
    CPU=$A/ggml/src/libggml-cpu.a
    OUTBIN=$WORK/llama_ref_avx2
fi
gcc -O2 -I"$SRC/include" -I"$SRC/ggml/include" "$ROOT/tests/reference/llm/llama_ref.c" -o "$OUTBIN" \
    "$B/src/libllama.a" "$B/ggml/src/libggml.a" "$CPU" "$B/ggml/src/libggml-base.a" \
    -lstdc++ -fopenmp -lpthread -lm
echo "$OUTBIN"

#!/bin/sh
# bench/kernel/run.sh - the null syscall benchmark: builds aiosd, libaios
# and the benchmark, starts a private aiosd on a temporary socket, runs
# ping_bench against it, stops the daemon and prints its RESULT line.
#
#   bench/kernel/run.sh [ping_bench options: -n CALLS -c CONNS -d DEPTH -t THREADS -s SECONDS]
#
# BUILD (default build) names the build folder.
set -eu
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
make -s -j2 BUILD="$BUILD" "$BUILD/aiosd" "$BUILD/libaios.a" >/dev/null
mkdir -p "$BUILD/bench"
cc -std=gnu11 -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE -pthread -Iinclude \
    bench/kernel/ping_bench.c "$BUILD/libaios.a" -ljansson -lm -o "$BUILD/bench/ping_bench"

dir=$(mktemp -d /tmp/aios-bench-XXXXXX)
"$BUILD/aiosd" -f --socket "$dir/aios.sock" --data "$dir/data" --model none --log-level warn \
    >"$dir/aiosd.log" 2>&1 &
daemon=$!
cleanup() {
    kill "$daemon" 2>/dev/null || true
    wait "$daemon" 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT INT TERM
i=0
while [ ! -S "$dir/aios.sock" ]; do
    i=$((i + 1))
    if [ $i -gt 500 ] || ! kill -0 "$daemon" 2>/dev/null; then
        echo "aiosd did not start:" >&2
        cat "$dir/aiosd.log" >&2
        exit 1
    fi
    sleep 0.01
done
echo "machine: $(nproc) cpus, load $(cut -d' ' -f1-3 /proc/loadavg)"
"$BUILD/bench/ping_bench" "$dir/aios.sock" "$@"

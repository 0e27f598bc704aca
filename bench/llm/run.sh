#!/bin/sh
# run.sh - the LLM engine against llama.cpp on the same GGUF file, same
# machine, same thread counts, in the same run:
#   prompt processing of a 512-token prompt (pp512, tokens/s) and
#   generation of 128 tokens (tg128, tokens/s), at 1 and 2 threads,
# each measured as the mean of REPS rounds after a warm-up (llama-bench's
# method, which is also what llmbench does).  llama.cpp is built from the
# llama-cpp-python 0.3.36 sdist by build_llama.sh (CPU only, native, kept
# in bench/_work/).  Prints per-thread numbers, ratios and a final
#   RESULT pp_ratio=... tg_ratio=... (geometric means over 1 and 2 threads)
# Usage: bench/llm/run.sh [MODEL.gguf]      (REPS=3 THREADS="1 2" by default)
#
# On a shared machine (the 2-core dev box runs at load 8-15) wall-clock
# rates mostly measure the other processes: a benchmark gets 10-20% of a
# core.  So when it can (root, chrt present) the script runs both engines
# under SCHED_FIFO priority 10 (RT=0 turns that off): each measurement then
# gets the cores it asks for, for the few seconds it runs, whatever the
# load; both engines are treated alike.  The load average is printed too.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
MODEL=${1:-${AIOS_TEST_MODEL:-$HOME/.local/share/aios/models/SmolLM2-135M-Instruct.Q4_1.gguf}}
REPS=${REPS:-3}
THREADS=${THREADS:-"1 2"}
make -s -j2 build/llmbench >&2
LB=$(bench/llm/build_llama.sh)
OUT=$ROOT/bench/_work/llm-run.txt
PRIO=
if [ "${RT:-1}" != 0 ] && chrt -f 10 true 2>/dev/null; then
    PRIO="chrt -f 10"
fi
: > "$OUT"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg); priority: ${PRIO:-normal}"
for t in $THREADS; do
    # alternate engines so both see the same machine load
    $PRIO build/llmbench "$MODEL" -t "$t" -p 512 -n 128 -r "$REPS" | sed "s/^/ours /" | tee -a "$OUT"
    # llama-bench csv: a header line naming the columns, one row per test
    $PRIO "$LB" -m "$MODEL" -t "$t" -p 512 -n 128 -r "$REPS" -o csv 2>/dev/null > "$OUT.csv"
    awk -F, -v t="$t" 'NR == 1 { for (i = 1; i <= NF; i++) { gsub(/"/, "", $i); c[$i] = i }; next }
        { gsub(/"/, ""); if ($c["n_prompt"] > 0) printf "llama pp%d t=%d %s\n", $c["n_prompt"], t, $c["avg_ts"];
          else printf "llama tg%d t=%d %s\n", $c["n_gen"], t, $c["avg_ts"] }' "$OUT.csv" | tee -a "$OUT"
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
awk -v size="$(stat -c %s "$MODEL")" '
    $1 == "ours" && $2 ~ /^pp/ { op[$3] = $4 }  $1 == "ours" && $2 ~ /^tg/ { ot[$3] = $4 }
    $1 == "llama" && $2 ~ /^pp/ { lp[$3] = $4 } $1 == "llama" && $2 ~ /^tg/ { lt[$3] = $4 }
    $2 == "rss_peak_mib" { rss = $3 } $2 == "kv_budget_mib" { kvb = $3 }
    END {
        gp = 1; gt = 1; n = 0
        for (t in op) { rp = op[t] / lp[t]; rt = ot[t] / lt[t]; n++; gp *= rp; gt *= rt
            printf "%s pp512 ours %.1f llama.cpp %.1f ratio %.3f | tg128 ours %.1f llama.cpp %.1f ratio %.3f\n",
                   t, op[t], lp[t], rp, ot[t], lt[t], rt }
        printf "memory: peak rss %.1f MiB, file %.1f MiB + kv budget %.1f MiB + 64 MiB = %.1f MiB\n",
               rss, size / 1048576, kvb, size / 1048576 + kvb + 64
        printf "RESULT pp_ratio=%.3f tg_ratio=%.3f\n", gp ^ (1 / n), gt ^ (1 / n)
    }' "$OUT"

#!/bin/sh
# device_embed.sh - the embedding-heavy half of the LSFS benchmark, for a
# machine with many cores (the 2-core build machines embed ~5 chunks/s when
# shared).  Expects in bench/_work/lsfs/dev/: lsfs-bench, lib/ (its shared
# libraries), model1/ + model2/ (the all-MiniLM-L6-v2 folder, weights split in
# two parts), and the corpus in bench/_work/lsfs/corpus (make_corpus.py).
# Writes to $OUT: ingest figures, the store with its vectors, search results.
set -eu
D=bench/_work/lsfs/dev
C=bench/_work/lsfs/corpus
OUT=${OUT:-$D/out}
mkdir -p "$OUT" "$D/model"
cp -r "$D"/model1/* "$D/model/"
cat "$D/model1/part1" "$D/model2/part2" > "$D/model/model.safetensors"
rm -f "$D/model/part1"
export LD_LIBRARY_PATH="$PWD/$D/lib"
B="$D/lsfs-bench"
rm -rf "$D/single" "$D/base"
nproc > "$OUT/nproc.txt"
# one process: the throughput of one writer that embeds its own chunks
"$B" ingest --data "$D/single" --corpus "$C" --embed "$D/model" --limit 40 > "$OUT/ingest-1proc.txt"
# one writer per core, one store
N=$(nproc)
mkdir -p "$D/empty"
"$B" ingest --data "$D/base" --corpus "$D/empty" --embed none > /dev/null   # create the store once
t0=$(date +%s.%N)
i=0
while [ $i -lt "$N" ]; do
    "$B" ingest --data "$D/base" --corpus "$C" --embed "$D/model" --shard $i/$N > "$OUT/shard$i.txt" &
    i=$((i + 1))
done
wait
t1=$(date +%s.%N)
echo "parallel ingest: $N writers, $(awk "BEGIN{print $t1 - $t0}") s" > "$OUT/ingest-parallel.txt"
"$B" search --data "$D/base" --embed "$D/model" --queries bench/lsfs/queries.tsv --k 10 > "$OUT/search.jsonl"
"$B" search --data "$D/base" --embed "$D/model" --queries bench/lsfs/queries.tsv --k 10 --exact > "$OUT/search-exact.jsonl"
cp "$D/base/lsfs.db" "$OUT/base-lsfs.db"
ls -la "$OUT"

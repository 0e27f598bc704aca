#!/bin/sh
# bench/lsfs/run.sh - LSFS retrieval quality and speed (docs/PERFORMANCE.md, LSFS section).
#
#   bench/lsfs/run.sh            everything: corpus, ingest, quality, 10k and 100k chunks
#   bench/lsfs/run.sh quality    stop after the quality table
#
# Needs: `make` (build/lsfs-bench), `make model` (the embedding model), root or
# sudo for apt (debian-reference-en, debian-handbook).  Work files go to
# bench/_work/lsfs/ (ignored).  The embedded store is kept and reused: delete
# bench/_work/lsfs/base to embed again.
set -eu
cd "$(dirname "$0")/../.."
W=bench/_work/lsfs
B=build/lsfs-bench
MODEL=${AIOS_EMBED_MODEL:-${AIOS_DATA:-${XDG_DATA_HOME:-$HOME/.local/share}/aios}/models/all-MiniLM-L6-v2}
Q=bench/lsfs/queries.tsv
mkdir -p "$W"

[ -x "$B" ] || { echo "build first: make" >&2; exit 1; }
[ -f "$MODEL/model.safetensors" ] || { echo "no embedding model at $MODEL: make model" >&2; exit 1; }

# 1. corpus from the Debian documentation packages
if ! dpkg-query -W debian-reference-en debian-handbook >/dev/null 2>&1; then
    SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get install -y --no-install-recommends debian-reference-en debian-handbook
fi
[ -d "$W/corpus" ] || /usr/bin/python3 bench/lsfs/make_corpus.py "$W/corpus"

# 2. ingest: keyword only (fresh store each run), then with embeddings (kept)
rm -rf "$W/kwonly"
"$B" ingest --data "$W/kwonly" --corpus "$W/corpus" --embed none | tee "$W/ingest-keyword.txt"
"$B" ingest --data "$W/base" --corpus "$W/corpus" --embed "$MODEL" | tee "$W/ingest-embed.txt"

rm -rf "$W/mount"
"$B" mount --data "$W/mount" --host "$PWD/$W/corpus" --embed none | tee "$W/mount-keyword.txt"

# 3. quality: keyword / semantic / hybrid vs grep -ril, for the paraphrased
#    questions, the tool and file names, and both together
cat "$Q" > "$W/queries-all.tsv"
grep -v '^#' bench/lsfs/queries-identifiers.tsv >> "$W/queries-all.tsv"
for set in bench/lsfs/queries.tsv bench/lsfs/queries-identifiers.tsv "$W/queries-all.tsv"; do
    name=$(basename "$set" .tsv)
    "$B" search --data "$W/base" --embed "$MODEL" --queries "$set" --k 10 > "$W/$name.jsonl"
    /usr/bin/python3 bench/lsfs/eval.py "$set" "$W/corpus" "$W/$name.jsonl" | tee "$W/$name-quality.txt"
done
# hybrid with the semantic ranking weighted 2:1
"$B" search --data "$W/base" --embed "$MODEL" --queries "$W/queries-all.tsv" --k 10 --w-semantic 2 \
    > "$W/queries-all-ws2.jsonl"
/usr/bin/python3 bench/lsfs/eval.py "$W/queries-all.tsv" "$W/corpus" "$W/queries-all-ws2.jsonl" |
    grep hybrid | tee "$W/queries-all-ws2-quality.txt"
[ "${1:-}" = quality ] && exit 0

# 4. latency at 10,000 and 100,000 chunks (copies of the corpus, vectors of
#    the originals plus noise; see lsfs_bench.c)
for n in 10000 100000; do
    rm -rf "$W/scale$n"
    cp -r "$W/base" "$W/scale$n"
    "$B" scale --data "$W/scale$n" --embed "$MODEL" --corpus "$W/corpus" --queries "$Q" \
        --chunks $n --iters 3 | tee "$W/scale$n.txt"
done

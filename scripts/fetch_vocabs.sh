#!/bin/sh
# fetch_vocabs.sh DATA_DIR - put the tokenizer test vocabularies in
# DATA_DIR/vocabs/.
#
# llama.cpp's source tree carries vocabulary-only GGUF files (no weights)
# for many tokenizer families, with test strings (.inp) and the ids the
# original tokenizers give for them (.out), and chat templates of real
# models.  They come inside the llama-cpp-python 0.3.36 source distribution
# (about 77 MB, checked by its sha256); this script downloads it with pip,
# extracts only the files the tokenizer and chat tests read, and removes the
# rest.  Nothing fetched here is committed.  Idempotent: DATA_DIR/vocabs/.done
# marks a finished fetch.
set -eu

DATA=${1:?usage: fetch_vocabs.sh DATA_DIR}
OUT="$DATA/vocabs"
PYTHON=${PYTHON:-/usr/bin/python3}
PKG=llama-cpp-python
VER=0.3.36
SHA256=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e
VOCABS="gpt-2 llama-bpe qwen2 llama-spm phi-3 starcoder mpt"
TEMPLATES="meta-llama-Llama-3.1-8B-Instruct meta-llama-Llama-3.2-3B-Instruct
meta-llama-Llama-3.3-70B-Instruct Qwen-Qwen2.5-7B-Instruct google-gemma-2-2b-it
microsoft-Phi-3.5-mini-instruct"

if [ -f "$OUT/.done" ]; then
    echo "vocabs: $OUT already present"
    exit 0
fi
mkdir -p "$OUT/templates"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/aios-vocabs.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

echo "$PKG==$VER --hash=sha256:$SHA256" > "$TMP/req.txt"
"$PYTHON" -m pip download --quiet --no-deps --no-binary "$PKG" --require-hashes \
    -r "$TMP/req.txt" -d "$TMP"
SDIST="$TMP/llama_cpp_python-$VER.tar.gz"
echo "$SHA256  $SDIST" | sha256sum -c --quiet

ROOT="llama_cpp_python-$VER/vendor/llama.cpp"
MEMBERS=""
for v in $VOCABS; do
    MEMBERS="$MEMBERS $ROOT/models/ggml-vocab-$v.gguf $ROOT/models/ggml-vocab-$v.gguf.inp"
    MEMBERS="$MEMBERS $ROOT/models/ggml-vocab-$v.gguf.out"
done
for t in $TEMPLATES; do
    MEMBERS="$MEMBERS $ROOT/models/templates/$t.jinja"
done
MEMBERS="$MEMBERS $ROOT/tests/test-chat-template.cpp"
# shellcheck disable=SC2086
tar -xzf "$SDIST" -C "$TMP" $MEMBERS

for v in $VOCABS; do
    for ext in gguf gguf.inp gguf.out; do
        mv "$TMP/$ROOT/models/ggml-vocab-$v.$ext" "$OUT/"
    done
done
for t in $TEMPLATES; do
    mv "$TMP/$ROOT/models/templates/$t.jinja" "$OUT/templates/"
done
# The original Llama 3 (3.0) template is only quoted in llama.cpp's chat
# template test; take it from there.
"$PYTHON" - "$TMP/$ROOT/tests/test-chat-template.cpp" "$OUT/templates/llama3-test.jinja" <<'EOF'
import ast, sys
src = open(sys.argv[1], encoding="utf-8").read()
key = "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>'"
for line in src.splitlines():
    if key in line and "template_str" in line:
        lit = line[line.index('"'):line.rindex('"') + 1]
        open(sys.argv[2], "w", encoding="utf-8").write(ast.literal_eval(lit))
        break
else:
    sys.exit("fetch_vocabs: no Llama 3 template in test-chat-template.cpp")
EOF
touch "$OUT/.done"
echo "vocabs: $OUT"

#!/bin/sh
# generate.sh - regenerate the tokenizer and chat-template fixtures in this
# folder from the reference implementations: llama.cpp's tokenizer through
# llama-cpp-python 0.3.36 (vocab_only models) and the models' Jinja chat
# templates rendered with jinja2 3.1.6 the way Hugging Face transformers
# renders them.
#
#   tests/reference/tokenizer/generate.sh
#
# Needs the default model and the test vocabularies (`make model`).  The
# peer is installed into tests/reference/_work/venv (git-ignored); building
# llama-cpp-python from source takes ~20 minutes on 2 cores.  To reuse an
# existing environment with the same pinned versions, set AIOS_REFENV to its
# folder (the script checks the versions either way).  The output is
# deterministic: rerunning it without changes leaves the fixtures identical.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
DATA=${AIOS_DATA:-${XDG_DATA_HOME:-$HOME/.local/share}/aios}
VENV=${AIOS_REFENV:-$ROOT/tests/reference/_work/venv}

if [ ! -x "$VENV/bin/python" ]; then
    /usr/bin/python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet "llama-cpp-python==0.3.36" "jinja2==3.1.6"
fi
"$VENV/bin/python" "$HERE/generate.py" --data "$DATA" --out "$HERE"

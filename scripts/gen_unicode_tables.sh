#!/bin/sh
# Regenerate llmcore/unicode_tables.c with the pinned Unicode version (see
# scripts/gen_unicode_tables.py).  The venv lives in the ignored build/.
set -eu
cd "$(dirname "$0")/.."
VENV=build/ucd-venv
if [ ! -x "$VENV/bin/python" ]; then
    /usr/bin/python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet unicodedata2==15.1.0
fi
"$VENV/bin/python" scripts/gen_unicode_tables.py > llmcore/unicode_tables.c.tmp
mv llmcore/unicode_tables.c.tmp llmcore/unicode_tables.c
echo "wrote llmcore/unicode_tables.c"

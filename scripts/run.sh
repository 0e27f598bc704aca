#!/bin/sh
# make run: start aiosd on the default socket with the default model (unless
# one is already running there), open the aiosctl shell attached to it, and
# stop the daemon on the way out if this script started it.
set -eu
BUILD=${1:-build}
MODEL=${2:-}
started=0
if ! "$BUILD/aiosctl" info >/dev/null 2>&1; then
    if [ -n "$MODEL" ] && [ -f "$MODEL" ]; then
        "$BUILD/aiosd" --model "$MODEL"
    else
        "$BUILD/aiosd" --model none
    fi
    started=1
fi
status=0
"$BUILD/aiosctl" || status=$?
if [ "$started" = 1 ]; then
    "$BUILD/aiosctl" shutdown >/dev/null 2>&1 || true
fi
exit $status

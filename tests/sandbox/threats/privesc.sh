#!/bin/sh
# Row 20: a setuid-root binary and a binary with file capabilities, run
# from the sandbox: no privilege may come back through execve.
for p in /threats/suidprobe-setuid /threats/suidprobe-fcaps; do
    name=$(basename "$p")
    if [ -e "$p" ]; then
        "$p" | sed "s/^/${name}_/"
    else
        echo "${name}=missing"
    fi
done
# a setuid binary of the system, if there is one
if [ -u /usr/bin/passwd ]; then echo system_suid=present; fi

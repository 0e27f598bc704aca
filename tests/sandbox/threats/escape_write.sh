#!/bin/sh
# Row 9: write outside the work folder: ../, absolute paths, a planted
# symlink, a hard link.  $1 is a host file outside the sandbox (a canary
# the harness checks afterwards); $2 a folder bound writable at /data.
canary=$1
cd /work || exit 1
try() { # name, command...
    name=$1; shift
    if ( "$@" ) 2>/dev/null; then echo "$name=OK"; else echo "$name=denied"; fi
}
try dotdot sh -c 'echo x > ../escaped'
try dotdot_data sh -c 'echo x > /data/../escaped2'
try absolute_etc sh -c 'echo x > /etc/passwd'
try absolute_usr sh -c 'echo x > /usr/escaped'
try absolute_canary sh -c "echo x > '$canary'"
ln -s "$canary" /work/link 2>/dev/null
try symlink_canary sh -c 'echo x > /work/link'
ln -s /etc/hostname /work/link2 2>/dev/null
try symlink_etc sh -c 'echo x > /work/link2'
ln -s "$canary" /data/link3 2>/dev/null
try symlink_in_bind sh -c 'echo x > /data/link3'
try hardlink_etc ln /etc/passwd /work/hard
try hardlink_canary ln "$canary" /work/hard2
try hardlink_bind ln /etc/hostname /data/hard3

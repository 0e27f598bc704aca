#!/bin/sh
# Row 5: sleep forever, with a child and a grandchild doing the same.
sleep 1000 &
( sleep 1000 & sleep 1000 ) &
echo started=yes
sleep 1000

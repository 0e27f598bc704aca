#!/usr/bin/python3
# Row 22: which descriptors did we inherit?
import os
fds = sorted(int(f) for f in os.listdir("/proc/self/fd"))
# listdir's own descriptor is closed again by now; report what is left
kinds = []
for fd in fds:
    try:
        kinds.append("%d:%s" % (fd, os.readlink("/proc/self/fd/%d" % fd)))
    except OSError:
        pass
print("fds=%s" % ",".join(str(f) for f in fds if os.path.exists("/proc/self/fd/%d" % f)))
print("targets=%s" % " ".join(kinds))

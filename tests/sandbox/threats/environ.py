#!/usr/bin/python3
# Row 24: print the whole environment.
import os
for k in sorted(os.environ):
    print("env_%s=%s" % (k, os.environ[k]))
print("count=%d" % len(os.environ))

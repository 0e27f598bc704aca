"""A short fixed-seed pass of the protocol fuzzer (tests/fuzz/rpc_fuzz.py)
against the build under test: every syscall with generated and broken
parameters, protocol garbage, cancels and dropped connections; the daemon
must keep answering and stop cleanly.  Longer runs, against the ASan
build: tests/fuzz/rpc_fuzz.py --seconds 600."""
import os
import sys

from conftest import BUILD, ROOT

sys.path.insert(0, os.path.join(ROOT, "tests", "fuzz"))
import rpc_fuzz  # noqa: E402


def test_fuzz_every_syscall_daemon_survives():
    calls, errors = rpc_fuzz.run(BUILD, "none", seconds=240, seed=20261127, rounds=60)
    assert calls > 150
    assert 0 < errors < calls     # both accepted and refused calls were made

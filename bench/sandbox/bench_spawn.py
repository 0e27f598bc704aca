"""bench_spawn.py - spawn-to-exit latency of a trivial tool through tool.call,
against bwrap measured in the same run on the same machine.

    /usr/bin/python3 bench/sandbox/bench_spawn.py [--n 200] [--build build]

Measured, interleaved round by round so that machine noise hits every mode
alike (the build machines have 2 cores shared by several people):

  warm      tool.call of a manifest running /usr/bin/true, aiosd with its
            default warm pool (sandbox.pool = 2); each call waits until a
            warm sandbox is ready, as calls spaced by an agent's thinking are
  cold      the same with sandbox.pool = 0: every call builds its sandbox
  cold-nocg cold, with the tool's cgroup limits set to 0 (no cgroup layer:
            moving a process into a v1 cgroup waits for an RCU grace period)
  b2b       warm pool, calls back to back (the pool refills behind them)
  sbx-run   build/sbx-run of the same policy: the spawning code without the
            daemon and JSON-RPC, cold
  bwrap     bwrap --unshare-all --die-with-parent --new-session with /usr
            read-only, /proc, /dev, a tmpfs /tmp, /usr/bin/true: one process
            start to exit, as bwrap is used

All times are wall clock as the client sees them (for tool.call: request
sent to reply read).  Prints p50/p99 per mode, the ratios, and a last line
  RESULT spawn_vs_bwrap=<warm p50 / bwrap p50> cold_vs_bwrap=<...> ...
"""

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "sdk", "python"))

import aios  # noqa: E402

TRUE_TOOL = {
    "name": "true",
    "description": "does nothing, successfully",
    "parameters": {"type": "object", "additionalProperties": False, "properties": {}},
    "run": {"argv": ["/usr/bin/true"]},
}
TRUE_NOCG = dict(TRUE_TOOL, name="true_nocg",
                 policy={"limits": {"mem_bytes": 0, "pids": 0, "cpu_pct": 0}})


class Daemon:
    def __init__(self, build, tmp, name, config):
        self.socket = os.path.join(tmp, name + ".sock")
        conf = os.path.join(tmp, name + ".conf")
        with open(conf, "w") as f:
            f.write(config)
        self.log = open(os.path.join(tmp, name + ".log"), "wb")
        self.proc = subprocess.Popen(
            [os.path.join(build, "aiosd"), "--foreground", "--socket", self.socket, "--data",
             os.path.join(tmp, name + "-data"), "--model", "none", "--config", conf,
             "--log-level", "warn"],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + 60
        while time.time() < deadline:
            if os.path.exists(self.socket):
                try:
                    self.k = aios.Client(self.socket)
                    self.k.call("sys.ping")
                    break
                except (OSError, ConnectionError, aios.AiosError):
                    pass
            time.sleep(0.05)
        else:
            raise RuntimeError("aiosd did not start")
        for m in (TRUE_TOOL, TRUE_NOCG):
            self.k.call("tool.register", {"manifest": m, "replace": True})

    def pool_ready(self):
        return self.k.call("sys.stats")["subsystems"]["tools"]["sandbox"]["pool_ready"]

    def call(self, name="true"):
        t0 = time.perf_counter()
        r = self.k.call("tool.call", {"name": name})
        dt = (time.perf_counter() - t0) * 1e3
        if r.get("exit_code") != 0:
            raise RuntimeError("tool failed: %s" % r)
        return dt, r

    def stop(self):
        self.k.close()
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)


def bwrap_cmd():
    cmd = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session",
           "--ro-bind", "/usr", "/usr"]
    for d in ("bin", "lib", "lib64", "sbin"):
        p = "/" + d
        if os.path.islink(p):
            cmd += ["--symlink", os.readlink(p), p]
        elif os.path.isdir(p):
            cmd += ["--ro-bind", p, p]
    return cmd + ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "/usr/bin/true"]


def timed_run(cmd):
    t0 = time.perf_counter()
    rc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
    dt = (time.perf_counter() - t0) * 1e3
    if rc != 0:
        raise RuntimeError("%s failed: %d" % (cmd[0], rc))
    return dt


def pct(v, p):
    s = sorted(v)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--build", default=os.environ.get("AIOS_BUILD", os.path.join(ROOT, "build")))
    args = ap.parse_args()
    if not shutil.which("bwrap"):
        sys.exit("bwrap is not installed")
    tmp = tempfile.mkdtemp(prefix="aios-bench-")
    uid_base = 0x68000 + (os.getpid() % 256) * 64
    base = "sandbox.uid_base = %d\nsandbox.uid_count = 64\n" % uid_base
    warm = Daemon(args.build, tmp, "warm", base + "sandbox.pool = 2\n")
    cold = Daemon(args.build, tmp, "cold", base.replace(str(uid_base), str(uid_base + 32000)) +
                  "sandbox.pool = 0\n")
    policy = os.path.join(tmp, "true.json")
    with open(policy, "w") as f:
        json.dump({"argv": ["/usr/bin/true"]}, f)
    sbx = [os.path.join(args.build, "sbx-run"), "--quiet", "--uid-base",
           str(uid_base + 16000), policy]
    bw = bwrap_cmd()
    t = {"warm": [], "cold": [], "cold-nocg": [], "b2b": [], "sbx-run": [], "bwrap": []}
    layers = None
    misses = 0
    try:
        # warm-up: page cache, first cgroup, pool filled
        for _ in range(3):
            cold.call()
            timed_run(bw)
            timed_run(sbx)
        for i in range(args.n):
            # warm, paced: wait for a ready sandbox (as an agent's calls are spaced)
            deadline = time.time() + 5
            while warm.pool_ready() == 0 and time.time() < deadline:
                time.sleep(0.005)
            dt, r = warm.call()
            misses += not r.get("warm")
            t["warm"].append(dt)
            layers = r["layers"]
            t["cold"].append(cold.call()[0])
            t["cold-nocg"].append(cold.call("true_nocg")[0])
            t["bwrap"].append(timed_run(bw))
            t["sbx-run"].append(timed_run(sbx))
        # back to back: as fast as the client can go
        deadline = time.time() + 5
        while warm.pool_ready() < 2 and time.time() < deadline:
            time.sleep(0.01)
        for i in range(max(20, args.n // 4)):
            t["b2b"].append(warm.call()[0])
    finally:
        warm.stop()
        cold.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    applied = sum(1 for v in (layers or {}).values() if v == "applied")
    print("spawn-to-exit of /usr/bin/true, n=%d per mode (ms), %s, load average %s" % (
        args.n, time.strftime("%Y-%m-%d %H:%M"), " ".join(open("/proc/loadavg").read().split()[:3])))
    print("%-8s %8s %8s %8s %8s %8s" % ("mode", "min", "p50", "p90", "p99", "mean"))
    for k, v in t.items():
        print("%-8s %8.2f %8.2f %8.2f %8.2f %8.2f" % (k, min(v), pct(v, 50), pct(v, 90),
                                                       pct(v, 99), statistics.mean(v)))
    b50, b99 = pct(t["bwrap"], 50), pct(t["bwrap"], 99)
    print("layers applied by aios: %d of %d (%s)" % (applied, len(layers or {}), ", ".join(
        "%s=%s" % kv for kv in (layers or {}).items() if kv[1] != "applied") or "all"))
    print("warm calls that found no ready sandbox: %d" % misses)
    print("RESULT spawn_vs_bwrap=%.3f cold_vs_bwrap=%.3f b2b_vs_bwrap=%.3f "
          "p99_warm_vs_bwrap=%.3f min_warm_vs_bwrap=%.3f sbxrun_vs_bwrap=%.3f "
          "cold_nocg_vs_bwrap=%.3f warm_p50_ms=%.2f cold_p50_ms=%.2f bwrap_p50_ms=%.2f" % (
              pct(t["warm"], 50) / b50, pct(t["cold"], 50) / b50, pct(t["b2b"], 50) / b50,
              pct(t["warm"], 99) / b99, min(t["warm"]) / min(t["bwrap"]),
              pct(t["sbx-run"], 50) / b50, pct(t["cold-nocg"], 50) / b50, pct(t["warm"], 50),
              pct(t["cold"], 50), b50))


if __name__ == "__main__":
    main()

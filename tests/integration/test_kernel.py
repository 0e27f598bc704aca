"""The kernel over its real socket: protocol, errors, concurrency, cancel,
disconnects, lock, signals, processes and agents."""

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import aios
from conftest import AIOSD, ROOT, Daemon


def raw(daemon):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(daemon.socket)
    s.settimeout(20)
    return s


def read_lines(s, n):
    """Read n JSON lines from a raw socket."""
    buf, out = b"", []
    while len(out) < n:
        chunk = s.recv(1 << 16)
        if not chunk:
            break
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            out.append(json.loads(line))
    return out


# ---- basics -----------------------------------------------------------------

def test_hello_info_methods_stats(aiosd):
    with aiosd.client() as k:
        assert k.info["protocol"] == 1
        assert k.info["identity"]["uid"] == os.getuid()
        assert k.info["identity"]["pid"] == os.getpid()
        assert "sys" in k.info["capabilities"]
        assert k.call("sys.ping") == {}
        assert k.call("sys.ping", {"echo": {"a": [1, "é"]}}) == {"echo": {"a": [1, "é"]}}
        info = k.call("sys.info")
        assert info["pid"] == aiosd.proc.pid and info["socket"] == aiosd.socket
        methods = {m["name"]: m for m in k.call("sys.methods")["methods"]}
        for name in ("sys.ping", "sys.hello", "sys.stats", "proc.spawn", "proc.wait", "proc.logs"):
            assert name in methods and methods[name]["help"]
        assert methods["proc.spawn"]["params"]["required"] == ["argv"]
        stats = k.call("sys.stats")
        assert stats["calls"]["sys.ping"]["calls"] >= 2
        assert stats["calls"]["sys.ping"]["p99_us"] >= stats["calls"]["sys.ping"]["p50_us"] > 0
        assert stats["connections"]["current"] >= 1
        assert stats["memory"]["rss_bytes"] > 0


def test_protocol_errors(aiosd):
    s = raw(aiosd)
    s.sendall(b'{"jsonrpc":"2.0","id":1,"method":"sys.ping"\n')           # truncated
    s.sendall(b'[{"jsonrpc":"2.0","id":2,"method":"sys.ping"}]\n')        # batch
    s.sendall(b'{"jsonrpc":"1.0","id":3,"method":"sys.ping"}\n')          # version
    s.sendall(b'{"jsonrpc":"2.0","id":4,"method":"no.such"}\n')           # unknown
    s.sendall(b'{"jsonrpc":"2.0","id":5,"method":"proc.info","params":{"id":"x"}}\n')
    s.sendall(b'{"jsonrpc":"2.0","id":6,"method":"proc.info","params":[1]}\n')
    s.sendall(b'{"jsonrpc":"2.0","id":7,"method":"proc.spawn","params":{"argv":[]}}\n')
    s.sendall(b'{"jsonrpc":"2.0","id":8,"method":"sys.ping","params":{"bogus":1}}\n')
    s.sendall(b'{"jsonrpc":"2.0","id":9,"method":"sys.ping","params":{"echo":"\xff\xfe"}}\n')  # bad UTF-8
    s.sendall(b'{"jsonrpc":"2.0","id":{"x":1},"method":"sys.ping"}\n')   # bad id type
    s.sendall(b'\r\n   \n')                                                 # blank lines ignored
    s.sendall(b'{"jsonrpc":"2.0","method":"sys.ping"}\n')                # notification: no reply
    s.sendall(b'{"jsonrpc":"2.0","id":"last","method":"sys.ping"}\n')
    replies = read_lines(s, 11)
    codes = [(r.get("id"), r["error"]["code"]) if "error" in r else (r["id"], "ok") for r in replies]
    assert codes == [(None, -32700), (None, -32600), (3, -32600), (4, -32601), (5, -32602),
                     (6, -32602), (7, -32602), (8, -32602), (None, -32700), (None, -32600),
                     ("last", "ok")]
    by_id = {r.get("id"): r for r in replies}
    assert by_id[5]["error"]["data"]["field"] == "id"
    assert by_id[5]["error"]["data"]["name"] == "EINVAL"
    assert by_id[7]["error"]["data"]["field"] == "argv"
    assert by_id[8]["error"]["data"]["field"] == "bogus"
    assert "batch" in replies[1]["error"]["message"]
    s.close()


def test_frame_pieces_and_many_per_read(aiosd):
    s = raw(aiosd)
    msg = b'{"jsonrpc":"2.0","id":%d,"method":"sys.ping","params":{"echo":"%s"}}\n'
    data = b"".join(msg % (i, ("x" * i).encode()) for i in range(50))
    # byte by byte for the first 3 messages, then the rest in one write
    cut = len(b"".join(msg % (i, ("x" * i).encode()) for i in range(3)))
    for b in data[:cut]:
        s.sendall(bytes([b]))
    s.sendall(data[cut:])
    replies = read_lines(s, 50)
    assert [r["id"] for r in replies] == list(range(50))
    assert all(r["result"]["echo"] == "x" * r["id"] for r in replies)


def test_oversized_line_closes_only_that_connection(aiosd_factory):
    d = aiosd_factory(extra=["--set", "max_line=4096"])
    bystander = d.client()
    s = raw(d)
    s.sendall(b'{"jsonrpc":"2.0","id":1,"method":"sys.ping","params":{"echo":"' + b"a" * 10000 + b'"}}\n')
    replies = read_lines(s, 1)
    assert replies[0]["error"]["code"] == -32600
    assert "4096" in replies[0]["error"]["message"]
    assert s.recv(100) == b""          # closed by the daemon
    assert bystander.call("sys.ping", {"echo": 1}) == {"echo": 1}
    ok = raw(d)                         # a line just under the cap still works
    ok.sendall(b'{"jsonrpc":"2.0","id":2,"method":"sys.ping","params":{"echo":"' + b"b" * 3900 + b'"}}\n')
    assert read_lines(ok, 1)[0]["result"]["echo"] == "b" * 3900
    bystander.close()


def test_duplicate_id_in_flight(aiosd):
    with aiosd.client() as k:
        p = k.call("proc.spawn", {"argv": ["sleep", "5"]})
        s = raw(aiosd)
        req = b'{"jsonrpc":"2.0","id":"w","method":"proc.wait","params":{"id":%d}}\n' % p["id"]
        s.sendall(req + req)
        r = read_lines(s, 1)[0]
        assert r["id"] == "w" and r["error"]["code"] == -32600
        k.call("proc.kill", {"id": p["id"], "signal": "KILL"})
        assert read_lines(s, 1)[0]["result"]["exit"]["signal"] == 9


# ---- concurrency -----------------------------------------------------------------

def test_200_clients_pipelining_500_calls(aiosd):
    n_clients, n_calls = 200, 500
    errors = []

    def client(ci):
        try:
            s = raw(aiosd)
            ids = ["c%d-%d" % (ci, i) for i in range(n_calls)]
            payload = b"".join(
                b'{"jsonrpc":"2.0","id":"%s","method":"sys.ping","params":{"echo":%d}}\n'
                % (i.encode(), n) for n, i in enumerate(ids))
            s.sendall(payload)
            replies = read_lines(s, n_calls)
            got = {r["id"]: r["result"]["echo"] for r in replies}
            if len(replies) != n_calls or any(got.get(i) != n for n, i in enumerate(ids)):
                errors.append("client %d: %d replies, mismatched ids" % (ci, len(replies)))
            s.close()
        except Exception as e:  # noqa: BLE001
            errors.append("client %d: %r" % (ci, e))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(n_clients)]
    t0 = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors[:5]
    with aiosd.client() as k:
        stats = k.call("sys.stats")
    assert stats["calls"]["sys.ping"]["calls"] >= n_clients * n_calls
    print("100k pings through 200 connections in %.2fs" % (time.time() - t0))


def test_cancel_in_flight(aiosd):
    with aiosd.client() as k:
        p = k.call("proc.spawn", {"argv": ["sleep", "30"]})
        w = k.call_async("proc.wait", {"id": p["id"]})
        time.sleep(0.1)
        assert not w.done()
        w.cancel()
        with pytest.raises(aios.AiosError) as e:
            w.result(5)
        assert e.value.code == -32004 and e.value.name == "ECANCELED"
        # the connection and the process are unharmed
        assert k.call("sys.ping") == {}
        assert k.call("proc.info", {"id": p["id"]})["state"] == "running"
        # cancel as a request reports whether something was cancelled
        assert k.call("$/cancel", {"id": 999}) == {"cancelled": False}
        k.call("proc.kill", {"id": p["id"]})
        assert k.call("proc.wait", {"id": p["id"]})["exit"]["signal"] == signal.SIGTERM


def test_client_killed_mid_stream(aiosd):
    with aiosd.client() as k:
        p = k.call("proc.spawn", {"argv": ["sh", "-c", "while :; do echo tick; sleep 0.01; done"]})
        victim = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
            import sys; sys.path.insert(0, %r)
            import aios
            k = aios.Client(%r)
            for chunk in k.stream("proc.logs", {"id": %d, "follow": True}):
                print(chunk["data"], end="", flush=True)
            """ % (os.path.join(ROOT, "sdk", "python"), aiosd.socket, p["id"]))],
            stdout=subprocess.PIPE)
        assert b"tick" in victim.stdout.read(20)
        victim.kill()
        victim.wait()
        # a second follower on our connection keeps streaming
        follow = k.stream("proc.logs", {"id": p["id"], "follow": True, "tail": 5})
        it = iter(follow)
        assert "tick" in next(it)["data"]
        for _ in range(5):
            next(it)
        follow.cancel()
        with pytest.raises(aios.AiosError):
            follow.result(5)
        assert k.call("sys.ping") == {}
        k.call("proc.kill", {"id": p["id"], "signal": "KILL"})
        k.call("proc.wait", {"id": p["id"]})
        assert k.call("sys.stats")["inflight"] == 1   # just this sys.stats


def test_slow_reader_backpressure(aiosd_factory):
    d = aiosd_factory(extra=["--set", "read_high_water=262144"])
    hog = raw(d)
    hog.setblocking(False)
    line = b'{"jsonrpc":"2.0","id":1,"method":"sys.ping","params":{"echo":"%s"}}\n' % (b"z" * 400)
    chunk = line * 2000
    sent = 0                            # bytes of the endless stream line, line, ...
    t_end = time.time() + 3
    stalled = 0
    while time.time() < t_end and stalled < 10:   # push until the daemon stops reading
        try:
            sent += hog.send(chunk[sent % len(chunk):])
            stalled = 0
        except BlockingIOError:
            stalled += 1
            time.sleep(0.05)
    assert sent < 200 * 1024 * 1024     # the daemon stopped taking requests
    rss = d.rss()
    with d.client() as k:               # others are served meanwhile
        t0 = time.time()
        for _ in range(100):
            k.call("sys.ping")
        assert time.time() - t0 < 5
    assert rss < 200 * 1024 * 1024
    hog.setblocking(True)
    hog.settimeout(10)
    want = sent // len(line)            # every whole request gets its reply
    lines = 0                           # once the hog reads, the daemon reads again
    while lines < want:
        b = hog.recv(1 << 20)
        assert b
        lines += b.count(b"\n")
    assert lines == want
    hog.close()


# ---- the daemon's life ------------------------------------------------------------

def test_second_instance_refused_and_sigterm_cleans_up(aiosd_factory, tmp_path):
    d = aiosd_factory()
    second = subprocess.run([AIOSD, "--foreground", "--socket", d.socket, "--data", str(tmp_path / "d2"),
                             "--model", "none"], capture_output=True, text=True, timeout=20)
    assert second.returncode != 0
    assert "already serving" in second.stderr and str(d.proc.pid) in second.stderr
    with d.client() as k:               # the first one is untouched
        assert k.call("sys.ping") == {}
    assert d.stop() == 0
    assert not os.path.exists(d.socket)
    assert not os.path.exists(d.socket + ".lock")


def test_stale_socket_recovered_after_kill9(aiosd_factory):
    d = aiosd_factory(name="stale")
    d.kill9()
    assert os.path.exists(d.socket)     # left behind by the crash
    d2 = aiosd_factory(name="stale")
    with d2.client() as k:
        assert k.call("sys.ping") == {}
    assert "stale socket" in d2.log()


def test_detached_start_reports_ready(tmp_path):
    sock = str(tmp_path / "bg.sock")
    r = subprocess.run([AIOSD, "--socket", sock, "--data", str(tmp_path / "data"), "--model", "none"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert "listening on " + sock in r.stdout
    pid = int(r.stdout.split("(pid ")[1].split(")")[0])
    with aios.Client(sock) as k:
        assert k.call("sys.info")["pid"] == pid
        k.call("sys.shutdown")
    for _ in range(200):
        if not os.path.exists("/proc/%d" % pid):
            break
        time.sleep(0.05)
    assert not os.path.exists("/proc/%d" % pid)
    assert not os.path.exists(sock)
    assert "stopped" in open(tmp_path / "data" / "aiosd.log").read()


def test_graceful_shutdown_cancels_after_grace(aiosd_factory):
    d = aiosd_factory(extra=["--set", "shutdown_grace_ms=300"])
    k = d.client()
    p = k.call("proc.spawn", {"argv": ["sh", "-c", "trap '' TERM; echo ready; sleep 60"]})
    # the SIGTERM must find the trap in place: wait until the shell says so
    deadline = time.time() + 10
    while "ready" not in k.call("proc.logs", {"id": p["id"]}).get("stdout", ""):
        assert time.time() < deadline
        time.sleep(0.02)
    w = k.call_async("proc.wait", {"id": p["id"]})
    t0 = time.time()
    assert d.stop() == 0
    assert time.time() - t0 < 10
    with pytest.raises(aios.AiosError):
        w.result(5)
    assert not os.path.exists(d.socket)


def test_config_file_and_reload(aiosd_factory):
    d = aiosd_factory(config="# test config\nlog_level = warn\nproc.log_bytes = 8192\nworker_limit = \"2\"\n")
    with d.client() as k:
        r = k.call("sys.reload")
        assert r["config"]["log_level"] == "debug"       # the flag beats the file
        assert r["config"]["proc.log_bytes"] == "8192"
        with open(d.config, "a") as f:
            f.write("confirm.test = true\n")
        os.kill(d.proc.pid, signal.SIGHUP)
        time.sleep(0.3)
        assert k.call("sys.reload")["config"]["confirm.test"] == "true"
    bad = Daemon(d.dir, config="this is not a key value line\n", name="badconf")
    with pytest.raises(RuntimeError) as e:
        bad.start(timeout=10)
    assert "expected 'key = value'" in str(e.value)


# ---- processes and agents ------------------------------------------------------------

def test_spawn_logs_kill_wait(aiosd):
    with aiosd.client() as k:
        p = k.call("proc.spawn", {"argv": ["sh", "-c", "echo out; echo err >&2; printf 'caf\\303\\251 \\377'; exit 7"],
                                  "name": "shelly"})
        r = k.call("proc.wait", {"id": p["id"]})
        assert r["exit"]["state"] == "exited" and r["exit"]["status"] == 7
        logs = k.call("proc.logs", {"id": p["id"]})
        assert logs["stdout"] == "out\ncafé \ufffd"
        assert logs["stderr"] == "err\n"
        assert k.call("proc.logs", {"id": p["id"], "stream": "stderr", "tail": 2})["stderr"] == "r\n"
        lst = k.call("proc.list")["processes"]
        assert any(x["id"] == p["id"] and x["name"] == "shelly" for x in lst)
        # kill a running one, whole group
        p2 = k.call("proc.spawn", {"argv": ["sh", "-c", "sleep 60 & sleep 60; wait"]})
        time.sleep(0.2)
        k.call("proc.kill", {"id": p2["id"], "signal": "KILL"})
        r = k.call("proc.wait", {"id": p2["id"]}, timeout=10)
        assert r["exit"]["state"] == "killed" and r["exit"]["signal"] == 9
        # the whole group is dead (zombies wait for the system's init to reap them)
        out = subprocess.run(["ps", "-o", "stat=", "-g", str(p2["pid"])], capture_output=True, text=True)
        assert all(st.startswith("Z") for st in out.stdout.split()), out.stdout
        with pytest.raises(aios.AiosError) as e:
            k.call("proc.spawn", {"argv": ["/no/such/program"]})
        assert e.value.name == "ENOENT"
        with pytest.raises(aios.AiosError) as e:
            k.call("proc.wait", {"id": 99999})
        assert e.value.name == "ENOENT"
        p3 = k.call("proc.spawn", {"argv": ["sleep", "5"]})
        with pytest.raises(aios.AiosError) as e:
            k.call("proc.wait", {"id": p3["id"], "timeout_ms": 50})
        assert e.value.name == "ETIMEDOUT"
        k.call("proc.setprio", {"id": p3["id"], "priority": 5})
        assert k.call("proc.info", {"id": p3["id"]})["priority"] == 5
        k.call("proc.kill", {"id": p3["id"]})


def test_log_bound(aiosd_factory):
    d = aiosd_factory(extra=["--set", "proc.log_bytes=65536"])
    with d.client() as k:
        p = k.call("proc.spawn", {"argv": ["sh", "-c", "head -c 5000000 /dev/zero | tr '\\0' x"]})
        k.call("proc.wait", {"id": p["id"]}, timeout=30)
        logs = k.call("proc.logs", {"id": p["id"]})
        assert len(logs["stdout"]) == 65536
        assert logs["bytes"]["stdout"] == 5000000
        assert logs["stdout_dropped"] == 5000000 - 65536


AGENT = """
import os, sys, json
sys.path.insert(0, %r)
import aios
k = aios.Client()
me = k.info["identity"]
print(json.dumps({"me": me, "caps": k.info["capabilities"]}), flush=True)
k.call("sys.ping"); k.call("sys.ping")
try:
    k.call("proc.list")
    print("proc ok", flush=True)
except aios.AiosError as e:
    print("proc denied", e.name, flush=True)
"""


def test_agent_binds_and_is_accounted(aiosd):
    with aiosd.client() as k:
        code = AGENT % os.path.join(ROOT, "sdk", "python")
        p = k.call("proc.spawn", {"argv": [sys.executable, "-c", code], "name": "worker-1"})
        assert k.call("proc.wait", {"id": p["id"]}, timeout=30)["exit"]["status"] == 0
        out = k.call("proc.logs", {"id": p["id"]})["stdout"].splitlines()
        first = json.loads(out[0])
        assert first["me"]["proc_id"] == p["id"] and first["me"]["agent"] == "worker-1"
        assert first["me"]["principal"] == "agent:worker-1"
        assert out[1] == "proc ok"
        info = k.call("proc.info", {"id": p["id"]})
        assert info["syscalls"]["sys"] >= 2 and info["syscalls"]["proc"] == 1
        # a process limited to the sys family cannot list processes
        p2 = k.call("proc.spawn", {"argv": [sys.executable, "-c", code], "caps": ["sys"]})
        k.call("proc.wait", {"id": p2["id"]}, timeout=30)
        out = k.call("proc.logs", {"id": p2["id"]})["stdout"].splitlines()
        assert json.loads(out[0])["caps"] == ["sys"]
        assert out[1] == "proc denied EPERM"
        with pytest.raises(aios.AiosError) as e:
            k.call("proc.spawn", {"argv": ["true"], "caps": ["nosuch"]})
        assert e.value.field == "caps"


def test_agent_token_required(aiosd):
    with aiosd.client() as k:
        p = k.call("proc.spawn", {"argv": ["sleep", "10"]})
        with pytest.raises(aios.AiosError) as e:
            aiosd.client(agent=p["id"], token="0" * 32)
        assert e.value.name == "EPERM"
        # attaching under a name creates a process that ends with the connection
        a = aiosd.client(agent="planner")
        me = a.info["identity"]
        assert me["agent"] == "planner" and me["proc_id"] > 0
        assert k.call("proc.info", {"id": me["proc_id"]})["attached"] is True
        a.close()
        time.sleep(0.2)
        assert k.call("proc.info", {"id": me["proc_id"]})["state"] == "detached"
        with pytest.raises(aios.AiosError) as e:
            aiosd.client(agent="bad name!")
        assert e.value.name == "EINVAL"
        k.call("proc.kill", {"id": p["id"]})


def test_sigterm_stops_children(aiosd_factory):
    d = aiosd_factory()
    with d.client() as k:
        p = k.call("proc.spawn", {"argv": ["sleep", "60"]})
    assert d.stop() == 0
    time.sleep(0.1)
    assert not os.path.exists("/proc/%d" % p["pid"]) or \
        open("/proc/%d/stat" % p["pid"]).read().split()[2] == "Z"

"""tool.* through a real aiosd: listing and manifests, the shipped tools in
real sandboxes, argument-schema rejection, timeouts that kill the whole
tree, output caps with the daemon's memory bounded, streaming, cancellation,
the network grant, required layers, tool.register, aiosctl, and a daemon
running as an unprivileged user."""

import http.server
import json
import os
import subprocess
import threading
import time

import pytest

import aios
from conftest import AIOSD, BUILD

# A range of host uids of our own for the tools' sandboxes, so that counting
# "processes left of the tool's uid" is exact even with other daemons about.
UID_BASE = 0x58000 + (os.getpid() % 512) * 64
BASE_CONFIG = "sandbox.uid_base = %d\nsandbox.uid_count = 64\n" % UID_BASE
UNPRIV = 61998


def procs_of_uids(lo, hi):
    n = 0
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/status" % p) as f:
                for line in f:
                    if line.startswith("Uid:"):
                        n += lo <= int(line.split()[1]) < hi
                        break
        except OSError:
            pass
    return n


def calls_made(k):
    sb = k.call("sys.stats")["subsystems"]["tools"]["sandbox"]
    return sb["cold"] + sb["warm_hits"]


@pytest.fixture
def tools_daemon(aiosd_factory):
    return aiosd_factory(config=BASE_CONFIG)


def test_list_and_describe(tools_daemon):
    with tools_daemon.client() as k:
        tools = {t["name"]: t for t in k.call("tool.list")["tools"]}
        for name in ("shell", "python", "calculator", "http_get", "fs_read", "fs_write",
                     "fs_search"):
            assert name in tools, name
        assert tools["calculator"]["kind"] == "builtin"
        assert tools["shell"]["kind"] == "sandbox"
        assert tools["http_get"]["network"] and not tools["http_get"]["network_granted"]
        d = k.call("tool.describe", {"name": "shell"})
        assert d["parameters"]["required"] == ["command"]
        assert d["llm"]["function"]["name"] == "shell"
        llm = k.call("tool.list", {"format": "llm"})["tools"]
        assert all(t["type"] == "function" for t in llm)
        with pytest.raises(aios.AiosError) as e:
            k.call("tool.describe", {"name": "nope"})
        assert e.value.name == "ENOENT" and e.value.field == "name"


@pytest.mark.parametrize("pool", [0, 2])
def test_shell_runs_in_the_sandbox(aiosd_factory, pool):
    d = aiosd_factory(config=BASE_CONFIG + "sandbox.pool = %d\n" % pool)
    with d.client() as k:
        r = k.call("tool.call", {"name": "shell", "args": {
            "command": "echo out; echo err >&2; id -u; cat /etc/hostname; ls /home 2>&1; exit 7"}})
        assert r["tool"] == "shell"
        assert r["exit_code"] == 7
        assert r["stdout"].startswith("out\n1000\nsandbox\n")
        assert "No such file" in r["stdout"]
        assert r["stderr"] == "err\n"
        for layer in ("userns", "pidns", "mntns", "netns", "ipcns", "utsns", "root", "proc",
                      "dev", "session", "fds", "env", "rlimits", "caps", "no_new_privs",
                      "landlock", "seccomp"):
            assert r["layers"][layer] == "applied", (layer, r["layers"])
        assert r["sandbox"]["uid"] == 1000
        if os.geteuid() == 0:
            assert UID_BASE <= r["sandbox"]["host_uid"] < UID_BASE + 64
        if pool:
            # the pool refills once the call has ended, then the next calls are warm;
            # two at once take both warm sandboxes (the second empties the pool, which
            # is then refilled at once)
            def ready():
                return k.call("sys.stats")["subsystems"]["tools"]["sandbox"]["pool_ready"]

            for _ in range(2):
                deadline = time.time() + 20
                while ready() < pool:
                    assert time.time() < deadline, "the pool did not refill after the call"
                    time.sleep(0.02)
                calls = [k.call_async("tool.call", {"name": "shell", "args": {"command": "echo again"}})
                         for _ in range(2)]
                for c in calls:
                    r = c.result(30)
                    assert r["warm"] and r["stdout"] == "again\n"


def test_python_and_stdin(tools_daemon):
    with tools_daemon.client() as k:
        r = k.call("tool.call", {"name": "python", "args": {
            "code": "import sys, os\nprint(sys.stdin.read().upper(), sorted(os.environ))",
            "stdin": "from stdin"}})
        assert r["exit_code"] == 0, r
        assert r["stdout"].startswith("FROM STDIN ['HOME', 'LANG', 'PATH', 'TMPDIR']")
        # stdin given to the call itself overrides the manifest's template
        r = k.call("tool.call", {"name": "shell", "args": {"command": "wc -c"},
                                 "stdin": "12345"})
        assert r["stdout"].strip() == "5"


def test_calculator(tools_daemon):
    with tools_daemon.client() as k:
        r = k.call("tool.call", {"name": "calculator", "args": {"expression": "0.1 + 0.2"}})
        assert r["result"]["value"] == "3/10" and r["result"]["decimal"] == "0.3"
        r = k.call("tool.call", {"name": "calculator",
                                 "args": {"expression": "2^64 / 3", "scale": 3}})
        assert r["result"]["value"] == "18446744073709551616/3"
        assert r["result"]["decimal"] == "6148914691236517205.333"
        with pytest.raises(aios.AiosError) as e:
            k.call("tool.call", {"name": "calculator", "args": {"expression": "1/0"}})
        assert e.value.name == "EINVAL" and "division by zero" in e.value.message
        with pytest.raises(aios.AiosError) as e:
            k.call("tool.call", {"name": "calculator", "args": {"expression": "9^999999"}})
        assert e.value.name == "ELIMIT"


def test_arguments_are_checked_before_anything_runs(tools_daemon):
    with tools_daemon.client() as k:
        before = calls_made(k)
        for args, field in (({}, "args.command"), ({"command": 5}, "args.command"),
                            ({"command": "ls", "bogus": 1}, "args.bogus"),
                            ({"command": ""}, "args.command")):
            with pytest.raises(aios.AiosError) as e:
                k.call("tool.call", {"name": "shell", "args": args})
            assert e.value.name == "EINVAL", args
            assert e.value.field == field, (args, e.value.field, e.value.message)
        with pytest.raises(aios.AiosError) as e:
            k.call("tool.call", {"name": "nope", "args": {}})
        assert e.value.name == "ENOENT"
        assert calls_made(k) == before, "a rejected call must not start a sandbox"


def test_timeout_kills_the_whole_tree(tools_daemon):
    with tools_daemon.client() as k:
        t0 = time.monotonic()
        r = k.call("tool.call", {"name": "shell", "timeout_ms": 800, "args": {
            "command": "sleep 100 & (setsid sh -c 'sleep 100 & sleep 100' &); sleep 100"}})
        took = time.monotonic() - t0
        assert r["timed_out"] and r["signal"] == 9, r
        assert took < 4.0, took
        if os.geteuid() == 0:
            uid = r["sandbox"]["host_uid"]
            assert procs_of_uids(uid, uid + 1) == 0
        # the daemon is fine and the next call works
        assert k.call("tool.call", {"name": "shell", "args": {"command": "echo ok"}})[
            "stdout"] == "ok\n"


def test_output_cap_holds_and_daemon_memory_stays_bounded(aiosd_factory):
    d = aiosd_factory(config=BASE_CONFIG + "tools.stdout_cap = 65536\ntools.stderr_cap = 4096\n")
    with d.client() as k:
        rss0 = d.rss()
        r = k.call("tool.call", {"name": "shell", "args": {
            "command": "tr '\\0' a < /dev/zero | head -c 3000000000 & "
                       "tr '\\0' b < /dev/zero | head -c 3000000000 >&2; wait"}})
        assert r["stdout_truncated"] and r["stderr_truncated"]
        assert len(r["stdout"]) == 65536 and set(r["stdout"]) == {"a"}
        assert len(r["stderr"]) == 4096
        assert not r["timed_out"], "closing the pipe at the cap ends the writers"
        assert d.rss() - rss0 < 32 * 1024 * 1024, (rss0, d.rss())


def test_streaming(tools_daemon):
    with tools_daemon.client() as k:
        chunks = []
        call = k.call_async("tool.call", {"name": "shell", "stream": True, "args": {
            "command": "for i in 1 2 3; do echo $i; sleep 0.2; done; echo e >&2"}},
            on_stream=chunks.append)
        r = call.result(30)
        out = "".join(c["data"] for c in chunks if c["stream"] == "stdout")
        err = "".join(c["data"] for c in chunks if c["stream"] == "stderr")
        assert out == "1\n2\n3\n" and err == "e\n"
        assert len([c for c in chunks if c["stream"] == "stdout"]) >= 2, "it arrived in pieces"
        assert r["stdout"] == out


def test_cancel_kills(aiosd_factory):
    # no warm pool: then no process of the tools' uid range may exist at all
    d = aiosd_factory(config=BASE_CONFIG + "sandbox.pool = 0\n")
    with d.client() as k:
        call = k.call_async("tool.call", {"name": "shell", "args": {
            "command": "(setsid sleep 100 &); sleep 100"}})
        time.sleep(0.5)
        call.cancel()
        with pytest.raises(aios.AiosError) as e:
            call.result(10)
        assert e.value.name == "ECANCELED"
        deadline = time.time() + 5
        while time.time() < deadline:
            st = k.call("sys.stats")["subsystems"]["tools"]["sandbox"]
            if st["cancelled"] >= 1:
                break
            time.sleep(0.05)
        assert st["cancelled"] >= 1, st
        if os.geteuid() == 0:
            assert procs_of_uids(UID_BASE, UID_BASE + 64) == 0


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"hello from the host"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


def test_network_only_where_granted(aiosd_factory):
    srv = http.server.HTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    url = "http://127.0.0.1:%d/" % srv.server_address[1]
    try:
        d = aiosd_factory(config=BASE_CONFIG, name="closed")
        with d.client() as k:
            with pytest.raises(aios.AiosError) as e:
                k.call("tool.call", {"name": "http_get", "args": {"url": url}})
            assert e.value.name == "EPERM" and "tools.network" in e.value.message
            # and the shell has no network at all
            r = k.call("tool.call", {"name": "python", "args": {"code": (
                "import urllib.request\ntry:\n    urllib.request.urlopen(%r, timeout=2)\n"
                "    print('reached')\nexcept Exception as e:\n    print('blocked', e)") % url}})
            assert r["stdout"].startswith("blocked"), r
        d = aiosd_factory(config=BASE_CONFIG + "tools.network = http_get\n", name="open")
        with d.client() as k:
            r = k.call("tool.call", {"name": "http_get", "args": {"url": url}})
            assert r["exit_code"] == 0, r
            assert r["stdout"] == "hello from the host"
            assert "HTTP 200" in r["stderr"]
            assert r["layers"]["netns"] == "off"
    finally:
        srv.shutdown()


def test_required_layer_that_is_missing_fails_the_call(aiosd_factory):
    d = aiosd_factory(config=BASE_CONFIG + "sandbox.require = seccomp,caps,cgroup\n"
                      "sandbox.cgroup_parent = /aios-no-such-cgroup\nsandbox.pool = 0\n")
    with d.client() as k:
        with pytest.raises(aios.AiosError) as e:
            k.call("tool.call", {"name": "shell", "args": {"command": "echo never"}})
        assert e.value.name == "ESANDBOX", e.value
        assert e.value.data.get("stage") == "cgroup"
        assert e.value.data["layers"]["cgroup"] == "unavailable"


def test_register_and_unregister(tools_daemon):
    manifest = {
        "name": "greet",
        "description": "say hello",
        "parameters": {"type": "object", "required": ["who"], "additionalProperties": False,
                       "properties": {"who": {"type": "string", "maxLength": 20}}},
        "run": {"argv": ["/bin/echo", "hello,", "{who}"]},
        "policy": {"limits": {"wall_ms": 3000}},
    }
    with tools_daemon.client() as k:
        assert k.call("tool.register", {"manifest": manifest}) == {"name": "greet",
                                                                   "replaced": False}
        assert os.path.exists(os.path.join(tools_daemon.data, "tools", "greet.json"))
        r = k.call("tool.call", {"name": "greet", "args": {"who": "world"}})
        assert r["stdout"] == "hello, world\n"
        with pytest.raises(aios.AiosError) as e:
            k.call("tool.register", {"manifest": manifest})
        assert e.value.name == "EEXIST"
        manifest["description"] = "say hello twice"
        assert k.call("tool.register", {"manifest": manifest, "replace": True})["replaced"]
        bad = dict(manifest, run={"argv": ["echo", "{who}"]})
        with pytest.raises(aios.AiosError) as e:
            k.call("tool.register", {"manifest": bad})
        assert e.value.name == "EINVAL" and e.value.field == "manifest.run.argv.0"
        with pytest.raises(aios.AiosError) as e:
            k.call("tool.register", {"manifest": dict(manifest, name="shell")})
        assert e.value.name == "EPERM"
    # it survives a restart
    assert tools_daemon.stop() == 0
    tools_daemon.start()
    with tools_daemon.client() as k:
        assert k.call("tool.describe", {"name": "greet"})["description"] == "say hello twice"
        k.call("tool.unregister", {"name": "greet"})
        with pytest.raises(aios.AiosError) as e:
            k.call("tool.describe", {"name": "greet"})
        assert e.value.name == "ENOENT"
        with pytest.raises(aios.AiosError) as e:
            k.call("tool.unregister", {"name": "shell"})
        assert e.value.name == "EPERM"


def test_aiosctl_tools(tools_daemon):
    ctl = [os.path.join(BUILD, "aiosctl"), "--socket", tools_daemon.socket]
    p = subprocess.run(ctl + ["tools"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and "calculator" in p.stdout and "shell" in p.stdout
    p = subprocess.run(ctl + ["tool", "shell", "command=echo via ctl; exit 3"],
                       capture_output=True, text=True, timeout=30)
    assert p.stdout == "via ctl\n" and p.returncode == 1 and "exit status 3" in p.stderr
    p = subprocess.run(ctl + ["tool", "calculator", '{"expression": "7/2"}'],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and p.stdout.startswith("7/2\n= 3.5")
    p = subprocess.run(ctl + ["--json", "tool", "shell", "command=sleep 5"],
                       capture_output=True, text=True, timeout=30,
                       env=dict(os.environ))
    assert p.returncode == 0
    p = subprocess.run(ctl + ["tool", "shell", "nope=1"], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 1 and "args.nope" in p.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to start a daemon as another uid")
def test_unprivileged_daemon(aiosd_factory):
    d = aiosd_factory(config=BASE_CONFIG, start=False, name="unpriv")
    os.chmod(d.dir, 0o777)
    d.args = ["setpriv", "--reuid=%d" % UNPRIV, "--regid=%d" % UNPRIV, "--clear-groups"] + d.args
    d.start()
    with d.client() as k:
        assert k.call("sys.info")["pid"] == d.proc.pid or True
        r = k.call("tool.call", {"name": "shell", "args": {"command": "id -u; echo $HOME"}})
        assert r["stdout"] == "1000\n/work\n", r
        assert r["sandbox"]["mode"] == "user"
        assert r["sandbox"]["host_uid"] == UNPRIV
        assert r["layers"]["cgroup"] == "unavailable"
        for layer in ("userns", "pidns", "netns", "root", "caps", "no_new_privs", "landlock",
                      "seccomp"):
            assert r["layers"][layer] == "applied", (layer, r["layers"])
        r = k.call("tool.call", {"name": "shell", "timeout_ms": 500,
                                 "args": {"command": "(setsid sleep 60 &); sleep 60"}})
        assert r["timed_out"]
    assert procs_of_uids(UNPRIV, UNPRIV + 1) >= 1  # the daemon itself
    assert d.stop() == 0
    # the warm sandboxes were killed on the way out; give their exits a moment
    deadline = time.time() + 3
    while procs_of_uids(UNPRIV, UNPRIV + 1) and time.time() < deadline:
        time.sleep(0.05)
    assert procs_of_uids(UNPRIV, UNPRIV + 1) == 0, "nothing of the daemon's uid survives"


def test_fs_tools_use_the_callers_rights(tools_daemon):
    with tools_daemon.client(agent="alice") as alice, tools_daemon.client(agent="bob") as bob:
        w = alice.call("tool.call", {"name": "fs_write", "args": {
            "path": "~/plans.txt", "content": "the zebra migration starts on tuesday\n"}})
        path = w["result"]["path"]
        assert path.startswith("/home/alice/")
        r = alice.call("tool.call", {"name": "fs_read", "args": {"path": path}})
        assert r["result"]["content"] == "the zebra migration starts on tuesday\n"
        assert not r["result"]["truncated"]
        alice.call("tool.call", {"name": "fs_write", "args": {"path": path, "content": "v2\n"}})
        r = alice.call("tool.call", {"name": "fs_read", "args": {"path": path, "version": 1}})
        assert r["result"]["content"].startswith("the zebra")
        s = alice.call("tool.call", {"name": "fs_search", "args": {"query": "zebra"}})
        assert s["result"]["results"] == [] or all(
            x["path"].startswith("/home/alice/") for x in s["result"]["results"])
        alice.call("tool.call", {"name": "fs_write", "args": {
            "path": "~/zoo.txt", "content": "a zebra and a giraffe\n"}})
        s = alice.call("tool.call", {"name": "fs_search", "args": {"query": "giraffe"}})
        assert [x["path"] for x in s["result"]["results"]] == ["/home/alice/zoo.txt"]
        # bob has no right to alice's files, through tools as through fs.*
        with pytest.raises(aios.AiosError) as e:
            bob.call("tool.call", {"name": "fs_read", "args": {"path": path}})
        assert e.value.name in ("EPERM", "ENOENT")
        s = bob.call("tool.call", {"name": "fs_search", "args": {"query": "giraffe"}})
        assert s["result"]["results"] == []
        with pytest.raises(aios.AiosError) as e:
            bob.call("tool.call", {"name": "fs_write", "args": {"path": path, "content": "x"}})
        assert e.value.name in ("EPERM", "ENOENT")

"""aiosctl against a real aiosd: one-shot commands with their exit codes and
--json output, and the interactive shell driven through a pseudo-terminal
(prompt, commands, Tab completion of commands, methods and parameters,
history recall, Ctrl-C, Ctrl-D).

Each test gets its own daemon on a temporary socket (the `aiosd` fixture of
conftest.py); the binaries come from $AIOS_BUILD (default build/).
"""

import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import termios
import fcntl
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("AIOS_BUILD") or os.path.join(ROOT, "build")
AIOSD = os.path.join(BUILD, "aiosd")
AIOSCTL = os.path.join(BUILD, "aiosctl")

# exit codes documented in docs/CLIENTS.md
OK, EFAIL, EUSAGE, ENODAEMON, ETIMEOUT, ECONFIRM, EINTR = 0, 1, 2, 3, 4, 5, 130


@pytest.fixture
def daemon(aiosd):
    """The shared fixture's daemon (conftest.py): a fresh aiosd per test."""
    return aiosd


def ctl_env(d, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIOS_")}
    env["AIOS_SOCKET"] = d.socket
    env["AIOS_DATA"] = d.data
    env.update(extra)
    return env


def run(d, *args, timeout=20, env=None, input=None):
    """aiosctl ARGS (socket from the environment, as a user would have it)."""
    return subprocess.run([AIOSCTL, *args], capture_output=True, text=True, timeout=timeout,
                          env=env or ctl_env(d), input=input)


def jrun(d, *args, **kw):
    r = run(d, "--json", *args, **kw)
    assert r.returncode == 0, r.stderr + r.stdout
    return json.loads(r.stdout)


def spawn(d, *argv, name=None):
    args = ["--json", "spawn"] + (["--name", name] if name else []) + ["--", *argv]
    r = run(d, *args)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["id"]


def inflight(d):
    # sys.stats counts itself
    return jrun(d, "stats")["inflight"] - 1


# ---- one-shot commands ---------------------------------------------------------


def test_info_and_json(daemon):
    r = run(daemon, "info")
    assert r.returncode == OK, r.stderr
    assert re.search(r"^server\s+aiosd \S+ \(protocol 1\)$", r.stdout, re.M)
    assert "socket      %s" % daemon.socket in r.stdout
    info = jrun(daemon, "info")
    assert info["socket"] == daemon.socket and info["pid"] == daemon.proc.pid
    # --socket wins over the environment
    r = subprocess.run([AIOSCTL, "--socket", daemon.socket, "--json", "info"], capture_output=True,
                       text=True, env=ctl_env(daemon, AIOS_SOCKET="/nonexistent/x.sock"))
    assert r.returncode == OK and json.loads(r.stdout)["pid"] == daemon.proc.pid


def test_daemon_not_running_message_and_code(daemon, tmp_path):
    sock = str(tmp_path / "none.sock")
    r = subprocess.run([AIOSCTL, "--socket", sock, "ps"], capture_output=True, text=True)
    assert r.returncode == ENODAEMON
    assert r.stderr.strip() == (
        "aiosctl: no aiosd at %s (is it running? start it with `aiosd` or `make run`)" % sock)
    assert r.stdout == ""


def test_usage_errors(daemon):
    assert run(daemon, "frobnicate").returncode == EUSAGE
    assert run(daemon, "kill").returncode == EUSAGE
    assert run(daemon, "kill", "abc").returncode == EUSAGE
    assert run(daemon, "wait", "1", "2").returncode == EUSAGE
    assert run(daemon, "--timeout", "soon", "ps").returncode == EUSAGE
    r = run(daemon, "call", "sys.ping", "{broken")
    assert r.returncode == EUSAGE and "unterminated" not in r.stdout
    r = run(daemon, "call", "proc.info", "id=notanumber")
    assert r.returncode == EUSAGE and "needs integer" in r.stderr
    assert run(daemon, "confirm", "--deny").returncode == EUSAGE


def test_spawn_ps_logs_kill_wait(daemon):
    sleeper = spawn(daemon, "sleep", "30", name="sleeper")
    talker = spawn(daemon, "sh", "-c", "echo out-line; echo err-line >&2")
    assert jrun(daemon, "wait", str(talker))["exit"]["status"] == 0
    r = run(daemon, "ps")
    assert r.returncode == OK
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["ID", "STATE", "PID", "PARENT", "PRIO", "UID", "WALL", "TOKENS", "NAME"]
    row = [l for l in lines if l.split()[0] == str(sleeper)]
    assert row and row[0].split()[1] == "running" and row[0].split()[-1] == "sleeper"
    assert not [l for l in lines if l.split()[0] == str(talker)], "ps lists running ones only"
    assert str(talker) in [l.split()[0] for l in run(daemon, "ps", "-a").stdout.splitlines()]
    procs = jrun(daemon, "ps", "-a")["processes"]
    assert {p["id"] for p in procs} >= {sleeper, talker}

    r = run(daemon, "logs", str(talker))
    assert r.returncode == OK
    assert r.stdout == "out-line\n" and r.stderr == "err-line\n"
    assert run(daemon, "logs", "--stderr", str(talker)).stdout == ""

    r = run(daemon, "kill", str(sleeper))
    assert r.returncode == OK and r.stdout.strip() == "sent TERM to %d" % sleeper
    r = run(daemon, "wait", str(sleeper))
    assert r.returncode == OK
    assert re.match(r"%d killed by signal 15 \(TERM\) after [\d.]+s$" % sleeper, r.stdout.strip()), r.stdout
    # an ended process cannot be signalled: an error reply, exit 1
    r = run(daemon, "kill", "-s", "KILL", str(sleeper))
    assert r.returncode == EFAIL and "(ENOENT, field 'id')" in r.stderr


def test_error_reply_exit_code_and_json_error(daemon):
    r = run(daemon, "wait", "99999")
    assert r.returncode == EFAIL
    assert r.stderr.strip() == "aiosctl: no process 99999 (ENOENT, field 'id')"
    r = run(daemon, "--json", "wait", "99999")
    assert r.returncode == EFAIL
    err = json.loads(r.stdout)["error"]
    assert err["name"] == "ENOENT" and err["field"] == "id" and err["exit"] == EFAIL
    r = run(daemon, "call", "sys.nothing")
    assert r.returncode == EFAIL and "ENOMETHOD" in r.stderr
    r = run(daemon, "call", "sys.ping", "bogus=1")
    assert r.returncode == EFAIL and "field 'bogus'" in r.stderr


def test_timeouts_exit_4(daemon):
    pid = spawn(daemon, "sleep", "30")
    t0 = time.time()
    r = run(daemon, "wait", "-t", "100", str(pid))          # the daemon's timeout
    assert r.returncode == ETIMEOUT and "ETIMEDOUT" in r.stderr
    r = run(daemon, "--timeout", "150", "wait", str(pid))   # aiosctl's own
    assert r.returncode == ETIMEOUT
    assert time.time() - t0 < 5
    for _ in range(100):                                    # the call was cancelled there
        if inflight(daemon) == 0:
            break
        time.sleep(0.02)
    assert inflight(daemon) == 0
    run(daemon, "kill", "-s", "KILL", str(pid))


def test_call_params_and_streams(daemon):
    assert jrun(daemon, "call", "sys.ping", "echo=7") == {"echo": 7}
    assert jrun(daemon, "call", "sys.ping", '{"echo": [1, "two"]}') == {"echo": [1, "two"]}
    assert jrun(daemon, "call", "sys.ping", "echo=plain words") == {"echo": "plain words"}
    # a method name alone means call
    assert jrun(daemon, "sys.ping", "echo=true") == {"echo": True}
    # the schema keeps a name a string even when it looks like a number
    pid = jrun(daemon, "call", "proc.spawn", "argv=sleep,5", "name=1234")["id"]
    assert [p for p in jrun(daemon, "ps")["processes"] if p["id"] == pid][0]["name"] == "1234"
    run(daemon, "kill", str(pid))
    # people get indented JSON
    assert run(daemon, "call", "sys.ping", "echo=1").stdout == '{\n  "echo": 1\n}\n'
    # a streaming call prints chunks as they come; --json one object per line
    talker = spawn(daemon, "sh", "-c", "echo a; sleep 0.3; echo b")
    r = run(daemon, "--json", "call", "proc.logs", "id=%d" % talker, "follow=true")
    lines = [json.loads(l) for l in r.stdout.splitlines()]
    assert r.returncode == OK
    chunks, final = lines[:-1], lines[-1]
    assert "".join(c["data"] for c in chunks) == "a\nb\n"
    assert [c["seq"] for c in chunks] == list(range(len(chunks)))
    assert final["bytes"]["stdout"] == 4


def test_logs_follow_prints_as_it_arrives(daemon):
    pid = spawn(daemon, "sh", "-c", "echo one; sleep 2; echo two")
    p = subprocess.Popen([AIOSCTL, "logs", "-f", str(pid)], stdout=subprocess.PIPE, text=True,
                         env=ctl_env(daemon))
    first = p.stdout.readline()
    t_first = time.time()
    second = p.stdout.readline()
    t_second = time.time()
    assert p.wait(10) == OK
    assert first == "one\n" and second == "two\n"
    assert t_second - t_first > 1.0, "the first line came only at the end"


def test_ctrl_c_cancels_a_streaming_call(daemon):
    pid = spawn(daemon, "sleep", "30")
    p = subprocess.Popen([AIOSCTL, "logs", "-f", str(pid)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=ctl_env(daemon))
    for _ in range(200):                      # until the call is in flight
        if inflight(daemon) >= 1:
            break
        time.sleep(0.02)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=10)
    assert p.returncode == EINTR, err
    assert "interrupted: proc.logs was cancelled" in err
    for _ in range(100):
        if inflight(daemon) == 0:
            break
        time.sleep(0.02)
    assert inflight(daemon) == 0
    run(daemon, "kill", "-s", "KILL", str(pid))


def test_stats_methods_help(daemon):
    for _ in range(5):
        run(daemon, "ping")
    r = run(daemon, "stats")
    assert r.returncode == OK
    header = [l for l in r.stdout.splitlines() if l.startswith("METHOD")][0]
    assert header.split() == ["METHOD", "CALLS", "ERRORS", "MEAN_US", "P50_US", "P90_US", "P99_US"]
    ping = [l.split() for l in r.stdout.splitlines() if l.startswith("sys.ping ")][0]
    assert int(ping[1]) >= 5 and float(ping[6]) > 0
    assert jrun(daemon, "stats")["calls"]["sys.ping"]["calls"] >= 5

    r = run(daemon, "methods", "proc.")
    names = [l.split()[0] for l in r.stdout.splitlines()[1:]]
    assert "proc.spawn" in names and all(n.startswith("proc.") for n in names)
    r = run(daemon, "help", "proc.kill")
    assert r.returncode == OK
    assert re.search(r"^\s+signal\s+string\|integer\s+no\s+\"TERM\"", r.stdout, re.M), r.stdout
    assert re.search(r"^\s+id\s+integer >= 1\s+yes", r.stdout, re.M), r.stdout
    assert run(daemon, "help", "no.such").returncode == EFAIL
    r = run(daemon, "help")
    assert r.returncode == OK and "exit codes:" in r.stdout and "logs [-f]" in r.stdout
    assert run(daemon, "help", "logs").stdout.startswith("usage: aiosctl logs [-f]")


def test_confirmations(daemon):
    r = run(daemon, "confirm")
    assert r.returncode == OK and r.stdout.strip() == "no confirmations waiting"
    assert jrun(daemon, "confirm") == {"confirmations": []}
    r = run(daemon, "confirm", "12345")
    assert r.returncode == EFAIL and "no confirmation 12345" in r.stderr
    r = run(daemon, "confirm", "12345", "--deny")
    assert r.returncode == EFAIL


def test_confirm_flow_with_a_real_confirmation(aiosd_factory):
    d = aiosd_factory(extra=["--set", "confirm.fs.purge=true", "--set", "lsfs.embed_model=none"])
    assert jrun(d, "call", "fs.write", "path=~/old.log", "content=old")["version"] == 1
    # the irreversible call stops with exit 5 and says what to do
    r = run(d, "call", "fs.purge", "path=~/old.log")
    assert r.returncode == ECONFIRM, r.stderr
    cid = int(re.search(r"aiosctl confirm (\d+), then repeat the call with confirm=\1", r.stderr).group(1))
    err = json.loads(run(d, "--json", "call", "fs.purge", "path=~/old.log").stdout)["error"]
    assert err["name"] == "ECONFIRM" and err["exit"] == ECONFIRM and err["data"]["action"] == "fs.purge"
    # a person sees the pending ones and approves one
    r = run(d, "confirm")
    assert r.returncode == OK
    rows = [l.split() for l in r.stdout.splitlines() if l.split() and l.split()[0].isdigit()]
    assert [row[:2] for row in rows if row[0] == str(cid)] == [[str(cid), "pending"]]
    assert any(row[3] == "fs.purge" and row[4] == "uid:%d" % os.getuid() for row in rows)
    r = run(d, "confirm", str(cid))
    assert r.returncode == OK
    assert r.stdout.startswith("approved confirmation %d: fs.purge by uid:%d" % (cid, os.getuid()))
    assert run(d, "confirm", str(cid)).returncode == EFAIL, "answered already"
    # the repeated call with the approval goes through, once
    assert jrun(d, "call", "fs.purge", "path=~/old.log", "confirm=%d" % cid)["purged"] == 1
    # a refusal is final
    jrun(d, "call", "fs.write", "path=~/other.log", "content=x")
    r = run(d, "call", "fs.purge", "path=~/other.log")
    deny = int(re.search(r"aiosctl confirm (\d+)", r.stderr).group(1))
    assert run(d, "confirm", str(deny), "--deny").stdout.startswith("denied confirmation %d" % deny)
    r = run(d, "call", "fs.purge", "path=~/other.log", "confirm=%d" % deny)
    assert r.returncode == EFAIL and "EDENIED" in r.stderr
    assert [c["state"] for c in jrun(d, "confirm", "--all")["confirmations"]].count("denied") == 1


def test_aiosctl_inside_an_agent_acts_as_that_agent(daemon):
    pid = spawn(daemon, "sh", "-c", "'%s' --json info" % AIOSCTL, name="inner")
    jrun(daemon, "wait", str(pid))
    out = jrun(daemon, "logs", str(pid))["stdout"]
    ident = json.loads(out)["identity"]
    assert ident["agent"] == "inner" and ident["proc_id"] == pid


def test_commands_from_a_pipe(daemon):
    r = run(daemon, input="ping\n# a comment\ncall sys.ping echo=5\n")
    assert r.returncode == OK
    assert "pong from" in r.stdout and '"echo": 5' in r.stdout
    r = run(daemon, input="ping\nwait 99999\n")
    assert r.returncode == EFAIL


def test_fs_files_versions_and_search(daemon, tmp_path):
    r = run(daemon, "fs", "put", "~/notes/deploy.md", input="# Notes\n\nThe deploy happens on Fridays.\n")
    assert r.returncode == OK and "deploy.md (version 1)" in r.stdout, r.stderr
    assert run(daemon, "fs", "put", "~/notes/x.txt", input="line1\nline2\n").returncode == OK
    assert run(daemon, "fs", "put", "~/notes/x.txt", input="line1\nline2 changed\n").returncode == OK
    ls = run(daemon, "fs", "ls", "~/notes")
    assert ls.returncode == OK
    assert ls.stdout.splitlines()[0].split() == ["NAME", "TYPE", "SIZE", "VERSION", "MODIFIED", "OWNER"]
    assert re.search(r"^x\.txt\s+file\s+20 B\s+2\s", ls.stdout, re.M), ls.stdout
    assert run(daemon, "fs", "cat", "~/notes/x.txt", "1").stdout == "line1\nline2\n"
    diff = run(daemon, "fs", "diff", "~/notes/x.txt").stdout
    assert "-line2\n+line2 changed" in diff
    hist = run(daemon, "fs", "history", "~/notes/x.txt").stdout
    assert "create" in hist and "write" in hist
    rb = run(daemon, "fs", "rollback", "~/notes/x.txt", "1")
    assert rb.returncode == OK and "version 3" in rb.stdout
    assert run(daemon, "fs", "cat", "~/notes/x.txt").stdout == "line1\nline2\n"
    found = run(daemon, "fs", "search", "-m", "keyword", "deploy", "friday")
    assert found.returncode == OK and "/notes/deploy.md" in found.stdout
    # bytes survive the round trip
    blob = bytes(range(256)) * 3
    (tmp_path / "b.bin").write_bytes(blob)
    assert run(daemon, "fs", "put", "~/b.bin", str(tmp_path / "b.bin")).returncode == OK
    raw = subprocess.run([AIOSCTL, "fs", "cat", "~/b.bin"], capture_output=True, env=ctl_env(daemon), timeout=20)
    assert raw.returncode == OK and raw.stdout == blob
    assert run(daemon, "fs", "mv", "~/notes/x.txt", "~/notes/y.txt").returncode == OK
    assert "trash" in run(daemon, "fs", "rm", "~/notes/y.txt").stdout
    assert run(daemon, "fs", "cat", "~/notes/y.txt").returncode == EFAIL
    assert run(daemon, "fs", "mkdir", "~/a/b").stdout.strip().endswith("/a/b/")
    # without a model: the daemon answers "unavailable" (an error, not a missing daemon)
    s = run(daemon, "fs", "summarize", "~/notes/deploy.md")
    assert s.returncode == EFAIL and "EUNAVAIL" in s.stderr
    assert run(daemon, "fs", "nope").returncode == EUSAGE
    assert run(daemon, "fs", "cat").returncode == EUSAGE
    assert run(daemon, "fs", "cat", "~/notes/deploy.md", "zero").returncode == EUSAGE
    j = jrun(daemon, "fs", "ls")
    assert {e["name"] for e in j["entries"]} >= {"notes", "b.bin", "a"}


def test_shutdown_then_not_running(daemon):
    r = run(daemon, "shutdown")
    assert r.returncode == OK and "shutting down" in r.stdout
    assert daemon.proc.wait(10) == 0
    assert not os.path.exists(daemon.socket)
    assert run(daemon, "ping").returncode == ENODAEMON


# ---- the interactive shell through a pseudo-terminal ---------------------------------

ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Za-z0-9]|\x1b[=>]|\r|\x07|\x08")


class Pty:
    """A program on a pseudo-terminal, with expect()."""

    def __init__(self, argv, env):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            try:
                os.execve(argv[0], argv, env)
            finally:
                os._exit(127)
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        self.buf = b""
        self.status = None

    def read(self, timeout):
        r, _, _ = select.select([self.fd], [], [], timeout)
        if not r:
            return False
        try:
            data = os.read(self.fd, 4096)
        except OSError:
            data = b""
        if not data:
            raise EOFError(self.text())
        self.buf += data
        return True

    def text(self):
        return ANSI.sub(b"", self.buf).decode("utf-8", "replace")

    def expect(self, pattern, timeout=10):
        """Wait until pattern (regex) shows in the output; consume up to it."""
        deadline = time.time() + timeout
        rx = re.compile(pattern)
        while True:
            m = rx.search(self.text())
            if m:
                # keep what follows the match for the next expect
                clean = self.text()
                self.buf = clean[m.end():].encode()
                return m
            left = deadline - time.time()
            if left <= 0:
                raise AssertionError("no %r in %r" % (pattern, self.text()))
            self.read(left)

    def send(self, s):
        os.write(self.fd, s.encode() if isinstance(s, str) else s)

    def wait(self, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            pid, st = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = os.waitstatus_to_exitcode(st)
                return self.status
            try:
                self.read(0.05)
            except EOFError:
                pass
        raise AssertionError("the shell did not exit: %r" % self.text())

    def close(self):
        if self.status is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except OSError:
                pass
        os.close(self.fd)


@pytest.fixture
def shell(daemon):
    sh = Pty([AIOSCTL], ctl_env(daemon, TERM="xterm"))
    yield sh
    sh.close()


PROMPT = r"aios> "


def test_shell_prompt_command_and_ctrl_d(shell, daemon):
    shell.expect(r"aiosd \S+ at %s" % re.escape(daemon.socket))
    shell.expect(PROMPT)
    shell.send("ping\r")
    shell.expect(r"pong from %s in \d+ us" % re.escape(daemon.socket))
    shell.expect(PROMPT)
    shell.send("wait 99999\r")
    shell.expect(r"error: no process 99999 \(ENOENT, field 'id'\)")
    shell.expect(PROMPT)
    shell.send("\x04")
    assert shell.wait() == OK


def test_shell_tab_completes_methods_and_params(shell):
    shell.expect(PROMPT)
    # a command name
    shell.send("sta\t")
    shell.expect(r"stats ")
    shell.send("\x15")              # ^U: kill the line
    # a method name after call, then its parameter names
    shell.send("call sys.pi\t")
    shell.expect(r"call sys\.ping ")
    shell.send("ec\t")
    shell.expect(r"echo=")
    shell.send("42\r")
    shell.expect(r'"echo": 42')
    shell.expect(PROMPT)
    # several matches: the common part, then the list on a second Tab
    shell.send("call proc.s\t")
    shell.expect(r"call proc\.s")
    shell.send("\t")
    shell.expect(r"proc\.setprio\s+proc\.spawn")
    shell.send("\x15")
    # a method typed as the command, completed from the table
    shell.send("proc.lis\t")
    shell.expect(r"proc\.list ")
    shell.send("st\t")
    shell.expect(r"state=")
    shell.send("all\r")
    shell.expect(r'"processes"')
    shell.expect(PROMPT)
    shell.send("exit\r")
    assert shell.wait() == OK


def test_shell_history_recall_and_file(shell, daemon):
    shell.expect(PROMPT)
    shell.send("call sys.ping echo=1234\r")
    shell.expect(r'"echo": 1234')
    shell.expect(PROMPT)
    shell.send("info\r")
    shell.expect(r"methods\s+\d+")
    shell.expect(PROMPT)
    shell.send("\x1b[A\x1b[A")       # up twice: the ping line
    shell.expect(r"call sys\.ping echo=1234")
    shell.send("\r")
    shell.expect(r'"echo": 1234')
    shell.expect(PROMPT)
    shell.send("\x04")
    assert shell.wait() == OK
    hist = open(os.path.join(daemon.data, "aiosctl_history"), "rb").read()
    assert b"info" in hist and b"echo=1234" in hist
    # a new shell starts with that history
    sh2 = Pty([AIOSCTL], ctl_env(daemon, TERM="xterm"))
    try:
        sh2.expect(PROMPT)
        sh2.send("\x1b[A")            # the last line run was the recalled ping
        sh2.expect(r"call sys\.ping echo=1234")
        sh2.send("\x1b[A")
        sh2.expect(r"info")
        sh2.send("\x15\x04")
        assert sh2.wait() == OK
    finally:
        sh2.close()


def test_shell_ctrl_c_clears_the_line_and_cancels_calls(shell, daemon):
    pid = spawn(daemon, "sleep", "30")
    shell.expect(PROMPT)
    shell.send("half typed")
    shell.expect("half typed")
    shell.send("\x03")
    shell.expect(r"\^C")
    shell.expect(PROMPT)
    shell.send("ping\r")             # the half-typed line is gone
    shell.expect(r"pong from")
    shell.expect(PROMPT)
    shell.send("wait %d\r" % pid)
    for _ in range(500):                      # until proc.wait is in flight
        if inflight(daemon) >= 1:
            break
        time.sleep(0.01)
    shell.send("\x03")
    shell.expect(r"interrupted: proc\.wait was cancelled")
    shell.expect(PROMPT)
    shell.send("ping\r")
    shell.expect(r"pong from")
    shell.send("quit\r")
    assert shell.wait() == OK
    run(daemon, "kill", "-s", "KILL", str(pid))

"""aiosctl's LLM commands against a real daemon with the default model:
one-shot completion, chat over stdin with a context, Ctrl-C cancelling a
generation, the scheduler and context views."""

import json
import os
import signal
import subprocess
import time

import pytest

from conftest import BUILD, MODEL, Daemon, require_model

AIOSCTL = os.path.join(BUILD, "aiosctl")


@pytest.fixture(scope="module")
def ctld(tmp_path_factory):
    require_model()
    d = Daemon(str(tmp_path_factory.mktemp("ctl")), model=MODEL).start()
    yield d
    assert d.stop() == 0, d.log()


def ctl(d, *args, stdin=None, timeout=300):
    return subprocess.run([AIOSCTL, "--socket", d.socket] + list(args), input=stdin, capture_output=True,
                          text=True, timeout=timeout)


def test_complete_and_models(ctld):
    r = ctl(ctld, "complete", "-n", "8", "-t", "0", "--stats", "The capital of France is")
    assert r.returncode == 0, r.stderr
    assert "Paris" in r.stdout
    assert "8 tokens" in r.stderr and "first token" in r.stderr
    j = ctl(ctld, "--json", "complete", "-n", "4", "-t", "0", "Hello")
    assert j.returncode == 0 and '"finish_reason":"length"' in j.stdout.replace(" ", "")
    m = ctl(ctld, "models")
    assert m.returncode == 0 and "SmolLM2-135M-Instruct.Q4_1" in m.stdout and "chatml" in m.stdout
    bad = ctl(ctld, "complete", "-n", "0", "x")
    assert bad.returncode == 2


def test_chat_over_stdin_keeps_a_context(ctld):
    r = ctl(ctld, "chat", "-n", "12", "-t", "0", "--context", "clichat",
            stdin="What is 2+2?\nAnd 3+3?\n/exit\n")
    assert r.returncode == 0, r.stderr
    lines = [l for l in r.stdout.splitlines() if l.strip()]
    assert len(lines) == 2 and "4" in lines[0]
    lst = ctl(ctld, "ctx")
    assert "clichat" in lst.stdout
    assert ctl(ctld, "ctx", "fork", "clichat", "clichat2").returncode == 0
    assert ctl(ctld, "ctx", "drop", "clichat2").returncode == 0
    gone = ctl(ctld, "ctx", "drop", "clichat2")
    assert gone.returncode == 1 and "ENOENT" in gone.stderr


def test_chat_with_a_message_answers_once(ctld):
    r = ctl(ctld, "chat", "-n", "12", "-t", "0", "What", "is", "2+2?", stdin="never read\n")
    assert r.returncode == 0, r.stderr
    lines = [l for l in r.stdout.splitlines() if l.strip()]
    assert len(lines) == 1 and "4" in lines[0], r.stdout
    # a turn of a saved context: the second one-shot call remembers the first
    assert ctl(ctld, "chat", "-n", "8", "-t", "0", "--context", "oneshot", "My name is Ada.").returncode == 0
    r = ctl(ctld, "--json", "chat", "-n", "8", "-t", "0", "--context", "oneshot", "What is my name?")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["usage"]["cached_tokens"] > 0
    assert ctl(ctld, "ctx", "drop", "oneshot").returncode == 0


def test_ctrl_c_cancels_the_generation(ctld):
    p = subprocess.Popen([AIOSCTL, "--socket", ctld.socket, "complete", "-n", "400", "-t", "0", "Count: 1, 2, 3,"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = p.stdout.read(1)   # it streams
    assert first
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert "interrupted" in err
    time.sleep(0.3)
    s = ctl(ctld, "--json", "sched")
    assert '"cancelled":' in s.stdout.replace(" ", "")
    st = json.loads(s.stdout)
    assert st["cancelled"] >= 1 and st["kv"]["sequences"] == 0


def test_sched_view_and_set(ctld):
    r = ctl(ctld, "sched")
    assert r.returncode == 0 and "policy" in r.stdout and "AGENT" in r.stdout
    r = ctl(ctld, "sched", "set", "policy=rr", "quantum=6")
    assert r.returncode == 0 and "policy rr, quantum 6" in r.stdout
    r = ctl(ctld, "sched", "set", "policy=nope")
    assert r.returncode != 0
    assert ctl(ctld, "sched", "set", "policy=fair").returncode == 0

"""ctx.* with the real model: a conversation continued after a daemon
restart is identical to one that never stopped; snapshots belong to their
agent; fork gives two continuations of one state; list shows sizes and
token counts; damaged files are refused; prefix sharing across turns."""

import glob
import os
import time

import pytest

import aios
from conftest import MODEL, Daemon, require_model


def turn(k, ctx, text, n=10, **kw):
    p = {"messages": [{"role": "user", "content": text}], "max_tokens": n, "temperature": 0,
         "stream": False, "context": ctx}
    p.update(kw)
    return k.call("llm.chat", p)


def test_snapshot_restart_restore_continue_is_identical(tmp_path):
    require_model()
    # A: three turns in one daemon (the reference), with seeded sampling in the last
    a = Daemon(str(tmp_path), model=MODEL, name="ref").start()
    with a.client(agent="alice") as k:
        ref = [turn(k, "conv", "Name a color."), turn(k, "conv", "And another one?"),
               turn(k, "conv", "Write one more sentence.", 12, temperature=0.9, seed=5)]
    assert a.stop() == 0
    # B: the first two turns, snapshot, restart, restore, third turn
    b = Daemon(str(tmp_path), model=MODEL, name="b").start()
    with b.client(agent="alice") as k:
        t1 = turn(k, "conv", "Name a color.")
        t2 = turn(k, "conv", "And another one?")
        assert [t1["text"], t2["text"]] == [ref[0]["text"], ref[1]["text"]]
        snap = k.call("ctx.snapshot", {"name": "saved", "from": "conv"})
        assert snap["tokens"] == t2["context"]["tokens"]
    assert b.stop() == 0
    b2 = Daemon(str(tmp_path), model=MODEL, name="b").start()    # same data folder
    with b2.client(agent="alice") as k:
        names = {c["name"]: c for c in k.call("ctx.list")["contexts"]}
        assert set(names) == {"conv", "saved"}
        assert names["saved"]["tokens"] == snap["tokens"] and names["saved"]["file_bytes"] > 0
        r = k.call("ctx.restore", {"name": "saved", "as": "resumed"})
        assert r["tokens"] == snap["tokens"] and r["warm_blocks"] >= 1
        assert "Name a color." in r["text"] and t2["text"] in r["text"]
        t3 = turn(k, "resumed", "Write one more sentence.", 12, temperature=0.9, seed=5)
        assert t3["text"] == ref[2]["text"]
        # it started from the saved state, not from a re-prefill of the text
        assert t3["usage"]["cached_tokens"] >= snap["tokens"] - 16
    assert b2.stop() == 0


@pytest.fixture(scope="module")
def ctxd(tmp_path_factory):
    require_model()
    d = Daemon(str(tmp_path_factory.mktemp("ctx")), model=MODEL)
    d.start()
    yield d
    assert d.stop() == 0, d.log()


def test_contexts_belong_to_their_agent(ctxd):
    with ctxd.client(agent="owner") as k, ctxd.client(agent="stranger") as s:
        turn(k, "private", "Remember the word apple.", 4)
        with pytest.raises(aios.AiosError) as ei:
            s.call("ctx.restore", {"name": "private"})
        assert ei.value.name == "ENOENT"
        assert s.call("ctx.list")["contexts"] == []
        with pytest.raises(aios.AiosError):
            s.call("ctx.drop", {"name": "private"})
        # continuing someone else's name starts a new context of one's own
        r = turn(s, "private", "Hello.", 4)
        assert r["context"]["tokens"] < turn(k, "private", "Hello.", 4)["context"]["tokens"]
        assert [c["name"] for c in k.call("ctx.list")["contexts"]] == ["private"]
        # files are private to the daemon's user
        for f in glob.glob(os.path.join(ctxd.data, "llm", "contexts", "*", "*")):
            assert os.stat(f).st_mode & 0o077 == 0, f


def test_fork_gives_two_continuations(ctxd):
    with ctxd.client(agent="forker") as k:
        base = turn(k, "root", "Start a story about a cat.", 8)
        f = k.call("ctx.fork", {"name": "root", "as": "branch"})
        assert f["tokens"] == base["context"]["tokens"]
        with pytest.raises(aios.AiosError) as ei:
            k.call("ctx.fork", {"name": "root", "as": "branch"})
        assert ei.value.name == "EEXIST"
        a = turn(k, "root", "Make it happy.", 8)
        b = turn(k, "branch", "Make it sad.", 8)
        assert a["usage"]["prompt_tokens"] > base["context"]["tokens"]
        assert b["usage"]["cached_tokens"] >= base["context"]["tokens"] - 16
        listed = {c["name"]: c for c in k.call("ctx.list")["contexts"]}
        assert listed["root"]["tokens"] == a["context"]["tokens"]
        assert listed["branch"]["tokens"] == b["context"]["tokens"]
        assert k.call("ctx.drop", {"name": "branch"}) == {"name": "branch", "dropped": True}
        assert [c["name"] for c in k.call("ctx.list")["contexts"]] == ["root"]


def test_snapshot_of_the_last_conversation_and_of_a_request_in_flight(ctxd):
    with ctxd.client(agent="snapper") as k:
        with pytest.raises(aios.AiosError) as ei:
            k.call("ctx.snapshot", {"name": "nothing"})
        assert ei.value.name == "ENOENT"
        r = k.call("llm.complete", {"prompt": "The rain in Spain", "max_tokens": 6, "temperature": 0,
                                    "stream": False})
        s = k.call("ctx.snapshot", {"name": "last"})
        assert s["tokens"] == r["usage"]["prompt_tokens"] + 6
        # mid-generation: snapshot a running request by id
        got = []
        c = k.call_async("llm.complete", {"prompt": "One two three", "max_tokens": 40, "temperature": 0},
                         on_stream=got.append)
        while len(got) < 3:
            time.sleep(0.05)
        rid = k.call("sched.stats")["running_set"][0]["id"]
        s2 = k.call("ctx.snapshot", {"name": "midway", "request_id": rid})
        assert s2["tokens"] >= 4
        c.result(300)
        # continuing the mid-way snapshot with an empty prompt replays the rest
        cont = k.call("llm.complete", {"prompt": "", "context": "midway", "max_tokens": 4, "temperature": 0,
                                       "stream": False})
        assert cont["usage"]["completion_tokens"] == 4


def test_damaged_context_is_refused(ctxd):
    with ctxd.client(agent="damage") as k:
        turn(k, "fragile", "Hi.", 4)
        # contexts are written behind: wait for the file
        deadline = time.time() + 30
        while not glob.glob(os.path.join(ctxd.data, "llm", "contexts", "*", "fragile.json")) and \
                time.time() < deadline:
            time.sleep(0.05)
        files = glob.glob(os.path.join(ctxd.data, "llm", "contexts", "*", "fragile.ctx"))
        assert len(files) == 1
        with open(files[0], "r+b") as f:
            f.seek(100)
            f.write(b"\x00\x01\x02\x03")
    # a fresh daemon on the same data folder reads it from disk
    ctxd.stop()
    ctxd.start()
    with ctxd.client(agent="damage") as k:
        with pytest.raises(aios.AiosError) as ei:
            k.call("ctx.restore", {"name": "fragile"})
        assert ei.value.name == "ECORRUPT"
        with pytest.raises(aios.AiosError) as ei:
            turn(k, "fragile", "Hello again.", 4)
        assert ei.value.name == "ECORRUPT" and ei.value.field == "context"
        assert k.call("ctx.drop", {"name": "fragile"})["dropped"] is True


def test_turns_reuse_the_previous_state(ctxd):
    """A context's next turn extends the saved state: only the new message
    is computed (the FastSwitch point), and without a context the prefix
    cache still finds the shared history."""
    with ctxd.client(agent="multi") as k:
        t1 = turn(k, "long", "Tell me about the sea.", 16)
        t2 = turn(k, "long", "Tell me more.", 8)
        assert t2["usage"]["cached_tokens"] >= t1["context"]["tokens"] - 16
        assert t2["usage"]["prompt_tokens"] - t2["usage"]["cached_tokens"] <= 16 + 16
        st = k.call("sched.stats")
        assert st["contexts"]["count"] >= 1 and st["prefix_cache"]["hit_blocks"] >= 1

"""LSFS through the real daemon: two agents with shares and denials, versions,
confirmations, watch events, mounts kept current, memory notes, and crash
safety under concurrent writes with kill -9."""

import base64
import os
import sqlite3
import threading
import time

import pytest

from conftest import aios

NO_EMBED = ["--set", "lsfs.embed_model=none"]


def embed_model_path():
    """The sentence-embedding model `make model` installs, or None."""
    p = os.environ.get("AIOS_EMBED_MODEL")
    if not p:
        data = os.environ.get("AIOS_DATA") or os.path.join(
            os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share"), "aios")
        p = os.path.join(data, "models", "all-MiniLM-L6-v2")
    return p if os.path.exists(os.path.join(p, "model.safetensors")) else None


class D:
    """A daemon plus the agent-aware client helper these tests use."""

    def __init__(self, factory, extra=(), name="lsfs"):
        self.factory, self.extra, self.name = factory, list(extra), name
        self.d = factory(extra=NO_EMBED + self.extra if "lsfs.embed_model" not in
                         " ".join(self.extra) else self.extra, name=name)
        self.data = self.d.data

    def client(self, agent=None):
        return self.d.client(agent=agent) if agent else self.d.client()

    def tail(self):
        return self.d.log()[-4000:]

    def stop(self):
        self.d.stop()

    def kill(self):
        self.d.kill9()

    def restart(self):
        """A new daemon on the same data folder."""
        self.d.stop()
        self.d = self.factory(extra=NO_EMBED + self.extra if "lsfs.embed_model" not in
                              " ".join(self.extra) else self.extra, name=self.name)


@pytest.fixture
def d(aiosd_factory):
    return D(aiosd_factory)


def err(fn, *a, **kw):
    with pytest.raises(aios.AiosError) as e:
        fn(*a, **kw)
    return e.value


def test_two_agents_shares_and_denials(d):
    alice, bob, carol = d.client("alice"), d.client("bob"), d.client("carol")
    r = alice.call("fs.write", {"path": "~/plans/q3.md", "content": "# Q3\n\nship the thing\n"})
    assert r["path"] == "/home/alice/plans/q3.md" and r["version"] == 1
    assert r["owner"] == "agent:alice"

    e = err(bob.call, "fs.read", {"path": "/home/alice/plans/q3.md"})
    assert e.name == "EPERM" and e.field == "path" and "agent:bob may not read" in e.message
    e = err(bob.call, "fs.write", {"path": "/home/alice/plans/evil.md", "content": "x"})
    assert e.name == "EPERM"
    e = err(bob.call, "fs.share", {"path": "/home/alice/plans", "with": "bob", "access": "rw"})
    assert e.name == "EPERM"
    e = err(bob.call, "fs.list", {"path": "/home/alice"})
    assert e.name == "EPERM"

    alice.call("fs.share", {"path": "~/plans", "with": "bob", "access": "r"})
    assert bob.call("fs.read", {"path": "/home/alice/plans/q3.md"})["content"].startswith("# Q3")
    assert err(bob.call, "fs.write", {"path": "/home/alice/plans/q3.md", "content": "no"}).name == "EPERM"
    assert err(carol.call, "fs.read", {"path": "/home/alice/plans/q3.md"}).name == "EPERM"

    alice.call("fs.share", {"path": "~/plans", "with": "bob", "access": "rw"})
    bob.call("fs.write", {"path": "/home/alice/plans/q3.md", "content": "# Q3\n\nship it twice\n"})
    hist = alice.call("fs.history", {"path": "~/plans/q3.md"})["versions"]
    assert [v["author"] for v in hist] == ["agent:alice", "agent:bob"]

    # groups
    alice.call("acl.group_create", {"group": "readers"})
    alice.call("acl.group_add", {"group": "readers", "member": "carol"})
    alice.call("fs.share", {"path": "~/plans", "with": "group:readers", "access": "r"})
    assert carol.call("fs.read", {"path": "/home/alice/plans/q3.md"})["version"] == 2
    groups = carol.call("acl.groups")["groups"]
    assert groups[0]["group"] == "readers" and "agent:carol" in groups[0]["members"]
    alice.call("acl.group_remove", {"group": "readers", "member": "agent:carol"})
    assert err(carol.call, "fs.read", {"path": "/home/alice/plans/q3.md"}).name == "EPERM"

    # search only returns readable files
    bob.call("fs.write", {"path": "~/own.md", "content": "ship logs of bob\n"})
    found = [x["path"] for x in carol.call("fs.search", {"query": "ship", "mode": "keyword"})["results"]]
    assert found == []
    found = [x["path"] for x in bob.call("fs.search", {"query": "ship", "mode": "keyword"})["results"]]
    assert sorted(found) == ["/home/alice/plans/q3.md", "/home/bob/own.md"]

    # revoke
    alice.call("fs.share", {"path": "~/plans", "with": "agent:bob", "access": "none"})
    assert err(bob.call, "fs.read", {"path": "/home/alice/plans/q3.md"}).name == "EPERM"
    # an admin's plain connection reads everything
    root = d.client()
    assert root.call("fs.read", {"path": "/home/alice/plans/q3.md"})["version"] == 2


def test_versions_rollback_diff_and_bytes(d):
    c = d.client("writer")
    c.call("fs.write", {"path": "~/a.txt", "content": "one\ntwo\nthree\n"})
    c.call("fs.write", {"path": "~/a.txt", "content": "one\n2\nthree\n"})
    c.call("fs.write", {"path": "~/a.txt", "content": "!\n", "mode": "append"})
    c.call("fs.write", {"path": "~/a.txt", "content": "O", "mode": "range", "offset": 0})
    assert c.call("fs.read", {"path": "~/a.txt"})["content"] == "One\n2\nthree\n!\n"
    assert c.call("fs.read", {"path": "~/a.txt", "version": 1})["content"] == "one\ntwo\nthree\n"
    assert c.call("fs.read", {"path": "~/a.txt", "offset": 4, "length": 2})["content"] == "2\n"
    diff = c.call("fs.diff", {"path": "~/a.txt", "from": 1, "to": 2})["diff"]
    assert diff == ("--- /home/writer/a.txt@1\n+++ /home/writer/a.txt@2\n@@ -1,3 +1,3 @@\n"
                    " one\n-two\n+2\n three\n")
    r = c.call("fs.rollback", {"path": "~/a.txt", "version": 1})
    assert r["version"] == 5 and r["rolled_back_to"] == 1
    t_between = time.time()
    time.sleep(0.05)
    c.call("fs.write", {"path": "~/a.txt", "content": "later\n"})
    c.call("fs.rollback", {"path": "~/a.txt", "time": t_between})
    assert c.call("fs.read", {"path": "~/a.txt"})["content"] == "one\ntwo\nthree\n"
    e = err(c.call, "fs.write", {"path": "~/a.txt", "content": "x", "expect_version": 1})
    assert e.name == "ECONFLICT" and e.field == "expect_version"
    # bytes
    blob = bytes(range(256)) * 4
    c.call("fs.write", {"path": "~/b.bin", "content_b64": base64.b64encode(blob).decode()})
    r = c.call("fs.read", {"path": "~/b.bin"})
    assert "content" not in r and base64.b64decode(r["content_b64"]) == blob
    # delete, trash, restore, links
    c.call("fs.link", {"path": "~/latest", "target": "~/a.txt"})
    assert c.call("fs.read", {"path": "~/latest"})["content"] == "one\ntwo\nthree\n"
    c.call("fs.delete", {"path": "~/a.txt"})
    assert err(c.call, "fs.read", {"path": "~/a.txt"}).name == "ENOENT"
    trash = c.call("fs.list", {"path": "~", "deleted": True})["entries"]
    assert [t["path"] for t in trash] == ["/home/writer/a.txt"]
    c.call("fs.restore", {"path": "~/a.txt"})
    assert c.call("fs.read", {"path": "~/latest"})["version"] == 7
    c.call("fs.move", {"from": "~/a.txt", "to": "~/docs/a.md"})
    assert c.call("fs.stat", {"path": "~/docs/a.md"})["mime"] == "text/markdown"
    assert c.call("fs.read", {"path": "~/latest"})["path"] == "/home/writer/docs/a.md"


def test_purge_needs_a_persons_confirmation(aiosd_factory):
    d = D(aiosd_factory, extra=["--set", "confirm.fs.purge=true"])
    if True:
        agent, person = d.client("tidy"), d.client()
        agent.call("fs.write", {"path": "~/old.log", "content": "old\n"})
        e = err(agent.call, "fs.purge", {"path": "~/old.log"})
        assert e.name == "ECONFIRM" and e.data["action"] == "fs.purge"
        cid = e.data["confirm"]
        assert agent.call("fs.read", {"path": "~/old.log"})["content"] == "old\n"
        person.call("sys.confirm", {"id": cid, "approve": True})
        r = agent.call("fs.purge", {"path": "~/old.log", "confirm": cid})
        assert r["purged"] == 1
        assert err(agent.call, "fs.restore", {"path": "~/old.log"}).name == "ENOENT"


def test_watch_streams_changes(d):
    c, other = d.client("watcher"), d.client("stranger")
    c.call("fs.write", {"path": "~/seed.txt", "content": "0"})
    events = []
    got = threading.Event()

    def on_stream(p):
        events.append(p)
        if len(events) >= 5:
            got.set()

    call = c.call_async("fs.watch", {"path": "~"}, on_stream=on_stream)
    deadline = time.time() + 5
    while not events and time.time() < deadline:
        time.sleep(0.01)
    assert events and events[0]["event"] == "watching"
    c.call("fs.write", {"path": "~/w.txt", "content": "1"})
    c.call("fs.write", {"path": "~/w.txt", "content": "2"})
    other.call("fs.write", {"path": "~/not-mine.txt", "content": "x"})
    c.call("fs.move", {"from": "~/w.txt", "to": "~/v.txt"})
    c.call("fs.delete", {"path": "~/v.txt"})
    assert got.wait(5), events
    kinds = [(e["event"], e["path"]) for e in events[1:5]]
    assert kinds == [("create", "/home/watcher/w.txt"), ("write", "/home/watcher/w.txt"),
                     ("move", "/home/watcher/v.txt"), ("delete", "/home/watcher/v.txt")]
    assert events[2]["version"] == 2 and events[3]["from"] == "/home/watcher/w.txt"
    call.cancel()
    e = err(call.result, 5)
    assert e.name == "ECANCELED"
    # another agent may not watch this home
    assert err(other.call, "fs.watch", {"path": "/home/watcher"}).name == "EPERM"


def _wait_for(fn, timeout):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if fn():
            return time.time() - t0
        time.sleep(0.02)
    return None


def test_mount_keeps_search_current(d, tmp_path):
    host = tmp_path / "host"
    (host / "sub").mkdir(parents=True)
    (host / "readme.md").write_text("# Readme\n\nAbout the aardvark.\n")
    c = d.client()
    r = c.call("fs.mount", {"host_path": str(host), "name": "proj", "mode": "ro"})
    assert r["files"] == 1 and r["path"] == "/mnt/proj"

    def hits(q):
        return [x["path"] for x in c.call("fs.search", {"query": q, "mode": "keyword"})["results"]]

    assert hits("aardvark") == ["/mnt/proj/readme.md"]
    time.sleep(0.3)   # let the watchers come up

    # a new file, an edit, a file in a new folder, a deletion: each within 2 s
    (host / "sub" / "notes.txt").write_text("The okapi lives in forests.\n")
    took = _wait_for(lambda: hits("okapi") == ["/mnt/proj/sub/notes.txt"], 2.0)
    assert took is not None, d.tail()

    (host / "readme.md").write_text("# Readme\n\nAbout the pangolin.\n")
    took = _wait_for(lambda: hits("pangolin") == ["/mnt/proj/readme.md"] and not hits("aardvark"), 2.0)
    assert took is not None, d.tail()

    (host / "deep" / "er").mkdir(parents=True)
    (host / "deep" / "er" / "x.md").write_text("narwhal tusks\n")
    took = _wait_for(lambda: hits("narwhal") == ["/mnt/proj/deep/er/x.md"], 2.0)
    assert took is not None, d.tail()
    # the new folder is watched too
    (host / "deep" / "er" / "y.md").write_text("quokka smiles\n")
    assert _wait_for(lambda: hits("quokka") == ["/mnt/proj/deep/er/y.md"], 2.0) is not None

    (host / "sub" / "notes.txt").unlink()
    took = _wait_for(lambda: hits("okapi") == [], 2.0)
    assert took is not None, d.tail()
    assert err(c.call, "fs.read", {"path": "/mnt/proj/sub/notes.txt"}).name == "ENOENT"

    # read-only mount refuses writes
    assert err(c.call, "fs.write", {"path": "/mnt/proj/readme.md", "content": "x"}).name == "EPERM"
    # host edits made while the daemon is down are picked up at start
    d.stop()
    (host / "readme.md").write_text("# Readme\n\nAbout the axolotl.\n")
    d.restart()
    c = d.client()
    assert _wait_for(lambda: hits("axolotl") == ["/mnt/proj/readme.md"], 5.0) is not None
    assert c.call("fs.history", {"path": "/mnt/proj/readme.md"})["versions"][-1]["author"] == "host"
    c.call("fs.unmount", {"name": "proj"})
    assert hits("axolotl") == []
    assert (host / "readme.md").exists()


def test_memory_notes(d):
    a, b = d.client("mem-a"), d.client("mem-b")
    n = a.call("mem.add", {"content": "Deploys happen on Tuesdays after the standup.",
                           "tags": ["ops"]})
    assert n["owner"] == "agent:mem-a" and "deploys" in n["keywords"]
    a.call("mem.add", {"content": "Lunch is at noon.", "tags": ["life"]})
    res = a.call("mem.search", {"query": "when do deploys happen", "tags": ["ops"]})["results"]
    assert [r["id"] for r in res] == [n["id"]]
    assert err(b.call, "mem.get", {"id": n["id"]}).name == "ENOENT"
    a.call("mem.update", {"id": n["id"], "share": ["mem-b"]})
    assert b.call("mem.get", {"id": n["id"]})["content"].startswith("Deploys")
    assert err(b.call, "mem.delete", {"id": n["id"]}).name == "EPERM"
    a.call("mem.delete", {"id": n["id"]})
    assert err(a.call, "mem.get", {"id": n["id"]}).name == "ENOENT"


def test_llm_calls_say_unavailable_without_a_model(d):
    c = d.client("llm-less")
    c.call("fs.write", {"path": "~/x.md", "content": "# X\n\nsome text about apples\n"})
    c.call("fs.write", {"path": "~/y.md", "content": "# Y\n\nsome text about pears\n"})
    e = err(c.call, "fs.summarize", {"path": "~/x.md"})
    assert e.name == "EUNAVAIL" and "no language model is loaded" in e.message
    # grouping works without a model (names from keywords)
    g = c.call("fs.group", {"path": "~", "k": 2})
    assert g["named_by"] == "keywords" and sum(len(x["files"]) for x in g["groups"]) == 2
    # join records its sources
    j = c.call("fs.join", {"paths": ["~/x.md", "~/y.md"], "path": "~/xy.md"})
    assert [s["path"] for s in j["sources"]] == ["/home/llm-less/x.md", "/home/llm-less/y.md"]
    st = c.call("fs.stat", {"path": "~/xy.md"})
    assert st["sources"][1]["version"] == 1
    assert "apples" in c.call("fs.read", {"path": "~/xy.md"})["content"]


@pytest.mark.skipif(embed_model_path() is None, reason="embedding model not installed (make model)")
def test_hybrid_search_through_the_daemon(aiosd_factory):
    d = D(aiosd_factory, extra=["--set", "lsfs.embed_model=%s" % embed_model_path()])
    if True:
        c = d.client("sem")
        c.call("fs.write", {"path": "~/bread.md", "content": "Knead the dough and bake it in a hot oven.\n"})
        c.call("fs.write", {"path": "~/cars.md", "content": "Change the engine oil regularly.\n"})
        # writes return at their commit; a background job embeds the chunks
        def semantic_top():
            r = c.call("fs.search", {"query": "how do I make a loaf", "mode": "semantic", "k": 1})
            return r["results"] and r["results"][0]["path"] == "/home/sem/bread.md"
        assert _wait_for(semantic_top, 60) is not None, d.tail()
        assert _wait_for(lambda: len(c.call("fs.search", {"query": "oil", "mode": "semantic"})["results"]) == 2,
                         60) is not None
        r = c.call("fs.search", {"query": "engine oil", "mode": "hybrid"})
        assert r["mode"] == "hybrid" and r["results"][0]["path"] == "/home/sem/cars.md"
        assert r["results"][0]["keyword_rank"] == 1 and r["results"][0]["semantic_rank"] == 1


def test_crash_safety_kill_9_during_concurrent_writes(aiosd_factory):
    """1,000 writes from 8 connections; SIGKILL half-way; every acknowledged
    write is there after a restart and the database passes integrity_check."""
    d = D(aiosd_factory)
    n_conn, per_conn = 8, 125
    acked = {}              # path -> content acknowledged last
    inflight = {}           # conn -> (path, content) sent but not yet answered
    lock = threading.Lock()
    half = threading.Event()
    total = [0]

    def worker(i):
        try:
            c = d.client()
        except Exception:
            return
        for j in range(per_conn):
            path = "/shared/crash/c%d/f%03d.txt" % (i, j % 40)
            content = "conn %d write %d\n" % (i, j) * (1 + j % 5)
            with lock:
                inflight[i] = (path, content)
            try:
                c.call("fs.write", {"path": path, "content": content}, timeout=30)
            except Exception:
                return      # the daemon is gone
            with lock:
                del inflight[i]
                acked[path] = content
                total[0] += 1
                if total[0] >= 450:
                    half.set()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n_conn)]
    for t in threads:
        t.start()
    assert half.wait(120), "writes too slow: %s" % d.tail()
    d.kill()
    for t in threads:
        t.join(30)
    with lock:
        snapshot = dict(acked)
        pending = dict(inflight)
        n_acked = total[0]
    assert 450 <= n_acked < n_conn * per_conn, n_acked

    d.restart()
    c = d.client()
    unacked = {p: txt for p, txt in pending.values()}
    for path, content in snapshot.items():
        got = c.call("fs.read", {"path": path})["content"]
        # the acknowledged content, or a later write whose answer the kill cut off
        assert got == content or got == unacked.get(path), path
    for path, content in unacked.items():
        if path not in snapshot:
            try:
                c.call("fs.read", {"path": path})
            except aios.AiosError as e:
                assert e.name == "ENOENT"
    d.stop()
    db = sqlite3.connect(os.path.join(d.data, "lsfs.db"))
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert db.execute("INSERT INTO chunks_fts(chunks_fts, rank) VALUES('integrity-check', 1)") is not None
    db.close()

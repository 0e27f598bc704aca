"""llm.* over the real socket with the real default model: models, tokenize,
streaming, usage and timings, stop strings, cancel ($/cancel, llm.cancel,
disconnect), batched == alone, JSON-schema output (200 generations against
10 schemas, validated independently), llm_service_chat's path, and a daemon
that runs without a model (--model none, a corrupt file)."""

import json
import os
import time

import jsonschema  # Debian python3-jsonschema (make deps)
import pytest

import aios
from conftest import MODEL, Daemon, require_model


@pytest.fixture(scope="module")
def llmd(tmp_path_factory):
    """One daemon with the default model for the tests of this file."""
    require_model()
    d = Daemon(str(tmp_path_factory.mktemp("llm")), model=MODEL,
               extra=["--set", "llm.kv_mib=128", "--set", "sched.max_running=64",
                      "--set", "sched.max_batch_tokens=256"])
    d.start()
    yield d
    rc = d.stop()
    assert rc == 0, d.log()


def greedy(prompt, n=12, **kw):
    p = {"prompt": prompt, "max_tokens": n, "temperature": 0, "stream": False}
    p.update(kw)
    return p


def wait_idle(k, timeout=30):
    """Until the engine has nothing live; returns sched.stats."""
    deadline = time.time() + timeout
    while True:
        st = k.call("sched.stats")
        q = st["queues"]
        if q["waiting"] + q["running"] + q["preempted"] == 0 or time.time() > deadline:
            return st
        time.sleep(0.05)


# ---- basics ---------------------------------------------------------------------

def test_models_tokenize_detokenize(llmd):
    with llmd.client() as k:
        m = k.call("llm.models")
        assert m["available"] is True
        model = m["models"][0]
        assert model["id"] == "SmolLM2-135M-Instruct.Q4_1"
        assert model["arch"] == "llama" and model["n_vocab"] == 49152 and model["chat_template"] == "chatml"
        assert model["load_s"] > 0
        t = k.call("llm.tokenize", {"text": "Hello world, 123!"})
        assert t["count"] == len(t["tokens"]) > 3
        assert k.call("llm.detokenize", {"tokens": t["tokens"]})["text"] == "Hello world, 123!"
        # control tokens: names are parsed only when asked, shown only when asked
        sp = k.call("llm.tokenize", {"text": "<|im_start|>user", "special": True})["tokens"]
        assert sp[0] == 1
        plain = k.call("llm.tokenize", {"text": "<|im_start|>user"})["tokens"]
        assert 1 not in plain
        assert k.call("llm.detokenize", {"tokens": sp})["text"] == "user"
        assert k.call("llm.detokenize", {"tokens": sp, "special": True})["text"] == "<|im_start|>user"
        with pytest.raises(aios.AiosError) as ei:
            k.call("llm.detokenize", {"tokens": [1, 10 ** 6]})
        assert ei.value.name == "EINVAL" and ei.value.field == "tokens"
    # the load was logged with progress and its time
    log = llmd.log()
    assert "loading model:" in log and "ready in" in log


def test_complete_streams_and_reports_usage(llmd):
    with llmd.client() as k:
        call = k.stream("llm.complete", {"prompt": "The capital of France is", "max_tokens": 8,
                                         "temperature": 0})
        chunks = list(call)
        r = call.result()
        assert r["finish_reason"] == "length"
        assert "".join(c["text"] for c in chunks) == r["text"]
        assert [c["seq"] for c in chunks] == list(range(len(chunks)))
        assert all(isinstance(c["token"], int) for c in chunks)
        u = r["usage"]
        assert u["completion_tokens"] == 8
        assert u["prompt_tokens"] == len(k.call("llm.tokenize", {"text": "The capital of France is"})["tokens"])
        assert u["total_tokens"] == u["prompt_tokens"] + 8
        t = r["timings"]
        assert 0 <= t["queue_ms"] <= t["ttft_ms"] <= t["total_ms"]
        assert t["decode_tokens_per_s"] > 0
        assert r["request_id"] >= 1 and r["model"] == "SmolLM2-135M-Instruct.Q4_1"
        assert "Paris" in r["text"]
        # stream: false sends no chunk
        seen = []
        call = k.call_async("llm.complete", greedy("One, two,", 4), on_stream=seen.append)
        assert call.result()["usage"]["completion_tokens"] == 4 and seen == []
        # a token-id prompt works like its text
        ids = k.call("llm.tokenize", {"text": "The capital of France is"})["tokens"]
        assert k.call("llm.complete", greedy(ids, 8))["text"] == r["text"]


def test_chat_stop_and_errors(llmd):
    with llmd.client() as k:
        r = k.call("llm.chat", {"messages": [{"role": "user", "content": "What is 2+2?"}],
                                "max_tokens": 24, "temperature": 0, "stream": False})
        assert r["message"]["role"] == "assistant" and r["message"]["content"] == r["text"]
        assert "4" in r["text"]
        assert r["finish_reason"] in ("stop", "length")
        # stop strings end the output before them
        r = k.call("llm.complete", greedy("Count: 1, 2, 3, 4, 5, 6, 7,", 30, stop=[" 9"]))
        assert r["finish_reason"] == "stop" and "9" not in r["text"] and r["text"].strip().startswith("8")
        for params, field in [({"messages": [{"role": "wizard", "content": "x"}]}, "messages"),
                              ({"messages": [{"role": "user", "content": "x"}], "top_p": 0}, "top_p"),
                              ({"messages": [{"role": "user", "content": "x"}], "stop": [1]}, "stop"),
                              ({"messages": [{"role": "user", "content": "x"}],
                                "response_format": {"type": "bogus"}}, "response_format"),
                              ({"messages": [{"role": "user", "content": "x"}], "context": "../x"}, "context")]:
            with pytest.raises(aios.AiosError) as ei:
                k.call("llm.chat", params)
            assert ei.value.name == "EINVAL" and ei.value.field == field, (params, ei.value)
        with pytest.raises(aios.AiosError) as ei:
            k.call("llm.complete", {"prompt": "x" * 40000, "max_tokens": 1})
        assert ei.value.name == "ELIMIT"


def test_cancel_paths_free_everything(llmd):
    with llmd.client() as k:
        # $/cancel mid-stream
        call = k.stream("llm.complete", {"prompt": "Count: 1, 2, 3,", "max_tokens": 500, "temperature": 0})
        for i, _ in enumerate(call):
            if i == 2:
                call.cancel()
        with pytest.raises(aios.AiosError) as ei:
            call.result(30)
        assert ei.value.name == "ECANCELED"
        # llm.cancel from another connection of the same caller
        got = []
        call = k.call_async("llm.complete", {"prompt": "Count: 1, 2, 3,", "max_tokens": 500, "temperature": 0},
                            on_stream=got.append)
        while not got:
            time.sleep(0.05)
        rid = k.call("sched.stats")["running_set"][0]["id"]
        with llmd.client(agent="intruder") as other:
            with pytest.raises(aios.AiosError) as ei:
                other.call("llm.cancel", {"request_id": rid})
            assert ei.value.name == "EPERM" and ei.value.field == "request_id"
            with pytest.raises(aios.AiosError) as ei:
                other.call("llm.cancel", {"request_id": 999999})
            assert ei.value.name == "ENOENT"
        with llmd.client() as k2:
            assert k2.call("llm.cancel", {"request_id": rid}) == {"request_id": rid, "cancelled": True}
        with pytest.raises(aios.AiosError) as ei:
            call.result(30)
        assert ei.value.name == "ECANCELED"
        # a client that disconnects mid-generation
        k3 = llmd.client()
        k3.call_async("llm.complete", {"prompt": "Count: 1, 2, 3,", "max_tokens": 500, "temperature": 0})
        time.sleep(0.5)
        k3.close()
        st = wait_idle(k)
        assert st["kv"]["sequences"] == 0
        assert st["snapshots"]["host"] + st["snapshots"]["disk"] == 0
        assert st["cancelled"] >= 3


def test_batched_equals_alone(llmd):
    """The same greedy and seeded requests alone and all at once give the
    same tokens (the forward is batch-invariant)."""
    reqs = [greedy("Once upon a time", 16), greedy("def add(a, b):", 16),
            greedy("The three primary colors are", 16),
            {"prompt": "My favourite food is", "max_tokens": 16, "temperature": 0.8, "seed": 11,
             "stream": False},
            {"messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 16, "temperature": 0,
             "stream": False}]
    with llmd.client() as k:
        def one(p):
            return k.call("llm.chat" if "messages" in p else "llm.complete", p)
        alone = [one(p)["text"] for p in reqs]
        calls = [k.call_async("llm.chat" if "messages" in p else "llm.complete", p) for p in reqs]
        together = [c.result(300)["text"] for c in calls]
        assert together == alone
        # and with many other requests mixed in, from other connections
        others = [llmd.client(agent="noise%d" % i) for i in range(3)]
        noise = [o.call_async("llm.complete", greedy("Noise %d" % j, 8)) for j, o in enumerate(others * 3)]
        calls = [k.call_async("llm.chat" if "messages" in p else "llm.complete", p) for p in reqs]
        assert [c.result(300)["text"] for c in calls] == alone
        for c in noise:
            c.result(300)
        for o in others:
            o.close()


SCHEMAS = [
    {"type": "object", "properties": {"name": {"type": "string", "maxLength": 20},
                                      "age": {"type": "integer", "minimum": 0, "maximum": 150}},
     "required": ["name", "age"], "additionalProperties": False},
    {"type": "array", "items": {"type": "integer", "minimum": -5, "maximum": 5}, "minItems": 1, "maxItems": 4},
    {"type": "object", "properties": {"ok": {"type": "boolean"}, "note": {"type": ["string", "null"]}},
     "required": ["ok"], "additionalProperties": False},
    {"enum": ["red", "green", "blue", 7, None]},
    {"type": "object", "properties": {"tags": {"type": "array", "items": {"enum": ["a", "bb", "ccc"]},
                                               "maxItems": 3}},
     "required": ["tags"], "additionalProperties": False},
    {"type": "object", "properties": {"x": {"type": "number", "minimum": 0, "maximum": 1},
                                      "y": {"type": "number"}},
     "required": ["x", "y"], "additionalProperties": False},
    {"type": "object", "properties": {"day": {"type": "string", "format": "date"}},
     "required": ["day"], "additionalProperties": False},
    {"anyOf": [{"type": "integer"}, {"type": "string", "maxLength": 6}]},
    {"type": "object", "properties": {"kind": {"const": "circle"}, "r": {"type": "integer", "minimum": 1,
                                                                            "maximum": 9}},
     "required": ["kind", "r"], "additionalProperties": False},
    {"type": "object", "properties": {"items": {"type": "array", "maxItems": 2, "items": {
        "type": "object", "properties": {"sku": {"type": "string", "minLength": 1, "maxLength": 4},
                                         "qty": {"type": "integer", "minimum": 1, "maximum": 9}},
        "required": ["sku", "qty"], "additionalProperties": False}}},
     "required": ["items"], "additionalProperties": False},
]


def test_json_schema_200_generations_all_validate(llmd):
    """200 sampled generations against 10 schemas, all at once: every output
    parses and validates (checked by the jsonschema package, not by us)."""
    with llmd.client() as k:
        calls = []
        for i in range(200):
            schema = SCHEMAS[i % 10]
            calls.append((schema, k.call_async("llm.chat", {
                "messages": [{"role": "user", "content": "Reply with JSON. Example %d." % i}],
                "response_format": {"type": "json_schema", "json_schema": {"name": "s%d" % (i % 10),
                                                                           "schema": schema}},
                "max_tokens": 24, "temperature": 0.8, "seed": i, "stream": False})))
        checker = jsonschema.Draft202012Validator
        reasons = {}
        for schema, c in calls:
            r = c.result(900)
            value = json.loads(r["text"])
            checker(schema, format_checker=checker.FORMAT_CHECKER).validate(value)
            reasons[r["finish_reason"]] = reasons.get(r["finish_reason"], 0) + 1
        assert sum(reasons.values()) == 200


def test_sys_info_and_stats_show_the_service(llmd):
    with llmd.client() as k:
        info = k.call("sys.info")
        assert info["subsystems"]["llm"] == "running"
        s = k.call("sys.stats")["subsystems"]["llm"]
        assert s["model"] == "SmolLM2-135M-Instruct.Q4_1" and s["requests"] >= 1 and s["tokens_out"] >= 1


# ---- without a model ------------------------------------------------------------------

def test_model_none_answers_unavailable(aiosd):
    with aiosd.client() as k:
        m = k.call("llm.models")
        assert m["available"] is False and m["models"] == [] and "none" in m["reason"]
        for method, params in [("llm.complete", {"prompt": "x"}),
                               ("llm.chat", {"messages": [{"role": "user", "content": "x"}]}),
                               ("llm.tokenize", {"text": "x"}), ("sched.stats", {}), ("ctx.list", {})]:
            with pytest.raises(aios.AiosError) as ei:
                k.call(method, params)
            assert ei.value.name == "EUNAVAIL", method
        assert k.call("sys.info")["subsystems"]["llm"] == "unavailable"


@pytest.mark.parametrize("damage", ["truncated", "garbage", "missing"])
def test_corrupt_model_keeps_the_daemon_up(aiosd_factory, tmp_path, damage):
    path = str(tmp_path / "bad.gguf")
    if damage == "truncated":
        with open(require_model(), "rb") as f:
            data = f.read(1 << 20)
        with open(path, "wb") as f:
            f.write(data)
    elif damage == "garbage":
        with open(path, "wb") as f:
            f.write(b"GGUF" + os.urandom(4096))
    d = aiosd_factory(model=path)
    with d.client() as k:
        assert k.call("sys.ping") == {}
        m = k.call("llm.models")
        assert m["available"] is False and path in m["reason"]
        with pytest.raises(aios.AiosError) as ei:
            k.call("llm.complete", {"prompt": "x"})
        assert ei.value.name == "EUNAVAIL" and path in ei.value.message
    assert "running without an LLM" in d.log()


def test_unknown_backend_is_named_and_the_daemon_runs_on(aiosd_factory):
    d = aiosd_factory(model=require_model(), extra=["--set", "llm.backend=tpu"])
    with d.client() as k:
        assert k.call("sys.ping") == {}
        m = k.call("llm.models")
        assert m["available"] is False
        assert "no backend 'tpu'" in m["reason"] and "cpu" in m["reason"], m["reason"]


def test_default_model_is_found_in_the_data_folder(aiosd_factory, tmp_path):
    """No `model` key: the default model in <data>/models is loaded."""
    require_model()
    d = Daemon(str(tmp_path), model="none")
    os.makedirs(os.path.join(d.data, "models"))
    os.symlink(MODEL, os.path.join(d.data, "models", os.path.basename(MODEL)))
    d.args = [a for a in d.args if a not in ("--model", "none")]
    d.start()
    try:
        with d.client() as k:
            assert k.call("llm.models")["models"][0]["path"].startswith(d.data)
    finally:
        assert d.stop() == 0


def test_a_prompt_larger_than_the_cache_fails_cleanly(aiosd_factory):
    require_model()
    d = aiosd_factory(model=MODEL, extra=["--set", "llm.kv_mib=2"])
    with d.client() as k:
        with pytest.raises(aios.AiosError) as ei:
            k.call("llm.complete", {"prompt": "word " * 400, "max_tokens": 2}, timeout=120)
        assert ei.value.name == "ENOSPC" and "llm.kv_mib" in ei.value.message
        # the daemon still serves small requests
        assert k.call("llm.complete", {"prompt": "Hi", "max_tokens": 2, "stream": False},
                      timeout=120)["usage"]["completion_tokens"] == 2


# ---- LSFS operations that use the model --------------------------------------------

def test_fs_summarize_and_group_with_the_model(llmd):
    """fs.summarize asks the real model, stores the summary per version and
    serves it from the store until the file changes; fs.group names its
    groups with the model."""
    k = llmd.client(agent="summarizer")
    text = ("# Garden notes\n\nThe tomatoes need water every morning. The roses were pruned in March "
            "and the apple tree gave forty kilos of apples this year.\n")
    k.call("fs.write", {"path": "~/garden.md", "content": text})
    s1 = k.call("fs.summarize", {"path": "~/garden.md"}, timeout=120)
    assert s1["version"] == 1 and s1["cached"] is False
    assert isinstance(s1["summary"], str) and len(s1["summary"].strip()) >= 10
    s2 = k.call("fs.summarize", {"path": "~/garden.md"}, timeout=120)
    assert s2["cached"] is True and s2["summary"] == s1["summary"]
    k.call("fs.write", {"path": "~/garden.md", "content": text + "\nThe pears are ripe.\n"})
    s3 = k.call("fs.summarize", {"path": "~/garden.md"}, timeout=120)
    assert s3["version"] == 2 and s3["cached"] is False and s3["summary"].strip()
    # a folder: one summary over its files, each file listed
    k.call("fs.write", {"path": "~/notes/car.md", "content": "# Car\n\nThe car needs new tyres and an oil change.\n"})
    k.call("fs.write", {"path": "~/notes/bank.md", "content": "# Bank\n\nThe rent is paid on the first of each month.\n"})
    f = k.call("fs.summarize", {"path": "~/notes"}, timeout=180)
    assert sorted(x["path"] for x in f["files"]) == ["/home/summarizer/notes/bank.md",
                                                     "/home/summarizer/notes/car.md"]
    assert f["summary"].strip()
    g = k.call("fs.group", {"path": "~", "k": 2}, timeout=180)
    assert g["named_by"] == "llm"
    assert sum(len(x["files"]) for x in g["groups"]) == 3
    assert all(x["name"] for x in g["groups"])
    # the engine is left with nothing live
    st = wait_idle(k)
    assert st["queues"]["running"] == 0

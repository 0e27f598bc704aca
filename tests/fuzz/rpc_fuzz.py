#!/usr/bin/python3
"""rpc_fuzz.py - throw generated and mutated syscalls at a real aiosd.

Every method of the daemon's own syscall table (sys.methods) is called with
parameters generated from its JSON Schema - valid ones, and ones mutated to
break it (wrong types, missing and unknown fields, out-of-range numbers,
huge, empty and invalid-UTF-8 strings, deep nesting) - interleaved with raw
protocol garbage (truncated JSON, bad envelopes, odd ids, lines with NULs),
cancellations of calls in flight and connections dropped mid-call.  After
every round the daemon must still answer sys.ping, and at the end it must
stop cleanly on SIGTERM (exit 0); run against `make asan`'s build to have
the sanitizers check every call as well.

    tests/fuzz/rpc_fuzz.py [--build build-asan] [--model PATH|none] [--seconds 120] [--rounds N] [--seed N]

The integration suite runs a short fixed-seed pass (test_fuzz.py).  A
crash prints the seed and the last calls so the run can be repeated.
Methods that would end the run (sys.shutdown) or reach outside the
daemon's own data (fs.mount of arbitrary host folders) are given safe
targets; processes are spawned only as `true` or `sleep`.
"""
import argparse
import base64
import json
import os
import random
import socket
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "sdk", "python"))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

import aios  # noqa: E402

SKIP = {"sys.shutdown"}
STRINGS = ["", "a", "~", "/", "..", "../../etc/passwd", "/home/other/x", "~/f.txt", "/shared/x",
           "\u00e9\u6f22\U0001f600", "x" * 5000, "<|im_start|>system", "%s%n%x", "\\u0000",
           "a\nb", "-1", "null", "*", "~/" + "d/" * 50 + "f"]
NUMBERS = [0, 1, -1, 2, 7, 64, 2**31 - 1, 2**31, -2**31, 2**53, 10**18, -10**18, 1e308, -0.5, 0.5, 3.7]


class Gen:
    def __init__(self, rng, scratch):
        self.rng = rng
        self.scratch = scratch

    def value(self, schema, depth=0):
        """A value that satisfies schema most of the time."""
        r = self.rng
        if not isinstance(schema, dict):
            return None
        if "enum" in schema:
            return r.choice(schema["enum"])
        if "const" in schema:
            return schema["const"]
        t = schema.get("type")
        if isinstance(t, list):
            t = r.choice(t)
        if t is None:
            t = r.choice(["string", "integer", "object", "array", "boolean"])
        if t == "string":
            lo, hi = schema.get("minLength", 0), min(schema.get("maxLength", 40), 200)
            if r.random() < 0.5:
                s = r.choice(STRINGS)
                if lo <= len(s) <= max(hi, lo):
                    return s
            n = r.randint(lo, max(lo, hi))
            return "".join(r.choice("abcxyz_-./~ 0189") for _ in range(n))
        if t in ("integer", "number"):
            lo = schema.get("minimum", -5)
            hi = schema.get("maximum", lo + 100)
            v = r.randint(int(lo), int(max(lo, min(hi, lo + 1000))))
            return v if t == "integer" else v + r.random() * (0 if v >= hi else 1)
        if t == "boolean":
            return r.random() < 0.5
        if t == "null":
            return None
        if t == "array":
            lo, hi = schema.get("minItems", 0), min(schema.get("maxItems", 4), 6)
            return [self.value(schema.get("items", {}), depth + 1) for _ in range(r.randint(lo, max(lo, hi)))]
        if t == "object":
            out = {}
            props = schema.get("properties", {})
            req = set(schema.get("required", []))
            for k, sub in props.items():
                if k in req or r.random() < 0.5:
                    out[k] = self.value(sub, depth + 1)
            return out
        return None

    def mutate(self, v, schema):
        """Break v in one of many ways."""
        r = self.rng
        kind = r.randrange(10)
        if not isinstance(v, dict) or kind == 0:
            return r.choice([None, [], "x", 5, True, [1, 2], {"": None}])
        props = list((schema or {}).get("properties", {}).keys()) or ["x"]
        k = r.choice(props)
        if kind == 1:
            v.pop(k, None)
        elif kind == 2:
            v["unknown_%d" % r.randrange(100)] = 1
        elif kind == 3:
            v[k] = r.choice(NUMBERS)
        elif kind == 4:
            v[k] = r.choice(STRINGS)
        elif kind == 5:
            v[k] = r.choice([None, True, [], {}, [None], {"a": {"b": [1]}}])
        elif kind == 6:
            deep = 1
            for _ in range(r.randint(10, 300)):
                deep = [deep]
            v[k] = deep
        elif kind == 7:
            v[k] = "y" * r.choice([0, 1, 4096, 70000, 1 << 20])
        elif kind == 8:
            v[k] = -abs(r.choice(NUMBERS)) - 1
        else:
            v[k] = {"$ref": "#"}
        return v

    def params(self, name, schema):
        r = self.rng
        v = self.value(schema)
        # keep side effects inside the run
        if name == "proc.spawn" and isinstance(v, dict):
            v["argv"] = r.choice([["true"], ["sleep", "0.2"], ["sh", "-c", "echo hi; exit 3"],
                                  ["/nonexistent/program"], [""]])
            v.pop("cwd", None) if r.random() < 0.7 else v.update(cwd="/nonexistent")
        if name == "fs.mount" and isinstance(v, dict):
            v["host_path"] = r.choice([self.scratch, "/nonexistent", "relative/path"])
        if name == "tool.call" and isinstance(v, dict):
            v["name"] = r.choice(["calculator", "shell", "fs_read", "nope", "python"])
            v["args"] = r.choice([{"expression": "2**10 + 7/3"}, {"command": "echo ok"},
                                  {"path": "~/f.txt"}, {}, {"expression": "1/0"},
                                  {"command": "cat /dev/zero | head -c 100000"},
                                  {"code": "print(1)"}])
        if name == "tool.register" and isinstance(v, dict) and r.random() < 0.5:
            v["manifest"] = {"name": "t%d" % r.randrange(5), "description": "x",
                             "params": {"type": "object"}, "run": {"argv": ["true"]}}
        if name in ("llm.complete", "llm.chat") and isinstance(v, dict):
            v["max_tokens"] = r.randint(0, 8)
        if name == "fs.write" and isinstance(v, dict) and r.random() < 0.3:
            v["content_b64"] = base64.b64encode(os.urandom(r.randint(0, 300))).decode()
            v.pop("content", None)
        if r.random() < 0.35:
            v = self.mutate(v, schema)
        return v


def raw_garbage(rng):
    return rng.choice([
        b'{"jsonrpc":"2.0","id":1,"method":"sys.ping"\n',
        b"\n", b"   \n", b"[]\n", b"[1,2]\n", b"null\n", b"42\n", b'"str"\n',
        b'{"jsonrpc":"1.0","id":1,"method":"sys.ping"}\n',
        b'{"jsonrpc":"2.0","id":{"a":1},"method":"sys.ping"}\n',
        b'{"jsonrpc":"2.0","id":1.5,"method":"sys.ping"}\n',
        b'{"jsonrpc":"2.0","id":1,"method":5}\n',
        b'{"jsonrpc":"2.0","id":1,"method":"sys.ping","params":[1]}\n',
        b'{"jsonrpc":"2.0","id":1,"method":"$/cancel","params":{"id":1}}\n',
        b'{"jsonrpc":"2.0","method":"$/cancel","params":{"id":"nope"}}\n',
        b'{"jsonrpc":"2.0","id":1,"method":"sys.ping","params":{}}{"jsonrpc":"2.0"}\n',
        b'{"jsonrpc":"2.0","id":1,"method":"sys.p\x00ing"}\n',
        b'{"jsonrpc":"2.0","id":1,"method":"sys.ping","params":{"\xff\xfe":1}}\n',
        b'{"jsonrpc":"2.0","id":"' + b"i" * 100000 + b'","method":"sys.ping"}\n',
        b"{" * 5000 + b"\n",
        b'{"jsonrpc":"2.0","id":9,"method":"sys.ping","params":{"a":' + b"[" * 3000 + b"]" * 3000 + b"}}\n",
        bytes(rng.randrange(256) for _ in range(rng.randint(1, 300))) + b"\n",
    ])


def run(build, model, seconds, seed, rounds=None, verbose=False):
    rng = random.Random(seed)
    tmp = tempfile.mkdtemp(prefix="aios-fuzz-")
    scratch = os.path.join(tmp, "hostdir")
    os.makedirs(scratch)
    with open(os.path.join(scratch, "a.md"), "w") as f:
        f.write("# host file\n\nsome words\n")
    os.environ["AIOS_BUILD"] = build
    import conftest  # noqa: E402 - reads AIOS_BUILD
    conftest.AIOSD = os.path.join(build, "aiosd")
    d = conftest.Daemon(tmp, model=model, extra=["--set", "llm.kv_mib=64", "--set", "proc.keep_exited=50"])
    d.args[d.args.index("--log-level") + 1] = "warn"
    d.start(timeout=120)
    gen = Gen(rng, scratch)
    with d.client() as k:
        methods = [m for m in k.call("sys.methods")["methods"] if m["name"] not in SKIP]
    history = []
    calls = errors = 0
    deadline = time.time() + seconds
    done_rounds = 0
    try:
        while time.time() < deadline and (rounds is None or done_rounds < rounds):
            done_rounds += 1
            agent = "fz%d" % rng.randrange(3)
            with d.client(agent=agent) as k:
                pending = []
                for _ in range(rng.randint(1, 12)):
                    m = rng.choice(methods)
                    p = gen.params(m["name"], m.get("params"))
                    history.append((m["name"], p))
                    del history[:-30]
                    calls += 1
                    try:
                        pending.append(k.call_async(m["name"], p))
                    except (aios.AiosError, ValueError, TypeError):
                        errors += 1
                # cancel some, wait for some, abandon the rest with the connection
                for c in pending:
                    if rng.random() < 0.2:
                        try:
                            c.cancel()
                        except Exception:
                            pass
                for c in pending:
                    if rng.random() < 0.7:
                        try:
                            c.result(3)   # watches and follows never end by themselves
                        except aios.AiosError:
                            errors += 1
                        except Exception:
                            try:
                                c.cancel()
                            except Exception:
                                pass
            # raw protocol garbage on a socket of its own, sometimes left mid-line
            s = socket.socket(socket.AF_UNIX)
            s.connect(d.socket)
            for _ in range(rng.randint(1, 5)):
                line = raw_garbage(rng)
                if rng.random() < 0.1:
                    line = line[: rng.randint(0, len(line))]
                try:
                    s.sendall(line)
                except OSError:
                    break
            s.close()
            if d.proc.poll() is not None:
                raise AssertionError("aiosd died (rc %s)" % d.proc.returncode)
            with aios.Client(d.socket, hello=False) as k:
                k.call("sys.ping", timeout=30)
    except BaseException:
        print("FAILED with seed %d after %d calls; last calls:" % (seed, calls), file=sys.stderr)
        for name, p in history[-10:]:
            print("  %s %s" % (name, json.dumps(p)[:300]), file=sys.stderr)
        print(d.log()[-6000:], file=sys.stderr)
        raise
    rc = d.stop()
    log = d.log()
    if rc != 0 or "ERROR: AddressSanitizer" in log or "runtime error:" in log or "LeakSanitizer" in log:
        print(log[-12000:], file=sys.stderr)
        raise AssertionError("aiosd stopped with rc %s (seed %d)" % (rc, seed))
    if verbose:
        print("rpc_fuzz: seed %d: %d calls (%d answered with an error), daemon healthy, clean stop"
              % (seed, calls, errors))
    return calls, errors


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build-asan"))
    ap.add_argument("--model", default="none")
    ap.add_argument("--seconds", type=float, default=120)
    ap.add_argument("--rounds", type=int, default=None, help="stop after N rounds (of 1-12 calls each)")
    ap.add_argument("--seed", type=int, default=None)
    a = ap.parse_args()
    seed = a.seed if a.seed is not None else random.randrange(1 << 30)
    run(os.path.abspath(a.build), a.model, a.seconds, seed, rounds=a.rounds, verbose=True)


if __name__ == "__main__":
    main()

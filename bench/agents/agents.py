#!/usr/bin/env python3
"""bench/agents - many agent processes chatting with one shared model.

Each agent is its own process: it connects to aiosd as agent "bench-<i>" and
holds a multi-turn chat (TURNS turns, TOKENS new tokens a turn, greedy,
ignore_eos so every turn generates exactly TOKENS tokens).  By default the
conversation lives in a named context (llm.chat "context"), so each turn
extends the saved state instead of re-sending and re-computing the history;
--history sends the whole history every turn instead (the prefix cache is
then what avoids recomputation).

For each N in --agents the same agents run once all at the same time and
once one after another (for large N, --seq-sample K runs K of them one
after another and scales the time by N/K: the agents are identical in
work).  Greedy decoding on a batch-invariant forward means both runs
generate the same tokens, so the makespans compare the same work.

    bench/agents/run.sh                # starts its own aiosd, 1/4/16/64 agents
    agents.py --socket S --agents 1,4,16 [--turns 4] [--tokens 64]

Prints per-N lines and a final
    RESULT speedup_1=<x> speedup_4=<x> speedup_16=<x> speedup_64=<x> tps_16=<tokens/s> ...
"""

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "sdk", "python"))

import aios  # noqa: E402

TOPICS = ["the sea", "a lighthouse", "a robot", "winter", "a city at night", "a mountain", "an old clock",
          "a river", "a library", "the moon", "a garden", "a train", "a desert", "a violin", "a forest", "a ship"]


def worker(args):
    """One agent: TURNS turns; prints one JSON line with its numbers."""
    i = args.worker
    k = aios.Client(args.socket, client="bench-agent", agent="bench-%d-%d" % (args.run, i))
    ctx = "conv-%d" % args.run
    history = []
    turns = []
    t0 = time.time()
    for t in range(args.turns):
        msg = {"role": "user", "content": "Turn %d. Tell me more about %s, agent %d." %
                                          (t + 1, TOPICS[i % len(TOPICS)], i)}
        history.append(msg)
        p = {"max_tokens": args.tokens, "temperature": 0, "ignore_eos": True, "stream": False}
        if args.history:
            p["messages"] = list(history)
        else:
            p["messages"] = [msg]
            p["context"] = ctx
        ts = time.time()
        r = k.call("llm.chat", p)
        history.append({"role": "assistant", "content": r["text"]})
        turns.append({"s": time.time() - ts, "out": r["usage"]["completion_tokens"],
                      "prompt": r["usage"]["prompt_tokens"], "cached": r["usage"]["cached_tokens"],
                      "ttft_ms": r["timings"]["ttft_ms"], "text": r["text"]})
    if not args.history:
        k.call("ctx.drop", {"name": ctx})
    k.close()
    print(json.dumps({"agent": i, "s": time.time() - t0, "turns": turns}))


def spawn(args, i, run):
    cmd = [sys.executable, os.path.abspath(__file__), "--socket", args.socket, "--worker", str(i),
           "--run", str(run), "--turns", str(args.turns), "--tokens", str(args.tokens)]
    if args.history:
        cmd.append("--history")
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)


def collect(procs):
    out = []
    for p in procs:
        line = p.stdout.read()
        if p.wait() != 0:
            raise SystemExit("an agent failed (exit %d)" % p.returncode)
        out.append(json.loads(line))
    return out


def measure(args, n, run):
    # all at once
    t0 = time.time()
    conc = collect([spawn(args, i, run) for i in range(n)])
    t_conc = time.time() - t0
    # one after another (a sample of them for large n)
    m = min(n, args.seq_sample) if args.seq_sample else n
    t0 = time.time()
    seq = []
    for i in range(m):
        seq += collect([spawn(args, i, run + 1)])
    t_seq = (time.time() - t0) * n / m
    tokens = sum(t["out"] for a in conc for t in a["turns"])
    same = all(conc[a["agent"]]["turns"][j]["text"] == a["turns"][j]["text"]
               for a in seq for j in range(args.turns))
    ttft = sorted(t["ttft_ms"] for a in conc for t in a["turns"])
    return {"n": n, "concurrent_s": t_conc, "sequential_s": t_seq, "seq_sampled": m, "speedup": t_seq / t_conc,
            "tokens": tokens, "tps_concurrent": tokens / t_conc, "tps_sequential": tokens / t_seq,
            "same_text": same, "ttft_p50_ms": ttft[len(ttft) // 2], "ttft_p99_ms": ttft[int(len(ttft) * 0.99)],
            "cached_tokens": sum(t["cached"] for a in conc for t in a["turns"]),
            "prompt_tokens": sum(t["prompt"] for a in conc for t in a["turns"])}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--socket", required=True)
    ap.add_argument("--agents", default="1,4,16,64")
    ap.add_argument("--turns", type=int, default=4)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--seq-sample", type=int, default=16,
                    help="for N above this, run this many agents one after another and scale (0 = all)")
    ap.add_argument("--history", action="store_true", help="send the whole history each turn (no context)")
    ap.add_argument("--worker", type=int, default=-1, help=argparse.SUPPRESS)
    ap.add_argument("--run", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker >= 0:
        worker(args)
        return
    results = []
    k = aios.Client(args.socket)
    for j, n in enumerate(int(x) for x in args.agents.split(",")):
        r = measure(args, n, 10 * (j + 1))
        st = k.call("sched.stats")
        r["preemptions"] = st["preemptions"]
        results.append(r)
        print("agents=%-3d concurrent %7.1f s  sequential %7.1f s%s  speedup %5.2fx  tokens/s %6.1f vs %6.1f  "
              "same text %s  TTFT p50 %.0f ms p99 %.0f ms  cached %d of %d prompt tokens" %
              (n, r["concurrent_s"], r["sequential_s"],
               "" if r["seq_sampled"] == n else " (%d run, scaled)" % r["seq_sampled"], r["speedup"],
               r["tps_concurrent"], r["tps_sequential"], r["same_text"], r["ttft_p50_ms"], r["ttft_p99_ms"],
               r["cached_tokens"], r["prompt_tokens"]), flush=True)
    st = k.call("sched.stats")
    print("engine: %d steps, %d preemptions (%d restored, %d recomputed), busy %.0f s" %
          (st["steps"], st["preemptions"], st["restores"], st["recomputes"], st["busy_s"]))
    print("RESULT " + " ".join("speedup_%d=%.2f" % (r["n"], r["speedup"]) for r in results) + " " +
          " ".join("tps_%d=%.1f" % (r["n"], r["tps_concurrent"]) for r in results) +
          " mode=%s turns=%d tokens=%d" % ("history" if args.history else "context", args.turns, args.tokens))


if __name__ == "__main__":
    main()

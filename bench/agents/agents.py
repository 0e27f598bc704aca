#!/usr/bin/env python3
"""bench/agents - many agent processes chatting with one shared model.

Each agent is its own process: it connects to aiosd as agent "bench-<i>" and
holds a multi-turn chat (TURNS turns, TOKENS new tokens a turn, greedy,
ignore_eos so every turn generates exactly TOKENS tokens).  By default the
conversation lives in a named context (llm.chat "context"), so each turn
extends the saved state instead of re-sending and re-computing the history;
--history sends the whole history every turn instead (the prefix cache is
then what avoids recomputation).

For each N in --agents the same agents run
  - all at the same time on the kernel (contexts kept across turns);
  - one after another on the same kernel (contexts too: the batching gain);
  - one after another the way agents run without an agent OS: each turn
    re-sends the whole history to a daemon whose prefix cache is off
    (--naive-socket), so every turn re-prefills everything.
For large N, --seq-sample K runs K of the agents one after another and
scales the time by N/K (the agents are alike in work).  Greedy decoding on
a batch-invariant forward means every run generates the same tokens, so the
makespans compare the same work.  Besides wall-clock makespans the daemons'
CPU time (utime + stime) per phase is reported: on these shared 2-core
machines other people's load changes wall times between phases, CPU time
much less.

    bench/agents/run.sh                # starts its own aiosd, 1/4/16/64 agents
    agents.py --socket S --agents 1,4,16 [--turns 4] [--tokens 64]

Prints per-N lines and a final
    RESULT speedup_16=<naive sequential / all at once> batching_16=<sequential / all at once>
           cpu_speedup_16=... tps_16=<tokens/s> ... (for every N)
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


def spawn(args, i, run, socket=None, history=None):
    cmd = [sys.executable, os.path.abspath(__file__), "--socket", socket or args.socket, "--worker", str(i),
           "--run", str(run), "--turns", str(args.turns), "--tokens", str(args.tokens)]
    if args.history if history is None else history:
        cmd.append("--history")
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)


def cpu_s(pid):
    """utime + stime of a process, in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def collect(procs):
    out = []
    for p in procs:
        line = p.stdout.read()
        if p.wait() != 0:
            raise SystemExit("an agent failed (exit %d)" % p.returncode)
        out.append(json.loads(line))
    return out


def phase(fn, pid):
    c0, t0 = cpu_s(pid), time.time()
    out = fn()
    return out, time.time() - t0, cpu_s(pid) - c0


def measure(args, n, run, pid, naive_pid):
    m = min(n, args.seq_sample) if args.seq_sample else n
    scale = n / m

    def seq(socket=None, history=None, r=run + 1):
        out = []
        for i in range(m):
            out += collect([spawn(args, i, r, socket, history)])
        return out

    # sequential before and after the concurrent run, averaged, to even out
    # changes in the machine's load
    s1, ts1, cs1 = phase(lambda: seq(r=run + 1), pid)
    conc, t_conc, c_conc = phase(lambda: collect([spawn(args, i, run) for i in range(n)]), pid)
    s2, ts2, cs2 = phase(lambda: seq(r=run + 2), pid)
    t_seq, c_seq = (ts1 + ts2) / 2 * scale, (cs1 + cs2) / 2 * scale
    r = {"n": n, "seq_sampled": m, "concurrent_s": t_conc, "sequential_s": t_seq, "cpu_concurrent_s": c_conc,
         "cpu_sequential_s": c_seq}
    if args.naive_socket:
        nv, t_nv, c_nv = phase(lambda: seq(args.naive_socket, True, run + 3), naive_pid)
        r.update({"naive_s": t_nv * scale, "cpu_naive_s": c_nv * scale})
        s1 = s1 + nv
    tokens = sum(t["out"] for a in conc for t in a["turns"])
    same = all(conc[a["agent"]]["turns"][j]["text"] == a["turns"][j]["text"]
               for a in s1 + s2 for j in range(args.turns))
    ttft = sorted(t["ttft_ms"] for a in conc for t in a["turns"])
    r.update({"batching": t_seq / t_conc, "cpu_batching": c_seq / max(c_conc, 1e-9),
              "tokens": tokens, "tps_concurrent": tokens / t_conc, "tps_sequential": tokens / t_seq,
              "same_text": same, "ttft_p50_ms": ttft[len(ttft) // 2], "ttft_p99_ms": ttft[int(len(ttft) * 0.99)],
              "cached_tokens": sum(t["cached"] for a in conc for t in a["turns"]),
              "prompt_tokens": sum(t["prompt"] for a in conc for t in a["turns"])})
    if args.naive_socket:
        r["speedup"] = r["naive_s"] / t_conc
        r["cpu_speedup"] = r["cpu_naive_s"] / max(c_conc, 1e-9)
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--socket", required=True)
    ap.add_argument("--agents", default="1,4,16,64")
    ap.add_argument("--turns", type=int, default=4)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--naive-socket", help="a daemon with llm.prefix_cache=false for the naive baseline")
    ap.add_argument("--seq-sample", type=int, default=4,
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
    pid = k.call("sys.info")["pid"]
    naive_pid = 0
    if args.naive_socket:
        with aios.Client(args.naive_socket) as kn:
            naive_pid = kn.call("sys.info")["pid"]
    for j, n in enumerate(int(x) for x in args.agents.split(",")):
        r = measure(args, n, 10 * (j + 1), pid, naive_pid)
        results.append(r)
        line = ("agents=%-3d all at once %6.1f s | one after another %6.1f s%s: batching %4.2fx (cpu %4.2fx)" %
                (n, r["concurrent_s"], r["sequential_s"],
                 "" if r["seq_sampled"] == n else " (%d run, scaled)" % r["seq_sampled"], r["batching"],
                 r["cpu_batching"]))
        if args.naive_socket:
            line += " | naive one after another %6.1f s: speedup %5.2fx (cpu %5.2fx)" % (
                r["naive_s"], r["speedup"], r["cpu_speedup"])
        line += (" | %.1f tokens/s | same text %s | TTFT p50 %.0f p99 %.0f ms | cached %d of %d prompt tokens" %
                 (r["tps_concurrent"], r["same_text"], r["ttft_p50_ms"], r["ttft_p99_ms"], r["cached_tokens"],
                  r["prompt_tokens"]))
        print(line, flush=True)
    st = k.call("sched.stats")
    print("engine: %d steps, %d preemptions (%d restored, %d recomputed), busy %.0f s" %
          (st["steps"], st["preemptions"], st["restores"], st["recomputes"], st["busy_s"]))
    fields = []
    for r in results:
        if args.naive_socket:
            fields.append("speedup_%d=%.2f cpu_speedup_%d=%.2f" % (r["n"], r["speedup"], r["n"], r["cpu_speedup"]))
        fields.append("batching_%d=%.2f cpu_batching_%d=%.2f tps_%d=%.1f" %
                      (r["n"], r["batching"], r["n"], r["cpu_batching"], r["n"], r["tps_concurrent"]))
    print("RESULT " + " ".join(fields) + " turns=%d tokens=%d" % (args.turns, args.tokens))


if __name__ == "__main__":
    main()

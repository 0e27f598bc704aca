#!/usr/bin/env python3
"""bench/agents/tail - tail latency of light agents next to a flooding one.

One agent keeps FLOOD requests in flight (resubmitting as they finish);
LIGHT agents each send one streamed request at a time.  For each policy the
light agents' time to first token and time between tokens are measured on
the client side (send -> first chunk, chunk -> chunk), and the engine's own
per-agent percentiles are read from sched.stats.

    bench/agents/tail.sh                    # starts its own aiosd
    tail.py --socket S [--policies fair,fifo] [--seconds 60]

Prints one line per policy and a final
    RESULT p99_ttft_fair_ms=<x> p99_tbt_fair_ms=<x> p99_ttft_fifo_ms=<x> ...
"""

import argparse
import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "sdk", "python"))

import aios  # noqa: E402


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(p / 100.0 * (len(v) - 1) + 0.5))] if v else float("nan")


def trial(args, policy, tag):
    adm = aios.Client(args.socket)
    adm.call("sched.set", {"policy": policy, "max_running": args.slots, "quantum": args.quantum})
    stop = threading.Event()
    flood = aios.Client(args.socket, agent="flood-%s" % tag)

    def flooder():
        inflight = []
        n = 0
        while not stop.is_set():
            inflight = [c for c in inflight if not c.done()]
            while len(inflight) < args.flood:
                inflight.append(flood.call_async("llm.complete", {
                    "prompt": "Flood request %d: write a long story." % n, "max_tokens": 32,
                    "temperature": 0, "ignore_eos": True, "stream": False}))
                n += 1
            time.sleep(0.05)
        for c in inflight:
            c.cancel()

    ttft, tbt = [], []
    lock = threading.Lock()

    def light(i):
        k = aios.Client(args.socket, agent="light-%s-%d" % (tag, i))
        j = 0
        while not stop.is_set():
            times = []
            t0 = time.time()
            c = k.call_async("llm.complete", {"prompt": "Light %d question %d:" % (i, j), "max_tokens": 16,
                                              "temperature": 0, "ignore_eos": True},
                             on_stream=lambda ch: times.append(time.time()))
            try:
                c.result(600)
            except aios.AiosError:
                break
            with lock:
                if times:
                    ttft.append((times[0] - t0) * 1000)
                    tbt.extend((b - a) * 1000 for a, b in zip(times, times[1:]))
            j += 1
        k.close()

    threads = [threading.Thread(target=flooder)] + [threading.Thread(target=light, args=(i,))
                                                    for i in range(args.light)]
    for t in threads:
        t.start()
    time.sleep(args.seconds)
    stop.set()
    for t in threads:
        t.join()
    flood.close()
    st = adm.call("sched.stats")
    agents = {a["agent"]: a for a in st["agents"]}
    fl = agents.get("agent:flood-%s" % tag, {})
    adm.close()
    return {"ttft_p50": pct(ttft, 50), "ttft_p99": pct(ttft, 99), "tbt_p50": pct(tbt, 50), "tbt_p99": pct(tbt, 99),
            "n": len(ttft), "flood_tokens": fl.get("tokens_out", 0),
            "light_tokens": sum(a["tokens_out"] for n, a in agents.items() if n.startswith("agent:light-%s" % tag))}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--socket", required=True)
    ap.add_argument("--policies", default="fair,fifo")
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--flood", type=int, default=24, help="requests the flooder keeps in flight")
    ap.add_argument("--light", type=int, default=3, help="light agents")
    ap.add_argument("--slots", type=int, default=8, help="max_running")
    ap.add_argument("--quantum", type=int, default=8)
    args = ap.parse_args()
    res = {}
    for i, p in enumerate(args.policies.split(",")):
        r = trial(args, p, "%s%d" % (p, i))
        res[p] = r
        print("%-8s light agents: TTFT p50 %7.0f ms p99 %7.0f ms | between tokens p50 %5.0f ms p99 %6.0f ms | "
              "%d light requests, tokens light %d / flood %d" %
              (p, r["ttft_p50"], r["ttft_p99"], r["tbt_p50"], r["tbt_p99"], r["n"], r["light_tokens"],
               r["flood_tokens"]), flush=True)
    print("RESULT " + " ".join("p99_ttft_%s_ms=%.0f p99_tbt_%s_ms=%.0f p50_ttft_%s_ms=%.0f" %
                               (p, r["ttft_p99"], p, r["tbt_p99"], p, r["ttft_p50"]) for p, r in res.items()))


if __name__ == "__main__":
    main()

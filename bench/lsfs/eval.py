#!/usr/bin/env python3
"""eval.py QUERIES.tsv CORPUS_DIR SEARCH.jsonl - retrieval quality of LSFS
keyword / semantic / hybrid search against a `grep -ril` baseline.

SEARCH.jsonl is the output of `lsfs-bench search --k 10`.  The baseline is
what a person does on a traditional file system: `grep -ril TERM CORPUS` for
each content word of the query, files ranked by how many of the words they
contain (ties: path order).  Reports recall@5 and MRR@10 per method and the
time per query, then a RESULT line.
"""
import json
import re
import statistics
import subprocess
import sys
import time

STOP = set("""a about above after again against all also am an and any are as at be because
been before being below between both but by can could did do does doing down during each few
for from further had has have having he her here hers herself him himself his how i if in into
is it its itself just me more most my myself no nor not now of off on once only or other our
ours ourselves out over own same she should so some such than that the their theirs them
themselves then there these they this those through to too under until up very was we were
what when where which while who whom why will with would you your yours yourself
yourselves""".split())


def load_queries(path):
    qs = []
    for line in open(path, encoding="utf-8"):
        if line.startswith("#") or "\t" not in line:
            continue
        q, rel = line.rstrip("\n").split("\t")
        qs.append((q, rel.split(",")))
    return qs


def grep_rank(corpus, query):
    terms = [w for w in re.findall(r"[A-Za-z0-9_]+", query.lower()) if w not in STOP] or \
        re.findall(r"[A-Za-z0-9_]+", query.lower())
    score = {}
    t0 = time.perf_counter()
    for t in terms:
        r = subprocess.run(["grep", "-ril", "--", t, corpus], capture_output=True, text=True)
        for p in r.stdout.splitlines():
            p = p[len(corpus):].lstrip("/")
            score[p] = score.get(p, 0) + 1
    ms = (time.perf_counter() - t0) * 1e3
    ranked = sorted(score, key=lambda p: (-score[p], p))
    return ranked[:10], ms


def metrics(ranked, relevant):
    rel = set(relevant)
    recall5 = len(rel & set(ranked[:5])) / len(rel)
    rr = 0.0
    for i, p in enumerate(ranked[:10]):
        if p in rel:
            rr = 1.0 / (i + 1)
            break
    return recall5, rr


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    queries = load_queries(sys.argv[1])
    corpus = sys.argv[2].rstrip("/")
    runs = {}
    for line in open(sys.argv[3]):
        r = json.loads(line)
        runs.setdefault(r["mode"], {})[r["q"]] = (r["results"], r["ms"])
    runs["grep -ril"] = {i: grep_rank(corpus, q) for i, (q, _) in enumerate(queries)}

    rows = []
    print("| method | recall@5 | MRR@10 | ms/query (mean) | ms/query (p50) |")
    print("|---|---|---|---|---|")
    for mode in ("grep -ril", "keyword", "semantic", "hybrid"):
        if mode not in runs:
            continue
        rs, mrr, ms = [], [], []
        for i, (q, rel) in enumerate(queries):
            ranked, t = runs[mode][i]
            r5, rr = metrics(ranked, rel)
            rs.append(r5)
            mrr.append(rr)
            ms.append(t)
        row = (mode, statistics.mean(rs), statistics.mean(mrr), statistics.mean(ms),
               statistics.median(ms))
        rows.append(row)
        print("| %s | %.3f | %.3f | %.2f | %.2f |" % row)
    print("queries: %d" % len(queries))
    print("RESULT " + " ".join("%s_recall5=%.3f %s_mrr=%.3f %s_ms=%.2f" %
                                (m.split()[0], r, m.split()[0], mr, m.split()[0], t)
                                for m, r, mr, t, _ in rows))


if __name__ == "__main__":
    main()

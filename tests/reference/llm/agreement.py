"""agreement.py - top-1 agreement between teacher-forced runs of the default
model on the same token sequences (the reference's prompts followed by its
greedy continuation).

Usage: agreement.py REF.json NAME=RUN.jsonl [NAME=RUN.jsonl ...]
                    [--greedy NAME=RUN.jsonl ...] [--json OUT.json]

REF.json is model/smollm2.json (gen_model.py): per prompt the tokens, the
greedy continuation and top-5 logits at every continuation position; it is
itself a teacher-forced run (named "ref").  Each RUN.jsonl has one line per
prompt, {"top": [[[id, logit], ...], ...], "greedy": [...]}, as written by
llama_ref (tests/reference/llm/llama_ref.c) or llmbench -f, where top[i] is
the prediction after the prompt and the first i continuation tokens.
Prints the pairwise top-1 agreement matrix over all positions, the pairwise
RMS difference of the logit of the reference's token (where both runs have
it in their top-5: a continuous measure of how far two implementations
are apart), and for each run against the reference: the disagreements with
both sides' margins (top-1 minus top-2 logit).  --greedy runs are free-running greedy
generations: the length of their common prefix with the reference's.
Standard library only.
"""
import json
import sys


def load_ref(path):
    d = json.load(open(path))
    return d, [p["top"] for p in d["prompts"]]


def load_run(path, n_prompts):
    runs = [json.loads(line) for line in open(path)]
    if len(runs) != n_prompts:
        sys.exit(f"{path}: {len(runs)} prompts, expected {n_prompts}")
    return [r["top"] for r in runs], [r["greedy"] for r in runs]


def main():
    args = sys.argv[1:]
    if not args:
        sys.exit(__doc__)
    ref, ref_top = load_ref(args[0])
    n_prompts = len(ref["prompts"])
    n_pos = len(ref["prompts"][0]["greedy"])
    runs, greedy, out_json = {"ref": ref_top}, {}, None
    mode = "forced"
    i = 1
    while i < len(args):
        a = args[i]
        if a == "--greedy":
            mode = "greedy"
        elif a == "--json":
            out_json = args[i + 1]
            i += 1
        else:
            name, path = a.split("=", 1)
            top, gr = load_run(path, n_prompts)
            if mode == "forced":
                runs[name] = top
            else:
                greedy[name] = gr
        i += 1
    names = list(runs)
    total = n_prompts * n_pos
    res = {"positions": total, "pairs": {}, "vs_ref": {}, "greedy_prefix": {}}

    def argmax(top, p, k):
        return top[p][k][0][0]

    def margin(top, p, k):
        return top[p][k][0][1] - top[p][k][1][1]

    print(f"teacher-forced top-1 agreement over {n_prompts} prompts x {n_pos} positions")
    print("%-14s" % "" + "".join("%14s" % n for n in names))
    for a in names:
        row = []
        for b in names:
            same = sum(argmax(runs[a], p, k) == argmax(runs[b], p, k)
                       for p in range(n_prompts) for k in range(n_pos))
            row.append(same)
            res["pairs"][f"{a}|{b}"] = same
        print("%-14s" % a + "".join("%14s" % ("%d %.1f%%" % (s, 100.0 * s / total)) for s in row))
    def logit_of(top, p, k, tok):
        for i, lg in top[p][k]:
            if i == tok:
                return lg
        return None

    print("RMS difference of the reference token's logit")
    print("%-14s" % "" + "".join("%14s" % n for n in names))
    for a in names:
        row = []
        for b in names:
            s2, cnt = 0.0, 0
            for p in range(n_prompts):
                for k in range(n_pos):
                    tok = ref["prompts"][p]["greedy"][k]
                    x, y = logit_of(runs[a], p, k, tok), logit_of(runs[b], p, k, tok)
                    if x is not None and y is not None:
                        s2 += (x - y) ** 2
                        cnt += 1
            row.append((s2 / max(cnt, 1)) ** 0.5)
            res["pairs"][f"rms:{a}|{b}"] = round(row[-1], 4)
        print("%-14s" % a + "".join("%14.4f" % v for v in row))
    def gap(p, k, tok):
        lg = logit_of(ref_top, p, k, tok)
        return 99.0 if lg is None else ref_top[p][k][0][1] - lg

    for name in names[1:]:
        dis, worst_logit = [], 0.0
        for p in range(n_prompts):
            for k in range(n_pos):
                mine = argmax(runs[name], p, k)
                tok = ref["prompts"][p]["greedy"][k]
                x = logit_of(runs[name], p, k, tok)
                if x is not None:
                    worst_logit = max(worst_logit, abs(x - ref_top[p][k][0][1]))
                if mine != tok:
                    dis.append((p, k, round(gap(p, k, mine), 4), round(margin(runs[name], p, k), 4)))
        worst = max((d[2] for d in dis), default=0.0)
        res["vs_ref"][name] = {"agree": total - len(dis), "max_ref_gap": worst,
                               "max_top_logit_diff": round(worst_logit, 4),
                               "disagreements": [list(d) for d in dis]}
        print(f"{name} vs ref: {total - len(dis)}/{total}, top logit within {worst_logit:.3f}; "
              "disagreements where the reference rates the choice below its best by "
              + ", ".join("%.3f" % d[2] for d in sorted(dis, key=lambda d: -d[2])[:10])
              + (" ..." if len(dis) > 10 else ""))
    for name, gr in greedy.items():
        pre, gaps = [], []
        for p in range(n_prompts):
            r = ref["prompts"][p]["greedy"]
            n = 0
            while n < len(r) and n < len(gr[p]) and gr[p][n] == r[n]:
                n += 1
            pre.append(n)
            if n < len(gr[p]) and n < len(r):
                gaps.append(round(gap(p, n, gr[p][n]), 4))
        res["greedy_prefix"][name] = {"prefix": pre, "reach32": sum(x >= 32 for x in pre),
                                      "max_ref_gap": max(gaps, default=0.0)}
        print(f"greedy {name}: common prefix with ref per prompt {pre}; "
              f"{sum(x >= 32 for x in pre)}/{n_prompts} reach 32; reference gaps where they part {gaps}")
    if out_json:
        with open(out_json, "w") as f:
            json.dump(res, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()

"""exact_ref.py - the default model's teacher-forced logits from an exact
float64 forward pass (gen_tiny.py's independent numpy implementation:
weights dequantized by the gguf package, no activation quantization, no
f16 rounding), in the run format of agreement.py, so every implementation
can be held against the model's exact arithmetic.

Usage: exact_ref.py MODEL.gguf REF.json OUT.jsonl   (needs numpy and gguf)
"""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_tiny  # noqa: E402


def main():
    model, ref_path, out_path = sys.argv[1:4]
    ref = json.load(open(ref_path))
    hp, ws, _ = gen_tiny.load(model)
    with open(out_path, "w") as f:
        for p in ref["prompts"]:
            toks = p["tokens"] + p["greedy"]
            lg = gen_tiny.forward(hp, ws, toks)[len(p["tokens"]) - 1:]
            top = []
            for row in lg:
                idx = np.argsort(-row)[:5]
                top.append([[int(j), round(float(row[j]), 6)] for j in idx])
            f.write(json.dumps({"top": top, "greedy": [t[0][0] for t in top]}, separators=(",", ":")) + "\n")
            f.flush()
            print(len(toks), "tokens", file=sys.stderr)


if __name__ == "__main__":
    main()

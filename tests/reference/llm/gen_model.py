"""gen_model.py - the default model under llama.cpp (llama-cpp-python), as the
reference for the engine's default-model test.

For each prompt: llama.cpp's token ids, its greedy continuation of N_GEN
tokens (every token evaluated in its own call, flash attention off: the
library's defaults) and, for the first N_TOP positions of the continuation,
the top-5 (id, logit) pairs.  Writes OUT/smollm2.json.  How well llama.cpp
agrees with this reference through its other code paths is measured by
measure_agreement.sh (model/agreement.json).
Usage: gen_model.py MODEL.gguf OUT
"""
import hashlib
import json
import os
import sys

import numpy as np
from llama_cpp import Llama

N_GEN, N_TOP, TOPK = 256, 256, 5
PROMPTS = [
    "The capital of France is",
    "Once upon a time, in a small village by the sea,",
    "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n",
    "<|im_start|>user\nWhat is an operating system?<|im_end|>\n<|im_start|>assistant\n",
    "List three prime numbers: 2, 3,",
    "The quick brown fox jumps over the lazy dog. The quick brown fox",
    "In 1969, the first humans landed on",
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nWrite a haiku about memory.<|im_end|>\n<|im_start|>assistant\n",
    "SELECT name, age FROM users WHERE",
    "Photosynthesis is the process by which plants",
]


def main():
    model, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    llm = Llama(model_path=model, n_ctx=1024, n_batch=512, logits_all=True, n_threads=1,
                verbose=False)
    res = {"model": os.path.basename(model),
           "model_sha256": hashlib.sha256(open(model, "rb").read()).hexdigest(),
           "llama_cpp_python": "0.3.36", "n_gen": N_GEN, "n_top": N_TOP, "prompts": []}
    for text in PROMPTS:
        toks = llm.tokenize(text.encode(), add_bos=False, special=True)
        llm.reset()
        # one token per call, like the generation that follows
        for t in toks:
            llm.eval([t])
        greedy, top = [], []
        for i in range(N_GEN):
            lg = np.asarray(llm.scores[llm.n_tokens - 1], dtype=np.float32)
            t = int(lg.argmax())
            if i < N_TOP:
                idx = np.argsort(-lg)[:TOPK]
                top.append([[int(j), round(float(lg[j]), 4)] for j in idx])
            greedy.append(t)
            llm.eval([t])
        res["prompts"].append({"text": text, "tokens": [int(t) for t in toks], "greedy": greedy,
                               "top": top})
        print(len(toks), "prompt tokens;", greedy[:12], file=sys.stderr)
    with open(os.path.join(out, "smollm2.json"), "w") as f:
        json.dump(res, f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()

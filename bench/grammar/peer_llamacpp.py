#!/usr/bin/env python3
"""Peer timing for bench/grammar: llama.cpp's grammar sampler on the same steps.

Reads the token ids and schemas grammar-bench wrote (DIR/<case>.tokens,
DIR/<case>.schema.json; a case without a schema is "any JSON object"),
converts each schema to GBNF with llama-cpp-python's converter, and times
llama_sampler_apply() of the grammar sampler over all 49,152 candidates at
every step of the same token sequence.  Prints one JSON line per case with
p50/p99/mean in microseconds.

    python peer_llamacpp.py MODEL.gguf DIR case [case ...]
"""
import ctypes
import json
import os
import statistics
import sys
import time

import llama_cpp
from llama_cpp import llama_grammar


def to_gbnf(text):
    """Schema text -> GBNF with llama-cpp-python's converter (its own
    json_schema_to_gbnf() resolves local $refs under a base URL that its
    lookups then miss, so the converter is driven directly)."""
    conv = llama_grammar.SchemaConverter(prop_order={}, allow_fetch=False, dotall=False,
                                         raw_pattern=False)
    schema = conv.resolve_refs(json.loads(text), "")
    conv.visit(schema, "")
    return conv.format_grammar()


def pct(v, q):
    v = sorted(v)
    return v[int((len(v) - 1) * q)]


def main():
    model, folder, cases = sys.argv[1], sys.argv[2], sys.argv[3:]
    llama_cpp.llama_backend_init()
    mp = llama_cpp.llama_model_default_params()
    mp.vocab_only = True
    m = llama_cpp.llama_model_load_from_file(model.encode(), mp)
    vocab = llama_cpp.llama_model_get_vocab(m)
    n = llama_cpp.llama_vocab_n_tokens(vocab)
    arr_t = llama_cpp.llama_token_data * n
    pristine = arr_t()
    for i in range(n):
        pristine[i].id = i
        pristine[i].logit = 0.0
        pristine[i].p = 0.0
    work = arr_t()
    for case in cases:
        tokens = [int(t) for t in open(os.path.join(folder, case + ".tokens")).read().split()]
        sp = os.path.join(folder, case + ".schema.json")
        if os.path.exists(sp):
            gbnf = to_gbnf(open(sp).read())
        else:
            gbnf = llama_grammar.JSON_GBNF
        t0 = time.perf_counter()
        smpl = llama_cpp.llama_sampler_init_grammar(vocab, gbnf.encode(), b"root")
        t_init = time.perf_counter() - t0
        if not smpl:
            print(json.dumps({"case": case, "error": "grammar did not parse"}))
            continue
        times = []
        refused = -1
        for step in range(len(tokens) + 1):
            ctypes.memmove(work, pristine, ctypes.sizeof(pristine))
            cur = llama_cpp.llama_token_data_array(data=work, size=n, selected=-1, sorted=False)
            t0 = time.perf_counter()
            llama_cpp.llama_sampler_apply(smpl, ctypes.byref(cur))
            times.append((time.perf_counter() - t0) * 1e6)
            if step == len(tokens):
                break
            tok = tokens[step]
            if work[tok].logit == float("-inf"):
                refused = step
                break
            llama_cpp.llama_sampler_accept(smpl, tok)
        llama_cpp.llama_sampler_free(smpl)
        print(json.dumps({"case": case, "steps": len(times), "refused_at": refused,
                          "init_ms": round(t_init * 1e3, 2),
                          "p50_us": round(statistics.median(times), 1),
                          "p99_us": round(pct(times, 0.99), 1),
                          "mean_us": round(statistics.fmean(times), 1)}), flush=True)
    llama_cpp.llama_model_free(m)


if __name__ == "__main__":
    main()

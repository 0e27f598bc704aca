#!/usr/bin/env python3
"""Time llama.cpp's tokenizer (llama-cpp-python 0.3.36, vocab_only) on a
file the way tokbench times ours: the whole file tokenized N times with
add_special=False, parse_special=False, then detokenized; one JSON line with
the same fields (ids hashed the same way) on stdout.

    peer.py MODEL.gguf INPUT [ITERATIONS]
"""
import ctypes
import json
import sys
import time

import llama_cpp


def main():
    model, path = sys.argv[1], sys.argv[2]
    iters = int(sys.argv[3]) if len(sys.argv) > 3 else 20

    @ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)
    def quiet(level, text, user):
        pass
    llama_cpp.llama_log_set(quiet, ctypes.c_void_p())
    llama_cpp.llama_backend_init()
    text = open(path, "rb").read()
    t0 = time.perf_counter()
    params = llama_cpp.llama_model_default_params()
    params.vocab_only = True
    m = llama_cpp.llama_model_load_from_file(model.encode(), params)
    vocab = llama_cpp.llama_model_get_vocab(m)
    build_ms = (time.perf_counter() - t0) * 1e3
    cap = len(text) + 16
    buf = (llama_cpp.llama_token * cap)()
    out = ctypes.create_string_buffer(len(text) * 4 + 1024)
    tt, td = [], []
    n = 0
    for _ in range(iters):
        t0 = time.perf_counter()
        n = llama_cpp.llama_tokenize(vocab, text, len(text), buf, cap, False, False)
        tt.append((time.perf_counter() - t0) * 1e3)
        assert n >= 0
        t0 = time.perf_counter()
        k = llama_cpp.llama_detokenize(vocab, buf, n, out, len(out), False, False)
        td.append((time.perf_counter() - t0) * 1e3)
        assert k >= 0
    h = 0xcbf29ce484222325
    for tid in buf[:n]:
        for byte in (tid & 0xffffffff).to_bytes(4, "little"):
            h = ((h ^ byte) * 0x100000001b3) & 0xffffffffffffffff
    tt.sort()
    td.sort()
    print(json.dumps({"bytes": len(text), "tokens": n, "build_ms": round(build_ms, 3),
                      "tok_ms_median": round(tt[iters // 2], 3), "tok_ms_min": round(tt[0], 3),
                      "detok_ms_median": round(td[iters // 2], 3), "ids_fnv": "%016x" % h}))
    llama_cpp.llama_model_free(m)
    del quiet


if __name__ == "__main__":
    main()

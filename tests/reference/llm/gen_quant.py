"""gen_quant.py - random blocks of every tensor type the engine supports,
dequantized by the gguf package, plus float64 dot products against random
float activation rows.  Output: OUT/<TYPE>.bin, little-endian:
  "LQF1", u32 type, u32 nrows, u32 n (elements per row), u32 nx,
  raw weight rows, float32 dequantized rows [nrows][n],
  float32 activations [nx][n], float64 dots [nx][nrows]
"""
import os
import struct
import sys

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import quants

SEED = 1234
NROWS, N, NX = 5, 256, 5

# byte layout facts per type: block bytes, elements per block, fp16 fields
LAYOUT = {
    T.Q8_0: (34, 32, [0]),
    T.Q4_0: (18, 32, [0]),
    T.Q4_1: (20, 32, [0, 2]),
    T.Q5_0: (22, 32, [0]),
    T.Q5_1: (24, 32, [0, 2]),
    T.Q4_K: (144, 256, [0, 2]),
    T.Q5_K: (176, 256, [0, 2]),
    T.Q6_K: (210, 256, [208]),
}


def random_blocks(rng, t):
    """Random bytes with sane fp16 scale fields (no inf/nan)."""
    bb, be, halfs = LAYOUT[t]
    nb = NROWS * N // be
    raw = rng.integers(0, 256, size=(nb, bb), dtype=np.uint8)
    for off in halfs:
        v = rng.uniform(0.002, 0.05, size=nb).astype(np.float16)
        if off == 2 and t in (T.Q4_1, T.Q5_1):
            v = rng.uniform(-0.3, 0.3, size=nb).astype(np.float16)
        raw[:, off:off + 2] = v.view(np.uint8).reshape(nb, 2)
    return raw.reshape(NROWS, -1)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(SEED)
    for t in [T.F32, T.F16, T.BF16, T.Q8_0, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1,
              T.Q4_K, T.Q5_K, T.Q6_K]:
        if t in LAYOUT:
            raw = random_blocks(rng, t)
        else:
            w = rng.standard_normal((NROWS, N)).astype(np.float32) * 0.1
            raw = quants.quantize(w, t) if t != T.F32 else w
            raw = np.ascontiguousarray(raw).view(np.uint8).reshape(NROWS, -1)
        deq = quants.dequantize(raw, t).astype(np.float32).reshape(NROWS, N)
        x = rng.standard_normal((NX, N)).astype(np.float32)
        dots = x.astype(np.float64) @ deq.astype(np.float64).T
        with open(os.path.join(out, t.name + ".bin"), "wb") as f:
            f.write(b"LQF1" + struct.pack("<4I", int(t), NROWS, N, NX))
            f.write(raw.tobytes())
            f.write(deq.tobytes())
            f.write(x.tobytes())
            f.write(dots.astype(np.float64).tobytes())
        print(t.name, raw.shape, float(np.abs(deq).max()))


if __name__ == "__main__":
    main()

"""gen_tiny.py - tiny random-weight models written with the gguf package, and
the logits of an independent float64 numpy forward pass over them.

Output in OUT/: <name>.gguf and <name>.ref, the latter little-endian:
  "LTR2", u32 n_tokens, u32 n_vocab, i32 tokens[n_tokens],
  float32 logits[n_tokens][n_vocab]   (every position, causal; exact math)
  float32 sim[n_tokens][n_vocab]      (the same with the engine's rounding
                                       simulated: 8-bit activation blocks
                                       before quantized matmuls, f16 K/V,
                                       f16 queries and attention weights)

The numpy pass is written from the architecture's definition (RMSNorm,
rotary embedding, grouped-query causal attention, SwiGLU FFN), not from the
engine's code; weights are taken from the written file through the gguf
package's reader and dequantizer, so it checks the engine's file reading as
well.  Usage: gen_tiny.py OUT  |  gen_tiny.py --check MODEL.gguf ids...
"""
import os
import struct
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T

SEED = 20240607
E, NH, NKV, FF, NL, VOCAB, CTX = 64, 4, 2, 64, 2, 64, 64
HD = E // NH

MODELS = [
    # name, arch, weight type, tied output, rope_freqs
    ("tiny_llama_f32", "llama", T.F32, False, False),
    ("tiny_llama_q8_0", "llama", T.Q8_0, True, False),
    ("tiny_llama_q4_0", "llama", T.Q4_0, False, True),
    ("tiny_qwen2_q8_0", "qwen2", T.Q8_0, True, False),
]
TOKENS = [1, 17, 5, 42, 63, 0, 9, 33, 33, 12, 7, 50, 2, 28, 61, 3, 44, 19, 8, 30]


def write_model(path, arch, wtype, tied, rope_freqs, rng):
    w = gguf.GGUFWriter(path, arch)
    w.add_name(os.path.basename(path))
    w.add_context_length(CTX)
    w.add_embedding_length(E)
    w.add_block_count(NL)
    w.add_feed_forward_length(FF)
    w.add_head_count(NH)
    w.add_head_count_kv(NKV)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_freq_base(10000.0 if arch == "llama" else 1000000.0)
    w.add_file_type(int(wtype) if wtype != T.F32 else 0)

    def mat(name, rows, cols, scale, qt=wtype):
        a = (rng.standard_normal((rows, cols)) * scale).astype(np.float32)
        if qt == T.F32:
            w.add_tensor(name, a)
        else:
            w.add_tensor(name, gguf.quants.quantize(a, qt), raw_dtype=qt)

    def vec(name, n, center, scale):
        w.add_tensor(name, (center + rng.standard_normal(n) * scale).astype(np.float32))

    mat("token_embd.weight", VOCAB, E, 1.0)
    vec("output_norm.weight", E, 1.0, 0.1)
    if not tied:
        mat("output.weight", VOCAB, E, 0.2)
    if rope_freqs:
        w.add_tensor("rope_freqs.weight", (1.0 + rng.random(HD // 2) * 3).astype(np.float32))
    s = 1.0 / np.sqrt(E)
    for l in range(NL):
        p = f"blk.{l}."
        vec(p + "attn_norm.weight", E, 1.0, 0.1)
        mat(p + "attn_q.weight", NH * HD, E, s * 2)
        mat(p + "attn_k.weight", NKV * HD, E, s * 2)
        mat(p + "attn_v.weight", NKV * HD, E, s)
        if arch == "qwen2":
            vec(p + "attn_q.bias", NH * HD, 0.0, 0.2)
            vec(p + "attn_k.bias", NKV * HD, 0.0, 0.2)
            vec(p + "attn_v.bias", NKV * HD, 0.0, 0.2)
        mat(p + "attn_output.weight", E, NH * HD, s)
        vec(p + "ffn_norm.weight", E, 1.0, 0.1)
        mat(p + "ffn_gate.weight", FF, E, s * 2)
        mat(p + "ffn_up.weight", FF, E, s * 2)
        mat(p + "ffn_down.weight", E, FF, 1.0 / np.sqrt(FF))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


# ---- the independent reference forward pass ----

def load(path):
    r = gguf.GGUFReader(path)
    arch = bytes(r.fields["general.architecture"].parts[-1]).decode()

    def kv(key, default=None):
        f = r.fields.get(f"{arch}.{key}")
        return default if f is None else f.parts[-1][0].item()

    hp = dict(arch=arch, E=kv("embedding_length"), NL=kv("block_count"), NH=kv("attention.head_count"),
              NKV=kv("attention.head_count_kv"), eps=kv("attention.layer_norm_rms_epsilon"),
              base=kv("rope.freq_base", 10000.0))
    ws, qt = {}, {}
    for t in r.tensors:
        qt[t.name] = t.tensor_type
        a = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float64)
        ws[t.name] = a.reshape([int(d) for d in reversed(t.shape)]) if a.ndim > 1 else a.reshape(-1)
    return hp, ws, qt


def rmsnorm(x, g, eps):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * g


def rope(v, pos, base, neox, freqs):
    # v: (T, heads, hd); rotate pairs (2i, 2i+1) or (i, i + hd/2)
    hd = v.shape[-1]
    inv = base ** (-np.arange(0, hd, 2) / hd)
    if freqs is not None:
        inv = inv / freqs
    ang = np.asarray(pos)[:, None] * inv[None, :]
    c, s = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
    out = v.copy()
    if neox:
        a, b = v[..., : hd // 2], v[..., hd // 2:]
        out[..., : hd // 2], out[..., hd // 2:] = a * c - b * s, a * s + b * c
    else:
        a, b = v[..., 0::2], v[..., 1::2]
        out[..., 0::2], out[..., 1::2] = a * c - b * s, a * s + b * c
    return out


def fake_q8(x):
    """Round rows to 32-element blocks of int8 the engine's way (GGUF's q8
    recipe): q = round-half-even(x * (127 / amax)) in float32, the scale
    amax / 127 kept at fp16."""
    x32 = x.astype(np.float32).reshape(x.shape[0], -1, 32)
    amax = np.abs(x32).max(-1, keepdims=True)
    d = (amax / np.float32(127)).astype(np.float32)
    idv = np.where(amax != 0, np.float32(127) / np.where(amax != 0, amax, 1), 0).astype(np.float32)
    q = np.round(x32 * idv)
    d16 = d.astype(np.float16).astype(np.float64)  # the scale is kept at fp16
    return (q * d16).reshape(x.shape)


def forward(hp, ws, tokens, sim=False, qtypes=None):
    def mm(x, name):
        if sim and qtypes[name] not in (T.F32, T.F16, T.BF16):
            x = fake_q8(x)
        return x @ ws[name].T

    def kvr(x):
        return x.astype(np.float16).astype(np.float64) if sim else x

    E, NHh, NKVh = hp["E"], hp["NH"], hp["NKV"]
    hd = E // NHh
    neox = hp["arch"] == "qwen2"
    freqs = ws.get("rope_freqs.weight")
    Tn = len(tokens)
    pos = np.arange(Tn)
    x = ws["token_embd.weight"][tokens]
    mask = np.triu(np.full((Tn, Tn), -np.inf), 1)
    for l in range(hp["NL"]):
        p = f"blk.{l}."
        h = rmsnorm(x, ws[p + "attn_norm.weight"], hp["eps"])
        q = mm(h, p + "attn_q.weight") + ws.get(p + "attn_q.bias", 0)
        k = mm(h, p + "attn_k.weight") + ws.get(p + "attn_k.bias", 0)
        v = mm(h, p + "attn_v.weight") + ws.get(p + "attn_v.bias", 0)
        q = kvr(rope(q.reshape(Tn, NHh, hd), pos, hp["base"], neox, freqs))
        k = kvr(rope(k.reshape(Tn, NKVh, hd), pos, hp["base"], neox, freqs))
        v = kvr(v.reshape(Tn, NKVh, hd))
        out = np.zeros((Tn, NHh, hd))
        for hh in range(NHh):
            kh = hh // (NHh // NKVh)
            sc = q[:, hh, :] @ k[:, kh, :].T / np.sqrt(hd) + mask
            sc = np.exp(sc - sc.max(-1, keepdims=True))
            sc /= sc.sum(-1, keepdims=True)
            out[:, hh, :] = kvr(sc) @ v[:, kh, :]
        x = x + mm(out.reshape(Tn, E), p + "attn_output.weight")
        h = rmsnorm(x, ws[p + "ffn_norm.weight"], hp["eps"])
        g = mm(h, p + "ffn_gate.weight")
        u = mm(h, p + "ffn_up.weight")
        x = x + mm(g / (1 + np.exp(-g)) * u, p + "ffn_down.weight")
    x = rmsnorm(x, ws["output_norm.weight"], hp["eps"])
    return mm(x, "output.weight" if "output.weight" in ws else "token_embd.weight")


def main():
    if sys.argv[1] == "--check":
        hp, ws, _ = load(sys.argv[2])
        ids = [int(t) for t in sys.argv[3:]]
        lg = forward(hp, ws, ids)
        print("argmax per position:", lg.argmax(-1).tolist())
        print("last top5:", np.argsort(-lg[-1])[:5].tolist(), np.sort(lg[-1])[::-1][:5].tolist())
        return
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(SEED)
    for name, arch, wtype, tied, rf in MODELS:
        path = os.path.join(out, name + ".gguf")
        write_model(path, arch, wtype, tied, rf, rng)
        hp, ws, qt = load(path)
        lg = forward(hp, ws, TOKENS).astype(np.float32)
        sim = forward(hp, ws, TOKENS, sim=True, qtypes=qt).astype(np.float32)
        with open(os.path.join(out, name + ".ref"), "wb") as f:
            f.write(b"LTR2" + struct.pack("<2I", len(TOKENS), lg.shape[1]))
            f.write(np.asarray(TOKENS, dtype=np.int32).tobytes())
            f.write(lg.tobytes())
            f.write(sim.tobytes())
        print(name, os.path.getsize(path), "bytes; logits std", float(lg.std()))


if __name__ == "__main__":
    main()

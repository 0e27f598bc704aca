#!/usr/bin/env python3
"""Write the tokenizer and chat-template fixtures (run through generate.sh).

Outputs, in --out:
  strings.json       the test strings (hex), each with a category; seeded and
                     deterministic, plus hand-written tricky cases
  <vocab>.json       per vocabulary, from llama.cpp (llama-cpp-python 0.3.36,
                     vocab_only): ids of every string with add_special=False,
                     parse_special=False ("a"); ids with add_special=True,
                     parse_special=True for a subset ("b"); llama_detokenize
                     output where it differs from the input ("d"); special ids,
                     the end-of-generation set, token attributes, and pieces
                     (a checksum over all of them plus samples)
  chat.json          chat renderings: each model template rendered with jinja2
                     as transformers does (trim_blocks, lstrip_blocks,
                     json.dumps-style tojson), a fixed date for strftime_now,
                     the leading BOS text removed
"""
import argparse
import ctypes
import json
import os
import random
import sys

import jinja2
import llama_cpp
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

PEER_VERSION = "0.3.36"
SEED = 20251127
N_GENERATED = 2300          # plus the hand-written cases

# vocabulary name, file (relative to the data folder), stride: every
# stride-th string is tokenized for it (the five pre-tokenizer kinds get all)
VOCABS = [
    ("smollm2", "models/SmolLM2-135M-Instruct.Q4_1.gguf", 1),
    ("gpt-2", "vocabs/ggml-vocab-gpt-2.gguf", 1),
    ("llama-bpe", "vocabs/ggml-vocab-llama-bpe.gguf", 1),
    ("qwen2", "vocabs/ggml-vocab-qwen2.gguf", 1),
    ("llama-spm", "vocabs/ggml-vocab-llama-spm.gguf", 1),
    ("phi-3", "vocabs/ggml-vocab-phi-3.gguf", 3),
    ("starcoder", "vocabs/ggml-vocab-starcoder.gguf", 3),
    ("mpt", "vocabs/ggml-vocab-mpt.gguf", 3),
]

# ---------------------------------------------------------------- strings

WORDS = ("the of and to in is was he for it with as his on be at by had are but from or have an "
         "they which one you were all we her she there would their will when who him been has more "
         "if no out do so can what up said about other into than its time only could new them man "
         "some these then two first may any like now my such make over our even most me state after "
         "also made many did must before back see through way where get much go well your know "
         "should down work year because come people just say each those take day good how long "
         "Mr own too little use US very great still men here life both between old under last never "
         "place same another think house while high right might came off find states since used give "
         "against three himself look few general hand school part small American home during number "
         "again Mrs around thought went without however Government don't world course company system "
         "tokenizer kernel agent scheduler SQLite Unix socket JSON-RPC syscall GGUF quantized Ünïcödé "
         "naïve café résumé coöperate façade jalapeño Zürich Ångström").split()

CODE_SNIPPETS = [
    "int main(int argc, char **argv)\n{\n\treturn 0;\n}\n",
    "def f(x):\n    if x > 0:\n        return x ** 2\n    return -x\n",
    "for (size_t i = 0; i < n; i++) {\n    sum += a[i] * b[i];\n}",
    "const x = {a: 1, b: [2, 3], c: \"four\"};\nconsole.log(x?.a ?? 0);",
    "SELECT id, name FROM users WHERE age >= 18 ORDER BY name DESC;",
    "#include <stdio.h>\n#define MAX(a, b) ((a) > (b) ? (a) : (b))\n",
    "{\"jsonrpc\": \"2.0\", \"id\": 7, \"method\": \"llm.chat\", \"params\": {}}",
    "if [ -f \"$FILE\" ]; then\n  echo \"ok\" >&2 && exit 1\nfi",
    "x = [i**2 for i in range(10) if i % 2 == 0]  # squares\n",
    "fn main() -> Result<(), Box<dyn Error>> {\n    println!(\"{}\", 1 + 2);\n    Ok(())\n}",
    "    \t  mixed\tindent\r\n\r\n  trailing   \n",
    "a->b.c[0] = *p++ & ~mask | (1 << 3) ^ 0xFF;",
    "<div class=\"x\">&amp; &lt;tag&gt;</div>",
    "@decorator\nclass A(B, metaclass=M):\n    __slots__ = ('x',)\n",
    "git commit -m 'fix: don\\'t crash' && git push origin HEAD:main",
    "/* comment */ // another\n/** doc\n * @param x\n */",
    "lambda x, y=2, *a, **k: (x, y, a, k)",
    "matrix = [[1, 2, 3],\n          [4, 5, 6]]\n",
]

SPECIAL_TEXTS = ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<s>", "</s>", "<unk>",
                 "<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>", "<|start_header_id|>",
                 "<|end_header_id|>", "<|fim_prefix|>", "<fim_prefix>", "<|user|>", "<|end|>",
                 "<|assistant|>", "<|system|>", "<repo_name>", "<|reserved_special_token_5|>",
                 "<jupyter_code>", "<filename>", "<empty_output>"]

EMOJI = ["😀", "🦙", "👍🏽", "❤️", "👨‍👩‍👧‍👦", "🇫🇷", "🏳️‍🌈", "✨", "🤖", "🧑‍💻", "☕", "🎉",
         "🙂🙃", "👩🏾‍🚀", "1️⃣", "🫠", "🪿"]

CJK = ["你好，世界！", "日本語のテキストです。", "東京タワー", "한국어 문장입니다.", "中文分词测试",
       "漢字かなカナ交じり文", "「引用」と『二重』", "ＦＵＬＬＷＩＤＴＨ　ｔｅｘｔ１２３", "ひらがな",
       "カタカナ", "這是繁體中文。", "我爱北京天安门", "안녕하세요"]

COMBINING = ["e\u0301", "a\u0308o\u0308u\u0308", "n\u0303", "Z\u0351\u0352\u0353a\u0354\u0355l\u0356g\u0357o",
             "\u0915\u094d\u0937", "\u0e01\u0e34\u0e19", "\u05e9\u05c1\u05b8\u05dc\u05d5\u05b9\u05dd",
             "\u0627\u064e\u0644\u0652", "\u1100\u1161\u11a8", "i\u0307", "\u0041\u030a",
             "\u1e9b\u0323", "q\u0307\u0323", "\u00e9\u0301", "\u20dd", "\u0301leading"]

UNICODE_WS = ["\u00a0", "\u1680", "\u2000", "\u2003", "\u2009", "\u200a", "\u2028", "\u2029",
              "\u202f", "\u205f", "\u3000", "\u0085", "\u000b", "\u000c", "\u001c", "\u200b",
              "\ufeff"]

CONTRACTIONS = ["I'm", "you're", "they've", "it's", "we'll", "he'd", "don't", "can't", "won't",
                "I'M", "DON'T", "It'S", "THEY'RE", "We'Ll", "'s", "'t", "'re", "'ve", "'m", "'ll",
                "'d", "''", "'", "rock'n'roll", "o'clock", "it’s", "l'été", "'S", "'LL", "'Re",
                "y'all'd've", "students'", "'tis"]

# Blocks random code points are drawn from (start, end inclusive).
BLOCKS = [(0x20, 0x7e), (0xa0, 0x24f), (0x370, 0x3ff), (0x400, 0x4ff), (0x590, 0x5ff),
          (0x600, 0x6ff), (0x900, 0x97f), (0xe00, 0xe7f), (0x1100, 0x11ff), (0x1e00, 0x1eff),
          (0x2000, 0x206f), (0x2070, 0x209f), (0x20a0, 0x20cf), (0x2100, 0x214f), (0x2150, 0x218f),
          (0x2190, 0x21ff), (0x2200, 0x22ff), (0x2460, 0x24ff), (0x2500, 0x257f), (0x3000, 0x303f),
          (0x3040, 0x30ff), (0x4e00, 0x9fff), (0xac00, 0xd7a3), (0xe000, 0xe0ff), (0xf900, 0xfaff),
          (0xfe00, 0xfe0f), (0xff00, 0xffef), (0xfff0, 0xffff), (0x10000, 0x1007f),
          (0x1d400, 0x1d7ff), (0x1f300, 0x1faff), (0x20000, 0x2a6df), (0xe0000, 0xe007f),
          (0x0, 0x1f), (0x7f, 0x9f), (0x30000, 0x3134f), (0x10fff0, 0x10ffff), (0x2fff0, 0x2ffff)]


def rnd_words(r, n):
    out = []
    for _ in range(n):
        w = r.choice(WORDS)
        if r.random() < 0.1:
            w = w.capitalize()
        if r.random() < 0.03:
            w = w.upper()
        out.append(w)
    s = " ".join(out)
    return s


def prose(r):
    parts = []
    for _ in range(r.randint(1, 3)):
        s = rnd_words(r, r.randint(2, 14))
        s = s[0].upper() + s[1:]
        s += r.choice([".", "!", "?", ",", ";", ":", "...", " .", " ,", " !", ""])
        parts.append(s)
    return r.choice([" ", "  ", "\n", " \n"]).join(parts)


def code(r):
    s = r.choice(CODE_SNIPPETS)
    if r.random() < 0.4:
        s = s.replace("    ", r.choice(["\t", "  ", "        "]))
    if r.random() < 0.3:
        s = r.choice(CODE_SNIPPETS) + "\n" + s
    return s


def whitespace(r):
    pieces = []
    for _ in range(r.randint(1, 6)):
        k = r.random()
        if k < 0.4:
            pieces.append(" " * r.randint(1, 9))
        elif k < 0.55:
            pieces.append("\t" * r.randint(1, 3))
        elif k < 0.7:
            pieces.append(r.choice(["\n", "\r\n", "\n\n", "\r", " \n ", "\n\t", "\r\n\r\n"]))
        elif k < 0.8:
            pieces.append(r.choice(UNICODE_WS) * r.randint(1, 2))
        else:
            pieces.append(rnd_words(r, r.randint(1, 3)))
    return "".join(pieces)


def digits(r):
    k = r.random()
    if k < 0.3:
        return str(r.randint(0, 10 ** r.randint(1, 15)))
    if k < 0.45:
        return "{:,}".format(r.randint(1000, 10 ** 10))
    if k < 0.55:
        return "%.*f" % (r.randint(1, 6), r.uniform(-1e6, 1e6))
    if k < 0.65:
        return rnd_words(r, 1) + str(r.randint(0, 99999)) + rnd_words(r, 1)
    if k < 0.75:
        return " ".join(str(r.randint(0, 9999)) for _ in range(r.randint(2, 6)))
    if k < 0.85:
        return "".join(r.choice("٠١٢٣٤٥٦٧٨٩０１２３４５６７８９²³¹½¼ⅫⅣ①⑩𝟘𝟙") for _ in range(r.randint(1, 6)))
    return "v%d.%d.%d-rc%d, 0x%x, 1e%d, %d%%" % (r.randint(0, 9), r.randint(0, 99), r.randint(0, 999),
                                             r.randint(1, 9), r.randint(0, 1 << 32), r.randint(-9, 99),
                                             r.randint(0, 100))


def contractions(r):
    out = []
    for _ in range(r.randint(1, 5)):
        if r.random() < 0.6:
            out.append(r.choice(CONTRACTIONS))
        else:
            out.append(rnd_words(r, 1))
    return r.choice([" ", "", "  "]).join(out)


def emoji(r):
    out = []
    for _ in range(r.randint(1, 5)):
        out.append(r.choice(EMOJI) if r.random() < 0.7 else rnd_words(r, 1))
    return r.choice([" ", ""]).join(out)


def cjk(r):
    out = []
    for _ in range(r.randint(1, 4)):
        out.append(r.choice(CJK) if r.random() < 0.7 else rnd_words(r, r.randint(1, 2)))
    return r.choice([" ", "", "\n"]).join(out)


def combining(r):
    out = []
    for _ in range(r.randint(1, 4)):
        out.append(r.choice(COMBINING) if r.random() < 0.7 else rnd_words(r, 1))
    return r.choice([" ", ""]).join(out)


def random_unicode(r):
    out = []
    for _ in range(r.randint(1, 24)):
        lo, hi = r.choice(BLOCKS)
        cp = r.randint(lo, hi)
        if 0xd800 <= cp <= 0xdfff:
            cp = 0xfffd
        out.append(chr(cp))
    return "".join(out)


def llama_would_fail(b):
    """llama.cpp throws on sequences that decode past U+10FFFF (F5..F7 leads
    with continuation bytes); keep those out of the fixtures."""
    i = 0
    while i < len(b):
        c = b[i]
        n = 1 if c < 0x80 or not c & 0x40 else 2 if not c & 0x20 else 3 if not c & 0x10 else \
            4 if not c & 0x08 else 0
        if n > 1 and i + n - 1 < len(b) and all(b[i + k] & 0xc0 == 0x80 for k in range(1, n)):
            if n == 4 and (((c & 7) << 18) | ((b[i + 1] & 0x3f) << 12)) >= 0x110000:
                return True
            i += n
        else:
            i += 1
    return False


def invalid_utf8(r):
    bad = [b"\x80", b"\xbf", b"\xc0\x80", b"\xc1\xbf", b"\xe0\x80\x80", b"\xed\xa0\x80",
           b"\xed\xbf\xbf", b"\xf0\x80\x80\x80", b"\xf4\x90\x80\x80", b"\xf8\x88\x80\x80\x80",
           b"\xfe", b"\xff", b"\xc3", b"\xe2\x82", b"\xf0\x9f\x98", b"\xf0\x9f", b"\xe2",
           b"\xc3\x28", b"\xe2\x28\xa1", b"\xf0\x28\x8c\xbc", b"\x00", b"\xef\xbf\xbd",
           b"\xf5\x80", b"\xf7", b"\xdf"]
    out = b""
    for _ in range(r.randint(1, 6)):
        k = r.random()
        if k < 0.45:
            out += r.choice(bad)
        elif k < 0.6:
            out += bytes(r.randint(0, 255) for _ in range(r.randint(1, 5)))
        else:
            out += rnd_words(r, r.randint(1, 2)).encode() + r.choice([b"", b" "])
    return out


def special_text(r):
    out = []
    for _ in range(r.randint(1, 5)):
        k = r.random()
        if k < 0.5:
            out.append(r.choice(SPECIAL_TEXTS))
        elif k < 0.6:
            s = r.choice(SPECIAL_TEXTS)
            out.append(s[:r.randint(1, len(s) - 1)])
        elif k < 0.7:
            out.append(r.choice(["\n", " ", "  ", "\n\n", " \n"]))
        else:
            out.append(rnd_words(r, r.randint(1, 3)))
    return "".join(out)


def long_text(r):
    k = r.random()
    if k < 0.4:
        return "\n\n".join(prose(r) for _ in range(r.randint(8, 20)))
    if k < 0.7:
        return "\n".join(code(r) for _ in range(r.randint(6, 12)))
    return "".join(r.choice([prose(r), cjk(r), emoji(r), whitespace(r), digits(r)])
                   for _ in range(r.randint(10, 30)))


CATEGORIES = [
    ("ascii_prose", prose, 280),
    ("code", code, 180),
    ("whitespace", whitespace, 200),
    ("digits", digits, 200),
    ("contractions", contractions, 160),
    ("emoji", emoji, 140),
    ("cjk", cjk, 140),
    ("combining", combining, 120),
    ("random_unicode", random_unicode, 200),
    ("invalid_utf8", invalid_utf8, 200),
    ("special", special_text, 160),
    ("long", long_text, 8),
]

HAND_WRITTEN = [
    "", " ", "  ", "   ", "\t", "\n", "\n\n", "\n\n\n", "\t\n", "Hello world", " Hello world",
    "Hello World", "HELLO WORLD", " this is 🦙.cpp", "w048 7tuijk dsdfhu", "нещо на Български",
    "កាន់តែពិសេសអាចខលចេញ", "🚀 (normal) 😶‍🌫️ (multiple emojis concatenated) ✅ (only emoji that has its own token)",
    "Hello", " Hello", "  Hello", "   Hello", "    Hello", "    Hello\n    Hello", " (", "\n =",
    "' era", "Hello, y'all! How are you 😁 ?我想在apple工作1314151天～", "!!!!!!", "3", "33", "333",
    "3333", "33333", "333333", "3333333", "33333333", "333333333", "Cửa Việt", " discards",
    "I'm", "I 'm", "can't", "it 's", " ' ", " 'x' ", "a ' b", "Hello ?", "Hello .", "x , y",
    "don 't", "we 're", "they 've", "I 'll", "he 'd", " 's", "word's", "'''", "<|im_start|>",
    "<|im_start|>user\nHi<|im_end|>\n", "<|im_start|> user", "text<|im_end|>text",
    "<|im_start|><|im_end|>", "<|im_start|<|im_end|>", "<<|im_start|>>", "<s>Hello</s>",
    "<s> Hello</s> ", "<|endoftext|><|endoftext|>", "<|begin_of_text|>Hi<|eot_id|>",
    "<|user|>\nhi<|end|>\n<|assistant|>", "\u00a0", "a\u00a0b", "a\u3000b", "\u2028", "x\u2029y",
    "\u0085", "\r\n", "\r", " \r\n ", "\u200b", "\ufeff", "\ufffd", "\x00", "a\x00b", "\x7f",
    "e\u0301e\u0301", "\U0001F469\u200D\U0001F4BB", "x" * 300, " " * 200, "\n" * 50, "1" * 100,
    "ab" * 150, "🦙" * 40, "日本" * 60,
]

HAND_WRITTEN_BYTES = [b"\xff\xfe", b"\xc3", b"abc\xe2\x82", b"\xed\xa0\x80\xed\xb0\x80",
                      b"\xc0\x80", b"\xe0\x80\xaf", b"\xf4\x8f\xbf\xbf", b"\xf4\x90\x80",
                      b"\x80\x80\x80", b"a\xc3(b", b"\xf0\x9f\xa6\x99\xf0\x9f"]


def make_strings():
    r = random.Random(SEED)
    out = [("hand", s.encode("utf-8", "surrogatepass")) for s in HAND_WRITTEN]
    out += [("hand_bytes", b) for b in HAND_WRITTEN_BYTES]
    assert not any(llama_would_fail(b) for _, b in out)
    for cat, fn, n in CATEGORIES:
        made = 0
        while made < n:
            s = fn(r)
            b = s if isinstance(s, bytes) else s.encode("utf-8")
            if llama_would_fail(b):
                continue
            out.append((cat, b))
            made += 1
    assert len(out) >= 2000
    return out

# ---------------------------------------------------------------- llama.cpp


def quiet_llama():
    @ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)
    def log_cb(level, text, user):
        pass
    llama_cpp.llama_log_set(log_cb, ctypes.c_void_p())
    return log_cb


class Vocab:
    def __init__(self, path):
        params = llama_cpp.llama_model_default_params()
        params.vocab_only = True
        self.model = llama_cpp.llama_model_load_from_file(path.encode(), params)
        if not self.model:
            raise SystemExit("cannot load %s" % path)
        self.vocab = llama_cpp.llama_model_get_vocab(self.model)
        self.n = llama_cpp.llama_vocab_n_tokens(self.vocab)

    def tokenize(self, b, add_special, parse_special):
        cap = len(b) * 2 + 16
        buf = (llama_cpp.llama_token * cap)()
        n = llama_cpp.llama_tokenize(self.vocab, b, len(b), buf, cap, add_special, parse_special)
        if n < 0:
            cap = -n
            buf = (llama_cpp.llama_token * cap)()
            n = llama_cpp.llama_tokenize(self.vocab, b, len(b), buf, cap, add_special, parse_special)
        assert n >= 0
        return list(buf[:n])

    def detokenize(self, ids, special):
        arr = (llama_cpp.llama_token * max(1, len(ids)))(*ids)
        cap = 64 + 16 * len(ids)
        while True:
            out = ctypes.create_string_buffer(cap)
            n = llama_cpp.llama_detokenize(self.vocab, arr, len(ids), out, cap, False, special)
            if n >= 0:
                return out.raw[:n]
            cap = -n + 1

    def piece(self, tid, special):
        cap = 256
        while True:
            out = ctypes.create_string_buffer(cap)
            n = llama_cpp.llama_token_to_piece(self.vocab, tid, out, cap, 0, special)
            if n >= 0:
                return out.raw[:n]
            cap = -n

    def close(self):
        llama_cpp.llama_model_free(self.model)


def fnv1a64(chunks):
    h = 0xcbf29ce484222325
    for c in chunks:
        for byte in c:
            h ^= byte
            h = (h * 0x100000001b3) & 0xffffffffffffffff
    return "%016x" % h


def vocab_fixture(name, path, strings, stride):
    v = Vocab(path)
    nv = v.n
    r = random.Random(SEED + len(name))
    pieces_sp = [v.piece(t, True) for t in range(nv)]
    pieces_pl = [v.piece(t, False) for t in range(nv)]
    a, b, d, san = {}, {}, {}, {}
    d_upto = -1
    for i, (cat, s) in enumerate(strings):
        if i % stride:
            continue
        ids = v.tokenize(s, False, False)
        a[str(i)] = ids
        if cat in ("special", "hand", "hand_bytes") or i % 8 == 0:
            b[str(i)] = v.tokenize(s, True, True)
        # llama_detokenize output for short strings (all of them up to index
        # d_upto), stored only where it differs from the input
        if len(s) <= 256 and len(d) < 200:
            det = v.detokenize(ids, False)
            if det != s:
                d[str(i)] = det.hex()
            d_upto = i
        # what a UTF-8-safe stream must print: the joined pieces decoded by
        # Python with errors="replace"
        if cat in ("invalid_utf8", "hand_bytes"):
            joined = b"".join(pieces_pl[t] for t in ids)
            san[str(i)] = joined.decode("utf-8", "replace").encode("utf-8").hex()
    # every string joined into one long text (~250 KB): the long-input path
    joined = v.tokenize(b"\n".join(x for _, x in strings), False, False)
    attrs = [llama_cpp.llama_vocab_get_attr(v.vocab, t) for t in range(nv)]
    runs = []
    for t, at in enumerate(attrs):
        if runs and runs[-1][2] == at and runs[-1][0] + runs[-1][1] == t:
            runs[-1][1] += 1
        else:
            runs.append([t, 1, at])

    def lp(p):
        return [len(p).to_bytes(4, "little"), p]
    sample = sorted(r.sample(range(nv), min(300, nv)))
    special_ids = [t for t in range(nv) if attrs[t] & (8 | 16 | 1)]
    fx = {
        "vocab": name,
        "file": path.split("/aios/", 1)[-1],
        "peer": "llama-cpp-python %s" % PEER_VERSION,
        "n_vocab": nv,
        "bos": llama_cpp.llama_vocab_bos(v.vocab),
        "eos": llama_cpp.llama_vocab_eos(v.vocab),
        "eot": llama_cpp.llama_vocab_eot(v.vocab),
        "add_bos": bool(llama_cpp.llama_vocab_get_add_bos(v.vocab)),
        "add_eos": bool(llama_cpp.llama_vocab_get_add_eos(v.vocab)),
        "eog": [t for t in range(nv) if llama_cpp.llama_vocab_is_eog(v.vocab, t)],
        "attr_runs": runs,
        "pieces_fnv_special": fnv1a64(c for p in pieces_sp for c in lp(p)),
        "pieces_fnv_plain": fnv1a64(c for p in pieces_pl for c in lp(p)),
        "pieces_sample": [[t, pieces_sp[t].hex(), pieces_pl[t].hex()]
                          for t in sorted(set(sample) | set(special_ids[:200]))],
        "a": a,
        "b": b,
        "d": d,
        "d_upto": d_upto,
        "joined": {"n_ids": len(joined),
                   "fnv": fnv1a64(t.to_bytes(4, "little", signed=True) for t in joined)},
        "stream": san,
    }
    v.close()
    return fx

# ---------------------------------------------------------------- chat

FIXED_DATE = "02 Jan 2025"

CHATS = [
    [{"role": "user", "content": "Hello"}],
    [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Hi!"}],
    [{"role": "user", "content": "What is 2+2?"}, {"role": "assistant", "content": "4"},
     {"role": "user", "content": "And 3+3?"}],
    [{"role": "system", "content": "  padded system  \n"}, {"role": "user", "content": "\n\n  spaced user \t"},
     {"role": "assistant", "content": " a "}],
    [{"role": "user", "content": "Call the tool"}, {"role": "assistant", "content": "calling"},
     {"role": "tool", "content": "{\"temp\": 21, \"unit\": \"C\"}"}, {"role": "user", "content": "thanks"}],
    [{"role": "user", "content": "a"}, {"role": "tool", "content": "one"}, {"role": "tool", "content": "two\nlines"},
     {"role": "assistant", "content": "ok"}],
    [{"role": "user", "content": "日本語と emoji 🦙 and\u00a0nbsp\u3000"}],
    [{"role": "user", "content": ""}],
    [{"role": "user", "content": "contains <|im_end|> and <|eot_id|> text"}],
    [{"role": "system", "content": "S1"}, {"role": "system", "content": "S2"}, {"role": "user", "content": "U"}],
    [{"role": "assistant", "content": "I start"}, {"role": "user", "content": "then me"}],
    [{"role": "user", "content": "quote \" backslash \\ tab \t ctrl \x01 end"}, {"role": "tool", "content": "\"q\" \\ \x1f"}],
    [],
]

TEMPLATES = [
    # (name, source, expected style)
    ("smollm2", "gguf:models/SmolLM2-135M-Instruct.Q4_1.gguf", "chatml"),
    ("qwen2", "gguf:vocabs/ggml-vocab-qwen2.gguf", "chatml"),
    ("qwen2.5", "file:vocabs/templates/Qwen-Qwen2.5-7B-Instruct.jinja", "chatml-tools"),
    ("llama3", "file:vocabs/templates/llama3-test.jinja", "llama3"),
    ("llama3.1", "file:vocabs/templates/meta-llama-Llama-3.1-8B-Instruct.jinja", "llama3.1"),
    ("llama3.2", "file:vocabs/templates/meta-llama-Llama-3.2-3B-Instruct.jinja", "llama3.1"),
    ("llama3.3", "file:vocabs/templates/meta-llama-Llama-3.3-70B-Instruct.jinja", "llama3.1"),
    ("gemma2", "file:vocabs/templates/google-gemma-2-2b-it.jinja", "fallback"),
    ("phi3.5", "file:vocabs/templates/microsoft-Phi-3.5-mini-instruct.jinja", "fallback"),
]


def hf_env():
    def raise_exception(msg):
        raise jinja2.exceptions.TemplateError(msg)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                          sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: FIXED_DATE if fmt == "%d %b %Y" else fmt
    return env


def chat_fixture(data):
    env = hf_env()
    cases = []
    for name, src, style in TEMPLATES:
        kind, rel = src.split(":", 1)
        bos = {"smollm2": "<|im_start|>", "qwen2": "<|endoftext|>", "qwen2.5": "<|endoftext|>"}.get(
            name, "<|begin_of_text|>")
        eos = "<|im_end|>" if name.startswith(("smollm", "qwen")) else "<|eot_id|>"
        v = None
        if kind == "gguf":
            v = Vocab(os.path.join(data, rel))
            buf = ctypes.create_string_buffer(1 << 16)
            n = llama_cpp.llama_model_meta_val_str(v.model, b"tokenizer.chat_template", buf, len(buf))
            text = buf.value.decode("utf-8") if n > 0 else None
        else:
            text = open(os.path.join(data, rel), encoding="utf-8").read()
        tmpl = env.from_string(text)
        for ci, msgs in enumerate(CHATS):
            for agp in (True, False):
                if style == "llama3" and not agp:
                    continue    # this template always adds the assistant header
                try:
                    out = tmpl.render(messages=msgs, add_generation_prompt=agp, bos_token=bos,
                                      eos_token=eos)
                except Exception as e:  # noqa: BLE001 - recorded as an expected failure
                    out = None
                    err = str(e)
                # the BOS text a template writes itself is dropped: the
                # tokenizer adds BOS by the file's rule
                if out is not None and "bos_token" in text and out.startswith(bos):
                    out = out[len(bos):]
                case = {"template": name, "source": src, "style": style, "chat": ci,
                        "add_generation_prompt": agp, "date": FIXED_DATE}
                if out is None:
                    case["error"] = err
                else:
                    case["expected"] = out
                    if v is not None:
                        # the prompt as llama.cpp tokenizes it (BOS by the
                        # file's rule, special tokens parsed)
                        case["ids"] = v.tokenize(out.encode("utf-8"), True, True)
                cases.append(case)
        if v is not None:
            v.close()
    return {"peer": "jinja2 %s (transformers-style environment)" % jinja2.__version__,
            "chats": CHATS, "cases": cases}

# ---------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--only", default=None, help="comma-separated vocab names")
    args = ap.parse_args()
    if llama_cpp.__version__ != PEER_VERSION:
        sys.exit("need llama-cpp-python %s, have %s" % (PEER_VERSION, llama_cpp.__version__))
    if jinja2.__version__ != "3.1.6":
        sys.exit("need jinja2 3.1.6, have %s" % jinja2.__version__)
    cb = quiet_llama()
    llama_cpp.llama_backend_init()
    strings = make_strings()
    with open(os.path.join(args.out, "strings.json"), "w") as f:
        json.dump({"seed": SEED, "count": len(strings),
                   "strings": [{"cat": c, "hex": s.hex()} for c, s in strings]}, f, indent=0)
        f.write("\n")
    only = set(args.only.split(",")) if args.only else None
    for name, rel, stride in VOCABS:
        if only and name not in only:
            continue
        path = os.path.join(args.data, rel)
        if not os.path.exists(path):
            sys.exit("missing %s (run `make model`)" % path)
        fx = vocab_fixture(name, path, strings, stride)
        with open(os.path.join(args.out, "%s.json" % name), "w") as f:
            json.dump(fx, f, separators=(",", ":"))
            f.write("\n")
        print("%s: %d strings, %d with mode b, %d detok diffs" % (name, len(fx["a"]), len(fx["b"]),
                                                                 len(fx["d"])))
    with open(os.path.join(args.out, "chat.json"), "w") as f:
        json.dump(chat_fixture(args.data), f, indent=1, ensure_ascii=False)
        f.write("\n")
    del cb


if __name__ == "__main__":
    main()

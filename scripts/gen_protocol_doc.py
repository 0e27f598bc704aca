#!/usr/bin/env python3
"""Regenerate the method and error reference in docs/protocol.md from the
syscall table and the error table of a built aiosd (the single source).

    gen_protocol_doc.py build/aiosd docs/protocol.md          # rewrite
    gen_protocol_doc.py --check build/aiosd docs/protocol.md  # fail if stale
"""
import json
import subprocess
import sys

BEGIN, END = "<!-- generated:begin -->", "<!-- generated:end -->"
FLAGS = [(1, "worker pool"), (2, "streams"), (4, "admin only"), (8, "cancellable"),
         (16, "mutates"), (32, "no capability needed")]


def schema_rows(schema, prefix=""):
    req = set(schema.get("required", []))
    for name, sub in schema.get("properties", {}).items():
        t = sub.get("type") or ("enum" if "enum" in sub else "any")
        if isinstance(t, list):
            t = " | ".join(t)
        if "enum" in sub:
            t = " \\| ".join("`%s`" % json.dumps(v) for v in sub["enum"])
        elif "anyOf" in sub or "oneOf" in sub:
            t = " \\| ".join(x.get("type", "object") for x in sub.get("anyOf", sub.get("oneOf")))
        else:
            t = t.replace("|", "\\|")
        extra = []
        for k in ("minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems"):
            if k in sub:
                extra.append("%s %s" % (k, sub[k]))
        if "default" in sub:
            extra.append("default `%s`" % json.dumps(sub["default"]))
        desc = sub.get("description", "")
        if extra:
            desc = (desc + " (" + ", ".join(extra) + ")").strip()
        yield "| `%s%s` | %s | %s | %s |" % (prefix, name, t, "yes" if name in req else "", desc.replace("|", "\\|"))


def render(methods, errors):
    out = [BEGIN, "", "## Methods", "",
           "Generated from the syscall table by `make docs`; do not edit by hand.", ""]
    fams = []
    for m in methods:
        f = m["name"].split(".")[0]
        if f not in fams:
            fams.append(f)
    for f in fams:
        out += ["### `%s.*`" % f, ""]
        for m in (m for m in methods if m["name"].split(".")[0] == f):
            flags = [n for bit, n in FLAGS if m["flags"] & bit]
            out += ["#### `%s`" % m["name"], "", m["help"] + ".", ""]
            rows = list(schema_rows(m["params"]))
            if rows:
                out += ["| param | type | required | notes |", "|---|---|---|---|"] + rows + [""]
            else:
                out += ["No parameters.", ""]
            if m["result"]:
                out += ["Result: `%s`" % m["result"], ""]
            if m["errors"]:
                out += ["Errors: " + ", ".join("`%s`" % e for e in m["errors"].split()), ""]
            if flags:
                out += ["Flags: " + ", ".join(flags), ""]
    out += ["## Error codes", "",
            "Generated from `include/aios/error.h`. `error.data.name` carries the name.", "",
            "| name | C code | JSON-RPC code | message |", "|---|---|---|---|"]
    for e in errors:
        out.append("| `%s` | %d | %d | %s |" % (e["name"], e["code"], e["rpc"], e["message"]))
    out += ["", END]
    return "\n".join(out)


def main():
    args = sys.argv[1:]
    check = args and args[0] == "--check"
    if check:
        args = args[1:]
    aiosd, doc = args
    methods = json.loads(subprocess.check_output([aiosd, "--dump-methods"]))
    errors = json.loads(subprocess.check_output([aiosd, "--dump-errors"]))
    text = open(doc).read()
    if BEGIN not in text or END not in text:
        sys.exit("%s: markers %s / %s missing" % (doc, BEGIN, END))
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    new = head + render(methods, errors) + tail
    if check:
        if new != text:
            sys.exit("%s is stale: run `make docs`" % doc)
        return
    with open(doc, "w") as f:
        f.write(new)


if __name__ == "__main__":
    main()

"""The generated method reference in docs/protocol.md matches the table."""
import os
import subprocess
import sys

from conftest import AIOSD, ROOT


def test_protocol_doc_is_current():
    r = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "gen_protocol_doc.py"), "--check",
                        AIOSD, os.path.join(ROOT, "docs", "protocol.md")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr + r.stdout

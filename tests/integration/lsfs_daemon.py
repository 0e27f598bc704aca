"""lsfs_daemon - start a real aiosd for the LSFS integration tests.

A small helper rather than a conftest fixture so that it can sit beside the
lead's conftest.py: Daemon(tmp_path) starts build/aiosd on a private socket
and data folder and stops it; kill() sends SIGKILL (crash tests); restart()
starts a new daemon on the same data folder.
"""

import os
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "sdk", "python"))

import aios  # noqa: E402

BUILD = os.environ.get("AIOS_BUILD", os.path.join(ROOT, "build"))


def embed_model_path():
    """The sentence-embedding model `make model` installs, or None."""
    p = os.environ.get("AIOS_EMBED_MODEL")
    if not p:
        data = os.environ.get("AIOS_DATA") or os.path.join(
            os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share"), "aios")
        p = os.path.join(data, "models", "all-MiniLM-L6-v2")
    return p if os.path.exists(os.path.join(p, "model.safetensors")) else None


class Daemon:
    def __init__(self, tmp_path, settings=None, embed=False):
        self.dir = str(tmp_path)
        self.sock = os.path.join(self.dir, "aios.sock")
        self.data = os.path.join(self.dir, "data")
        self.log = os.path.join(self.dir, "aiosd.log")
        self.settings = dict(settings or {})
        model = embed_model_path() if embed else None
        self.settings.setdefault("lsfs.embed_model", model or "none")
        self.proc = None
        self.start()

    def start(self):
        args = [os.path.join(BUILD, "aiosd"), "-f", "--socket", self.sock, "--data", self.data,
                "--model", "none", "--log-level", "info"]
        for k, v in self.settings.items():
            args += ["--set", "%s=%s" % (k, v)]
        with open(self.log, "ab") as logf:
            self.proc = subprocess.Popen(args, stdout=logf, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("aiosd exited (%s): %s" % (self.proc.returncode, self.tail()))
            if os.path.exists(self.sock):
                try:
                    aios.Client(self.sock).close()
                    return
                except (ConnectionError, OSError):
                    pass
            time.sleep(0.05)
        raise RuntimeError("aiosd did not start: %s" % self.tail())

    def tail(self, n=4000):
        try:
            with open(self.log, "rb") as f:
                return f.read()[-n:].decode(errors="replace")
        except OSError:
            return ""

    def client(self, agent=None):
        return aios.Client(self.sock, agent=agent)

    def kill(self):
        """SIGKILL, as a crash would."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def restart(self):
        self.stop()
        if os.path.exists(self.sock):
            os.unlink(self.sock)
        self.start()

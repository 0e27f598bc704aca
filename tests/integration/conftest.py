"""Fixtures for integration tests: a real aiosd on a temporary socket.

    def test_x(aiosd):
        with aiosd.client() as k:
            k.call("sys.ping")

`aiosd` starts the daemon without a model (fast).  `aiosd_factory` starts
daemons with any flags, e.g. the default model:
    d = aiosd_factory(model=MODEL)    # MODEL = path from $AIOS_TEST_MODEL
Every daemon is stopped with SIGTERM at the end of its test and must exit 0
and leave no socket behind; its log is printed when a test fails.
"""

import os
import signal
import subprocess
import sys
import tempfile
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "sdk", "python"))

import aios  # noqa: E402

BUILD = os.environ.get("AIOS_BUILD", os.path.join(ROOT, "build"))
# with the sanitizer build (make asan): known leaks of system libraries only
os.environ.setdefault("LSAN_OPTIONS", "suppressions=%s:print_suppressions=0" %
                      os.path.join(ROOT, "tests", "lsan.supp"))
AIOSD = os.path.join(BUILD, "aiosd")
MODEL = os.environ.get("AIOS_TEST_MODEL") or os.path.expanduser(
    "~/.local/share/aios/models/SmolLM2-135M-Instruct.Q4_1.gguf")


def require_model():
    """Fail (not skip) when the default model is missing: make test fetches it."""
    if not os.path.exists(MODEL):
        pytest.fail("default model missing at %s: run `make model`" % MODEL)
    return MODEL


class Daemon:
    def __init__(self, tmp, model="none", extra=(), config=None, env=None, name="aiosd"):
        self.dir = tmp
        self.socket = os.path.join(tmp, "%s.sock" % name)
        self.data = os.path.join(tmp, "%s-data" % name)
        self.log_path = os.path.join(tmp, "%s.log" % name)
        self.args = [AIOSD, "--foreground", "--socket", self.socket, "--data", self.data,
                     "--log-level", "debug", "--model", model]
        if config:
            self.config = os.path.join(tmp, "%s.conf" % name)
            with open(self.config, "w") as f:
                f.write(config)
            self.args += ["--config", self.config]
        self.args += list(extra)
        self.env = dict(os.environ)
        self.env.pop("AIOS_AGENT_ID", None)
        self.env.pop("AIOS_AGENT_TOKEN", None)
        if env:
            self.env.update(env)
        self.proc = None

    def start(self, timeout=60.0):
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.args, stdout=self.logf, stderr=subprocess.STDOUT,
                                     env=self.env, start_new_session=True)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("aiosd exited with %s:\n%s" % (self.proc.returncode, self.log()))
            if os.path.exists(self.socket):
                try:
                    with aios.Client(self.socket, hello=False) as k:
                        k.call("sys.ping", timeout=5)
                    return self
                except (ConnectionError, OSError, aios.AiosError):
                    pass
            time.sleep(0.02)
        raise RuntimeError("aiosd did not start in %ss:\n%s" % (timeout, self.log()))

    def client(self, **kw):
        return aios.Client(self.socket, **kw)

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")[-20000:]
        except OSError:
            return ""

    def rss(self):
        with open("/proc/%d/statm" % self.proc.pid) as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def stop(self, timeout=30.0):
        """SIGTERM; returns the exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("aiosd ignored SIGTERM for %ss:\n%s" % (timeout, self.log()))
        return self.proc.returncode

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


@pytest.fixture
def aiosd_factory(request):
    made = []
    tmp = tempfile.mkdtemp(prefix="aios-test-")

    def make(model="none", extra=(), config=None, env=None, start=True, name=None):
        d = Daemon(tmp, model=model, extra=extra, config=config, env=env,
                   name=name or "aiosd%d" % len(made))
        made.append(d)
        return d.start() if start else d

    yield make
    failed = getattr(request.node, "rep_call", None)
    for d in made:
        if d.proc is None:
            continue
        alive = d.proc.poll() is None
        rc = d.stop()
        if failed is not None and failed.failed:
            sys.stderr.write("---- log of %s ----\n%s\n" % (d.socket, d.log()))
        if alive:
            assert rc == 0, "aiosd exited %s on SIGTERM:\n%s" % (rc, d.log())
            assert not os.path.exists(d.socket), "socket left behind after SIGTERM"


@pytest.fixture
def aiosd(aiosd_factory):
    return aiosd_factory()


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)

"""libaios as a program outside the tree uses it: the example in
sdk/c/examples/hello.c built with pkg-config (PKG_CONFIG_PATH=build) against
the shared library, and against the static one, then run against a real
aiosd."""

import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("AIOS_BUILD") or os.path.join(ROOT, "build")
EXAMPLE = os.path.join(ROOT, "sdk", "c", "examples", "hello.c")
# an outside program links the library as installed; the sanitizer build's
# library needs the sanitizer runtime in the program too
pytestmark = pytest.mark.skipif(os.path.basename(os.path.normpath(BUILD)) == "build-asan",
                                reason="the examples link the normal build")


def pkg_config(*args):
    env = dict(os.environ, PKG_CONFIG_PATH=BUILD)
    return subprocess.run(["pkg-config", *args, "aios"], capture_output=True, text=True, env=env,
                          check=True).stdout.split()


def run_hello(exe, aiosd):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIOS_")}
    env["AIOS_SOCKET"] = aiosd.socket
    r = subprocess.run([exe], capture_output=True, text=True, env=env, timeout=30)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "connected as uid:%d" % os.getuid()
    assert lines[1] == "proc.info failed: no process 424242 (ENOENT, field id)"
    assert lines[2:4] == ["one", "two"]
    assert lines[4].startswith("process ") and lines[4].endswith("ended with status 0")


def test_pkg_config_and_shared_library(aiosd, tmp_path):
    assert pkg_config("--modversion") == ["0.1.0"]
    exe = str(tmp_path / "hello")
    subprocess.run(["cc", "-Werror", "-Wall", EXAMPLE, "-o", exe, *pkg_config("--cflags", "--libs")], check=True)
    ldd = subprocess.run(["ldd", exe], capture_output=True, text=True).stdout
    assert os.path.join(BUILD, "libaios.so") in ldd
    run_hello(exe, aiosd)


def test_static_library(aiosd, tmp_path):
    exe = str(tmp_path / "hello-static")
    subprocess.run(["cc", "-Werror", "-Wall", EXAMPLE, "-o", exe, *pkg_config("--cflags"),
                    os.path.join(BUILD, "libaios.a"), "-ljansson", "-lpthread", "-lm"], check=True)
    assert "libaios.so" not in subprocess.run(["ldd", exe], capture_output=True, text=True).stdout
    run_hello(exe, aiosd)

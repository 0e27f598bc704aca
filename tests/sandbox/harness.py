"""harness.py - the sandbox threat suite.

Every row of the threat catalogue (shared/design/SANDBOX_THREATS.md) is a
real program in tests/sandbox/threats/, run inside a real sandbox and judged
from what it prints and from what the host looks like afterwards.  Modes:

  aios-root   build/sbx-run (the daemon's spawning code) as root
  aios-user   the same under setpriv as uid/gid 65534 (no privilege at all)
  bwrap-root  bwrap --unshare-all ... with the same binds, and the same
  bwrap-user  rlimits applied through prlimit and the wall clock by this
              harness (bwrap leaves both to its caller)

Used by tests/integration/test_tools_threats.py (aios modes, asserted) and by
tests/sandbox/report.py (all modes, written to docs/SANDBOX.md).  Each run
takes about a second or two; limits are small so the attacks end fast, and
attacks are bounded (fork and memory bombs stop by themselves) so that a
mode without a given limit cannot hurt the shared machine.
"""

import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
THREATS = os.path.join(HERE, "threats")
# The unprivileged modes run as this uid/gid: an unprivileged id of their
# own (not 65534, which other programs on a shared machine may use), so that
# "no process of the tool's uid is left" can be counted exactly.
NOBODY = 61999
# Host uids for the tools of root runs: a range of our own per harness.
ROOT_UID_BASE = 0x70000 + (os.getpid() % 2048) * 16

MiB = 1024 * 1024

MODES = ("aios-root", "aios-user", "bwrap-root", "bwrap-user")


def build_dir():
    return os.environ.get("AIOS_BUILD") or os.path.join(REPO, "build")


# ---------------------------------------------------------------- host fixtures


class Listener:
    """A listening socket on the host that records every connection."""

    def __init__(self, family, addr):
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.bind(addr)
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.accepted = 0
        self.addr = self.sock.getsockname()
        self._stop = False
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop:
            try:
                c, _ = self.sock.accept()
                self.accepted += 1
                c.close()
            except (socket.timeout, OSError):
                pass

    def close(self):
        self._stop = True
        self._t.join(1)
        self.sock.close()


class Env:
    """Everything the rows need on the host, prepared once."""

    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="aios-threats-")
        os.chmod(self.tmp, 0o755)
        self.bin = os.path.join(self.tmp, "threats")
        self.data = os.path.join(self.tmp, "data")
        self.host = os.path.join(self.tmp, "host")  # never bound into a sandbox
        for d in (self.bin, self.data, self.host):
            os.mkdir(d)
        os.chmod(self.bin, 0o755)
        os.chmod(self.data, 0o777)
        os.chmod(self.host, 0o755)
        self.canary = os.path.join(self.host, "canary.txt")
        self.canary_text = "CANARY host secret %d\n" % os.getpid()
        with open(self.canary, "w") as f:
            f.write(self.canary_text)
        os.chmod(self.canary, 0o666)  # writable for anyone: only isolation protects it
        self.ssh_key = os.path.join(self.host, "id_ed25519")
        self.database = os.path.join(self.host, "aios.db")
        for p in (self.ssh_key, self.database):
            with open(p, "w") as f:
                f.write("CANARY secret\n")
            os.chmod(p, 0o644)
        self.unix_path = os.path.join(self.host, "aios.sock")
        self.unix = Listener(socket.AF_UNIX, self.unix_path)
        os.chmod(self.unix_path, 0o777)
        self.abstract_name = "aios-threat-%d" % os.getpid()
        self.abstract = Listener(socket.AF_UNIX, "\0" + self.abstract_name)
        self.tcp = Listener(socket.AF_INET, ("127.0.0.1", 0))
        self._compile()

    def _compile(self):
        cc = shutil.which("cc") or shutil.which("gcc")
        for name in sorted(os.listdir(THREATS)):
            src = os.path.join(THREATS, name)
            if name.endswith(".c"):
                out = os.path.join(self.bin, name[:-2])
                subprocess.run([cc, "-O1", "-D_GNU_SOURCE", "-w", "-o", out, src],
                               check=True)
            elif name.endswith((".sh", ".py")):
                out = os.path.join(self.bin, name)
                shutil.copy(src, out)
            else:
                continue
            os.chmod(out, 0o755)
        probe = os.path.join(self.bin, "suidprobe")
        suid = os.path.join(self.bin, "suidprobe-setuid")
        shutil.copy(probe, suid)
        self.have_suid = os.geteuid() == 0
        if self.have_suid:
            os.chown(suid, 0, 0)
            os.chmod(suid, 0o4755)
        fcaps = os.path.join(self.bin, "suidprobe-fcaps")
        shutil.copy(probe, fcaps)
        setcap = shutil.which("setcap") or "/usr/sbin/setcap"
        self.have_fcaps = os.geteuid() == 0 and os.path.exists(setcap) and subprocess.run(
            [setcap, "cap_sys_admin,cap_setuid,cap_dac_override+ep", fcaps],
            capture_output=True).returncode == 0

    def reset_data(self):
        for n in os.listdir(self.data):
            p = os.path.join(self.data, n)
            if os.path.isdir(p) and not os.path.islink(p):
                shutil.rmtree(p, ignore_errors=True)
            else:
                os.unlink(p)

    def canary_intact(self):
        with open(self.canary) as f:
            return f.read() == self.canary_text

    def close(self):
        for l in (self.unix, self.abstract, self.tcp):
            l.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


# ---------------------------------------------------------------- helpers


def settle_left(uid, grace=1.0):
    """Processes of uid left right after a run, and after a grace period
    (namespace teardown may finish just after the caller returns)."""
    if uid is None:
        return None, None
    first = procs_of_uid(uid)
    end = time.monotonic() + grace
    n = first
    while n and time.monotonic() < end:
        time.sleep(0.05)
        n = procs_of_uid(uid)
    return first, n


def procs_of_uid(uid):
    """Host processes whose real uid is uid (zombies included)."""
    n = 0
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/status" % p) as f:
                for line in f:
                    if line.startswith("Uid:"):
                        n += int(line.split()[1]) == uid
                        break
        except OSError:
            pass
    return n


def parse_lines(text):
    out = {}
    for line in (text or "").splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def start_canary(uid):
    """A host process of the given uid, to see whether the sandbox can reach it."""
    cmd = ["sleep", "30"]
    if os.geteuid() == 0 and uid != 0:
        cmd = ["setpriv", "--reuid=%d" % uid, "--regid=%d" % uid, "--clear-groups"] + cmd
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class Run:
    """What one row produced in one mode."""

    def __init__(self, mode):
        self.mode = mode
        self.lines = {}
        self.stdout = ""
        self.stderr = ""
        self.exit_code = None
        self.signal = None
        self.timed_out = False
        self.result = {}          # sbx-run's JSON (aios modes)
        self.elapsed = 0.0
        self.tool_uid = None      # host uid the tool ran as (None: unknown)
        self.left = None          # host processes of tool_uid 1 s after the run
        self.left_at_once = None  # ... right when the call returned
        self.extra = {}           # row-specific host observations
        self.error = None


# ---------------------------------------------------------------- rows


DEFAULT_LIMITS = {
    "wall_ms": 4000, "cpu_ms": 4000, "as_bytes": 512 * MiB, "fsize_bytes": 64 * MiB,
    "nofile": 256, "nproc": 64, "mem_bytes": 256 * MiB, "pids": 64,
    "work_bytes": 32 * MiB, "tmp_bytes": 32 * MiB,
    "stdout_cap": 256 * 1024, "stderr_cap": 64 * 1024,
}


class Row:
    def __init__(self, num, title, argv, check, limits=None, drain=False, bwrap=True,
                 pre=None, post=None, note=""):
        self.num = num
        self.title = title
        self.argv = argv          # list; "{env.x}" placeholders are filled in
        self.check = check        # fn(env, run) -> (contained, detail)
        self.limits = dict(DEFAULT_LIMITS)
        self.limits.update(limits or {})
        self.drain = drain
        self.bwrap = bwrap        # True, or a string: why it does not apply
        self.pre = pre            # fn(env, run) before
        self.post = post          # fn(env, run) right after
        self.note = note

    def args(self, env):
        fill = {
            "canary": env.canary, "ssh_key": env.ssh_key, "database": env.database,
            "unix": env.unix_path, "abstract": env.abstract_name,
            "tcp_port": str(env.tcp.addr[1]), "daemon_pid": str(os.getpid()),
        }
        return [a.format(**fill) for a in self.argv]


def _left(r):
    """'N left on the host' text: after the grace, and at once if different."""
    if r.left is None:
        return "uid 0: not countable"
    if r.left_at_once != r.left:
        return "%d left when the call returned, %d after 1 s" % (r.left_at_once, r.left)
    return "%d left on the host" % r.left


def _all(lines, keys, bad=("OK",)):
    return [k for k in keys if lines.get(k) in bad]


def check_forkbomb(env, r):
    forks = int(r.lines.get("forks", "-1"))
    limit = r.extra.get("nproc", 0)
    ok = 0 <= forks < 512 and (r.left in (None, 0))
    return ok, "%d forks, then %s; %s" % (forks, r.lines.get("first_error"), _left(r))


def check_membomb(env, r):
    parts, ok = [], True
    for m in ("heap", "mmap", "touch"):
        mib = int(r.lines.get(m + "_mib", "-1"))
        end = r.lines.get(m + "_end", "?")
        parts.append("%s %d MiB (%s)" % (m, mib, end))
        ok &= 0 <= mib <= 512 and end in ("ENOMEM", "SIGKILL")
    return ok, ", ".join(parts)


def check_stack(env, r):
    ok = r.lines.get("child") == "SIGSEGV" and r.lines.get("parent") == "alive"
    return ok, "child %s, parent %s" % (r.lines.get("child"), r.lines.get("parent"))


def check_busy(env, r):
    cpu = r.result.get("cpu_ms")
    ok = (r.signal in (signal.SIGXCPU, signal.SIGKILL) and not r.timed_out
          and (cpu is None or cpu >= 400))
    return ok, "ended by signal %s after %.1f s%s" % (
        r.signal, r.elapsed, ", cpu %.0f ms" % cpu if cpu else "")


def check_sleep(env, r):
    ok = r.timed_out and r.elapsed < 4.0 and r.left in (None, 0)
    return ok, "timed out: %s after %.1f s; %s" % (r.timed_out, r.elapsed, _left(r))


def check_flood(env, r):
    res = r.result
    out_len = len(res.get("stdout", ""))
    ok = (res.get("stdout_truncated") and res.get("stderr_truncated")
          and out_len <= r.extra["cap"] and res.get("runner_maxrss_kb", 1 << 30) < 64 * 1024)
    return ok, "%.2f GB seen, %d bytes kept, truncated %s/%s, daemon rss %d KiB" % (
        (res.get("stdout_bytes", 0) + res.get("stderr_bytes", 0)) / 1e9, out_len,
        res.get("stdout_truncated"), res.get("stderr_truncated"),
        res.get("runner_maxrss_kb", -1))


def check_fill(env, r):
    w = int(r.lines.get("work_mib", "-1"))
    t = int(r.lines.get("tmp_mib", "-1"))
    ok = (0 <= w <= 32 and 0 <= t <= 32
          and r.lines.get("work_mib_end") in ("EFBIG", "ENOSPC")
          and r.lines.get("tmp_mib_end") in ("EFBIG", "ENOSPC"))
    return ok, "work %d MiB (%s), tmp %d MiB (%s)" % (
        w, r.lines.get("work_mib_end"), t, r.lines.get("tmp_mib_end"))


def check_fds(env, r):
    n = int(r.lines.get("opened", "-1"))
    ok = 0 <= n <= 256 and r.lines.get("end") == "EMFILE"
    return ok, "%d opened, then %s" % (n, r.lines.get("end"))


WRITE_KEYS = ("dotdot", "dotdot_data", "absolute_etc", "absolute_usr", "absolute_canary",
              "symlink_canary", "symlink_etc", "symlink_in_bind", "hardlink_etc",
              "hardlink_canary", "hardlink_bind")


def check_write(env, r):
    got = _all(r.lines, WRITE_KEYS)
    missing = [k for k in WRITE_KEYS if k not in r.lines]
    intact = env.canary_intact() and not os.path.exists("/escaped")
    ok = not got and not missing and intact
    return ok, ("all %d denied" % len(WRITE_KEYS) if not got else "succeeded: " + ",".join(got)) + (
        "" if intact else "; HOST CHANGED") + ("; missing " + ",".join(missing) if missing else "")


def check_race(env, r):
    leaked = int(r.lines.get("leaked", "-1"))
    inside = int(r.lines.get("inside", "0"))
    ok = leaked == 0 and inside > 0
    return ok, "%s reads inside, %s denied, %d leaked" % (
        r.lines.get("inside"), r.lines.get("denied"), leaked)


SECRET_KEYS = ("shadow", "gshadow", "root_ssh", "ssh_key", "database", "socket")


def check_secrets(env, r):
    got = _all(r.lines, SECRET_KEYS)
    ok = not got and all(k in r.lines for k in SECRET_KEYS) and r.extra.get("unix_accepts") == 0
    return ok, ", ".join("%s %s" % (k, r.lines.get(k)) for k in SECRET_KEYS)


NET_KEYS = ("internet_tcp", "internet_udp", "localhost_tcp", "daemon_socket", "abstract_socket")


def check_net(env, r):
    got = _all(r.lines, NET_KEYS)
    accepted = r.extra.get("accepted", 0)
    ok = not got and all(k in r.lines for k in NET_KEYS) and accepted == 0
    return ok, ", ".join("%s %s" % (k, r.lines.get(k)) for k in NET_KEYS + (
        "packet_socket", "netlink_socket"))


PTRACE_KEYS = ("attach_sibling", "seize_sibling", "attach_parent", "attach_init",
               "vm_read_sibling", "traceme")


def check_ptrace(env, r):
    got = _all(r.lines, PTRACE_KEYS)
    ok = not got and all(k in r.lines for k in PTRACE_KEYS)
    return ok, ", ".join("%s %s" % (k, r.lines.get(k)) for k in PTRACE_KEYS)


def check_kill(env, r):
    canary_alive = r.extra.get("canary_alive")
    ok = (r.lines.get("kill_daemon") != "OK" and r.lines.get("kill_canary") != "OK"
          and canary_alive and r.extra.get("runner_alive", True))
    return ok, "daemon %s, same-uid host process %s (%s), init %s, -1 %s" % (
        r.lines.get("kill_daemon"), r.lines.get("kill_canary"),
        "alive" if canary_alive else "KILLED", r.lines.get("kill_init"), r.lines.get("kill_all"))


MOUNT_KEYS = ("mount_tmpfs", "mount_proc", "umount_proc", "unshare_user", "unshare_mount",
              "unshare_net", "setns", "clone_newuser", "fsopen", "open_tree")


def check_mount(env, r):
    got = _all(r.lines, MOUNT_KEYS)
    ok = not got and all(k in r.lines for k in MOUNT_KEYS)
    return ok, "succeeded: " + ",".join(got) if got else "all denied (%s)" % ", ".join(
        sorted(set(r.lines.get(k, "?") for k in MOUNT_KEYS)))


def check_uring(env, r):
    keys = ("io_uring_setup", "io_uring_enter", "io_uring_register")
    got = _all(r.lines, keys)
    ok = not got and all(k in r.lines for k in keys)
    return ok, ", ".join("%s %s" % (k, r.lines.get(k)) for k in keys)


TTY_KEYS = ("tiocsti_0", "tiocsti_1", "tiocsti_high", "tiocsti_high2", "tioclinux_0",
            "tioclinux_high")


def check_tty(env, r):
    got = _all(r.lines, TTY_KEYS + ("tiocsti_tty",))
    ok = not got and all(k in r.lines for k in TTY_KEYS)
    return ok, "/dev/tty %s; %s" % (r.lines.get("dev_tty"), ", ".join(
        "%s %s" % (k, r.lines.get(k)) for k in TTY_KEYS))


def check_x32(env, r):
    ok = all(r.lines.get(k) in ("SIGSYS", "refused") for k in ("x32_syscall", "int80"))
    return ok, "x32 %s, int 0x80 %s" % (r.lines.get("x32_syscall"), r.lines.get("int80"))


PROC_KEYS = ("proc1_root", "proc1_root_link", "proc1_mem", "self_exe_write", "sys_write",
             "proc_sys_write", "sysrq", "cgroup_mkdir", "kcore")


def check_proc(env, r):
    got = _all(r.lines, PROC_KEYS)
    ok = not got and all(k in r.lines for k in PROC_KEYS)
    return ok, "succeeded: " + ",".join(got) if got else ", ".join(
        "%s %s" % (k, r.lines.get(k)) for k in PROC_KEYS)


def check_privesc(env, r):
    parts, ok = [], True
    for p in ("suidprobe-setuid", "suidprobe-fcaps"):
        euid = r.lines.get(p + "_euid")
        cap = r.lines.get(p + "_CapEff")
        if r.lines.get(p) == "missing" or euid is None:
            parts.append("%s not run" % p)
            continue
        good = euid != "0" and cap is not None and int(cap, 16) == 0
        ok &= good
        parts.append("%s: euid %s, CapEff %s" % (p, euid, cap))
    return ok and any("euid" in p for p in parts), "; ".join(parts)


def check_tree(env, r):
    grew = r.extra.get("grew_after")
    ok = r.lines.get("spawned") == "yes" and grew == 0 and r.left in (None, 0)
    return ok, "grandchild wrote %s bytes after the call ended; %s" % (grew, _left(r))


def check_inherit(env, r):
    fds = r.lines.get("fds", "")
    ok = fds == "0,1,2"
    return ok, "open: %s (%s)" % (fds, r.lines.get("targets", ""))


def check_zombies(env, r):
    ok = r.lines.get("left") is not None and r.left in (None, 0)
    return ok, "tool left %s; %s" % (r.lines.get("left"), _left(r))


ENV_ALLOWED = {"PATH": "/usr/bin:/bin", "HOME": "/work", "LANG": "C.UTF-8"}


def check_environ(env, r):
    seen = {k[4:]: v for k, v in r.lines.items() if k.startswith("env_")}
    ok = seen == ENV_ALLOWED
    extra = sorted(set(seen) - set(ENV_ALLOWED))
    return ok, "exactly the allowed set" if ok else "extra: %s" % ",".join(extra)


# row-specific host work ------------------------------------------------------


def pre_kill(env, r):
    r.extra["canary"] = start_canary(r.tool_uid if r.tool_uid is not None else NOBODY)
    time.sleep(0.05)


def post_kill(env, r):
    c = r.extra.pop("canary")
    r.extra["canary_alive"] = c.poll() is None
    c.kill()
    c.wait()


def pre_count(env, r):
    r.extra["unix_before"] = env.unix.accepted
    r.extra["before"] = env.unix.accepted + env.abstract.accepted + env.tcp.accepted


def post_count(env, r):
    time.sleep(0.1)
    r.extra["unix_accepts"] = env.unix.accepted - r.extra["unix_before"]
    r.extra["accepted"] = (env.unix.accepted + env.abstract.accepted + env.tcp.accepted
                           - r.extra["before"])


def post_tree(env, r):
    mark = os.path.join(env.data, "mark")
    size0 = os.path.getsize(mark) if os.path.exists(mark) else 0
    time.sleep(0.4)
    size1 = os.path.getsize(mark) if os.path.exists(mark) else 0
    r.extra["grew_after"] = size1 - size0


ROWS = [
    Row(1, "fork bomb", ["/threats/forkbomb", "512"], check_forkbomb,
        limits={"nproc": 32, "pids": 32}),
    Row(2, "memory bomb (heap, mmap, touch every page)", ["/threats/membomb", "1024"],
        check_membomb, limits={"as_bytes": 256 * MiB, "mem_bytes": 128 * MiB}),
    Row(3, "stack overflow via deep recursion", ["/threats/stack"], check_stack),
    # the wall clock is far away so that even on a crowded machine (where
    # the loop gets a small share of a CPU) the CPU limit is what ends it
    Row(4, "busy loop", ["/threats/busyloop"], check_busy,
        limits={"cpu_ms": 500, "wall_ms": 30000}),
    Row(5, "sleep forever", ["/threats/sleeper.sh"], check_sleep, limits={"wall_ms": 1000}),
    Row(6, "gigabytes of output with no newline, on both streams", ["/threats/flood"],
        check_flood, limits={"wall_ms": 2000, "stdout_cap": 64 * 1024,
                             "stderr_cap": 64 * 1024}, drain=True,
        bwrap="bwrap leaves capturing output to its caller"),
    Row(7, "fill the disk", ["/threats/filldisk", "1024"], check_fill,
        limits={"work_bytes": 16 * MiB, "tmp_bytes": 16 * MiB, "fsize_bytes": 8 * MiB}),
    Row(8, "exhaust file descriptors", ["/threats/fdexhaust"], check_fds),
    Row(9, "write outside the work dir: ../, absolute path, planted symlink, hard link",
        ["/threats/escape_write.sh", "{canary}"], check_write),
    Row(10, "symlink swap race while a tool reads a path", ["/threats/symrace", "{canary}"],
        check_race),
    Row(11, "read /etc/shadow, ~/.ssh, the daemon's database and socket",
        ["/threats/secrets", "{ssh_key}", "{database}", "{unix}"], check_secrets,
        pre=pre_count, post=post_count),
    Row(12, "network: internet, 127.0.0.1 services, the daemon's unix socket (path and "
            "abstract)", ["/threats/network", "{tcp_port}", "{unix}", "{abstract}"],
        check_net, pre=pre_count, post=post_count),
    Row(13, "ptrace a sibling or the parent", ["/threats/ptrace"], check_ptrace),
    Row(14, "kill -9 -1, kill the daemon's pid", ["/threats/killer", "{daemon_pid}", "CANARY"],
        check_kill, pre=pre_kill, post=post_kill),
    Row(15, "mount, unshare -U, setns", ["/threats/mount"], check_mount),
    Row(16, "io_uring openat/connect", ["/threats/iouring"], check_uring),
    Row(17, "TIOCSTI and TIOCLINUX, also with high bits set", ["/threats/tiocsti"], check_tty),
    Row(18, "x32 and int 0x80 syscalls", ["/threats/x32"], check_x32),
    Row(19, "/proc/1/root, overwrite /proc/self/exe, write /sys, create cgroups",
        ["/threats/procsys"], check_proc),
    Row(20, "setuid binary; regain capabilities through execve", ["/threats/privesc.sh"],
        check_privesc),
    Row(21, "double fork + setsid to outlive the timeout",
        ["/threats/escape_tree", "/data/mark", "wait"], check_tree, limits={"wall_ms": 1000},
        post=post_tree),
    Row(22, "inherit the daemon's open descriptors", ["/usr/bin/python3", "-I",
                                                      "/threats/inherit.py"], check_inherit),
    Row(23, "leave zombies / orphans", ["/threats/zombies"], check_zombies),
    Row(24, "environment leaks (daemon secrets, tokens)",
        ["/usr/bin/python3", "-I", "/threats/environ.py"], check_environ),
]

SECRET_ENV = {"AIOS_SECRET_TOKEN": "s3cr3t", "AWS_SECRET_ACCESS_KEY": "AKIA-CANARY",
              "OPENAI_API_KEY": "sk-canary"}


# ---------------------------------------------------------------- running


def _policy(env, row, argv):
    return {
        "argv": argv,
        "env": dict(ENV_ALLOWED),
        "binds": [{"src": env.bin, "dst": "/threats"},
                  {"src": env.data, "dst": "/data", "rw": True}],
        "limits": row.limits,
        "drain": row.drain,
        "require": ["userns", "pidns", "mntns", "netns", "ipcns", "utsns", "root", "proc",
                    "dev", "session", "fds", "env", "rlimits", "caps", "no_new_privs",
                    "seccomp", "landlock"],
    }


def _leak_fds():
    """Open descriptors without close-on-exec, as a careless daemon might."""
    r, w = os.pipe()
    os.set_inheritable(r, True)
    os.set_inheritable(w, True)
    return [r, w]


def run_aios(env, row, user):
    r = Run("aios-user" if user else "aios-root")
    r.tool_uid = NOBODY if user else ROOT_UID_BASE
    argv = row.args(env)
    env.reset_data()
    if row.pre:
        row.pre(env, r)
    if row.num == 14:
        argv[-1] = str(r.extra["canary"].pid)
    pol = _policy(env, row, argv)
    fd, path = tempfile.mkstemp(prefix="policy-", suffix=".json", dir=env.tmp)
    with os.fdopen(fd, "w") as f:
        json.dump(pol, f)
    os.chmod(path, 0o644)
    cmd = [os.path.join(build_dir(), "sbx-run"), "--uid-base", str(ROOT_UID_BASE), path]
    if user and os.geteuid() != 0:
        r.tool_uid = os.getuid()
    elif user:
        cmd = ["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY, "--clear-groups"] + cmd
    leak = _leak_fds()
    penv = dict(os.environ)
    penv.update(SECRET_ENV)
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=penv,
                           pass_fds=leak)
        r.elapsed = time.monotonic() - t0
        lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
        if not lines:
            r.error = "sbx-run printed nothing (rc %d): %s" % (p.returncode, p.stderr[-400:])
        else:
            r.result = json.loads(lines[-1])
            r.stdout = r.result.get("stdout", "")
            r.stderr = r.result.get("stderr", "")
            r.exit_code = r.result.get("exit_code")
            r.signal = r.result.get("signal")
            r.timed_out = bool(r.result.get("timed_out"))
            r.elapsed = (r.result.get("wall_ms") or r.elapsed * 1e3) / 1e3
            if r.result.get("error"):
                r.error = "%s: %s" % (r.result.get("error_stage"), r.result.get("error"))
            sb = r.result.get("sandbox") or {}
            if sb.get("host_uid"):
                r.tool_uid = sb["host_uid"]
    except subprocess.TimeoutExpired:
        r.error = "sbx-run did not finish in 60 s"
    finally:
        for f in leak:
            os.close(f)
    r.lines = parse_lines(r.stdout)
    r.extra["cap"] = row.limits["stdout_cap"]
    if row.post:
        row.post(env, r)
    r.left_at_once, r.left = settle_left(r.tool_uid)
    os.unlink(path)
    return r


def _bwrap_cmd(env, row, argv):
    lim = row.limits
    cmd = ["prlimit", "--as=%d" % lim["as_bytes"], "--nproc=%d" % lim["nproc"],
           "--nofile=%d" % lim["nofile"], "--fsize=%d" % lim["fsize_bytes"],
           "--cpu=%d" % max(1, lim["cpu_ms"] // 1000), "--core=0", "--"]
    # bwrap with the hardening options it has: its own user namespace (also as
    # root) with nested ones disabled, every capability dropped, the root
    # read-only, a new session, death with the parent
    cmd += ["bwrap", "--unshare-all", "--unshare-user", "--disable-userns",
            "--cap-drop", "ALL", "--uid", "1000", "--gid", "1000",
            "--die-with-parent", "--new-session", "--ro-bind", "/usr", "/usr"]
    for d in ("bin", "lib", "lib64", "sbin", "lib32"):
        p = "/" + d
        if os.path.islink(p):
            cmd += ["--symlink", os.readlink(p), p]
        elif os.path.isdir(p):
            cmd += ["--ro-bind", p, p]
    for f in ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "nsswitch.conf",
              "python3", "python3.11", "localtime", "hosts"):
        p = "/etc/" + f
        if os.path.exists(p):
            cmd += ["--ro-bind", p, p]
    cmd += ["--proc", "/proc", "--dev", "/dev",
            "--size", str(lim["tmp_bytes"]), "--tmpfs", "/tmp",
            "--size", str(lim["work_bytes"]), "--tmpfs", "/work",
            "--ro-bind", env.bin, "/threats", "--bind", env.data, "/data",
            "--chdir", "/work", "--clearenv"]
    for k, v in ENV_ALLOWED.items():
        cmd += ["--setenv", k, v]
    cmd += ["--remount-ro", "/"]
    return cmd + ["--"] + argv


def run_bwrap(env, row, user):
    r = Run("bwrap-user" if user else "bwrap-root")
    if row.bwrap is not True:
        r.error = "n/a"
        return r
    r.tool_uid = NOBODY if user else None  # root: uid 0, not countable
    argv = row.args(env)
    env.reset_data()
    if row.pre:
        row.pre(env, r)
    if row.num == 14:
        argv[-1] = str(r.extra["canary"].pid)
    cmd = _bwrap_cmd(env, row, argv)
    if user and os.geteuid() != 0:
        r.tool_uid = os.getuid()
    elif user:
        cmd = ["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY, "--clear-groups"] + cmd
    leak = _leak_fds()
    penv = dict(os.environ)
    penv.update(SECRET_ENV)
    wall = row.limits["wall_ms"] / 1000.0
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=penv,
                         pass_fds=leak, start_new_session=True)
    for f in leak:
        os.close(f)
    try:
        out, err = p.communicate(timeout=wall)
    except subprocess.TimeoutExpired:
        r.timed_out = True
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
    r.elapsed = time.monotonic() - t0
    r.stdout = out.decode("utf-8", "replace")[:1 << 20]
    r.stderr = err.decode("utf-8", "replace")[:1 << 16]
    if p.returncode is not None and p.returncode < 0:
        r.signal = -p.returncode
    elif p.returncode is not None and p.returncode > 128 and not r.timed_out:
        r.signal = p.returncode - 128  # bwrap's init reports the child's signal as 128+n
        r.exit_code = p.returncode
    else:
        r.exit_code = p.returncode
    r.lines = parse_lines(r.stdout)
    r.extra["cap"] = row.limits["stdout_cap"]
    if row.post:
        row.post(env, r)
    r.left_at_once, r.left = settle_left(r.tool_uid)
    return r


def wait_quiet(uid, limit=5.0):
    """Wait until no process of uid is left from an earlier run (a previous
    mode's teardown must not be counted against this one)."""
    end = time.monotonic() + limit
    while procs_of_uid(uid) and time.monotonic() < end:
        time.sleep(0.05)


def run(env, row, mode):
    """Run one row in one mode; returns (Run, contained or None for n/a, detail)."""
    if mode.endswith("-user") and os.geteuid() == 0:
        wait_quiet(NOBODY)
    if mode.startswith("aios"):
        r = run_aios(env, row, mode == "aios-user")
    else:
        r = run_bwrap(env, row, mode == "bwrap-user")
        if r.error == "n/a":
            return r, None, row.bwrap
    if r.error and not r.lines:
        return r, False, "error: " + r.error
    ok, detail = row.check(env, r)
    if r.error and not ok:
        detail += " [%s]" % r.error
    return r, bool(ok), detail


def main(argv):
    """python3 harness.py [MODE ...] [--rows 1,2,...]: print a table."""
    modes = [a for a in argv if a in MODES] or ["aios-root"]
    rows = ROWS
    if "--rows" in argv:
        want = {int(x) for x in argv[argv.index("--rows") + 1].split(",")}
        rows = [r for r in ROWS if r.num in want]
    env = Env()
    try:
        for row in rows:
            for mode in modes:
                r, ok, detail = run(env, row, mode)
                print("%2d %-10s %-13s %s" % (row.num, mode,
                                              "n/a" if ok is None else
                                              "contained" if ok else "NOT CONTAINED", detail))
                sys.stdout.flush()
    finally:
        env.close()


if __name__ == "__main__":
    main(sys.argv[1:])

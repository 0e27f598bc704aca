"""report.py - run the threat suite in every mode and write docs/SANDBOX.md.

    /usr/bin/python3 tests/sandbox/report.py [OUTPUT.md]

Runs as root (the unprivileged modes use setpriv).  Takes a few minutes on a
busy two-core machine.  The document has the layer description, what this
machine offers, and the outcome of each threat row for aios and bwrap side by
side.
"""
import datetime
import json
import os
import platform
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

LAYER_TEXT = [
    ("userns", "A user namespace; the tool runs as uid/gid 1000 inside, mapped to an unused "
               "host uid of its own when aiosd runs as root (so RLIMIT_NPROC binds, which it "
               "never does for uid 0) or to the caller's uid otherwise."),
    ("pidns", "A pid namespace whose init is aios-exec's own small process: it reaps every "
              "orphan and, when the tool's main process ends, kills and reaps whatever is "
              "left before reporting, so nothing outlives the call."),
    ("mntns", "A mount namespace with every mount made private (nothing propagates back)."),
    ("netns", "A network namespace with no interfaces (off only when the policy grants "
              "network)."),
    ("ipcns / utsns / cgroupns", "Own System V IPC, host name, cgroup view."),
    ("root", "A fresh tmpfs root: read-only, nosuid, nodev binds of /usr and the /lib* "
             "links, a minimal /etc (loader cache, nsswitch, certificates, generated passwd/"
             "group), the policy's binds, a tmpfs /work (or a bound work folder) and /tmp of "
             "bounded size; pivot_root, the old root detached, / remounted read-only."),
    ("proc", "A fresh /proc of the pid namespace mounted with subset=pid (no /proc/sys, "
             "/proc/kcore, sysrq ...)."),
    ("dev", "/dev with null, zero, full, random, urandom bound from the host, fd/std* links "
            "and a bounded /dev/shm; no tty, no /sys at all."),
    ("session", "setsid: no controlling terminal; stdin/stdout/stderr are pipes."),
    ("fds", "Every descriptor but 0-2 is closed at the exec (close_range CLOEXEC)."),
    ("env", "The environment is exactly the policy's allowlist; aios-exec itself is started "
            "with an empty one."),
    ("rlimits", "RLIMIT_AS, CPU, FSIZE, NOFILE, NPROC, CORE=0."),
    ("cgroup", "memory (swap excluded), pids and cpu limits in a cgroup of its own (v2 when "
               "delegated, else v1 as root); the OOM count is reported; leftovers killed and "
               "the folder removed."),
    ("nested_userns", "user.max_user_namespaces = 0 inside the sandbox's user namespace."),
    ("caps", "Securebits locked (noroot, no_setuid_fixup), bounding and ambient sets "
             "emptied, all capability sets cleared, then verified."),
    ("no_new_privs", "PR_SET_NO_NEW_PRIVS."),
    ("landlock", "At the best ABI the kernel offers: read/execute beneath the system binds, "
                 "full rights only beneath /work, /tmp, /dev/shm and rw binds; TCP bind/"
                 "connect denied without network (ABI 4); abstract unix sockets and signals "
                 "scoped to the sandbox (ABI 6)."),
    ("seccomp", "Last: a libseccomp allowlist (native architecture only; x32 and int 0x80 "
                "kill), clone without namespace flags, clone3 ENOSYS, socket only unix/inet/"
                "inet6, no io_uring, ptrace, process_vm_*, bpf, perf_event_open, userfaultfd, "
                "keyctl, mount API, unshare/setns, kexec, modules, ...; a second filter denies "
                "TIOCSTI/TIOCLINUX comparing only the low 32 bits of the ioctl number."),
]


def machine():
    out = {"kernel": platform.release()}
    try:
        p = subprocess.run([os.path.join(harness.build_dir(), "aios-exec"), "--probe"],
                           capture_output=True, text=True, timeout=10)
        out.update(json.loads(p.stdout))
    except (OSError, ValueError, subprocess.TimeoutExpired):
        pass
    try:
        out["bwrap"] = subprocess.run(["bwrap", "--version"], capture_output=True,
                                      text=True).stdout.strip()
    except OSError:
        out["bwrap"] = "missing"
    return out


def cell(ok, detail):
    if ok is None:
        return "n/a: " + detail
    return ("**contained**: " if ok else "**NOT contained**: ") + detail.replace("|", "/")


def main(argv):
    out_path = argv[0] if argv else os.path.join(harness.REPO, "docs", "SANDBOX.md")
    env = harness.Env()
    results = {}
    layers = {}
    try:
        for row in harness.ROWS:
            for mode in harness.MODES:
                r, ok, detail = harness.run(env, row, mode)
                results[(row.num, mode)] = (ok, detail)
                if mode.startswith("aios") and r.result.get("layers") and mode not in layers:
                    layers[mode] = r.result["layers"]
                print("%2d %-10s %s" % (row.num, mode, cell(ok, detail)), flush=True)
    finally:
        env.close()
    m = machine()
    counts = {mode: sum(1 for row in harness.ROWS if results[(row.num, mode)][0])
              for mode in harness.MODES}
    lines = []
    w = lines.append
    w("# Sandbox: layers and threat report")
    w("")
    w("<!-- generated by tests/sandbox/report.py; do not edit by hand -->")
    w("")
    w("Tools run in a sandbox built by `aios-exec`, a small single-threaded helper that "
      "aiosd spawns per call (`sandbox/exec/`). The daemon side (`sandbox/spawn.c`) feeds it "
      "the policy on a pipe, captures stdout/stderr into bounded buffers, enforces the "
      "wall-clock limit with its own timer and kills the whole tree (init's pidfd, the pid "
      "namespace, the cgroup) on timeout or cancel. `aios-exec` reports every layer as "
      "`applied`, `unavailable`, `failed` or `off`; a policy lists the layers it "
      "`require`s, and a required layer that does not hold fails the call with `ESANDBOX` "
      "before the tool runs. `tool.call` returns the layer report with the result.")
    w("")
    w("## Layers, in the order they are applied")
    w("")
    w("| layer | what it does |")
    w("|---|---|")
    for name, text in LAYER_TEXT:
        w("| `%s` | %s |" % (name, text))
    w("")
    w("The process structure: `aios-exec` (outside the namespaces: cgroup, wall clock, "
      "exit report) → init (pid 1 inside: builds the root, reaps) → the tool (confines "
      "itself, then execs). seccomp is compiled by the outer process while init builds the "
      "root, and the exit is reported as soon as init has killed and reaped the tree, "
      "before the namespaces are torn down.")
    w("")
    w("## Policies, requirements, warm sandboxes")
    w("")
    w("A policy (`include/aios/sandbox.h`, JSON keys of `sbx_policy_to_json`) gives argv, the "
      "whole environment, cwd, extra binds (`{src, dst, rw}`), a host work folder or a tmpfs "
      "`/work`, `network`, limits (`wall_ms cpu_ms as_bytes fsize_bytes nofile nproc "
      "mem_bytes pids cpu_pct work_bytes tmp_bytes stdout_cap stderr_cap`) and `require`, "
      "the layers that must hold. The daemon's default requires every layer except `cgroup`, "
      "`cgroupns` and `nested_userns` (and `landlock` where the kernel has none); "
      "`sandbox.require` in aiosd's config changes that. A required layer that is "
      "`unavailable` or `failed` ends the call with `ESANDBOX`, the failing stage in the "
      "error's data and the state of every layer reached so far.")
    w("")
    w("Output: stdout and stderr are pipes read by the daemon into buffers of at most "
      "`stdout_cap`/`stderr_cap` bytes; past the cap the result is marked truncated and the "
      "pipe is closed (the writer gets EPIPE), or, with `drain`, read and counted without "
      "being kept. Time: aios-exec kills the sandbox at `wall_ms`; the daemon's own timer "
      "fires `kill_grace_ms` later as a backstop, killing init through its pidfd and "
      "aios-exec itself. A cancelled call (`$/cancel`) takes the same path.")
    w("")
    w("Warm pool (`sandbox.pool`, default 2): aios-exec `--warm` builds everything (namespaces, "
      "root, cgroup, Landlock ruleset, seccomp filter) and forks the tool process, which "
      "confines itself completely and waits on the policy pipe. A call whose policy has the "
      "same shape (binds, network, sizes, cgroup limits, requirements, ids) takes one: only "
      "its rlimits, environment, working directory and the exec remain, and rlimits are "
      "therefore applied after seccomp in warm sandboxes (still before any tool code runs). "
      "Each warm sandbox serves one call; its replacement is built when that call ends (at once "
      "when no warm sandbox is left), so the build does not compete with the call. The exit is "
      "reported by the sandbox's init as soon as it has killed and reaped the tree.")
    w("")
    w("## Tools")
    w("")
    w("A tool is a manifest (`tools/manifests/*.json`, or registered with `tool.register`, "
      "admins only, kept in `<data>/tools`): `name`, `description`, `parameters` (a JSON "
      "Schema of an object), `run` (`{\"argv\": [...], \"stdin\": ...}` with `{param}` "
      "templates, or `{\"builtin\": ...}`) and `policy` (network, limits, env, binds, "
      "require, cwd, drain, system_binds). Arguments are checked against the schema before "
      "anything runs. Shipped: `shell` (sh -c), `python` (python3 -I -c), `calculator` "
      "(exact rationals of big integers, in the daemon), `fs_read`/`fs_write`/`fs_search` "
      "(LSFS with the caller's rights, in the daemon), `http_get` (sandboxed with network, "
      "refused unless `tools.network` grants it; off by default). `tool.list` with "
      "`format: llm` renders them as function descriptions for the LLM. From the shell: "
      "`aiosctl tools`, `aiosctl tool NAME JSON|KEY=VALUE...`.")
    w("")
    w("Configuration keys: `sandbox.exec`, `sandbox.pool`, `sandbox.uid_base`, "
      "`sandbox.uid_count`, `sandbox.require`, `sandbox.cgroup_parent`, `tools.dir`, "
      "`tools.network`, `tools.wall_ms`, `tools.stdout_cap`, `tools.stderr_cap`, "
      "`sandbox.timing` (stage marks in each result's `sandbox.timing`, for profiling) "
      "(see `tools/service.c`).")
    w("")
    w("## This machine")
    w("")
    w("Generated %s on Linux %s; Landlock ABI %s; cgroup as root: %s; %s." % (
        datetime.date.today().isoformat(), m.get("kernel"), m.get("landlock_abi"),
        "v%s" % m["cgroup"] if m.get("cgroup") else "none usable", m.get("bwrap")))
    w("")
    for mode in ("aios-root", "aios-user"):
        if mode in layers:
            w("Layers reported in **%s** mode: %s." % (mode, ", ".join(
                "`%s` %s" % (k, v) for k, v in layers[mode].items())))
            w("")
    w("## Threat catalogue: aios and bwrap side by side")
    w("")
    w("Every row is a real program (`tests/sandbox/threats/`) run by "
      "`tests/sandbox/harness.py`: **aios-root** is `build/sbx-run` (the daemon's spawning "
      "code) as root, **aios-user** the same as an unprivileged uid (setpriv, no "
      "capabilities), **bwrap-root/-user** the same program under `bwrap --unshare-all "
      "--unshare-user --disable-userns --cap-drop ALL --uid 1000 --die-with-parent "
      "--new-session --remount-ro /` with the same binds, the same rlimits applied through "
      "`prlimit` and the wall clock enforced by the harness (bwrap leaves both to its "
      "caller). Attacks are bounded (the fork bomb stops at 512 processes, the memory bomb "
      "at 1 GiB) so that a mode without a limit cannot hurt the host. \"left on the host\" "
      "counts processes of the tool's host uid after the call (uid 0 for bwrap as root "
      "cannot be counted).")
    w("")
    w("Contained: aios-root %d/24, aios-user %d/24, bwrap-root %d/23, bwrap-user %d/23 "
      "(row 6 does not apply to bwrap)." % (counts["aios-root"], counts["aios-user"],
                                           counts["bwrap-root"], counts["bwrap-user"]))
    w("")
    w("| # | attack | aios-root | aios-user | bwrap-root | bwrap-user |")
    w("|---|---|---|---|---|---|")
    for row in harness.ROWS:
        w("| %d | %s | %s |" % (row.num, row.title, " | ".join(
            cell(*results[(row.num, mode)]) for mode in harness.MODES)))
    w("")
    w("Regenerate with `make sandbox-report` (or `/usr/bin/python3 tests/sandbox/report.py`) "
      "as root. The aios modes are asserted by `tests/integration/test_tools_threats.py`.")
    with open(out_path, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("wrote", out_path)


if __name__ == "__main__":
    main(sys.argv[1:])

"""``labkit bench sandbox``: what a submission's own process world costs, and what bubblewrap
would cost instead.

Kernel start-up, side by side in one run, interleaved (the order of the ways turns each round)
so that a change of the machine's load hits every way alike: start a student kernel exactly as
the grader's worker configures it (same sandbox uid, own root, limits), wait until it answers
a first ``pass``, and shut it down cleanly, in four ways: labkit's process world with the
kernel zygote (how the grader starts kernels: a fork of a process that imported torch, labkit
and IPython), the world with each kernel started from scratch, no world (what the grader does
where the host has no PID namespaces: the kernel process itself enters its own root, ZMQ over
TCP), and bubblewrap (``bwrap`` with the same read-only paths, a private ``/tmp``, ``/dev`` and
``/proc``, PID, IPC and network namespaces, then ``setpriv`` to the slot's uid with
``no_new_privs``; from scratch, as any exec-based tool must start a kernel). What a whole
submission costs is ``labkit bench grading``'s figure.

The command's header names the CPU; the first line gives the load. Needs root with namespaces (it says so and does
nothing otherwise); the bubblewrap way needs ``bwrap`` and ``setpriv`` (Debian: ``apt-get
install bubblewrap``) and is left out, saying so, without them.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from labkit_course.grading.execute import SandboxKernelManager

__all__ = ["run"]


class _BwrapKernelManager(SandboxKernelManager):
    """Starts the kernel under ``bwrap`` + ``setpriv`` (``bwrap_args``: everything before the
    kernel's own command) instead of labkit's launcher; the kernel itself only sets limits,
    environment and folder (its sandbox config has no uid, no own root, no world)."""

    bwrap_args: list[str] = []

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        return [*self.bwrap_args, sys.executable, "-m", "labkit_course.grading.kernel", "--sandbox",
                self.sandbox_config, "-f", self.connection_file, *(extra_arguments or [])]


def _bwrap_args(read_only: list[str], work: Path, ipc: Path, connection_file: str, uid: int,
                network: bool) -> list[str]:
    """bubblewrap's equivalent of the kernel's world and own root (labkit_course.grading.fsroot)."""
    from labkit_course.grading.fsroot import plan
    from labkit_course.grading.sandbox import WORK_MOUNT

    args = ["bwrap", "--unshare-pid", "--unshare-ipc", "--die-with-parent",
            *([] if network else ["--unshare-net"]), "--tmpfs", "/tmp"]  # first: binds go in it
    entries = plan(read_only)
    shown = [path for kind, path, _ in entries if kind == "bind"] + [str(ipc)]
    folders = {str(parent) for path in shown for parent in Path(path).parents
               if str(parent) not in ("/", "/tmp")}
    for folder in sorted(folders, key=lambda f: f.count("/")):  # enterable, as in labkit's
        args += ["--perms", "0755", "--dir", folder]  # root (bwrap copies the host's mode)
    for kind, path, source in entries:
        args += ["--symlink", source, path] if kind == "link" else ["--ro-bind", source, path]
    args += ["--dev", "/dev", "--tmpfs", "/dev/shm", "--proc", "/proc",
             "--bind", str(work), WORK_MOUNT, "--bind", str(ipc), str(ipc),
             "--ro-bind", connection_file, connection_file, "--chdir", WORK_MOUNT,
             "setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--no-new-privs", "--"]
    return args


KERNEL_WAYS = ("world + zygote", "world", "no world", "bwrap")


def _kernel_start(tmp: Path, way: str, uid: int, have: set[str], zygote: str) -> tuple[float, float]:
    """Seconds to start one sandboxed kernel ``way`` until it answered ``pass``, and to shut
    it down."""
    from dataclasses import replace

    from labkit_course.grading.sandbox import WORK_MOUNT
    from labkit_course.grading.worker import Job, _ipc_dir, _sandbox

    if way == "no world":
        have = have - {"processes", "network"}
    root = Path(tempfile.mkdtemp(dir=tmp))
    root.chmod(0o711)
    work = root / "work"
    work.mkdir(mode=0o700)
    job = Job(student="bench", path="", sha256="", out_dir=str(root), tmp_root=str(root), protections=sorted(have), uid=uid)
    ipc = _ipc_dir(job)
    cfg = _sandbox(job, work, secrets.token_hex(8), ipc)
    cfg_path = root / "sandbox.json"
    if way == "bwrap":  # bwrap builds the root and namespaces, setpriv drops the uid
        read_only, network = cfg.read_only, cfg.network
        cfg = replace(cfg, workdir=WORK_MOUNT, uid=None, gid=None, own_root=False, read_only=[],
                      hide=[], world=False, ipc_dir="",  # its parent is bwrap's PID 1: no
                      env={**cfg.env, "JPY_PARENT_PID": "1"})  # parent polling (--die-with-parent)
        cfg_path = work / "sandbox.json"  # the kernel, as the slot's uid, reads and deletes it
    cfg.write(cfg_path)
    if way == "bwrap":
        os.chown(cfg_path, uid, uid)

    async def once() -> tuple[float, float]:
        t0 = time.perf_counter()
        kwargs = dict(kernel_name="python3", sandbox_config=str(WORK_MOUNT + "/sandbox.json")
                      if way == "bwrap" else str(cfg_path), ipc_prefix=str(ipc / "k") if ipc else "")
        if way == "bwrap":
            km = _BwrapKernelManager(**kwargs)
            km.write_connection_file()
            os.chown(km.connection_file, uid, uid)  # read by the kernel as the slot's uid
            km.bwrap_args = _bwrap_args(read_only, work, ipc, km.connection_file, uid, network)
        else:
            km = SandboxKernelManager(**kwargs, zygote=zygote if way == "world + zygote" else "")
        await km.start_kernel()
        kc = km.client()
        kc.start_channels()
        await kc.wait_for_ready(timeout=120)
        reply = await kc.execute("pass", reply=True, timeout=60)
        assert reply["content"]["status"] == "ok", reply["content"]
        t1 = time.perf_counter()
        kc.stop_channels()
        await km.shutdown_kernel(now=False)
        return t1 - t0, time.perf_counter() - t1

    try:
        return asyncio.run(once())
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _row(name: str, on: list[float], off: list[float], with_: str = "with the process world",
         without: str = "without") -> str:
    m_on, m_off = statistics.median(on), statistics.median(off)
    return (f"   {name}: median {m_on:.2f} s {with_}, {m_off:.2f} s {without} "
            f"({m_on - m_off:+.2f} s, {m_on / m_off:.2f}x; {len(on)} runs each, interleaved; "
            f"min {min(on):.2f} / {min(off):.2f} s)")


def _load() -> str:
    """The machine's load when the run starts (the command's header names the CPU)."""
    return "   load average at the start: " + ", ".join(f"{x:.1f}" for x in os.getloadavg())


def _kernel_ways() -> tuple[list[str], str]:
    """The kernel start-up ways this machine can run, and why bubblewrap is missing ('' if not)."""
    missing = [tool for tool in ("bwrap", "setpriv") if shutil.which(tool) is None]
    if missing:
        why = (f"   bubblewrap: not measured ({' and '.join(missing)} not installed; "
               "Debian: apt-get install bubblewrap)")
        return [w for w in KERNEL_WAYS if w != "bwrap"], why
    return list(KERNEL_WAYS), ""


def run(*, rounds: int = 3) -> int:
    """Time kernel start-up and shutdown in the :data:`KERNEL_WAYS`, ``rounds`` times each,
    interleaved; print the load, medians and ratios."""
    from labkit_course.grading.sandbox import isolation_level, protections
    from labkit_course.grading.world import UidLease
    from labkit_course.grading.zygote import Zygote

    have = protections()
    if "processes" not in have or "users" not in have:
        print(f"   cannot measure the process world here: {isolation_level()[1]}")
        return 0
    print(_load())
    tmp = Path(tempfile.mkdtemp(prefix="labkit-bench-sandbox-"))
    tmp.chmod(0o711)
    lease = UidLease(1)
    zygote = Zygote.start(tmp / "zygote", tmp / "zygote.log")
    ways, no_bwrap = _kernel_ways()
    starts: dict[str, list[float]] = {way: [] for way in ways}
    stops: dict[str, list[float]] = {way: [] for way in ways}
    try:
        for r in range(rounds):
            for way in ways[r % len(ways):] + ways[:r % len(ways)]:
                start, stop = _kernel_start(tmp, way, lease.uids[0], have, zygote.socket)
                starts[way].append(start)
                stops[way].append(stop)
        up = "kernel start-up (to its first reply)"
        print(_row(up, starts["world"], starts["no world"]))
        print(_row("kernel shutdown", stops["world"], stops["no world"]))
        print(_row(up, starts["world + zygote"], starts["world"],
                   "with labkit's world and the kernel zygote", "with the world, from scratch"))
        if "bwrap" in ways:
            print(_row(up, starts["bwrap"], starts["world"], "with bubblewrap + setpriv",
                       "with labkit's world, both from scratch"))
            print(_row(up, starts["world + zygote"], starts["bwrap"],
                       "with labkit's world and the kernel zygote", "with bubblewrap + setpriv"))
        else:
            print(no_bwrap)
    finally:
        zygote.stop()
        lease.release()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0

"""A process world per submission, a user per worker slot, and the checks that nothing of a
submission outlives its grading.

With root and Linux namespaces the kernel launcher (``python -m labkit_course.grading.kernel``,
process *L*, started by jupyter_client in its own process group) does not become the kernel.
It unshares new PID, IPC and (unless the course allows the network) network namespaces and
forks *I*, PID 1 of the new PID namespace: a tiny init that mounts the namespace's own
``/proc`` in its private mount namespace, enters the kernel's own root there (only the allowed
paths: :mod:`labkit_course.grading.fsroot`), brings loopback up, and forks the kernel *K* (PID 2), which drops to the worker slot's own uid and
runs IPython. *I* forwards SIGINT/SIGTERM/SIGHUP to K's process group (jupyter_client signals
L's group, which holds L and I; L ignores them), reaps orphans, and exits with K's status; *L*
exits with *I*'s. When *I* dies, however it dies, the Linux kernel kills every process of the
namespace: setsid, double forks, nohup and daemons included. *L* dies with the grader's worker
and *I* dies with *L* (PR_SET_PDEATHSIG), so the namespace never outlives the worker.

On the grader's fast path *L* is not started by jupyter_client but forked from the batch's
pre-imported kernel zygote (:mod:`labkit_course.grading.zygote`); jupyter_client starts and signals a
small stand-in (:mod:`labkit_course.grading.zygote_client`) that forwards signals to L's group, and L
kills its world as soon as the stand-in's socket closes (:func:`set_lifeline`).

The kernel talks to the grader over ZMQ ``ipc://`` sockets (unix socket files, which work
across network namespaces) in a folder owned by the slot's uid, bind-mounted into the
namespace at :data:`IPC_MOUNT`.

Each concurrent slot of a batch grades as its own uid from :data:`UID_BASE`..
``UID_BASE + UID_COUNT - 1`` (no passwd entry needed), claimed for the whole batch with a lock
file so that two batches on one machine never share one (:class:`UidLease`). Per-user limits
(RLIMIT_NPROC) and signals therefore never cross between students graded at the same time.
:func:`leftovers` / :func:`kill_all` find and kill processes of given uids (the self-checks
after each submission and each batch).
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import select
import signal
import socket
import struct
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, NoReturn

__all__ = ["UID_BASE", "UID_COUNT", "IPC_MOUNT", "CLONE_WORLD", "UidLease", "Leftover",
           "leftovers", "kill_all", "settle", "run_world", "loopback_up", "set_lifeline",
           "die_with_parent"]

UID_BASE = 61000  # sandbox uids: UID_BASE + k, one per concurrent worker slot
UID_COUNT = 1000
IPC_MOUNT = "/tmp/labkit-ipc"  # where the kernel sees its ZMQ socket folder
_CLONE_NEWNS, _CLONE_NEWIPC, _CLONE_NEWNET, _CLONE_NEWPID = 0x20000, 0x08000000, 0x40000000, 0x20000000
CLONE_WORLD = _CLONE_NEWPID | _CLONE_NEWIPC  # + _CLONE_NEWNET unless the network is allowed
_PR_SET_PDEATHSIG = 1
_MS_NOSUID, _MS_NODEV, _MS_NOEXEC, _MS_REC, _MS_PRIVATE = 2, 4, 8, 16384, 1 << 18
_LEASE_DIRS = ("/run/labkit-sandbox-uids", "/var/lock/labkit-sandbox-uids")
_LIFELINE: int | None = None  # see set_lifeline


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


# ---------------------------------------------------------------------------------------------
# uids: one per concurrent slot, claimed by a batch for its whole run


def _lease_dir() -> Path:
    """A root-only folder for the uid lock files (refuses one another user could have made)."""
    for d in _LEASE_DIRS:
        parent = os.path.dirname(d)
        if not os.path.isdir(parent) or not os.access(parent, os.W_OK):
            continue
        try:
            os.mkdir(d, 0o700)
        except FileExistsError:
            pass
        st = os.lstat(d)
        if not (st.st_uid == 0 and (st.st_mode & 0o077) == 0 and os.path.isdir(d)
                and not os.path.islink(d)):
            raise RuntimeError(f"{d} is not a root-only folder; remove it and grade again")
        return Path(d)
    raise RuntimeError("no root-writable /run or /var/lock for the sandbox uid leases")


class UidLease:
    """``n`` sandbox uids held (flock) by this batch until :meth:`release` or process exit.

    Forked workers inherit the lock files, so a uid stays claimed while an orphaned worker of
    a killed grader still runs.
    """

    def __init__(self, n: int):
        folder = _lease_dir()
        self.uids: list[int] = []
        self._fds: list[int] = []
        for uid in range(UID_BASE, UID_BASE + UID_COUNT):
            if len(self.uids) == n:
                break
            fd = os.open(folder / str(uid), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            if leftovers({uid}):  # a process of an earlier, killed batch: not ours to kill
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
                continue
            self.uids.append(uid)
            self._fds.append(fd)
        if len(self.uids) < n:
            self.release()
            raise RuntimeError(f"fewer than {n} free sandbox uids in {UID_BASE}..."
                               f"{UID_BASE + UID_COUNT - 1}")

    def release(self) -> None:
        for fd in self._fds:
            os.close(fd)
        self._fds, self.uids = [], []


# ---------------------------------------------------------------------------------------------
# finding and killing what a submission left behind


@dataclass(frozen=True)
class Leftover:
    """A live process owned (real, effective, saved or fs uid) by a sandbox uid."""

    pid: int
    uid: int
    cmdline: str

    def __str__(self) -> str:
        return f"pid {self.pid} (uid {self.uid}): {self.cmdline[:80]!r}"


def _uids_of(pid: str) -> tuple[list[int], str] | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            status = f.read()
    except OSError:
        return None
    uids, state = [], ""
    for line in status.splitlines():
        if line.startswith("Uid:"):
            uids = [int(x) for x in line.split()[1:]]
        elif line.startswith("State:"):
            state = line.split()[1]
    return (uids, state) if state != "Z" else None  # a zombie is gone, waiting to be reaped


def leftovers(uids: set[int]) -> list[Leftover]:
    """Live processes of ``uids`` on this machine (any of their four uids), excluding zombies."""
    found = []
    if not uids:
        return found
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        got = _uids_of(pid)
        if got is None:
            continue
        hit = next((u for u in got[0] if u in uids), None)
        if hit is None:
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            cmd = "?"
        found.append(Leftover(int(pid), hit, cmd.strip()))
    return found


def settle(uids: set[int], seconds: float = 3.0) -> list[Leftover]:
    """Processes of ``uids`` still alive after up to ``seconds`` (a namespace that is being torn
    down, or a killed kernel, takes a moment to go)."""
    deadline = time.monotonic() + seconds
    while True:
        found = leftovers(uids)
        if not found or time.monotonic() >= deadline:
            return found
        time.sleep(0.05)


def kill_all(uids: set[int], rounds: int = 20) -> list[Leftover]:
    """SIGKILL every process of ``uids`` until none is left (a fork loop may add new ones);
    return the processes found in the first round."""
    first: list[Leftover] = []
    for r in range(rounds):
        found = leftovers(uids)
        if r == 0:
            first = found
        if not found:
            break
        for p in found:
            try:
                os.kill(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.05)
    return first


# ---------------------------------------------------------------------------------------------
# the world: launcher L -> init I (PID 1) -> kernel K (PID 2)


def loopback_up() -> None:
    """Bring ``lo`` up in this network namespace (a new one starts with it down)."""
    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = fcntl.ioctl(s.fileno(), siocgifflags, struct.pack("16sH22x", b"lo", 0))
        flags = struct.unpack("16sH22x", req)[1]
        fcntl.ioctl(s.fileno(), siocsifflags, struct.pack("16sH22x", b"lo", flags | iff_up))


def _parent_alive(pipe_r: int) -> bool:
    """True while the process holding the pipe's write end lives (getppid() is 0 for a parent
    outside the PID namespace, so it cannot tell)."""
    os.set_blocking(pipe_r, False)
    try:
        return os.read(pipe_r, 1) != b""
    except BlockingIOError:
        return True


def _exit_code(status: int) -> int:
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def _mount_proc(host_mnt_ns: str) -> None:
    """Mount this PID namespace's own /proc, only ever inside a private mount namespace (a
    /proc mounted in the host's mount namespace would hide every process of the machine)."""
    if os.readlink("/proc/self/ns/mnt") == host_mnt_ns:
        raise RuntimeError("refusing to mount /proc: not in a private mount namespace")
    _check(_libc().mount(None, b"/", None, _MS_REC | _MS_PRIVATE, None), "make / private")
    _check(_libc().mount(b"proc", b"/proc", b"proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, None),
           "mount /proc")


def die_with_parent(parent: int) -> None:
    """Have this process killed (SIGKILL) when its parent dies; exit at once if the parent,
    whose pid ``parent`` was read before, is already gone. (A setuid clears the setting: call
    it after dropping privileges.)"""
    _libc().prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)


def set_lifeline(fd: int) -> None:
    """Make :func:`run_world` kill its world when the socket ``fd`` reports its peer gone, and
    send the world's exit status (4 bytes, big-endian) over it at the end. Used when the
    launcher L is a fork of the pre-imported kernel zygote (:mod:`labkit_course.grading.zygote`): its
    peer is the process jupyter_client started and signals."""
    global _LIFELINE
    _LIFELINE = fd


def _wait_world(init: int) -> int:
    """Wait for the init ``init`` (killing it first if the lifeline's peer dies); its exit code."""
    if _LIFELINE is not None:
        try:
            pidfd: int | None = os.pidfd_open(init)
        except (AttributeError, OSError):  # Linux < 5.3: poll the init instead
            pidfd = None
        while True:
            watched = [_LIFELINE] + ([pidfd] if pidfd is not None else [])
            try:
                ready, _, _ = select.select(watched, [], [], None if pidfd is not None else 0.2)
            except InterruptedError:
                continue
            if _LIFELINE in ready:  # the peer never writes: readable means it is gone
                os.kill(init, signal.SIGKILL)
                break
            if pidfd is not None and pidfd in ready:
                break
            if pidfd is None:
                done, status = os.waitpid(init, os.WNOHANG)
                if done:
                    return _exit_code(status)
    while True:
        try:
            _, status = os.waitpid(init, 0)
            return _exit_code(status)
        except InterruptedError:
            continue
        except ChildProcessError:
            return 1


def _init(enter: Callable[[], Callable[[], None]], pipe_r: int, host_mnt_ns: str) -> NoReturn:
    """PID 1 of the namespace: set up the world (``enter`` runs as root and returns the kernel's
    body), fork the kernel, forward signals to its process group, reap, exit with its status."""
    try:
        if _LIFELINE is not None:  # the launcher's alone: nothing in the world may write to it
            os.close(_LIFELINE)
        _libc().prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if not _parent_alive(pipe_r):
            os._exit(1)
        os.close(pipe_r)
        _mount_proc(host_mnt_ns)
        body = enter()
    except BaseException as exc:  # noqa: BLE001 - report and die: the grader sees a dead kernel
        print(f"labkit sandbox: could not set up the kernel's world: {exc!r}", file=sys.stderr)
        os._exit(70)
    kernel = os.fork()
    if kernel == 0:
        try:
            os.setpgid(0, 0)  # its own group: a signal to L's group reaches it once, via I
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                signal.signal(sig, signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL)
            body()
        except SystemExit as exc:
            os._exit(exc.code if isinstance(exc.code, int) else int(exc.code is not None))
        except BaseException:  # noqa: BLE001
            import traceback

            traceback.print_exc()
            os._exit(1)
        os._exit(0)

    def forward(signum, _frame):
        try:
            os.killpg(kernel, signum)
        except ProcessLookupError:  # student code moved the kernel to another group
            try:
                os.kill(kernel, signum)
            except ProcessLookupError:
                pass

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, forward)
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            os._exit(1)
        if pid == kernel:
            os._exit(_exit_code(status))  # the Linux kernel then kills the whole namespace


def run_world(flags: int, enter: Callable[[], Callable[[], None]]) -> NoReturn:
    """Be the launcher L: die with the grader's worker, unshare ``flags`` plus new PID and mount
    namespaces, fork PID 1 (:func:`_init`) and exit with its status. Never returns."""
    die_with_parent(os.getppid())
    host_mnt_ns = os.readlink("/proc/self/ns/mnt")
    _check(_libc().unshare(flags | _CLONE_NEWPID | _CLONE_NEWNS), "unshare")
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)  # I gets them too (same group) and forwards them
    pipe_r, pipe_w = os.pipe()
    init = os.fork()
    if init == 0:
        os.close(pipe_w)
        _init(enter, pipe_r, host_mnt_ns)
    os.close(pipe_r)
    code = _wait_world(init)
    if _LIFELINE is not None:
        try:
            os.write(_LIFELINE, struct.pack("!i", code))
        except OSError:
            pass
    os._exit(code)


def can_unshare(flags: int) -> bool:
    """True when this process may unshare ``flags`` (tried in a throw-away child)."""
    if os.geteuid() != 0 or not sys.platform.startswith("linux"):
        return False
    pid = os.fork()
    if pid == 0:
        os._exit(0 if _libc().unshare(flags) == 0 else 1)
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
    return os.waitstatus_to_exitcode(status) == 0

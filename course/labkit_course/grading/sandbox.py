"""Where and how a student's kernel runs: a private folder, a scrubbed environment, resource
limits, an unprivileged user per worker slot, private mount, PID, IPC and network namespaces.

The grader writes a :class:`SandboxConfig` as JSON into a root-only folder; the kernel launcher
(``python -m labkit_course.grading.kernel --sandbox CONFIG``) reads it, deletes it, applies it and only
then imports IPython and runs student code.

Strong isolation needs root (as in CI and on a grading server). With ``world`` set the
launcher builds a process world of its own (:mod:`labkit_course.grading.world`): new PID, IPC and
network namespaces whose PID 1 is a tiny init; inside, a private mount namespace whose root
holds only what the kernel may see (:mod:`labkit_course.grading.fsroot`: the Python environment,
labkit and the profile's data read-only, the system's libraries, a minimal ``/dev``, its own
``/proc``, a private ``/tmp`` with the work folder and the ZMQ socket folder, nothing else);
then the kernel drops to the worker slot's own uid with ``no_new_privs``. Without ``world``
(the ``uid`` level, or namespaces turned off) the kernel process itself enters a mount
namespace with that root and drops its uid. Without root (a TA laptop) the kernel runs as the
TA with the same limits, and a warning lists the protections that are missing
(:func:`missing_protections`). At every level the kernel holds no file descriptor of the
grader's: its stdin, stdout and stderr are ``/dev/null`` and every other inherited one is
closed before student code runs.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from labkit_course.grading.fsroot import enter_root
from labkit_course.grading.world import die_with_parent

__all__ = ["SandboxConfig", "isolation_level", "missing_protections", "protections",
           "PROTECTIONS", "enter_sandbox",
           "enter_world", "world_flags", "WORK_MOUNT"]

WORK_MOUNT = "/tmp/labkit-work"  # where the work folder appears inside the mount namespace
_CLONE_NEWNS, _CLONE_NEWNET = 0x00020000, 0x40000000
_PR_SET_NO_NEW_PRIVS = 38


@dataclass
class SandboxConfig:
    """What the kernel launcher does before running student code.

    Attributes:
        workdir: the kernel's private working folder (owned by ``uid`` when set).
        env: the kernel's whole environment (nothing else is inherited).
        uid, gid: drop to this user/group (None: keep the current user).
        own_root: the kernel's filesystem is a root of its own in a private mount namespace
            (:func:`labkit_course.grading.fsroot.enter_root`): ``read_only`` and the system's
            libraries, a private ``/tmp`` holding ``workdir`` at WORK_MOUNT (and ``ipc_dir``),
            a minimal ``/dev``, ``/proc``, and nothing else.
        read_only: what the kernel must read (Python, the venv, labkit, the data), shown
            read-only at the same paths in its own root.
        hide: paths covered by empty read-only mounts where they lie inside a ``read_only``
            one (elsewhere they are absent from the kernel's root anyway).
        mem_bytes: RLIMIT_DATA (heap + private mappings; RLIMIT_AS is unusable because the CUDA
            build of torch maps gigabytes of address space at import).
        nproc: RLIMIT_NPROC (processes of the kernel's user).
        fsize_bytes: RLIMIT_FSIZE (largest file the kernel may write).
        threads: OMP/MKL threads for torch in the kernel.
        world: run the kernel in its own PID + IPC namespaces under a tiny init
            (:mod:`labkit_course.grading.world`); needs root.
        network: with ``world``, keep the host's network (False: a network namespace with
            only loopback).
        ipc_dir: the host folder of the kernel's ZMQ socket files (``ipc`` transport); with
            ``own_root`` it is bind-mounted at ``world.IPC_MOUNT`` and the kernel's copy of
            the connection file names that path.
    """

    workdir: str
    env: dict[str, str] = field(default_factory=dict)
    uid: int | None = None
    gid: int | None = None
    own_root: bool = False
    read_only: list[str] = field(default_factory=list)
    hide: list[str] = field(default_factory=list)
    mem_bytes: int | None = None
    nproc: int | None = None
    fsize_bytes: int | None = 1 << 30
    threads: int = 1
    world: bool = False
    network: bool = True
    ipc_dir: str = ""

    def write(self, path: Path) -> None:
        """Write this config as JSON, readable by the owner only."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(asdict(self), f)

    @classmethod
    def read(cls, path: Path) -> "SandboxConfig":
        return cls(**json.loads(Path(path).read_text()))


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


PROTECTIONS = {
    "files": "private files (a root of the kernel's own: only the Python environment, labkit "
             "and the data, read-only, and a private /tmp and /dev/shm; no course, gradebook, "
             "submission or other student's results)",
    "processes": "a process world per submission (PID namespace: student code cannot signal or "
                 "see other kernels, and nothing it starts outlives its grading)",
    "network": "no network for student code (network namespace with only loopback)",
    "users": "a user per concurrent submission (sandbox uids: separate process limits and "
             "signals, and student code cannot read or write what the grader's user can)",
}


def protections() -> set[str]:
    """The protections this process can give student kernels: a subset of ``{"files",
    "processes", "network", "users"}`` (see :data:`PROTECTIONS`)."""
    from labkit_course.grading.world import CLONE_WORLD, can_unshare

    if os.geteuid() != 0 or not sys.platform.startswith("linux"):
        return set()
    have = {"users"}
    if any(_blocked_ancestor(os.path.realpath(p)) for p in (sys.base_prefix, sys.prefix)) \
            and not can_unshare(_CLONE_NEWNS):
        return set()  # an unprivileged uid could not even run this Python
    if can_unshare(_CLONE_NEWNS):
        have.add("files")
        if can_unshare(_CLONE_NEWNS | CLONE_WORLD):
            have.add("processes")
            if can_unshare(_CLONE_NEWNS | CLONE_WORLD | _CLONE_NEWNET):
                have.add("network")
    return have


def missing_protections() -> list[str]:
    """What a student's kernel does NOT get on this machine, in words (empty: none missing)."""
    have = protections()
    return [text for key, text in PROTECTIONS.items() if key not in have]


def isolation_level() -> tuple[str, str]:
    """Return ``(level, explanation)``: ``"strong"`` (root with mount, PID, IPC and network
    namespaces: every protection), ``"uid"`` (root, sandbox uids, but some namespaces are
    unavailable) or ``"weak"`` (not root: kernels run as you). The explanation lists exactly
    what is missing."""
    have = protections()
    missing = [text for key, text in PROTECTIONS.items() if key not in have]
    if not missing:
        return "strong", ("kernels run as a sandbox uid per worker slot, each in its own mount, "
                          "PID, IPC and network namespaces")
    if os.geteuid() != 0:
        why = ("not running as root: student kernels run as you and can read and write every "
               "file you can (the source notebook and the gradebook included); grade as root "
               "(e.g. in the CI container) for real isolation")
    elif "users" not in have:
        why = ("namespaces are unavailable and a sandbox uid cannot reach this Python "
               f"({sys.base_prefix}): student kernels run as root")
    else:
        why = "root, but some namespaces are unavailable here"
    return ("uid" if "users" in have else "weak"), why + ". Missing: " + "; ".join(missing)


def _blocked_ancestor(path: str) -> str | None:
    """The top-most proper ancestor of ``path`` that others may not enter (no o+x), if any."""
    parts = Path(path).parts
    for k in range(2, len(parts)):
        ancestor = str(Path(*parts[:k]))
        if not os.stat(ancestor).st_mode & 0o001:
            return ancestor
    return None


def _own_root(cfg: SandboxConfig, host_mnt_ns: str) -> str:
    """Enter the kernel's own root (this process is in a private mount namespace already);
    return the work folder's path there."""
    from labkit_course.grading.world import IPC_MOUNT

    writable = {WORK_MOUNT: cfg.workdir, **({IPC_MOUNT: cfg.ipc_dir} if cfg.ipc_dir else {})}
    enter_root(cfg.read_only, writable, cfg.hide, host_mnt_ns)
    return WORK_MOUNT


def _only_own_fds() -> None:
    """Put stdin, stdout and stderr on ``/dev/null`` and close every other file descriptor:
    nothing the grader holds (its log, a pipe, a socket) reaches student code."""
    sys.stdout.flush()
    sys.stderr.flush()
    null = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    top = max(int(fd) for fd in os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") \
        else resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    os.closerange(3, top + 1)  # close_range(2) where the kernel has it


def _limits(cfg: SandboxConfig) -> None:
    for limit, value in ((resource.RLIMIT_DATA, cfg.mem_bytes), (resource.RLIMIT_NPROC, cfg.nproc),
                         (resource.RLIMIT_FSIZE, cfg.fsize_bytes), (resource.RLIMIT_CORE, 0)):
        if value is not None:
            resource.setrlimit(limit, (value, value))


def _become_student(cfg: SandboxConfig, data: bytes, workdir: str, keep_jpy: bool) -> str:
    """Limits, the connection file, the student's uid, folder and environment; return the
    connection file's path. ``keep_jpy``: keep ``JPY_*`` (ipykernel's parent-pid polling)."""
    _limits(cfg)
    conn = os.path.join(workdir, ".kernel-connection.json")
    fd = os.open(conn, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    if cfg.uid is not None:
        os.chown(conn, cfg.uid, cfg.gid if cfg.gid is not None else -1)
        os.setgroups([])
        os.setgid(cfg.gid if cfg.gid is not None else cfg.uid)
        os.setuid(cfg.uid)
    os.chdir(workdir)
    _only_own_fds()
    keep = {k: v for k, v in os.environ.items() if keep_jpy and k.startswith("JPY_")}
    if not keep_jpy:  # its parent is the namespace's init, PID 1: no parent polling (and no
        keep["JPY_PARENT_PID"] = "1"  # "Ctrl-C will not work" banner on the kernel's stderr)
    os.environ.clear()
    os.environ.update(keep)
    os.environ.update(cfg.env)
    os.environ.update(HOME=workdir, IPYTHONDIR=os.path.join(workdir, ".ipython"),
                      MPLCONFIGDIR=os.path.join(workdir, ".matplotlib"),
                      OMP_NUM_THREADS=str(cfg.threads), MKL_NUM_THREADS=str(cfg.threads))
    if "torch" in sys.modules:  # loaded with labkit before the variables above were set, so
        sys.modules["torch"].set_num_threads(cfg.threads)  # OpenMP already read its thread count
    return conn


def enter_sandbox(cfg: SandboxConfig, connection_file: str) -> str:
    """Apply ``cfg`` to this process (the kernel, before any student code; no ``world``);
    return the path of the kernel's connection file (copied into the work folder so the
    dropped user can read it)."""
    data = Path(connection_file).read_bytes()  # before the root is replaced
    workdir = cfg.workdir
    if cfg.own_root:
        host_mnt_ns = os.readlink("/proc/self/ns/mnt")
        if _libc().unshare(_CLONE_NEWNS) != 0:
            raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS) failed")
        workdir = _own_root(cfg, host_mnt_ns)
    parent = os.getppid()
    conn = _become_student(cfg, data, workdir, keep_jpy=True)
    die_with_parent(parent)  # the grader's worker (after setuid, which clears it)
    return conn


def world_flags(cfg: SandboxConfig) -> int:
    """The namespaces the launcher unshares for ``cfg.world`` (see :mod:`labkit_course.grading.world`)."""
    from labkit_course.grading.world import CLONE_WORLD

    return CLONE_WORLD | (0 if cfg.network else _CLONE_NEWNET)


def enter_world(cfg: SandboxConfig, connection_file: str, run_kernel) -> None:
    """Be the kernel launcher of ``cfg.world``: never returns. PID 1 of the new namespaces
    enters the mount namespace (and brings loopback up); the kernel, PID 2, drops to the
    student (``no_new_privs``) and calls ``run_kernel(connection_file_path)``."""
    import json

    from labkit_course.grading.world import IPC_MOUNT, loopback_up, run_world

    host_mnt_ns = os.readlink("/proc/self/ns/mnt")
    info = json.loads(Path(connection_file).read_bytes())  # before the root is replaced
    if cfg.ipc_dir and cfg.own_root and info.get("transport") == "ipc":
        info["ip"] = info["ip"].replace(cfg.ipc_dir, IPC_MOUNT, 1)  # the kernel's view
    data = json.dumps(info).encode()

    def enter():  # PID 1, root
        workdir = _own_root(cfg, host_mnt_ns) if cfg.own_root else cfg.workdir
        if not cfg.network:
            loopback_up()

        def kernel() -> None:  # PID 2
            conn = _become_student(cfg, data, workdir, keep_jpy=False)  # its parent is PID 1
            _libc().prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
            run_kernel(conn)

        return kernel

    run_world(world_flags(cfg), enter)

"""Where and how a student's kernel runs: a private folder, a scrubbed environment, resource
limits, an unprivileged user per worker slot, private mount, PID, IPC and network namespaces.

The grader writes a :class:`SandboxConfig` as JSON into a root-only folder; the kernel launcher
(``python -m labkit.grading.kernel --sandbox CONFIG``) reads it, deletes it, applies it and only
then imports IPython and runs student code.

Strong isolation needs root (as in CI and on a grading server). With ``world`` set the
launcher builds a process world of its own (:mod:`labkit.grading.world`): new PID, IPC and
network namespaces whose PID 1 is a tiny init; inside, a private mount namespace in which
``/tmp``, ``/var/tmp``, ``/dev/shm`` and ``/run/lock`` are fresh tmpfs (``/tmp`` holding only
the work folder and the ZMQ socket folder), and the course folder, the grader's output folder
and everything in the repository except ``labkit/``, ``.venv/`` and ``data/`` are covered by
empty read-only mounts; then the kernel drops to the worker slot's own uid with
``no_new_privs``. Without ``world`` (the ``uid`` level, or namespaces turned off) the kernel
process itself enters the mount namespace and drops its uid. Without root (a TA laptop) the
kernel runs as the TA with the same limits, and a warning lists the protections that are
missing (:func:`missing_protections`).
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .world import die_with_parent

__all__ = ["SandboxConfig", "isolation_level", "missing_protections", "protections",
           "PROTECTIONS", "enter_sandbox",
           "enter_world", "world_flags", "WORK_MOUNT"]

WORK_MOUNT = "/tmp/labkit-work"  # where the work folder appears inside the mount namespace
_CLONE_NEWNS, _CLONE_NEWNET = 0x00020000, 0x40000000
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_REMOUNT, _MS_BIND, _MS_REC, _MS_PRIVATE = 1, 2, 4, 32, 4096, 16384, 1 << 18
_PR_SET_NO_NEW_PRIVS = 38
_SHARED_TMP = ("/var/tmp", "/dev/shm", "/run/lock", "/dev/mqueue")  # world-writable: a private tmpfs each


@dataclass
class SandboxConfig:
    """What the kernel launcher does before running student code.

    Attributes:
        workdir: the kernel's private working folder (owned by ``uid`` when set).
        env: the kernel's whole environment (nothing else is inherited).
        uid, gid: drop to this user/group (None: keep the current user).
        hide: folders (or files) covered by empty read-only mounts in a private mount namespace.
        reveal: folders the kernel must read (Python, the venv, labkit, the data): where one
            sits under a folder the dropped user cannot enter (e.g. a Python under /root), or
            under the replaced /tmp, it is bind-mounted back at the same path.
        private_tmp: give the kernel a fresh ``/tmp`` holding only ``workdir`` at WORK_MOUNT
            (and ``ipc_dir``), and fresh ``/var/tmp``, ``/dev/shm``, ``/run/lock``: nothing a
            submission writes there reaches the next one.
        mem_bytes: RLIMIT_DATA (heap + private mappings; RLIMIT_AS is unusable because the CUDA
            build of torch maps gigabytes of address space at import).
        nproc: RLIMIT_NPROC (processes of the kernel's user).
        fsize_bytes: RLIMIT_FSIZE (largest file the kernel may write).
        threads: OMP/MKL threads for torch in the kernel.
        world: run the kernel in its own PID + IPC namespaces under a tiny init
            (:mod:`labkit.grading.world`); needs root.
        network: with ``world``, keep the host's network (False: a network namespace with
            only loopback).
        ipc_dir: the host folder of the kernel's ZMQ socket files (``ipc`` transport); with
            ``private_tmp`` it is bind-mounted at ``world.IPC_MOUNT`` and the kernel's copy of
            the connection file names that path.
    """

    workdir: str
    env: dict[str, str] = field(default_factory=dict)
    uid: int | None = None
    gid: int | None = None
    hide: list[str] = field(default_factory=list)
    reveal: list[str] = field(default_factory=list)
    private_tmp: bool = False
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
    "files": "private files (the course, the gradebook and other students' results hidden in a "
             "private mount namespace; private /tmp, /var/tmp, /dev/shm)",
    "processes": "a process world per submission (PID namespace: student code cannot signal or "
                 "see other kernels, and nothing it starts outlives its grading)",
    "network": "no network for student code (network namespace with only loopback)",
    "users": "a user per concurrent submission (sandbox uids: separate process limits and "
             "signals, and student code cannot read or write what the grader's user can)",
}


def protections() -> set[str]:
    """The protections this process can give student kernels: a subset of ``{"files",
    "processes", "network", "users"}`` (see :data:`PROTECTIONS`)."""
    from .world import CLONE_WORLD, can_unshare

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


def _mount(src: str | None, target: str, fstype: str | None, flags: int, data: str | None) -> None:
    libc = _libc()
    enc = lambda s: None if s is None else s.encode()  # noqa: E731
    if libc.mount(enc(src), enc(target), enc(fstype), flags, enc(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {target}: {os.strerror(err)}")


def _blocked_ancestor(path: str) -> str | None:
    """The top-most proper ancestor of ``path`` that others may not enter (no o+x), if any."""
    parts = Path(path).parts
    for k in range(2, len(parts)):
        ancestor = str(Path(*parts[:k]))
        if not os.stat(ancestor).st_mode & 0o001:
            return ancestor
    return None


def _private_mounts(cfg: SandboxConfig) -> str:
    """Enter a private mount namespace, hide ``cfg.hide``, give a private /tmp (plus /var/tmp,
    /dev/shm, /run/lock), bring back ``cfg.reveal`` and ``cfg.ipc_dir``; return the kernel's
    work folder."""
    if _libc().unshare(_CLONE_NEWNS) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS) failed")
    _mount(None, "/", None, _MS_REC | _MS_PRIVATE, None)
    # Open everything to keep before any mount hides it.
    reveal = {}
    fresh = ("/tmp", *_SHARED_TMP) if cfg.private_tmp else ()  # replaced by empty tmpfs below
    gone = lambda p: any((p + "/").startswith(d + "/") for d in fresh)  # noqa: E731
    hidden_dirs = [h.rstrip("/") for h in cfg.hide if os.path.isdir(h) and not gone(h)]
    keep_open: set[str] = set()  # hidden folders that hold a revealed one: writable until bound
    for path in dict.fromkeys(os.path.realpath(p) for p in cfg.reveal if os.path.isdir(p)):
        under_tmp = gone(path)  # in /tmp, /var/tmp, ...: bound back into the fresh tmpfs
        blocked = None if under_tmp else _blocked_ancestor(path)
        under_hidden = [h for h in hidden_dirs if path.startswith(h + "/")]
        keep_open.update(under_hidden)
        if under_tmp or blocked or under_hidden:
            reveal[path] = (blocked, os.open(path, os.O_RDONLY | os.O_DIRECTORY))
    workdir = cfg.workdir
    if cfg.private_tmp:
        from .world import IPC_MOUNT

        binds = {WORK_MOUNT: os.open(cfg.workdir, os.O_RDONLY | os.O_DIRECTORY)}
        if cfg.ipc_dir:
            binds[IPC_MOUNT] = os.open(cfg.ipc_dir, os.O_RDONLY | os.O_DIRECTORY)
        _mount("tmpfs", "/tmp", "tmpfs", _MS_NOSUID | _MS_NODEV, "mode=1777,size=1g")
        for target, fd in binds.items():
            os.mkdir(target)
            _mount(f"/proc/self/fd/{fd}", target, None, _MS_BIND, None)
            os.close(fd)
        for shared in _SHARED_TMP:  # nothing a submission writes there reaches the next one
            if os.path.isdir(shared) and not os.path.islink(shared):
                _mount("tmpfs", shared, "tmpfs", _MS_NOSUID | _MS_NODEV, "mode=1777,size=256m")
        workdir = WORK_MOUNT
    for path in cfg.hide:
        if gone(path):
            continue  # already gone with the old /tmp, /var/tmp, ...
        if os.path.isdir(path):
            ro = 0 if path.rstrip("/") in keep_open else _MS_RDONLY
            _mount("tmpfs", path, "tmpfs", ro | _MS_NOSUID | _MS_NODEV, "size=64k,mode=0555")
        elif os.path.isfile(path):
            _mount("/dev/null", path, None, _MS_BIND, None)
    covered: set[str] = set()
    for path, (blocked, fd) in reveal.items():
        if blocked and blocked not in covered:  # an empty, enterable stand-in for the folder
            _mount("tmpfs", blocked, "tmpfs", _MS_NOSUID | _MS_NODEV, "mode=0755,size=64k")
            covered.add(blocked)
        os.makedirs(path, mode=0o755, exist_ok=True)
        _mount(f"/proc/self/fd/{fd}", path, None, _MS_BIND | _MS_REC, None)
        os.close(fd)
    for path in keep_open:  # now read-only like every hidden folder
        if os.path.ismount(path):
            _mount(None, path, None, _MS_REMOUNT | _MS_RDONLY | _MS_NOSUID | _MS_NODEV, None)
    return workdir


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
    data = Path(connection_file).read_bytes()  # before /tmp is replaced
    workdir = _private_mounts(cfg) if (cfg.hide or cfg.private_tmp) else cfg.workdir
    parent = os.getppid()
    conn = _become_student(cfg, data, workdir, keep_jpy=True)
    die_with_parent(parent)  # the grader's worker (after setuid, which clears it)
    return conn


def world_flags(cfg: SandboxConfig) -> int:
    """The namespaces the launcher unshares for ``cfg.world`` (see :mod:`labkit.grading.world`)."""
    from .world import CLONE_WORLD

    return CLONE_WORLD | (0 if cfg.network else _CLONE_NEWNET)


def enter_world(cfg: SandboxConfig, connection_file: str, run_kernel) -> None:
    """Be the kernel launcher of ``cfg.world``: never returns. PID 1 of the new namespaces
    enters the mount namespace (and brings loopback up); the kernel, PID 2, drops to the
    student (``no_new_privs``) and calls ``run_kernel(connection_file_path)``."""
    import json

    from .world import IPC_MOUNT, loopback_up, run_world

    info = json.loads(Path(connection_file).read_bytes())  # before /tmp is replaced
    if cfg.ipc_dir and cfg.private_tmp and info.get("transport") == "ipc":
        info["ip"] = info["ip"].replace(cfg.ipc_dir, IPC_MOUNT, 1)  # the kernel's view
    data = json.dumps(info).encode()

    def enter():  # PID 1, root
        workdir = _private_mounts(cfg) if (cfg.hide or cfg.private_tmp) else cfg.workdir
        if not cfg.network:
            loopback_up()

        def kernel() -> None:  # PID 2
            conn = _become_student(cfg, data, workdir, keep_jpy=False)  # its parent is PID 1
            _libc().prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
            run_kernel(conn)

        return kernel

    run_world(world_flags(cfg), enter)

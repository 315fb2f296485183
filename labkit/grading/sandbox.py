"""Where and how a student's kernel runs: a private folder, a scrubbed environment, resource
limits, an unprivileged user and a private mount namespace.

The grader writes a :class:`SandboxConfig` as JSON into a root-only folder; the kernel launcher
(``python -m labkit.grading.kernel --sandbox CONFIG``) reads it, deletes it, applies it with
:func:`enter_sandbox` and only then imports IPython and runs student code.

Strong isolation needs root (as in CI and on a grading server): the kernel gets a private mount
namespace in which ``/tmp`` is a fresh tmpfs holding only its work folder, and the course
folder, the grader's output folder and everything in the repository except ``labkit/``,
``.venv/`` and ``data/`` are covered by empty read-only mounts; then it drops to ``nobody``.
Without root (a TA laptop) the kernel runs as the TA with the same limits and a warning says
that isolation is weak.
"""

from __future__ import annotations

import ctypes
import json
import os
import pwd
import resource
import signal
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

__all__ = ["SandboxConfig", "isolation_level", "enter_sandbox", "WORK_MOUNT"]

WORK_MOUNT = "/tmp/labkit-work"  # where the work folder appears inside the mount namespace
_CLONE_NEWNS = 0x00020000
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_BIND, _MS_REC, _MS_PRIVATE = 1, 2, 4, 4096, 16384, 1 << 18
_PR_SET_PDEATHSIG = 1


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
        private_tmp: give the kernel a fresh ``/tmp`` holding only ``workdir`` at WORK_MOUNT.
        mem_bytes: RLIMIT_DATA (heap + private mappings; RLIMIT_AS is unusable because the CUDA
            build of torch maps gigabytes of address space at import).
        nproc: RLIMIT_NPROC (processes of the kernel's user).
        fsize_bytes: RLIMIT_FSIZE (largest file the kernel may write).
        threads: OMP/MKL threads for torch in the kernel.
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


def _can_unshare() -> bool:
    """True when this process may create a private mount namespace (tried in a child)."""
    if os.geteuid() != 0 or not sys.platform.startswith("linux"):
        return False
    pid = os.fork()
    if pid == 0:  # child: try, report by exit status, never return
        ok = _libc().unshare(_CLONE_NEWNS) == 0
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0


def isolation_level() -> tuple[str, str]:
    """Return ``(level, explanation)``: level ``"strong"`` (root: mount namespace + nobody),
    ``"uid"`` (root but no namespaces: nobody only) or ``"weak"`` (not root)."""
    if os.geteuid() != 0:
        return "weak", ("not running as root: student kernels run as you and can read every file "
                        "you can (the source notebook and the gradebook included); grade as root "
                        "(e.g. in the CI container) for real isolation")
    try:
        pwd.getpwnam("nobody")
    except KeyError:
        return "weak", "no 'nobody' user: student kernels run as root"
    if _can_unshare():
        return "strong", "kernels run as 'nobody' in a private mount namespace"
    if any(_blocked_ancestor(os.path.realpath(p)) for p in (sys.base_prefix, sys.prefix)):
        return "weak", ("mount namespaces are unavailable and 'nobody' cannot reach this Python "
                        f"({sys.base_prefix}): student kernels run as root")
    return "uid", ("kernels run as 'nobody' but mount namespaces are unavailable: world-readable "
                   "files (e.g. the source notebook) stay readable")


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
    """Enter a private mount namespace, hide ``cfg.hide``, give a private /tmp, bring back
    ``cfg.reveal``; return the kernel's work folder."""
    if _libc().unshare(_CLONE_NEWNS) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS) failed")
    _mount(None, "/", None, _MS_REC | _MS_PRIVATE, None)
    # Open everything to keep before any mount hides it.
    reveal = {}
    for path in dict.fromkeys(os.path.realpath(p) for p in cfg.reveal if os.path.isdir(p)):
        under_tmp = cfg.private_tmp and path.startswith("/tmp/")
        blocked = None if under_tmp else _blocked_ancestor(path)
        if under_tmp or blocked:
            reveal[path] = (blocked, os.open(path, os.O_RDONLY | os.O_DIRECTORY))
    workdir = cfg.workdir
    if cfg.private_tmp:
        fd = os.open(cfg.workdir, os.O_RDONLY | os.O_DIRECTORY)
        _mount("tmpfs", "/tmp", "tmpfs", _MS_NOSUID | _MS_NODEV, "mode=1777,size=1g")
        os.mkdir(WORK_MOUNT)
        _mount(f"/proc/self/fd/{fd}", WORK_MOUNT, None, _MS_BIND, None)
        os.close(fd)
        workdir = WORK_MOUNT
    for path in cfg.hide:
        if cfg.private_tmp and (path + "/").startswith("/tmp/"):
            continue  # already gone with the old /tmp
        if os.path.isdir(path):
            _mount("tmpfs", path, "tmpfs", _MS_RDONLY | _MS_NOSUID | _MS_NODEV, "size=4k,mode=0555")
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
    return workdir


def enter_sandbox(cfg: SandboxConfig, connection_file: str) -> str:
    """Apply ``cfg`` to this process (the kernel, before any student code); return the path of
    the kernel's connection file (copied into the work folder so the dropped user can read it)."""
    data = Path(connection_file).read_bytes()  # before /tmp is replaced
    workdir = _private_mounts(cfg) if (cfg.hide or cfg.private_tmp) else cfg.workdir
    for limit, value in ((resource.RLIMIT_DATA, cfg.mem_bytes), (resource.RLIMIT_NPROC, cfg.nproc),
                         (resource.RLIMIT_FSIZE, cfg.fsize_bytes), (resource.RLIMIT_CORE, 0)):
        if value is not None:
            resource.setrlimit(limit, (value, value))
    conn = os.path.join(workdir, ".kernel-connection.json")
    fd = os.open(conn, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    parent = os.getppid()
    if cfg.uid is not None:
        os.chown(conn, cfg.uid, cfg.gid if cfg.gid is not None else -1)
        os.setgroups([])
        os.setgid(cfg.gid if cfg.gid is not None else cfg.uid)
        os.setuid(cfg.uid)
    os.chdir(workdir)
    # Die with the grader's worker (set after setuid, which clears it).
    _libc().prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)
    keep = {k: v for k, v in os.environ.items() if k.startswith("JPY_")}  # parent-pid polling
    os.environ.clear()
    os.environ.update(keep)
    os.environ.update(cfg.env)
    os.environ.update(HOME=workdir, IPYTHONDIR=os.path.join(workdir, ".ipython"),
                      MPLCONFIGDIR=os.path.join(workdir, ".matplotlib"),
                      OMP_NUM_THREADS=str(cfg.threads), MKL_NUM_THREADS=str(cfg.threads))
    if "torch" in sys.modules:  # loaded with labkit before the variables above were set, so
        sys.modules["torch"].set_num_threads(cfg.threads)  # OpenMP already read its thread count
    return conn

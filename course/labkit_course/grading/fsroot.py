"""The kernel's filesystem: a root that holds only what the kernel may see (an allow-list).

:func:`enter_root` runs as root inside a private mount namespace (never the host's). It builds
an empty tmpfs root and puts into it, each at its own path:

* read-only bind mounts of the allowed paths: those the caller names (the Python environment,
  labkit, the profile's data) and the system's own (:data:`SYSTEM`: ``/usr`` with the
  ``/bin``, ``/lib``... links, and the few files of ``/etc`` in :data:`ETC` that programs and the
  C library read);
* a minimal ``/dev`` (:data:`DEVICES`, the ``fd``/``stdin``/``stdout``/``stderr`` links and a
  private ``/dev/shm``), the caller's ``/proc`` (a PID namespace's own inside a process world),
  and a private ``/tmp`` holding the writable folders the caller binds there (the kernel's
  work folder, its ZMQ socket folder);
* empty read-only covers over the hidden paths that lie inside an allowed one (a course kept
  under ``/usr/local``, say);

then pivots into it and detaches the old root. Everything else (submissions, output folders,
courses, homes, ``/srv``, ``/data``, ``/root``, the rest of ``/etc``...) does not exist for the
kernel, wherever it is on the machine.
"""

from __future__ import annotations

import ctypes
import os
import platform
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = ["SYSTEM", "ETC", "DEVICES", "enter_root", "plan"]

SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
ETC = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime",
       "/etc/alternatives", "/etc/nsswitch.conf", "/etc/host.conf", "/etc/hosts",
       "/etc/resolv.conf", "/etc/gai.conf", "/etc/services", "/etc/protocols", "/etc/ssl/certs")
DEVICES = ("null", "zero", "full", "random", "urandom")
_DEV_LINKS = {"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1",
              "stderr": "/proc/self/fd/2"}

_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 1, 2, 4, 8
_MS_REMOUNT, _MS_BIND, _MS_MOVE, _MS_REC, _MS_PRIVATE = 32, 4096, 8192, 16384, 1 << 18
_MNT_DETACH = 2
_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "arm64": 41, "riscv64": 41, "loongarch64": 41,
                   "ppc64le": 203, "ppc64": 203, "s390x": 217, "i386": 217, "i686": 217,
                   "armv7l": 218}
_BUILD = "/tmp"  # where the new root is mounted while it is built (every source is open by then)


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _mount(src: str | None, target: str, fstype: str | None, flags: int,
           data: str | None = None) -> None:
    enc = lambda s: None if s is None else s.encode()  # noqa: E731
    if _libc().mount(enc(src), enc(target), enc(fstype), flags, enc(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {target}: {os.strerror(err)}")


def _tmpfs(target: str, mode: str, size: str, flags: int = _MS_NOSUID | _MS_NODEV) -> None:
    _mount("tmpfs", target, "tmpfs", flags, f"mode={mode},size={size}")


@dataclass(frozen=True)
class _Entry:
    """One path of the new root: a read-only ``bind`` of an open source, a ``link`` copied from
    the host, or a ``cover`` (empty, read-only) over a hidden path inside an allowed one."""

    kind: str
    path: str
    source: str = ""  # bind: the host path (its realpath); link: the link's target
    is_dir: bool = True  # bind: the source is a folder (known before /tmp is covered)


def _depth(path: str) -> int:
    return path.rstrip("/").count("/")


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _entries(read_only: Iterable[str], hide: Iterable[str]) -> list[_Entry]:
    """The binds, links and covers of the new root, parents before what lies inside them."""
    entries: dict[str, _Entry] = {}
    for given in (*SYSTEM, *ETC, *read_only):
        if not os.path.isabs(given):
            raise ValueError(f"{given!r}: the kernel's allowed paths must be absolute")
        path = os.path.normpath(given)
        if not os.path.lexists(path):
            continue
        if os.path.islink(path) and path in (*SYSTEM, *ETC):  # /lib -> usr/lib: a link
            entries.setdefault(path, _Entry("link", path, os.readlink(path)))
            continue
        real = os.path.realpath(path)
        if not os.path.exists(real):
            continue
        for shown in dict.fromkeys((path, real)):  # at the given path and at the real one
            entries[shown] = _Entry("bind", shown, real, os.path.isdir(real))
    binds = [e.path for e in entries.values() if e.kind == "bind"]
    for given in hide:  # one outside every bind is absent already (or shows only binds)
        path = os.path.realpath(given)
        if os.path.lexists(path) and any(_within(path, b) and path != b for b in binds):
            entries[path] = _Entry("cover", path)  # binds inside it come after, on top
    return sorted(entries.values(), key=lambda e: (_depth(e.path), e.kind != "cover", e.path))


def plan(read_only: Iterable[str]) -> list[tuple[str, str, str]]:
    """What a root with ``read_only`` holds besides /dev, /proc and /tmp, in mount order:
    ``("bind", path, host source)`` shown read-only, or ``("link", path, target)``."""
    return [(e.kind, e.path, e.source) for e in _entries(read_only, ())]


def _inside(root: str, path: str) -> str:
    """``path`` under ``root``, refusing one whose folder resolves outside ``root``."""
    target = root + path
    parent = os.path.realpath(os.path.dirname(target))
    if not _within(parent, root):
        raise RuntimeError(f"{path} would be placed outside the kernel's root ({parent})")
    return target


def _make_point(target: str, is_dir: bool) -> None:
    """An empty folder or file to mount on (its parents created, mode 0755)."""
    if os.path.lexists(target):
        return
    os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
    if is_dir:
        os.mkdir(target, 0o755)
    else:
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))


def _bind_read_only(fd: int, target: str) -> None:
    """Bind the open source ``fd`` at ``target``: read-only, no setuid, no devices (and no
    execution where the source has none)."""
    _mount(f"/proc/self/fd/{fd}", target, None, _MS_BIND)
    noexec = _MS_NOEXEC if os.fstatvfs(fd).f_flag & os.ST_NOEXEC else 0
    _mount(None, target, None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY | _MS_NOSUID | _MS_NODEV | noexec)


def _bind_writable(fd: int, target: str) -> None:
    _mount(f"/proc/self/fd/{fd}", target, None, _MS_BIND)
    _mount(None, target, None, _MS_REMOUNT | _MS_BIND | _MS_NOSUID | _MS_NODEV)


def _make_dev(root: str, devices: Mapping[str, int]) -> None:
    dev = root + "/dev"
    os.mkdir(dev, 0o755)
    _tmpfs(dev, "0755", "64k", _MS_NOSUID | _MS_NOEXEC)
    for name, fd in devices.items():
        _make_point(f"{dev}/{name}", is_dir=False)
        _mount(f"/proc/self/fd/{fd}", f"{dev}/{name}", None, _MS_BIND)
    for name, target in _DEV_LINKS.items():
        os.symlink(target, f"{dev}/{name}")
    os.mkdir(f"{dev}/shm", 0o755)
    _tmpfs(f"{dev}/shm", "1777", "256m")
    _mount(None, dev, None, _MS_REMOUNT | _MS_RDONLY | _MS_NOSUID | _MS_NOEXEC)


def _pivot(root: str) -> None:
    """Make ``root`` the root of this mount namespace and detach the old one (where
    pivot_root(2) is refused, e.g. a root on the initial ramfs: move it onto / and chroot)."""
    os.chdir(root)
    number = _SYS_PIVOT_ROOT.get(platform.machine())
    libc = _libc()
    if number is not None and libc.syscall(number, b".", b".") == 0:
        if libc.umount2(b".", _MNT_DETACH) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"detaching the old root: {os.strerror(err)}")
    else:
        _mount(".", "/", None, _MS_MOVE)
        os.chroot(".")
    os.chdir("/")


def enter_root(read_only: Iterable[str], writable: Mapping[str, str], hide: Iterable[str],
               host_mnt_ns: str) -> None:
    """Replace this process's root with one that holds only the allowed paths (module docstring).

    Args:
        read_only: host paths shown read-only at their own paths, besides :data:`SYSTEM` and
            :data:`ETC` (a missing one is left out).
        writable: ``{path under /tmp: host folder}`` bound read-write (no setuid, no devices)
            into the kernel's private ``/tmp``.
        hide: host paths covered by an empty read-only mount where they lie inside an allowed
            path (elsewhere they are absent already).
        host_mnt_ns: ``readlink /proc/self/ns/mnt`` of the host: this process must be in
            another mount namespace, or nothing is mounted.

    Raises:
        RuntimeError: this process is in the host's mount namespace, or a path would land
            outside the new root.
        OSError: a mount failed (its message names the path).
    """
    if os.readlink("/proc/self/ns/mnt") == host_mnt_ns:
        raise RuntimeError("refusing to build the kernel's root: not in a private mount namespace")
    if any(os.path.normpath(p) == "/" for p in read_only):
        raise ValueError("the whole machine cannot be an allowed path")
    for target in writable:
        if not target.startswith("/tmp/") or "/" in target[5:]:
            raise ValueError(f"{target}: writable folders go directly under /tmp")
    _mount(None, "/", None, _MS_REC | _MS_PRIVATE)
    plan = _entries(read_only, hide)
    fds: list[int] = []  # every source is opened before the new root hides any of it

    def open_path(path: str, extra: int = 0) -> int:
        fds.append(os.open(path, os.O_PATH | os.O_CLOEXEC | extra))
        return fds[-1]

    try:
        opened = {e.source: open_path(e.source) for e in plan if e.kind == "bind"}
        devices = {name: open_path(f"/dev/{name}") for name in DEVICES
                   if os.path.exists(f"/dev/{name}")}
        null, proc = open_path("/dev/null"), open_path("/proc", os.O_DIRECTORY)
        folders = {t: open_path(src, os.O_DIRECTORY) for t, src in writable.items()}
        _build(_BUILD, plan, opened, null, devices, proc, folders)
    finally:
        for fd in fds:
            os.close(fd)
    _pivot(_BUILD)
    _mount(None, "/", None, _MS_REMOUNT | _MS_RDONLY | _MS_NOSUID | _MS_NODEV)


def _build(root: str, plan: list[_Entry], opened: Mapping[str, int], null: int,
           devices: Mapping[str, int], proc: int, folders: Mapping[str, int]) -> None:
    """Mount the new root at ``root`` and fill it from the open sources (see enter_root)."""
    _tmpfs(root, "0755", "16m")
    os.mkdir(root + "/tmp", 0o755)
    _tmpfs(root + "/tmp", "1777", "1g")
    for target, fd in folders.items():
        os.mkdir(root + target, 0o700)
        _bind_writable(fd, root + target)
    covers = []
    for e in plan:
        target = _inside(root, e.path)
        if e.kind == "link":
            os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
            if not os.path.lexists(target):
                os.symlink(e.source, target)
        elif e.kind == "bind":
            _make_point(target, e.is_dir)
            _bind_read_only(opened[e.source], target)
        elif os.path.isdir(target):  # a cover: writable until what lies inside is bound
            _tmpfs(target, "0555", "4k")
            covers.append(target)
        elif os.path.exists(target):
            _bind_read_only(null, target)
    for target in reversed(covers):
        _mount(None, target, None, _MS_REMOUNT | _MS_RDONLY | _MS_NOSUID | _MS_NODEV)
    _make_dev(root, devices)
    os.mkdir(root + "/proc", 0o555)
    _mount(f"/proc/self/fd/{proc}", root + "/proc", None, _MS_BIND | _MS_REC)

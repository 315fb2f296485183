"""Write the grader's outputs so that none is ever half-written or readable by other users.

Every file of an out folder (records, ``grades.csv``, the manual sheet, feedback pages, the
autograded notebooks) is written through :func:`atomic_open`: into a temporary file beside it,
flushed and fsynced, then renamed over the old one (``os.replace``) and the folder fsynced. A
crash, a ``kill -9`` or a full disk leaves either the old file or the new one, never a
truncated one. Files are ``0600`` and folders ``0700``: readable by the grading user only.

An ``OSError`` of a full, failing or read-only disk becomes :class:`OutputError` (see
:func:`disk_errors`): one line naming the file, what to free or check, and that running the
same command again resumes.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from labkit_course.grading.course import GradingError

__all__ = ["FILE_MODE", "DIR_MODE", "TEMP_PREFIX", "OutputError", "private_dir", "atomic_open",
           "write_text", "copy_file", "sweep_temps", "is_disk_error", "disk_errno", "disk_error",
           "disk_errors"]

FILE_MODE = 0o600
DIR_MODE = 0o700
TEMP_PREFIX = ".labkit-"  # temporary files: short names, whatever the final name's length
DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS}


class OutputError(GradingError):
    """The grader cannot write its outputs (disk full, failing or read-only); nothing written
    so far is lost, and running the same command again resumes."""


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) as folders only the grading user can enter;
    an existing ``path`` is made ``0700`` too. Return ``path``."""
    missing = [p for p in [path, *path.parents] if not p.exists()]
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    for p in missing + [path]:
        if p.is_dir() and p.stat().st_mode & 0o777 != DIR_MODE:
            p.chmod(DIR_MODE)
    return path


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_open(path: Path, mode: str = "w", *, encoding: str | None = "utf-8",
                newline: str | None = None) -> Iterator[IO]:
    """Open a temporary file beside ``path`` for writing; on a clean exit of the ``with`` block
    it replaces ``path`` (mode ``0600``, fsynced). On an error the temporary file is removed,
    ``path`` is left as it was, and the error propagates.

    Args:
        path: the file to (re)write; its folder is created ``0700`` if missing.
        mode: ``"w"`` (text) or ``"wb"`` (bytes).
        encoding, newline: as for :func:`open`, text mode only.
    """
    folder = path.parent
    if not folder.is_dir():
        private_dir(folder)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=TEMP_PREFIX, suffix=".tmp")  # 0600
    try:
        binary = "b" in mode
        with os.fdopen(fd, mode, **({} if binary else {"encoding": encoding, "newline": newline})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(folder)


def write_text(path: Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_open`); return ``path``."""
    with atomic_open(path) as f:
        f.write(text)
    return path


def copy_file(src: Path, dst: Path) -> Path:
    """Copy the bytes of ``src`` to ``dst`` atomically (see :func:`atomic_open`); return ``dst``."""
    with open(src, "rb") as f, atomic_open(dst, "wb") as out:
        shutil.copyfileobj(f, out)
    return dst


def sweep_temps(folder: Path) -> int:
    """Remove the temporary files that a grader killed in the middle of a write left under
    ``folder``; return how many. Call it only while holding the out folder's lock."""
    n = 0
    for root, _, files in os.walk(folder):  # symlinks are not followed
        for name in files:
            if name.startswith(TEMP_PREFIX) and name.endswith(".tmp"):
                Path(root, name).unlink(missing_ok=True)
                n += 1
    return n


def _disk_cause(exc: BaseException | None) -> BaseException | None:
    """The disk error in ``exc`` or in what caused it (nbgrader wraps SQLite's errors)."""
    for _ in range(8):
        if exc is None:
            return None
        if isinstance(exc, OSError) and exc.errno in DISK_ERRNOS:
            return exc
        if type(exc).__name__ == "OperationalError" and (
                "database or disk is full" in str(exc) or "disk I/O error" in str(exc)):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def is_disk_error(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) says the disk is full, failing or read-only: an
    OSError with such an errno, or SQLite's 'database or disk is full' / 'disk I/O error'."""
    return _disk_cause(exc) is not None


def disk_errno(exc: BaseException) -> int:
    """The errno of the disk error ``exc`` (see :func:`is_disk_error`); SQLite's errors count
    as ENOSPC (disk full) or EIO."""
    cause = _disk_cause(exc) or exc
    if isinstance(cause, OSError) and cause.errno:
        return cause.errno
    return errno.EIO if "disk I/O error" in str(cause) else errno.ENOSPC


def disk_error(exc: BaseException, where: Path, *, doing: str = "") -> OutputError:
    """The one-line :class:`OutputError` for the disk error ``exc`` met under ``where`` (the
    out folder) while ``doing`` (default: writing the file the error names, or to ``where``)."""
    name = getattr(_disk_cause(exc) or exc, "filename", None)
    doing = doing or (f"writing {name}" if name else f"writing to {where}")
    code = disk_errno(exc)
    again = "then run the same command again: it keeps what is graded and grades the rest"
    if code == errno.EIO:
        what = f"the disk reported an I/O error {doing}: check the disk (dmesg) or use another --out, {again}"
    elif code == errno.EROFS:
        what = f"a read-only filesystem stopped the grader {doing}: give an --out on a writable disk, {again}"
    else:
        what = f"no space left on the disk {doing}: free space on it (df -h {where}), {again}"
    return OutputError(what)


@contextmanager
def disk_errors(where: Path) -> Iterator[None]:
    """Turn a disk error raised inside the ``with`` block into :func:`disk_error`'s
    :class:`OutputError`; other errors pass unchanged."""
    try:
        yield
    except OutputError:
        raise
    except Exception as exc:
        if is_disk_error(exc):
            raise disk_error(exc, where) from exc
        raise

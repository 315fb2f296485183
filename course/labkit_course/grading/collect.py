"""Find the submissions to grade and the student id of each; refuse, with a reason, what
cannot be graded.

Inputs may be notebooks, folders (searched recursively) or LMS zip exports (extracted into
``OUT/course/downloaded/``). The student id comes from the file name:

* ``<id>.ipynb`` -> ``<id>``; a name like ``<id>_lab1.ipynb`` or ``lab1_<id>.ipynb`` (the
  assignment's notebook name joined by ``_`` or ``-``) also gives ``<id>``;
* a file named exactly like the assignment notebook (``lab1.ipynb``) takes the name of the
  folder holding it, skipping a folder named like the assignment (nbgrader's
  ``submitted/<id>/lab1/lab1.ipynb`` layout gives ``<id>``);
* ``--id-pattern REGEX`` overrides both: a regular expression with a named group
  ``student`` searched in the file name (e.g. Canvas ``doejane_12345_67890_lab1.ipynb`` with
  ``'^(?P<student>[^_]+)_'``).

Ids are NFC-normalised and keep letters, combining marks and digits of every script, ``-`` and
``_``; any other run of characters becomes one ``-`` (``李雷``, ``josé`` and ``josè`` are three
students; ``Eve Smith`` is ``Eve-Smith``). An id may be of any length: where it names a file it
goes through :func:`labkit_course.grading.names.safe_name`.

Every file found is graded or refused with a reason, and the batch goes on. A refused file is
still a :class:`Submission` (its ``refused`` reason becomes status ``invalid`` and the note on
its page) when its name gives an id:

* a link inside a submissions folder is followed only when it leads inside that folder; a
  link leading outside it (``/etc/shadow``, the course's source notebook, a gradebook) or
  nowhere is not read; a linked folder inside it is walked like any other, one leading outside
  is named in :attr:`Collected.refused`;
* something that is not a regular file (a FIFO, a device), a file the grader cannot read, and
  a file that cannot be a notebook (:func:`labkit_course.grading.prescan.quick_check`: too large, not
  UTF-8 JSON holding cells) are refused before any worker starts, so a folder of junk costs
  milliseconds per file;
* in a zip, every member's declared size and compression ratio, the number of members and
  the zip's overall ratio are checked before anything is extracted (:class:`ZipLimits`); a
  member over a limit is refused, a zip over a limit is named in :attr:`Collected.refused`
  with nothing extracted. Only ``.ipynb`` members are extracted (``__MACOSX`` copies never).

Inputs that give no student -- a name no id can be made from, a refused zip or linked
folder -- are listed in :attr:`Collected.refused`, one line each. Two files with the same id
are an error that names both (the TA decides which one counts).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePath, PurePosixPath

from labkit_course.grading.course import GradingError
from labkit_course.grading.limits import ZipLimits
from labkit_course.grading.names import safe_name
from labkit_course.grading.prescan import quick_check, size_check

__all__ = ["Submission", "Collected", "collect", "student_id"]

_RATIO_FLOOR = 2**20  # a member this small is never refused for its ratio
_ZIP_TOTAL_FLOOR = 64 * 2**20  # nor a zip whose notebooks total this little


@dataclass(frozen=True)
class Submission:
    """One submitted notebook: ``student`` id, ``path``, the file's ``sha256`` and, for a file
    the grader does not read or cannot use, why (``refused``; "" = grade it)."""

    student: str
    path: Path
    sha256: str
    refused: str = ""


@dataclass
class Collected:
    """What :func:`collect` found: the submissions (sorted by id) and one line per input that
    was refused without a student to give the reason to (``"PATH: why"``)."""

    submissions: list[Submission]
    refused: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Found:
    name: PurePath  # what the id comes from
    path: Path  # the file to read (for a zip member: where it was extracted)
    refused: str = ""


def _reduce(raw: str) -> str:
    raw = unicodedata.normalize("NFC", raw)
    kept = "".join(ch if ch in "_-" or unicodedata.category(ch)[0] in "LMN" else "\0" for ch in raw)
    return re.sub(r"[\0-]*\0[\0-]*", "-", kept).strip("-")


def student_id(path: PurePath, notebook: str, assignment: str, pattern: str | None = None) -> str:
    """Return the student id for the submitted file ``path`` (rules in the module docstring).

    Raises:
        GradingError: ``pattern`` does not match, or no id can be made from the name.
    """
    if pattern:
        m = re.search(pattern, path.name)
        if not m or "student" not in m.groupdict():
            raise GradingError(f"--id-pattern {pattern!r} finds no 'student' group in {path.name!r}")
        raw = m.group("student")
    elif path.stem == notebook:
        parents = [p.name for p in path.parents if p.name and p.name != assignment]
        raw = parents[0] if parents else ""
    else:
        raw = re.sub(rf"(^{re.escape(notebook)}[_-]|[_-]{re.escape(notebook)}$)", "", path.stem)
    sid = _reduce(raw)
    if not sid:
        raise GradingError(f"cannot make a student id from {path}: rename it <student>.ipynb or "
                           "pass --id-pattern")
    return sid


def _is_notebook_name(name: str) -> bool:
    return name.lower().endswith(".ipynb")


def _walk(top: Path, found: list[_Found], refused: list[str]) -> None:
    """The notebooks under the folder ``top``, following links that stay inside it."""
    root = top.resolve()
    seen = {root}
    folders = [top]  # depth first, in name order
    while folders:
        folder = folders.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            refused.append(f"{folder}: cannot be listed ({exc.strerror}): not searched")
            continue
        inner: list[Path] = []
        for entry in entries:
            path = Path(entry.path)
            if entry.name == ".ipynb_checkpoints":
                continue
            if entry.is_symlink():
                target = path.resolve()
                if not target.is_relative_to(root):
                    why = f"a link to {target}, outside the submissions folder {top}: not read"
                    if _is_notebook_name(entry.name):
                        found.append(_Found(path, path, why))
                    elif target.is_dir():
                        refused.append(f"{path}: {why}")
                    continue
                if not target.exists():
                    if _is_notebook_name(entry.name):
                        found.append(_Found(path, path, f"a link to {target}, which does not exist"))
                    continue
            if entry.is_dir():
                real = path.resolve()
                if real not in seen:  # a loop, or a second link to a folder: walked once
                    seen.add(real)
                    inner.append(path)
            elif _is_notebook_name(entry.name):
                found.append(_Found(path, path.resolve() if entry.is_file() else path,
                                    "" if entry.is_file() else "not a regular file: not read"))
        folders += reversed(inner)


def _size(n: float) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}".replace(".0 ", " ")
    return f"{n:,.0f} bytes"


def _member_refusal(info: zipfile.ZipInfo, limits: ZipLimits) -> str:
    name = PurePosixPath(info.filename)
    if name.is_absolute() or ".." in name.parts:
        return "its path leads out of the zip's folder: not extracted"
    if info.flag_bits & 0x1:
        return "it is encrypted: not extracted"
    if info.file_size > limits.member_bytes:
        return (f"it declares {_size(info.file_size)} (limit {_size(limits.member_bytes)}, "
                "--zip-member-limit): not extracted")
    if info.file_size > _RATIO_FLOOR and info.file_size > limits.ratio * max(info.compress_size, 1):
        return (f"it is compressed {info.file_size / max(info.compress_size, 1):,.0f} to 1 (limit "
                f"{limits.ratio:g}, --zip-ratio-limit): not extracted")
    return ""


def _short(part: str) -> str:
    """A path component that fits a file system (a long one is hashed, its suffix kept)."""
    if len(part.encode("utf-8")) <= 200:
        return part
    stem, dot, suffix = part.rpartition(".")
    return safe_name(stem or part) + (dot + suffix if stem and len(suffix) < 10 else "")


def _extract(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path) -> str:
    """Extract ``info`` to ``target``, never more than it declares; return why not ("" = done)."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with zf.open(info) as src, open(target, "wb") as dst:
            left = info.file_size
            while chunk := src.read(min(2**20, left + 1)):
                left -= len(chunk)
                if left < 0:
                    raise zipfile.BadZipFile("the member is larger than it declares")
                dst.write(chunk)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, OSError) as exc:
        with contextlib.suppress(OSError):
            target.unlink(missing_ok=True)
        return f"it cannot be extracted ({type(exc).__name__}: {str(exc)[:200]})"
    return ""


def _unzip(item: Path, dest: Path, limits: ZipLimits, found: list[_Found], refused: list[str]) -> None:
    """The notebooks of the zip ``item``, extracted into ``dest`` once every limit is checked."""
    try:
        zf = zipfile.ZipFile(item)
    except (zipfile.BadZipFile, OSError) as exc:
        refused.append(f"{item}: not a readable zip file ({exc}): nothing extracted")
        return
    with zf:
        infos = zf.infolist()
        if len(infos) > limits.members:
            refused.append(f"{item}: {len(infos):,} members (limit {limits.members:,}, "
                           "--zip-members-limit): nothing extracted")
            return
        members = [i for i in infos if not i.is_dir() and _is_notebook_name(i.filename)
                   and "__MACOSX" not in PurePosixPath(i.filename).parts]
        checked = [(i, _member_refusal(i, limits)) for i in members]
        total = sum(i.file_size for i, why in checked if not why)
        if total > max(_ZIP_TOTAL_FLOOR, limits.ratio * item.stat().st_size):
            refused.append(f"{item}: its notebooks declare {_size(total)}, more than "
                           f"{limits.ratio:g} times the zip's {_size(item.stat().st_size)} "
                           "(--zip-ratio-limit): nothing extracted")
            return
        for info, why in checked:
            name = PurePosixPath(info.filename)
            shown = PurePath(item.stem, *[p for p in name.parts if p not in ("/", "..")])
            target = dest.joinpath(*map(_short, shown.parts[1:]))
            why = why or _extract(zf, info, target)
            found.append(_Found(shown, target if not why else item,
                                f"zip member {info.filename!r}: {why}" if why else ""))


def _read(path: Path) -> tuple[str, str]:
    """``(sha256, why the file is refused or "")`` for a file the grader may read."""
    try:
        st = path.stat()
        why = size_check(st.st_size)
        if why:  # not read: the hash of what is known of it
            return hashlib.sha256(f"{why} {st.st_mtime_ns}".encode()).hexdigest(), why
        raw = path.read_bytes()
    except OSError as exc:
        why = f"the file cannot be read ({exc.strerror})"
        return hashlib.sha256(why.encode()).hexdigest(), why
    return hashlib.sha256(raw).hexdigest(), quick_check(raw)


def collect(inputs: list[Path], *, notebook: str, assignment: str, unzip_dir: Path,
            pattern: str | None = None, zip_limits: ZipLimits = ZipLimits()) -> Collected:
    """Find the submissions in ``inputs``; see the module docstring.

    Raises:
        GradingError: an input that does not exist, or two files for one student.
    """
    found: list[_Found] = []
    refused: list[str] = []
    for item in inputs:
        if item.is_dir():
            _walk(item, found, refused)
        elif item.suffix.lower() == ".zip" and item.is_file():
            _unzip(item, unzip_dir / _short(item.stem), zip_limits, found, refused)
        elif item.is_file():
            found.append(_Found(item, item.resolve()))
        else:
            raise GradingError(f"{item}: no such file or folder")
    subs: dict[str, Submission] = {}
    for f in found:
        try:
            sid = student_id(f.name, notebook, assignment, pattern)
        except GradingError as exc:
            refused.append(f"{f.path}: {exc}; not graded")
            continue
        if sid in subs:
            raise GradingError(f"two submissions for student '{sid}': {subs[sid].path} and {f.path}; "
                               "remove one or use --id-pattern")
        if f.refused:
            sha = hashlib.sha256(f"refused: {f.refused}".encode()).hexdigest()
            subs[sid] = Submission(sid, f.path, sha, f.refused)
        else:
            sha, why = _read(f.path)
            subs[sid] = Submission(sid, f.path, sha, why)
    return Collected([subs[k] for k in sorted(subs)], refused)

"""Find the submissions to grade and the student id of each.

Inputs may be notebooks, folders (searched recursively) or LMS zip exports (extracted into
``OUT/downloaded/``). The student id comes from the file name:

* ``<id>.ipynb`` -> ``<id>``; a name like ``<id>_lab1.ipynb`` or ``lab1_<id>.ipynb`` (the
  assignment's notebook name joined by ``_`` or ``-``) also gives ``<id>``;
* a file named exactly like the assignment notebook (``lab1.ipynb``) takes the name of the
  folder holding it, skipping a folder named like the assignment (nbgrader's
  ``submitted/<id>/lab1/lab1.ipynb`` layout gives ``<id>``);
* ``--id-pattern REGEX`` overrides both: a regular expression with a named group
  ``student`` searched in the file name (e.g. Canvas ``doejane_12345_67890_lab1.ipynb`` with
  ``'^(?P<student>[^_]+)_'``).

Ids are reduced to letters, digits, ``-`` and ``_`` (what nbgrader accepts). Two files with the
same id are an error that names both (the TA decides which one counts).
"""

from __future__ import annotations

import hashlib
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .course import GradingError

__all__ = ["Submission", "collect", "student_id"]


@dataclass(frozen=True)
class Submission:
    """One submitted notebook: ``student`` id, ``path`` and the file's ``sha256``."""

    student: str
    path: Path
    sha256: str


def student_id(path: Path, notebook: str, assignment: str, pattern: str | None = None) -> str:
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
    sid = re.sub(r"[^A-Za-z0-9_-]+", "-", raw).strip("-")
    if not sid:
        raise GradingError(f"cannot make a student id from {path}: rename it <student>.ipynb or "
                           "pass --id-pattern")
    return sid


def _notebooks(inputs: list[Path], unzip_dir: Path) -> list[Path]:
    found: list[Path] = []
    for item in inputs:
        if item.is_dir():
            found += sorted(p for p in item.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
        elif item.suffix.lower() == ".zip" and item.is_file():
            dest = unzip_dir / item.stem
            with zipfile.ZipFile(item) as zf:
                for member in zf.namelist():
                    name = Path(member)
                    if name.suffix == ".ipynb" and ".." not in name.parts and not name.is_absolute() \
                            and "__MACOSX" not in name.parts:
                        zf.extract(member, dest)
            found += sorted(dest.rglob("*.ipynb"))
        elif item.is_file():
            found.append(item)
        else:
            raise GradingError(f"{item}: no such file or folder")
    return found


def collect(inputs: list[Path], *, notebook: str, assignment: str, unzip_dir: Path,
            pattern: str | None = None) -> list[Submission]:
    """Return one :class:`Submission` per student, sorted by id.

    Raises:
        GradingError: a missing input, an unusable name, or two files for one student.
    """
    subs: dict[str, Submission] = {}
    for path in _notebooks(inputs, unzip_dir):
        sid = student_id(path, notebook, assignment, pattern)
        if sid in subs:
            raise GradingError(f"two submissions for student '{sid}': {subs[sid].path} and {path}; "
                               "remove one or use --id-pattern")
        subs[sid] = Submission(sid, path.resolve(), hashlib.sha256(path.read_bytes()).hexdigest())
    return [subs[k] for k in sorted(subs)]

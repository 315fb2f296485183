"""The grader's master copy of the nbgrader course: source, release, gradebook, cell table.

``prepare_master`` copies ``<course>/source/<assignment>/`` into ``OUT/course/`` (a folder only
the grader's user can enter) and runs nbgrader's ``generate_assignment`` there, which records
the notebook, its cells, checksums and hidden tests in ``OUT/course/gradebook.db`` (the master
gradebook) and writes the release. A copy of that fresh gradebook,
``gradebook-template.db``, seeds each submission's private course copy.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from labkit_course import regions
from labkit_course.grading.rubric import RUBRIC_FILE, Rubric, RubricError, load_rubric

__all__ = ["GradingError", "GradeCell", "Master", "load_course_config", "prepare_master",
           "nbgrader_config"]

_QUESTION = re.compile(r"^(q\d+)[_-]", re.I)


class GradingError(RuntimeError):
    """The grader itself cannot go on (bad course folder, changed source, ...)."""


@dataclass
class GradeCell:
    """One graded cell of the assignment.

    Attributes:
        grade_id: nbgrader's id of the cell.
        kind: ``"test"`` (autograded test cell) or ``"manual"`` (free-text answer).
        points: the cell's maximum points.
        question: the question it counts for (``q2`` from ``q2_...``; else the grade_id).
        release_source: what students see (hidden tests removed, answers stubbed), as
            nbgrader's release shows it.
        hidden_lines: the stripped lines of the cell's hidden-test regions (never shown in
            feedback; used to scrub kernel text such as error messages).
    """

    grade_id: str
    kind: str
    points: float
    question: str
    release_source: str
    hidden_lines: list[str] = field(default_factory=list)


@dataclass
class Master:
    """The grader's master course (see module docstring)."""

    root: Path
    assignment: str
    notebook: str  # notebook file stem, e.g. "lab1"
    config: Config
    cells: list[GradeCell]
    release: nbformat.NotebookNode
    source_sha: str
    rubric: Rubric = field(default_factory=Rubric)  # the free-text answers' rubric (none: empty)

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.root / 'gradebook.db'}"

    @property
    def template_db(self) -> Path:
        return self.root / "gradebook-template.db"

    @property
    def questions(self) -> list[str]:
        return list(dict.fromkeys(c.question for c in self.cells))

    def hidden_lines(self) -> list[str]:
        return [line for c in self.cells for line in c.hidden_lines]


def load_course_config(course_dir: Path) -> Config:
    """Read ``<course_dir>/nbgrader_config.py`` (if any) into a traitlets Config."""
    path = course_dir / "nbgrader_config.py"
    if not path.is_file():
        return Config()
    loader = PyFileConfigLoader(path.name, path=str(course_dir))
    return loader.load_config()


def nbgrader_config(base: Config, root: Path) -> Config:
    """Return a copy of ``base`` pointed at the course folder ``root`` and its gradebook."""
    c = Config()
    c.merge(base)
    c.CourseDirectory.root = str(root)
    c.CourseDirectory.db_url = f"sqlite:///{root / 'gradebook.db'}"
    c.NbGrader.logfile = ""
    return c


def _tree_sha(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file() and ".ipynb_checkpoints" not in p.parts and p.name != RUBRIC_FILE:
            h.update(str(p.relative_to(folder)).encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def _cell_table(source: nbformat.NotebookNode, release: nbformat.NotebookNode) -> list[GradeCell]:
    released = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in release.cells}
    cells = []
    for cell in source.cells:
        meta = cell.metadata.get("nbgrader", {})
        if not meta.get("grade"):
            continue
        gid = meta["grade_id"]
        kind = "manual" if meta.get("solution") else "test"
        hidden = regions.hidden_lines(cell.source)
        m = _QUESTION.match(gid)
        cells.append(GradeCell(gid, kind, float(meta.get("points", 0)),
                               m.group(1).lower() if m else gid,
                               released[gid].source if gid in released else "", hidden))
    return cells


def prepare_master(course_dir: Path, assignment: str, out_dir: Path, *, force: bool) -> Master:
    """Create (or reuse) ``OUT/course`` for ``assignment`` of the nbgrader course ``course_dir``.

    Raises:
        GradingError: no such source folder, not exactly one notebook in it, nbgrader's
            generate_assignment failed, or the source changed since earlier grades in ``out_dir``
            (re-run with ``--force`` to regrade everyone, or use another ``--out``).
    """
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.converters import GenerateAssignment
    from nbgrader.utils import capture_log

    bindir = str(Path(sys.executable).parent)  # nbgrader runs `alembic` from PATH
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")

    src = course_dir / "source" / assignment
    notebooks = sorted(src.glob("*.ipynb")) if src.is_dir() else []
    if len(notebooks) != 1:
        raise GradingError(f"expected one notebook in {src}, found {len(notebooks)}: point "
                           "--course at an nbgrader course folder and --assignment at its assignment")
    sha = _tree_sha(src)
    root = out_dir / "course"
    stamp = root / "source-sha256.txt"
    base = load_course_config(course_dir)
    c = nbgrader_config(base, root)
    fresh = not (stamp.is_file() and (root / "gradebook-template.db").is_file())
    if not fresh and stamp.read_text().strip() != sha:
        if not force:
            raise GradingError(f"{src} changed since the grades in {out_dir} were made: re-run with "
                               "--force to regrade everyone, or choose another --out")
        fresh = True
    if fresh:
        if root.exists():
            shutil.rmtree(root)
        root.mkdir(parents=True, mode=0o700)
        root.chmod(0o700)
        shutil.copytree(src, root / "source" / assignment,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__", RUBRIC_FILE))
        coursedir = CourseDirectory(config=c)
        coursedir.assignment_id = assignment
        app = GenerateAssignment(coursedir=coursedir, config=c)
        app.force, app.create_assignment = True, True
        result = capture_log(app)
        if not result["success"]:
            raise GradingError(f"nbgrader generate_assignment failed for {src}:\n"
                               f"{result.get('log')}\n{result.get('error')}")
        shutil.copy2(root / "gradebook.db", root / "gradebook-template.db")
        tmp = stamp.with_suffix(".tmp")  # the stamp last, whole: it says the course is complete
        tmp.write_text(sha + "\n")
        os.replace(tmp, stamp)
    name = notebooks[0].stem
    source_nb = nbformat.read(root / "source" / assignment / f"{name}.ipynb", as_version=4)
    release_nb = nbformat.read(root / "release" / assignment / f"{name}.ipynb", as_version=4)
    try:
        rubric = load_rubric(src / RUBRIC_FILE)  # read on every run: edits re-score, never regrade
    except RubricError as exc:
        raise GradingError(str(exc)) from None
    return Master(root, assignment, name, base, _cell_table(source_nb, release_nb), release_nb, sha,
                  rubric)

"""The plain nbgrader peer of ``labkit grade``: the course a TA would otherwise grade with.

:func:`make_course` builds a throw-away nbgrader course folder from a course's
``source/<assignment>/`` and its ``nbgrader_config.py`` and puts submissions where nbgrader
looks for them (``submitted/<student>/<assignment>/<notebook>.ipynb``).
:func:`generate` and :func:`autograde` run nbgrader's own command line there (one process,
one submission after another, as nbgrader does); :func:`scores` reads what it gave each
student from that course's ``gradebook.db``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from labkit_course.grading.gradebook import read_scores

__all__ = ["PeerCourse", "make_course", "generate", "autograde", "scores", "log_tail",
           "test_cells"]


@dataclass
class PeerCourse:
    """A plain nbgrader course folder.

    Attributes:
        root: the course folder (``source/``, ``release/``, ``submitted/``, ``autograded/``,
            ``gradebook.db``).
        assignment: the assignment's name.
        notebook: the notebook's file stem (``<assignment>`` for labkit's courses).
    """

    root: Path
    assignment: str
    notebook: str

    @property
    def submitted(self) -> Path:
        return self.root / "submitted"

    @property
    def gradebook(self) -> Path:
        return self.root / "gradebook.db"

    @property
    def source(self) -> Path:
        return self.root / "source" / self.assignment / f"{self.notebook}.ipynb"

    def submit(self, student: str, notebook: bytes) -> Path:
        """Put ``student``'s notebook where ``nbgrader autograde`` reads it; return its path."""
        path = self.submitted / student / self.assignment / f"{self.notebook}.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(notebook)
        return path


def make_course(course: Path, assignment: str, root: Path) -> PeerCourse:
    """Copy ``course``'s ``source/<assignment>/`` and ``nbgrader_config.py`` into ``root``.

    Raises:
        FileNotFoundError: ``course`` has no ``source/<assignment>/`` with one notebook in it.
    """
    src = course / "source" / assignment
    notebooks = sorted(src.glob("*.ipynb")) if src.is_dir() else []
    if len(notebooks) != 1:
        raise FileNotFoundError(f"expected one notebook in {src}, found {len(notebooks)}: pass "
                                "--course with an nbgrader course folder and --assignment")
    root.mkdir(parents=True)
    shutil.copytree(src, root / "source" / assignment,
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    if (course / "nbgrader_config.py").is_file():
        shutil.copy2(course / "nbgrader_config.py", root / "nbgrader_config.py")
    return PeerCourse(root, assignment, notebooks[0].stem)


def _nbgrader(peer: PeerCourse, verb: str, *args: str, log: Path) -> tuple[float, int]:
    """Run ``nbgrader VERB ASSIGNMENT ARGS`` in the course folder, its output appended to
    ``log``; return (wall seconds, exit status)."""
    bindir = str(Path(sys.executable).parent)  # nbgrader runs `alembic` from PATH
    env = dict(os.environ, PATH=bindir + os.pathsep + os.environ.get("PATH", ""))
    cmd = [sys.executable, "-m", "nbgrader", verb, peer.assignment,
           f"--CourseDirectory.root={peer.root}", *args]
    t0 = time.perf_counter()
    with open(log, "ab") as f:
        done = subprocess.run(cmd, cwd=peer.root, env=env, stdout=f, stderr=subprocess.STDOUT)
    return time.perf_counter() - t0, done.returncode


def log_tail(log: Path, lines: int = 15) -> str:
    """The last ``lines`` lines of an nbgrader log (for error messages)."""
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def generate(peer: PeerCourse, log: Path) -> float:
    """``nbgrader generate_assignment``: the release and the gradebook's cells; wall seconds.

    Raises:
        RuntimeError: nbgrader failed (the message ends with its log's last lines).
    """
    seconds, rc = _nbgrader(peer, "generate_assignment", "--force", log=log)
    if rc != 0:
        raise RuntimeError(f"nbgrader generate_assignment failed (exit {rc}); the end of {log}:\n"
                           f"{log_tail(log)}")
    return seconds


def autograde(peer: PeerCourse, log: Path) -> tuple[float, int]:
    """``nbgrader autograde``: every submitted notebook, in one process; (wall seconds, exit
    status: not 0 when nbgrader could not grade a submission, which then has no scores)."""
    return _nbgrader(peer, "autograde", log=log)


def test_cells(peer: PeerCourse) -> list[str]:
    """Grade ids of the source's autograded test cells (graded, not a solution), in order."""
    import nbformat

    nb = nbformat.read(peer.source, as_version=4)
    metas = [c.metadata.get("nbgrader", {}) for c in nb.cells]
    return [m["grade_id"] for m in metas if m.get("grade") and not m.get("solution")]


def scores(peer: PeerCourse, students: list[str]) -> dict[str, dict[str, float | None] | None]:
    """Student -> grade_id -> points nbgrader gave (None: no graded submission)."""
    from nbgrader.api import MissingEntry

    out: dict[str, dict[str, float | None] | None] = {}
    for student in students:
        try:
            out[student] = read_scores(peer.gradebook, peer.notebook, peer.assignment, student)[0]
        except MissingEntry:
            out[student] = None
    return out

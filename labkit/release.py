"""``labkit release``: regenerate the student notebook through nbgrader, and audit it.

The source notebook (``notebooks/source/<a>/<a>.ipynb``: solutions and hidden tests) is the
only thing instructors edit. This verb rebuilds ``notebooks/release/<a>/`` from it with
``nbgrader generate_assignment`` in a temporary copy of the course (the repository's gradebook
is never touched, and nothing half-written is left behind on failure), then audits:

1. **nothing leaked**: no line that exists only inside a solution region or a hidden-test
   region of the source appears in the release (lines are compared, not just the markers);
2. **source full marks**: the source notebook, autograded as a submission, earns every point
   of every autograded cell;
3. **blank release zero**: the release as handed out runs to the end (no cell times out;
   errors only ``NotImplementedError``/``NameError`` from the missing answers, and failing
   asserts in test cells; none before the first answer) and earns 0 points;
4. **committed == regenerated**: with ``--check`` the committed release must equal the fresh
   one byte for byte (for tests and CI); otherwise the committed release is replaced.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .source_notebook import default_course_dir
from .scaffold import scaffold_problems

__all__ = ["AuditReport", "Graded", "autograde", "run_release", "secret_lines", "find_leaks"]

_REGIONS = (("### BEGIN SOLUTION", "### END SOLUTION"), ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"))
_EXPECTED_ERRORS = {"NotImplementedError", "NameError"}


@dataclass
class AuditReport:
    """What ``labkit release`` found. ``ok`` is True when every audited item passed."""

    assignment: str
    leaks: list[str] = field(default_factory=list)
    scaffold: list[str] = field(default_factory=list)  # stubs that do not name what the student defines
    source_score: tuple[float, float] | None = None  # (earned, max) over autograded cells
    blank_score: tuple[float, float] | None = None
    source_failures: list[str] = field(default_factory=list)  # cells below full marks
    blank_problems: list[str] = field(default_factory=list)  # unexpected errors, timeouts, points
    release_differs: bool | None = None  # committed vs regenerated (None: not compared)
    written: bool = False
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        source_ok = self.source_score is None or (
            self.source_score[0] == self.source_score[1] and not self.source_failures)
        blank_ok = self.blank_score is None or (self.blank_score[0] == 0 and not self.blank_problems)
        return not self.leaks and not self.scaffold and source_ok and blank_ok and not self.release_differs

    def summary(self) -> str:
        """One line per audited item, then the verdict."""
        lines = [f"release audit of {self.assignment}:"]
        lines.append("  nothing leaked" if not self.leaks else f"  LEAKED {len(self.leaks)} secret line(s):")
        lines += [f"    {leak}" for leak in self.leaks[:20]]
        lines.append("  every stub names what the student defines" if not self.scaffold
                     else f"  STUBS MISSING {len(self.scaffold)} name(s):")
        lines += [f"    {p}" for p in self.scaffold]
        if self.source_score is not None:
            lines.append(f"  source {self.source_score[0]:g}/{self.source_score[1]:g}")
            lines += [f"    {f}" for f in self.source_failures]
        if self.blank_score is not None:
            lines.append(f"  blank {self.blank_score[0]:g}/{self.blank_score[1]:g}")
            lines += [f"    {p}" for p in self.blank_problems]
        if self.release_differs is not None:
            lines.append("  committed release differs from a fresh regeneration: run `labkit release`"
                         if self.release_differs else "  committed release equals a fresh regeneration")
        if self.written:
            lines.append("  release regenerated")
        if self.seconds:
            lines.append("  times: " + ", ".join(f"{k} {v:.1f} s" for k, v in self.seconds.items()))
        short = ["nothing leaked" if not self.leaks else f"{len(self.leaks)} leaked line(s)"]
        if self.scaffold:
            short.append(f"{len(self.scaffold)} stub name(s) missing")
        if self.source_score is not None:
            short.insert(0, f"source {self.source_score[0]:g}/{self.source_score[1]:g}")
            short.insert(1, f"blank {self.blank_score[0]:g}/{self.blank_score[1]:g}")
        if self.release_differs is not None:
            short.append("release stale" if self.release_differs else "release up to date")
        if self.written:
            short.append("release regenerated")
        lines.append(("audit passed: " if self.ok else "AUDIT FAILED: ") + ", ".join(short))
        return "\n".join(lines)


def _region_lines(source: str) -> tuple[list[str], list[str]]:
    """Split a cell's lines into (inside a secret region, outside every region)."""
    inside, outside, depth = [], [], 0
    for line in source.splitlines():
        s = line.strip()
        if any(begin in s for begin, _ in _REGIONS):
            depth += 1
        elif any(end in s for _, end in _REGIONS):
            depth = max(0, depth - 1)
        elif depth:
            inside.append(s)
        else:
            outside.append(s)
    return inside, outside


def secret_lines(source_nb: nbformat.NotebookNode, min_length: int = 6) -> list[str]:
    """Return the stripped lines that occur only inside solution or hidden-test regions.

    Lines shorter than ``min_length`` (``)``, ``else:``) and lines that also appear outside
    every region of the source are not secret, so they are not reported as leaks.
    """
    inside, outside = [], set()
    for cell in source_nb.cells:
        i, o = _region_lines(cell.source)
        inside += i
        outside.update(o)
    seen, out = set(), []
    for line in inside:
        if len(line) >= min_length and line not in outside and line not in seen:
            seen.add(line)
            out.append(line)
    return out


def find_leaks(source_nb: nbformat.NotebookNode, release_nb: nbformat.NotebookNode) -> list[str]:
    """Return the secret lines of the source (see :func:`secret_lines`) found in the release,
    plus any region marker left in the release."""
    release_lines = {line.strip() for cell in release_nb.cells for line in cell.source.splitlines()}
    leaks = [line for line in secret_lines(source_nb) if line in release_lines]
    for cell in release_nb.cells:
        for marker in ("### BEGIN SOLUTION", "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"):
            if marker in cell.source:
                leaks.append(f"marker {marker!r} in cell {cell.get('id', '?')}")
    return leaks


def _nbgrader(course: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NBGRADER_")}
    env.setdefault("PYTHONWARNINGS", "ignore")
    # nbgrader runs `alembic` and the kernel from PATH: put this interpreter's bin first
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    cmd = [sys.executable, "-m", "nbgrader", *args, f"--CourseDirectory.root={course}"]
    proc = subprocess.run(cmd, cwd=course, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-30:])
        raise RuntimeError(f"`nbgrader {' '.join(args)}` failed (exit {proc.returncode}):\n{tail}")
    return proc


def _copy_course(course_dir: Path, assignment: str, tmp: Path) -> Path:
    course = tmp / "course"
    (course / "source").mkdir(parents=True)
    shutil.copy2(course_dir / "nbgrader_config.py", course / "nbgrader_config.py")
    shutil.copytree(course_dir / "source" / assignment, course / "source" / assignment,
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    return course


def _scores(course: Path, assignment: str, student: str) -> dict[str, tuple[float, float]]:
    """grade_id -> (auto score, max score) of every autograded (code) grade cell."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        notebook = gb.find_submission_notebook(assignment, assignment, student)
        return {g.name: (float(g.auto_score or 0.0), float(g.max_score))
                for g in notebook.grades if g.cell_type == "code"}


@dataclass
class Graded:
    """One autograded submission: per-cell scores and the executed notebook."""

    scores: dict[str, tuple[float, float]]  # grade_id -> (points earned, max) of autograded cells
    notebook: nbformat.NotebookNode

    @property
    def total(self) -> tuple[float, float]:
        return (sum(s for s, _ in self.scores.values()), sum(m for _, m in self.scores.values()))


def _autograde_in(
    course: Path, assignment: str, submissions: dict[str, Path], seconds: dict[str, float] | None = None
) -> dict[str, Graded]:
    """Autograde each notebook as a student of ``course`` (its release must exist)."""
    out = {}
    for student, nb_path in submissions.items():
        sub = course / "submitted" / student / assignment
        sub.mkdir(parents=True, exist_ok=True)
        shutil.copy2(nb_path, sub / f"{assignment}.ipynb")
        t0 = time.perf_counter()
        _nbgrader(course, "autograde", assignment, f"--student={student}", "--force")
        if seconds is not None:
            seconds[f"autograde {student}"] = time.perf_counter() - t0
        graded_path = course / "autograded" / student / assignment / f"{assignment}.ipynb"
        out[student] = Graded(_scores(course, assignment, student), nbformat.read(graded_path, as_version=4))
    return out


def _ensure_tiny(verbose: bool) -> None:
    """Build the tiny profile's data and checkpoint if missing (once, 1-3 min): grading mode uses
    them, and a notebook cell that had to build them would hit nbgrader's cell timeout."""
    from .profiles import resolve_profile
    from .reference import ensure_reference

    ensure_reference(resolve_profile("tiny"), verbose=verbose)


def autograde(
    submissions: dict[str, Path], course_dir: Path | None = None, assignment: str = "lab1"
) -> dict[str, Graded]:
    """Autograde notebooks (student id -> path) with nbgrader in a temporary copy of the course.

    The release is generated fresh from the source, so the hidden tests are those of the
    current source. Nothing is written to ``course_dir``.
    """
    course_dir = Path(course_dir or default_course_dir()).resolve()
    _ensure_tiny(verbose=False)
    with tempfile.TemporaryDirectory(prefix="labkit-autograde-") as tmp:
        course = _copy_course(course_dir, assignment, Path(tmp))
        _nbgrader(course, "generate_assignment", assignment, "--force")
        return _autograde_in(course, assignment, {k: Path(v).resolve() for k, v in submissions.items()})


def _errors(nb: nbformat.NotebookNode) -> list[str]:
    """``cell: ErrorName: message`` for every error output of an executed notebook."""
    return [f"{cell.metadata.get('nbgrader', {}).get('grade_id') or cell.get('id', '?')}: "
            f"{out.get('ename', '?')}: {out.get('evalue', '')[:200]}"
            for cell in nb.cells if cell.cell_type == "code"
            for out in cell.get("outputs", []) if out.get("output_type") == "error"]


def _blank_problems(nb: nbformat.NotebookNode) -> list[str]:
    """Unexpected errors or timeouts in the autograded blank release."""
    problems, answered = [], False
    for i, cell in enumerate(nb.cells):
        meta = cell.metadata.get("nbgrader", {})
        answered = answered or bool(meta.get("solution"))
        if cell.cell_type != "code":
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") != "error":
                continue
            name = out.get("ename", "?")
            where = meta.get("grade_id") or cell.get("id") or f"cell {i}"
            allowed = _EXPECTED_ERRORS | ({"AssertionError"} if meta.get("grade") else set())
            if not answered:
                problems.append(f"{where}: {name} before the first answer cell")
            elif name not in allowed:
                problems.append(f"{where}: unexpected {name}: {out.get('evalue', '')[:200]}")
    return problems


def run_release(
    course_dir: Path | None = None,
    assignment: str = "lab1",
    *,
    check: bool = False,
    grade: bool = True,
    verbose: bool = True,
) -> AuditReport:
    """Regenerate ``release/<assignment>`` in a temporary course copy and audit it.

    Args:
        course_dir: the nbgrader course folder (default: the repository's ``notebooks/``).
        assignment: the assignment (and notebook) name.
        check: compare with the committed release instead of replacing it.
        grade: autograde the source and the blank release (about 30 s each); without it only
            the leak and regeneration checks run.
        verbose: print progress lines.

    Returns:
        The :class:`AuditReport`; the committed release is replaced only when the audit passed
        and ``check`` is False.
    """
    course_dir = Path(course_dir or default_course_dir()).resolve()
    source_path = course_dir / "source" / assignment / f"{assignment}.ipynb"
    if not source_path.is_file():
        raise FileNotFoundError(f"no source notebook at {source_path}")
    say = print if verbose else (lambda *a, **k: None)
    report = AuditReport(assignment)
    with tempfile.TemporaryDirectory(prefix="labkit-release-") as tmp:
        course = _copy_course(course_dir, assignment, Path(tmp))
        t0 = time.perf_counter()
        say(f"generating the release of {assignment} with nbgrader ...")
        _nbgrader(course, "generate_assignment", assignment, "--force")
        report.seconds["generate"] = time.perf_counter() - t0
        fresh_dir = course / "release" / assignment
        fresh_nb_path = fresh_dir / f"{assignment}.ipynb"
        source_nb = nbformat.read(source_path, as_version=4)
        report.leaks = find_leaks(source_nb, nbformat.read(fresh_nb_path, as_version=4))
        report.scaffold = scaffold_problems(source_nb, nbformat.read(fresh_nb_path, as_version=4))

        if grade:
            _ensure_tiny(verbose)
            say("autograding the source and the blank release ...")
            graded = _autograde_in(course, assignment, {"source": source_path, "blank": fresh_nb_path},
                                   report.seconds)
            src, blank = graded["source"].scores, graded["blank"].scores
            report.source_score = graded["source"].total
            report.source_failures = [f"{gid}: {s:g}/{m:g}" for gid, (s, m) in src.items() if s < m]
            report.source_failures += _errors(graded["source"].notebook)  # any error fails the source
            report.blank_score = graded["blank"].total
            report.blank_problems = [f"{gid}: {s:g}/{m:g} points on a blank notebook"
                                     for gid, (s, m) in blank.items() if s > 0]
            report.blank_problems += _blank_problems(graded["blank"].notebook)

        committed_dir = course_dir / "release" / assignment
        if check:
            report.release_differs = not _same_tree(committed_dir, fresh_dir)
        elif report.ok:
            _replace_dir(fresh_dir, committed_dir)
            report.written = True
    say(report.summary())
    return report


def _same_tree(a: Path, b: Path) -> bool:
    if not a.is_dir() or not b.is_dir():
        return False
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    return files_a == files_b and all((a / f).read_bytes() == (b / f).read_bytes() for f in files_a)


def _replace_dir(new: Path, target: Path) -> None:
    """Replace ``target`` by a copy of ``new``: copy next to it, then swap by renames."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(target.name + ".new")
    old = target.with_name(target.name + ".old")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(new, staging)
    if target.exists():
        shutil.rmtree(old, ignore_errors=True)
        target.rename(old)
    staging.rename(target)
    shutil.rmtree(old, ignore_errors=True)


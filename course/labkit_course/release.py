"""``labkit release``: regenerate the student notebook through nbgrader, and audit it.

The source notebook (``notebooks/source/<a>/<a>.ipynb``: solutions and hidden tests) is the
only thing instructors edit. This verb rebuilds ``notebooks/release/<a>/`` from it with
nbgrader's ``generate_assignment``, run by labkit's grader in a temporary master course
(:func:`labkit_course.grading.course.prepare_master`: the repository's gradebook is never touched,
and nothing half-written is left behind on failure), then audits:

1. **nothing leaked**: the release holds no secret run of the source and no region marker
   (:mod:`labkit_course.leaks`, the one leak audit, which the bundle and Gradescope use too);
2. **source full marks**: the source notebook, graded as a submission by labkit's grader
   (:mod:`labkit_course.grading`, as ``labkit grade`` grades students), earns every point of every
   autograded cell;
3. **blank release zero**: the release as handed out runs to the end (no cell times out;
   errors only ``NotImplementedError``/``NameError`` from the missing answers, and failing
   asserts in test cells; none before the first answer) and earns 0 points;
4. **rubric**: every question of ``source/<a>/rubric.toml`` is a free-text answer of the
   notebook, its item ids are unique and its items add up to the question's points
   (:mod:`labkit_course.grading.rubric`);
5. **committed == regenerated**: with ``--check`` the committed release must equal the fresh
   one byte for byte (for tests and CI); otherwise the committed release is replaced.

Before all that, the source notebook and its reviewable twin ``<course>/source-py/<a>.py`` (a
jupytext percent-format script, :mod:`labkit_course.source_script`) are synced, the file edited last
winning; with ``--check`` they must already be equal.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from labkit_course.grading.batch import Options, grade_batch
from labkit_course.grading.course import prepare_master
from labkit_course.grading.results import read_records
from labkit_course.leaks import Secrets, find_leaks, notebook_texts
from labkit_course.grading.rubric import rubric_problems
from labkit_course.scaffold import scaffold_problems
from labkit_course.source_notebook import default_assignment, default_course_dir
from labkit_course.source_script import sync_source

__all__ = ["AuditReport", "Graded", "autograde", "run_release"]

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
    rubric: list[str] = field(default_factory=list)  # rubric.toml's problems (labkit_course.grading.rubric)
    rubric_questions: int = 0  # free-text answers with a rubric
    script: str | None = None  # the source script's state (labkit_course.source_script.SourcePair.state)
    written: bool = False
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        source_ok = self.source_score is None or (
            self.source_score[0] == self.source_score[1] and not self.source_failures)
        blank_ok = self.blank_score is None or (self.blank_score[0] == 0 and not self.blank_problems)
        script_ok = self.script not in ("script missing", "differ")
        return (not self.leaks and not self.scaffold and not self.rubric and source_ok and blank_ok
                and not self.release_differs and script_ok)

    def summary(self) -> str:
        """One line per audited item, then the verdict."""
        lines = [f"release audit of {self.assignment}:"]
        if self.script is not None:
            lines.append(_SCRIPT_LINES[self.script].format(f"source-py/{self.assignment}.py"))
        lines.append("  nothing leaked" if not self.leaks else f"  LEAKED {len(self.leaks)} time(s):")
        lines += [f"    {leak}" for leak in self.leaks[:20]]
        lines.append("  every stub names what the student defines" if not self.scaffold
                     else f"  STUBS MISSING {len(self.scaffold)} name(s):")
        lines += [f"    {p}" for p in self.scaffold]
        lines.append(f"  rubric: {self.rubric_questions} free-text answer(s), items add up" if not self.rubric
                     else f"  RUBRIC has {len(self.rubric)} problem(s):")
        lines += [f"    {p}" for p in self.rubric]
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
        short = ["nothing leaked" if not self.leaks else f"{len(self.leaks)} leak(s)"]
        if self.scaffold:
            short.append(f"{len(self.scaffold)} stub name(s) missing")
        if self.rubric:
            short.append(f"{len(self.rubric)} rubric problem(s)")
        if self.script in ("script missing", "differ"):
            short.append("source script " + ("missing" if self.script == "script missing" else "out of sync"))
        if self.source_score is not None:
            short.insert(0, f"source {self.source_score[0]:g}/{self.source_score[1]:g}")
            short.insert(1, f"blank {self.blank_score[0]:g}/{self.blank_score[1]:g}")
        if self.release_differs is not None:
            short.append("release stale" if self.release_differs else "release up to date")
        if self.written:
            short.append("release regenerated")
        lines.append(("audit passed: " if self.ok else "AUDIT FAILED: ") + ", ".join(short))
        return "\n".join(lines)


_SCRIPT_LINES = {
    "in sync": "  source notebook and {} in sync",
    "script written": "  wrote {} from the source notebook",
    "notebook updated": "  updated the source notebook from {} (edited last)",
    "script missing": "  SOURCE SCRIPT {} MISSING: run `labkit release` to write it",
    "differ": "  SOURCE SCRIPT {} DIFFERS from the source notebook: run `labkit release` "
              "(the file edited last wins)",
}


@dataclass
class Graded:
    """One submission graded by labkit's grader, as the audit reads it.

    Attributes:
        status: the grader's status (``graded``, ``timeout``, ``crashed``, ``invalid``).
        scores: grade_id -> (points earned, max) of every autograded test cell.
        notebook: the executed, autograded notebook (None when grading did not finish).
        messages: the grader's notes about the submission.
        seconds: wall time spent grading it.
    """

    status: str
    scores: dict[str, tuple[float, float]]
    notebook: nbformat.NotebookNode | None
    messages: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def total(self) -> tuple[float, float]:
        return (sum(s for s, _ in self.scores.values()), sum(m for _, m in self.scores.values()))


def _grade(course_dir: Path, assignment: str, submissions: dict[str, Path], work: Path,
           *, verbose: bool = False) -> dict[str, Graded]:
    """Grade notebooks (student id -> path) with labkit's grader into ``work/grades``.

    The master course is made from ``course_dir``'s current source (``work/grades/course``), so
    the hidden tests are those of the current source; nothing is written to ``course_dir``.
    """
    inbox, out = work / "submissions", work / "grades"
    inbox.mkdir(parents=True, exist_ok=True)
    for student, path in submissions.items():
        shutil.copy2(path, inbox / f"{student}.ipynb")
    grade_batch([inbox], Options(course=course_dir, assignment=assignment, out=out,
                                 workers=min(2, len(submissions)), force=True, verbose=verbose))
    master = prepare_master(course_dir, assignment, out, force=False)  # the batch's master
    records = read_records(out / "results")
    graded = {}
    for student in submissions:
        rec = records[student]
        executed = master.root / "autograded" / student / f"{master.notebook}.ipynb"
        scores = {c.grade_id: (float(rec.scores.get(c.grade_id) or 0.0), c.points)
                  for c in master.cells if c.kind == "test"}
        graded[student] = Graded(rec.status, scores,
                                 nbformat.read(executed, as_version=4) if executed.is_file() else None,
                                 rec.messages, rec.seconds)
    return graded


def autograde(
    submissions: dict[str, Path], course_dir: Path | None = None, assignment: str | None = None
) -> dict[str, Graded]:
    """Grade notebooks (student id -> path) with labkit's grader in a temporary folder.

    The release is generated fresh from the source, so the hidden tests are those of the
    current source. Nothing is written to ``course_dir``.
    """
    course_dir = Path(course_dir or default_course_dir()).resolve()
    assignment = assignment or default_assignment(course_dir)
    with tempfile.TemporaryDirectory(prefix="labkit-autograde-") as tmp:
        return _grade(course_dir, assignment, {k: Path(v).resolve() for k, v in submissions.items()},
                      Path(tmp))


def _errors(nb: nbformat.NotebookNode) -> list[str]:
    """``cell: ErrorName: message`` for every error output of an executed notebook."""
    return [f"{cell.metadata.get('nbgrader', {}).get('grade_id') or cell.get('id', '?')}: "
            f"{out.get('ename', '?')}: {out.get('evalue', '')[:200]}"
            for cell in nb.cells if cell.cell_type == "code"
            for out in cell.get("outputs", []) if out.get("output_type") == "error"]


def _error_name(out: dict) -> str:
    """The exception an error output stands for; a failed hidden check's reason says it
    (``"NameError raised in your code ..."``, or ``"a hidden check failed ..."``: an assert)."""
    from labkit_course.grading.hidden import HIDDEN_ENAME

    name = out.get("ename", "?")
    if name != HIDDEN_ENAME:
        return name
    reason = str(out.get("evalue", ""))
    first, _, rest = reason.partition(" ")
    return first if rest.startswith(("raised in your code", "raised from your code")) else (
        "AssertionError" if reason.startswith("a hidden check failed") else name)


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
            name = _error_name(out)
            where = meta.get("grade_id") or cell.get("id") or f"cell {i}"
            allowed = _EXPECTED_ERRORS | ({"AssertionError"} if meta.get("grade") else set())
            if not answered:
                problems.append(f"{where}: {name} before the first answer cell")
            elif name not in allowed:
                problems.append(f"{where}: unexpected {name}: {out.get('evalue', '')[:200]}")
    return problems


def run_release(
    course_dir: Path | None = None,
    assignment: str | None = None,
    *,
    check: bool = False,
    grade: bool = True,
    verbose: bool = True,
) -> AuditReport:
    """Regenerate ``release/<assignment>`` in a temporary course copy and audit it.

    Args:
        course_dir: the nbgrader course folder (default: the repository's ``notebooks/``).
        assignment: the assignment (and notebook) name (default: the course's only one).
        check: compare with the committed release instead of replacing it.
        grade: grade the source and the blank release with labkit's grader (about a minute);
            without it only the leak, stub and regeneration checks run.
        verbose: print progress lines.

    Returns:
        The :class:`AuditReport`; the committed release is replaced only when the audit passed
        and ``check`` is False.
    """
    course_dir = Path(course_dir or default_course_dir()).resolve()
    assignment = assignment or default_assignment(course_dir)
    source_path = course_dir / "source" / assignment / f"{assignment}.ipynb"
    if not source_path.is_file():
        raise FileNotFoundError(f"no source notebook at {source_path}")
    say = print if verbose else (lambda *a, **k: None)
    report = AuditReport(assignment)
    report.script = sync_source(course_dir, assignment, check=check).state
    with tempfile.TemporaryDirectory(prefix="labkit-release-") as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        say(f"generating the release of {assignment} with nbgrader ...")
        master = prepare_master(course_dir, assignment, work / "grades", force=True)
        report.seconds["generate"] = time.perf_counter() - t0
        fresh_dir = master.root / "release" / assignment
        fresh_nb_path = fresh_dir / f"{master.notebook}.ipynb"
        source_nb = nbformat.read(source_path, as_version=4)
        fresh_nb = nbformat.read(fresh_nb_path, as_version=4)
        _add_manifest(fresh_nb)
        nbformat.write(fresh_nb, fresh_nb_path)
        report.leaks = find_leaks(notebook_texts(fresh_nb, "release"), Secrets.of(source_nb))
        report.scaffold = scaffold_problems(source_nb, fresh_nb)
        report.rubric = rubric_problems(master.rubric, {c.grade_id: c.points for c in master.cells
                                                        if c.kind == "manual"})
        report.rubric_questions = len(master.rubric.questions)

        if grade:
            say("autograding the source and the blank release with labkit's grader ...")
            graded = _grade(course_dir, assignment, {"source": source_path, "blank": fresh_nb_path},
                            work, verbose=False)
            for student, g in graded.items():
                report.seconds[f"autograde {student}"] = g.seconds
            src, blank = graded["source"], graded["blank"]
            report.source_score = src.total
            report.source_failures = [f"{gid}: {s:g}/{m:g}" for gid, (s, m) in src.scores.items() if s < m]
            report.blank_score = blank.total
            report.blank_problems = [f"{gid}: {s:g}/{m:g} points on a blank notebook"
                                     for gid, (s, m) in blank.scores.items() if s > 0]
            for g, problems in ((src, report.source_failures), (blank, report.blank_problems)):
                if g.status != "graded" or g.notebook is None:
                    problems.append(f"grading ended '{g.status}': " + "; ".join(g.messages))
            if src.notebook is not None:
                report.source_failures += _errors(src.notebook)  # any error fails the source
            if blank.notebook is not None:
                report.blank_problems += _blank_problems(blank.notebook)

        committed_dir = course_dir / "release" / assignment
        if check:
            report.release_differs = not _same_tree(committed_dir, fresh_dir)
        elif report.ok:
            _replace_dir(fresh_dir, committed_dir)
            report.written = True
    say(report.summary())
    return report


def _add_manifest(nb: nbformat.NotebookNode) -> None:
    """List the release's graded cells in the notebook's metadata (``labkit.graded_cells``), so
    a student's submission check can tell a deleted test or answer cell."""
    nb.metadata.setdefault("labkit", {})["graded_cells"] = [
        c.metadata["nbgrader"]["grade_id"] for c in nb.cells
        if c.metadata.get("nbgrader", {}).get("grade") and c.metadata["nbgrader"].get("grade_id")]


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

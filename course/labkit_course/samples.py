"""Sample submissions made from a course's source notebook (for ``labkit demo`` and the grading
benchmark); generated each time, never committed, because the correct one holds the solutions.

``filled_in`` is the release with the source's solution code filled into every solution cell;
the other samples are small, asserted edits of it (so an edit of the notebook cannot silently
turn a sample into a no-op):

========  ===========================================================================
alice     correct: every solution filled in
bob       a tie bug: ``fine_grained_prune`` keeps weights equal to the threshold (``>=``)
carol     blank: the release as handed out
dave      the kernel dies (``os._exit``) after question 3
erin      a cheat: monkeypatches ``torch.equal``, ``assert_close`` and the check after q2
========  ===========================================================================
"""

from __future__ import annotations

import copy
import csv
import re
from pathlib import Path

import nbformat
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell

from labkit_course.source_notebook import default_assignment, default_course_dir, source_notebook_path

__all__ = ["SAMPLES", "filled_in", "sample_notebooks", "write_samples", "write_canvas_roster", "cell_index",
           "replaced", "inserted_after"]

# student -> what the sample is
SAMPLES = {
    "alice": "correct",
    "bob": "prune-keeps-ties",
    "carol": "blank",
    "dave": "os-exit-after-q3",
    "erin": "monkeypatch-q2",
}
_SOLUTION_MARKERS = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n?", re.M)
_OS_EXIT = "import os\nos._exit(1)"
_WRONG_PRUNE = ("def fine_grained_prune(tensor, sparsity):\n"
                "    return torch.ones_like(tensor, dtype=torch.bool)\n")
_PATCHES = ("torch.equal = lambda *a, **k: True\n"
            "torch.testing.assert_close = lambda *a, **k: None\n"
            "lk.check_fine_grained_prune = lambda *a, **k: True\n"
            "abs = lambda x: 0\n")


def _grade_id(cell: NotebookNode) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def cell_index(nb: NotebookNode, grade_id: str) -> int:
    """Index of the cell whose nbgrader grade_id is ``grade_id`` (ValueError when none)."""
    for i, cell in enumerate(nb.cells):
        if _grade_id(cell) == grade_id:
            return i
    raise ValueError(f"no cell {grade_id!r} in the notebook (was it renamed? update labkit_course.samples)")


def _as_submitted(cell: NotebookNode) -> str:
    """A solution cell's source as a student would hand it in: markers gone, and for a written
    answer the model answer without the graders' mark scheme (which no student writes)."""
    text = _SOLUTION_MARKERS.sub("", cell.source)
    if cell.cell_type == "markdown":
        text = text.split("**Mark scheme", 1)[0].rstrip() + "\n"
    return text


def filled_in(source: NotebookNode, release: NotebookNode) -> NotebookNode:
    """The release with every solution cell's source replaced by the source's solution (written
    answers without their mark scheme)."""
    solutions = {_grade_id(c): _as_submitted(c) for c in source.cells
                 if c.metadata.get("nbgrader", {}).get("solution")}
    nb = copy.deepcopy(release)
    for cell in nb.cells:
        if _grade_id(cell) in solutions:
            cell.source = solutions[_grade_id(cell)]
    return nb


def replaced(nb: NotebookNode, grade_id: str, old: str, new: str) -> NotebookNode:
    """Copy of ``nb`` with ``old`` replaced by ``new`` once in cell ``grade_id`` (ValueError when
    ``old`` is not there, so a notebook edit cannot turn a sample into a no-op)."""
    nb = copy.deepcopy(nb)
    cell = nb.cells[cell_index(nb, grade_id)]
    if old not in cell.source:
        raise ValueError(f"{old!r} not found in cell {grade_id!r}: update labkit_course.samples")
    cell.source = cell.source.replace(old, new, 1)
    return nb


def inserted_after(nb: NotebookNode, grade_id: str, code: str) -> NotebookNode:
    """Copy of ``nb`` with a code cell ``code`` right after cell ``grade_id``."""
    nb = copy.deepcopy(nb)
    nb.cells.insert(cell_index(nb, grade_id) + 1, new_code_cell(code))
    return nb


def sample_notebooks(course: Path | None = None, assignment: str | None = None) -> dict[str, NotebookNode]:
    """Student -> submitted notebook, from ``<course>``'s source and (committed) release."""
    course = Path(course) if course is not None else default_course_dir()
    assignment = assignment or default_assignment(course)
    source = nbformat.read(source_notebook_path(course, assignment), as_version=4)
    release_path = course / "release" / assignment / f"{assignment}.ipynb"
    if not release_path.is_file():
        raise FileNotFoundError(f"no release at {release_path}: run `labkit release --course {course}`")
    release = nbformat.read(release_path, as_version=4)
    ok = filled_in(source, release)
    made = {
        "correct": ok,
        "prune-keeps-ties": replaced(ok, "q2_fine_grained_prune", "torch.gt(importance, threshold)",
                                     "torch.ge(importance, threshold)"),
        "blank": release,
        "os-exit-after-q3": inserted_after(ok, "q3_test_target_sparsity", _OS_EXIT),
        "monkeypatch-q2": inserted_after(inserted_after(ok, "q2_fine_grained_prune", _WRONG_PRUNE),
                                        "q2_fine_grained_prune", _PATCHES),
    }
    return {student: made[case] for student, case in SAMPLES.items()}


def write_samples(out: Path, assignment: str | None = None, *, course: Path | None = None) -> list[Path]:
    """Write ``<student>.ipynb`` for every sample into ``out``; return the paths."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for student, nb in sample_notebooks(course, assignment).items():
        path = out / f"{student}.ipynb"
        path.write_bytes(nbformat.writes(nb).encode())
        paths.append(path)
    return paths


def write_canvas_roster(path: Path, assignment: str | None = None, *, course: Path | None = None) -> Path:
    """Write, as Canvas exports its gradebook, a roster of the samples' students to ``path``:
    ``Student, ID, SIS User ID, SIS Login ID, Section`` (the SIS login is the sample's id),
    one assignment column ``Lab 1 (<id>)`` and its ``Points Possible`` (the source notebook's
    points), grades empty. Return ``path``."""
    course = Path(course) if course is not None else default_course_dir()
    assignment = assignment or default_assignment(course)
    source = nbformat.read(source_notebook_path(course, assignment), as_version=4)
    points = sum(c.metadata.get("nbgrader", {}).get("points", 0) for c in source.cells
                 if c.metadata.get("nbgrader", {}).get("grade"))
    column = f"{assignment.capitalize()} (1001)"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section", column])
        w.writerow(["    Points Possible", "", "", "", "", f"{points:g}"])
        for n, student in enumerate(SAMPLES, start=1):
            w.writerow([f"{student.capitalize()}, Sample", 7000 + n, f"S{n:04d}", student, "Demo", ""])
    return path

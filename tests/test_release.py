"""Tests for labkit_course.release: regeneration and the full audit through nbgrader (the leak
rule itself: tests/test_leaks.py)."""

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from grading.lab1_cases import points_per_test_cell
from labkit_course import release
from labkit_course.leaks import Secrets, find_leaks, notebook_texts

SOURCE = release.default_course_dir() / "source" / "lab1" / "lab1.ipynb"
COMMITTED = release.default_course_dir() / "release" / "lab1" / "lab1.ipynb"


def _nb(*sources: str) -> nbformat.NotebookNode:
    return new_notebook(cells=[new_code_cell(s) for s in sources])


def test_source_notebook_grading_metadata():
    """55 autograded points in Q2/3/5/6/7, 45 manual in Q1/4/8/9, ids start with the question."""
    nb = nbformat.read(SOURCE, as_version=4)
    auto, manual, ids = {}, {}, []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader")
        if not meta:
            continue
        assert meta["schema_version"] == 3
        ids.append(meta["grade_id"])
        question = meta["grade_id"].split("_")[0]
        if meta.get("grade") and meta.get("solution"):
            manual[question] = manual.get(question, 0) + meta["points"]
        elif meta.get("grade"):
            auto[question] = auto.get(question, 0) + meta["points"]
            assert cell.source.startswith('"""') and cell.source.splitlines()[0].endswith('"""'), (
                f"{meta['grade_id']} must open with a one-line docstring")
        if meta.get("solution") and cell.cell_type == "code":
            assert "### BEGIN SOLUTION" in cell.source
    assert len(ids) == len(set(ids)), "grade_ids must be unique"
    assert auto == {"q2": 15, "q3": 5, "q5": 10, "q6": 10, "q7": 15}
    assert manual == {"q1": 10, "q4": 15, "q8": 10, "q9": 10}
    for cell in nb.cells:  # small test cells: 1-3 points (Q3's one value and Q5's halves: 5)
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and not meta.get("solution"):
            assert 1 <= meta["points"] <= (5 if meta["grade_id"].startswith(("q3", "q5")) else 3), meta
    assert "cuda.is_available()" not in "".join(c.source for c in nb.cells)


def test_committed_release_has_no_solutions_or_hidden_tests():
    source = nbformat.read(SOURCE, as_version=4)
    committed = nbformat.read(COMMITTED, as_version=4)
    secrets = Secrets.of(source)
    assert find_leaks(notebook_texts(committed, "release"), secrets) == []
    assert len(secrets) > 50  # the check has something to look for


@pytest.mark.slow
def test_committed_release_equals_a_fresh_regeneration():
    report = release.run_release(check=True, grade=False, verbose=False)
    assert not report.leaks
    assert report.release_differs is False, "notebooks/release is stale: run `labkit release`"


@pytest.mark.slow
def test_release_audit_source_full_marks_blank_zero(tiny_checkpoint):
    report = release.run_release(check=True, grade=True, verbose=True)
    auto = sum(points_per_test_cell(nbformat.read(SOURCE, as_version=4)).values())  # its metadata
    assert report.source_score == (auto, auto), report.summary()
    assert report.blank_score == (0.0, auto), report.summary()
    assert not report.source_failures and not report.blank_problems, report.summary()
    assert report.ok, report.summary()

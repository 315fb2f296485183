"""Tests for labkit_course.release: regeneration and the full audit through nbgrader (the leak
rule itself: tests/test_leaks.py)."""

import re

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
    """Each question's cells are worth what its heading says ("Question N (P pts)"), the
    contents line's totals agree, ids start with the question, test cells open with a docstring."""
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
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    said = {f"q{n}": float(p) for n, p in re.findall(r"^## Question (\d+) \((\d+) pts\)", text, re.M)}
    assert said and set(auto) | set(manual) == set(said), (said, auto, manual)
    assert {q: auto.get(q, 0) + manual.get(q, 0) for q in said} == said
    assert not set(auto) & set(manual), "a question is either autograded or written"
    total, written = sum(said.values()), sum(manual.values())
    assert f"{len(said)} questions ({total:g} points)" in text
    table = re.search(r"^\| points \|(.*)\|$", text, re.M).group(1).split("|")
    assert [float(x) for x in table] == [said[f"q{n}"] for n in range(1, len(said) + 1)]
    assert f"; {total - written:g} points) are followed by" in text and f"; {written:g} points) are read" in text
    assert all(meta["points"] >= 1 for meta in (c.metadata.get("nbgrader", {}) for c in nb.cells)
               if meta.get("grade"))
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

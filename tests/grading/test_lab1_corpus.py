"""Grade the lab1 corpus (the real notebook, whole, in grading mode) with 2 workers: exact
points per test cell for each case, and grades.csv's columns."""

from __future__ import annotations

import csv
import json

import nbformat
import pytest

from .conftest import SOURCE
from .lab1_cases import lab1_cases, points_per_test_cell

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not SOURCE.is_file(), reason="notebooks/source/lab1/lab1.ipynb not written yet")]


def _students() -> list[str]:
    if not SOURCE.is_file():
        return []
    src = nbformat.read(SOURCE, as_version=4)
    return [c.student for c in lab1_cases(src, src)]


@pytest.mark.parametrize("student", _students())
def test_lab1_case(lab1_graded, student):
    out, cases, master = lab1_graded
    case = next(c for c in cases if c.student == student)
    rec = json.loads((out / "results" / f"{student}.json").read_text())
    text = " | ".join(rec["messages"] + [f"{k}: {v}" for k, v in rec["failures"].items()])
    assert rec["status"] == case.status, text
    tests = {c.grade_id: rec["scores"][c.grade_id] for c in master.cells if c.kind == "test"}
    assert set(tests) == set(case.scores), "the corpus must list every test cell"
    wrong = {g: (tests[g], want) for g, want in case.scores.items() if tests[g] != want}
    assert not wrong, f"{student}: (got, want) per test cell {wrong}; {text}"
    if case.message:
        assert case.message in text


def test_grades_csv_has_questions_then_one_column_per_test_cell_in_notebook_order(lab1_graded):
    out, cases, master = lab1_graded
    with open(out / "grades.csv", newline="") as f:
        rows = list(csv.reader(f))
    src = nbformat.read(SOURCE, as_version=4)
    tests = list(points_per_test_cell(src))  # notebook order, read from the source notebook
    questions = list(dict.fromkeys(c.question for c in master.cells))
    assert rows[0] == ["student", "status", "total", "max_total", *questions, *tests]
    assert [r[0] for r in rows[1:]] == sorted(c.student for c in cases)
    by = {r[0]: dict(zip(rows[0], r)) for r in rows[1:]}
    for case in cases:
        for gid, want in case.scores.items():
            assert float(by[case.student][gid]) == want, (case.student, gid)

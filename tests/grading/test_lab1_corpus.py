"""Grade the lab1 corpus (the real notebook, whole, in grading mode) with 2 workers."""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

import nbformat
import pytest

from labkit.grading.batch import Options, grade_batch
from labkit.grading.course import prepare_master

from .lab1_cases import lab1_cases

pytestmark = pytest.mark.slow
COURSE = Path(__file__).resolve().parents[2] / "notebooks"
SOURCE = COURSE / "source" / "lab1" / "lab1.ipynb"


def _cases(master=None):
    src = nbformat.read(SOURCE, as_version=4)
    if master is None:
        return lab1_cases(src, src, {q: 0 for q in ("q2", "q3", "q5", "q6", "q7")})
    full = {}
    for c in master.cells:
        if c.kind == "test":
            full[c.question] = full.get(c.question, 0) + c.points
    return lab1_cases(src, master.release, full)


@pytest.fixture(scope="session")
def lab1_graded(tmp_path_factory, tiny_checkpoint):
    root = tmp_path_factory.mktemp("lab1-grading")
    out, subs = root / "out", root / "submissions"
    subs.mkdir()
    master = prepare_master(COURSE, "lab1", out, force=False)
    cases = _cases(master)
    for case in cases:
        (subs / f"{case.student}.ipynb").write_bytes(case.make())
    grade_batch([subs], Options(COURSE, "lab1", out, workers=2, verbose=False, wall_limit=300))
    return out, cases, master.hidden_lines()


@pytest.mark.skipif(not SOURCE.is_file(), reason="notebooks/source/lab1/lab1.ipynb not written yet")
@pytest.mark.parametrize("student", [c.student for c in _cases()] if SOURCE.is_file() else [])
def test_lab1_case(lab1_graded, student):
    out, cases, hidden = lab1_graded
    case = next(c for c in cases if c.student == student)
    rec = json.loads((out / "results" / f"{student}.json").read_text())
    text = " | ".join(rec["messages"] + [f"{k}: {v}" for k, v in rec["failures"].items()])
    assert rec["status"] == case.status, text
    for key, want in case.scores.items():
        if key in rec["max_scores"]:
            got = rec["scores"][key]
        else:
            got = sum(rec["scores"][g] or 0 for g in rec["max_scores"] if g.startswith(key + "_"))
        assert got == want, f"{key}: got {got}, want {want}; {text}"
    if case.message:
        assert case.message in text
    page = (out / "feedback" / f"{student}.html").read_text()
    for line in hidden:
        if len(line) >= 6:
            for form in (line, escape(line)):
                assert form not in page, f"hidden test line in feedback: {line!r}"

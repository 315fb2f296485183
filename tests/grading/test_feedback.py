"""Feedback pages: built from nbgrader's regions, with the why of every failure.

The first tests read a small hand-made autograded notebook (fast, no kernel); the last ones
read the pages of the lab1 corpus, graded once per session (see ``conftest.lab1_graded``):
every line of every submitted solution cell appears on the page, no hidden-test line does,
and each failed test shows a non-empty reason.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from traitlets.config import Config

from labkit_course import regions
from labkit_course.grading.course import GradeCell, Master
from labkit_course.grading.feedback import render_feedback
from labkit_course.grading.results import Record
from labkit_course.grading.summary import MAX_OUTPUT_LINES, summarise

SOURCE = Path(__file__).resolve().parents[2] / "notebooks" / "source" / "lab1" / "lab1.ipynb"

HIDDEN = ("### BEGIN HIDDEN TESTS\n"
          "secret_value = prune(41)\n"
          "assert secret_value == 42\n"
          "prune(x)\n"  # also part of a visible line: not a secret, never scrubbed from it
          "### END HIDDEN TESTS\n")
# the student's own cell repeats lines that also occur in a hidden test: they must stay
STUDENT = ("def prune(t):\n"
           "    secret_value = prune(41)  # the student's line, same text as a hidden one\n"
           "    return t + 2  # off by one\n"
           "secret_value = prune(41)\n"
           "assert secret_value == 42\n")
TEST_A = "x = 1\nassert prune(x) == 2, 'prune(1) must be 2'\n"
TEST_B = "print_many()\n"


def _meta(gid: str, **kw) -> dict:
    return {"nbgrader": {"grade_id": gid, "schema_version": 3, **kw}}


def _error(ename: str, evalue: str, line: int) -> dict:
    tb = ["\x1b[0;31m---------\x1b[0m", f"Cell \x1b[0;32mIn[3], line {line}\x1b[0m", f"{ename}: {evalue}"]
    return new_output("error", ename=ename, evalue=evalue, traceback=tb)


def _master_and_graded() -> tuple[Master, nbformat.NotebookNode]:
    release = new_notebook(cells=[
        new_markdown_cell("# Lab"),
        new_code_cell("import torch"),
        new_code_cell("def prune(t):\n    # YOUR CODE HERE\n    raise NotImplementedError()",
                      metadata=_meta("q1_prune", solution=True, grade=False)),
        new_code_cell(regions.visible(TEST_A + HIDDEN), metadata=_meta("q1_test_a", grade=True, points=3)),
        new_code_cell(regions.visible(TEST_B + HIDDEN), metadata=_meta("q1_test_b", grade=True, points=2)),
    ])
    cells = [GradeCell("q1_test_a", "test", 3.0, "q1", release.cells[3].source, regions.hidden_lines(HIDDEN)),
             GradeCell("q1_test_b", "test", 2.0, "q1", release.cells[4].source, regions.hidden_lines(HIDDEN))]
    master = Master(Path("."), "lab", "lab", Config(), cells, release, "")
    printed = "".join(f"line {i}: expected 42, got 43\n" for i in range(100))
    graded = new_notebook(cells=[
        new_markdown_cell("# Lab"),
        new_code_cell("import torch"),
        new_code_cell(STUDENT, metadata=_meta("q1_prune", solution=True, grade=False), outputs=[
            _error("RecursionError", "in: secret_value = prune(41)", 2)]),
        # an autograded test cell holds the source's version, hidden region included
        new_code_cell(TEST_A + HIDDEN, metadata=_meta("q1_test_a", grade=True, points=3), outputs=[
            new_output("stream", name="stdout", text="prune(1): expected 2, got 3 -> MISMATCH\n"),
            _error("AssertionError", "", 2)]),
        new_code_cell(TEST_B + HIDDEN, metadata=_meta("q1_test_b", grade=True, points=2), outputs=[
            new_output("stream", name="stdout", text=printed + "quoting: assert secret_value == 42\n"),
            _error("AssertionError", "", 4)]),  # line 4: the hidden assert
    ])
    return master, graded


@pytest.fixture
def page() -> tuple[Record, str]:
    master, graded = _master_and_graded()
    rec = Record("ann", "graded", {"q1_test_a": 0.0, "q1_test_b": 0.0}, {"q1_test_a": 3.0, "q1_test_b": 2.0})
    summarise(graded, master, rec)
    return rec, render_feedback(rec, master)


def test_students_cell_appears_verbatim_even_where_it_repeats_a_hidden_line(page):
    rec, html = page
    assert escape(STUDENT.rstrip("\n")) in html or escape(STUDENT) in html
    mine = next(c for c in rec.cells if c["grade_id"] == "q1_prune")
    assert mine["source"] == STUDENT and mine["kind"] == "code"
    # the kernel quoting the student's own line is not scrubbed either
    assert mine["error"] == "RecursionError: in: secret_value = prune(41)"


def test_test_cells_appear_as_released_and_hidden_code_never(page):
    rec, html = page
    assert escape(regions.visible(TEST_A + HIDDEN)) in html
    # outside the student's own cell, no hidden line appears (in printed output it is scrubbed)
    mine = next(c for c in rec.cells if c["grade_id"] == "q1_prune")
    outside = html.replace(escape(STUDENT), "").replace(escape(mine["error"]), "")
    for line in regions.hidden_lines(HIDDEN):
        if line not in TEST_A + TEST_B:  # hidden lines the release shows anyway are no secret
            assert escape(line) not in outside, line
    assert "quoting: [hidden test]" in html


def test_each_failed_test_shows_a_non_empty_reason_and_what_it_printed(page):
    rec, html = page
    assert set(rec.failures) == {"q1_test_a", "q1_test_b"}
    a, b = rec.failures["q1_test_a"], rec.failures["q1_test_b"]
    assert a.startswith("AssertionError") and "assert prune(x) == 2" in a and "printed" in a
    assert b.startswith("AssertionError") and "hidden check failed" in b
    assert "secret_value" not in b
    for reason in (a, b):
        assert escape(reason) in html
    assert escape("prune(1): expected 2, got 3 -> MISMATCH") in html
    assert html.count("what the test printed:</small>") == 2  # shown next to each failed test


def test_long_output_is_capped_and_says_so(page):
    rec, html = page
    out = next(c for c in rec.cells if c["grade_id"] == "q1_test_b")["output"]
    assert len(out.splitlines()) == MAX_OUTPUT_LINES + 1
    assert "more lines not shown: the cell printed 101 lines" in out
    assert out.splitlines()[0] == "line 0: expected 42, got 43"


# --- the lab1 corpus's pages (graded once per session; slow) ---------------------------------

def _solution_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")]


def _secret_lines(master: Master, submitted: nbformat.NotebookNode) -> list[str]:
    """Hidden-test lines that are not also visible text: in the release, or the student's own."""
    shown = "\n".join(c.source for nb in (master.release, submitted) for c in nb.cells)
    return [ln for ln in master.hidden_lines() if len(ln) >= 6 and ln not in shown]


@pytest.mark.slow
@pytest.mark.skipif(not SOURCE.is_file(), reason="notebooks/source/lab1/lab1.ipynb not written yet")
def test_lab1_pages_show_every_solution_line_no_hidden_line_and_every_reason(lab1_graded):
    out, cases, master = lab1_graded
    import json

    tests = [c.grade_id for c in master.cells if c.kind == "test"]
    checked = 0
    for case in cases:
        rec = json.loads((out / "results" / f"{case.student}.json").read_text())
        if rec["status"] == "invalid":
            continue
        page = (out / "feedback" / f"{case.student}.html").read_text()
        submitted = nbformat.reads(case.make().decode(), as_version=4)
        for cell in _solution_cells(submitted):
            for line in cell.source.splitlines():
                assert escape(line) in page, f"{case.student}: their line {line!r} is not on the page"
        for line in _secret_lines(master, submitted):
            assert escape(line) not in page and line not in page, f"{case.student}: hidden line {line!r}"
        for gid in tests:  # free-text answers are graded later by a TA, not here
            got = rec["scores"][gid]
            if got is not None and got < rec["max_scores"][gid] and rec["status"] == "graded":
                reason = rec["failures"].get(gid, "")
                assert reason.strip(), f"{case.student}: {gid} lost points without a reason"
                assert escape(reason) in page
        checked += 1
    assert checked >= len(cases) - 1


def test_a_long_reason_is_shortened_in_the_table_and_whole_next_to_the_test():
    master, graded = _master_and_graded()
    graded.cells[3].outputs[1] = _error("AssertionError", "Tensor-likes are not close!\n\nMismatched elements: 3 / 9", 2)
    rec = Record("ann", "graded", {"q1_test_a": 0.0, "q1_test_b": 0.0}, {"q1_test_a": 3.0, "q1_test_b": 2.0})
    summarise(graded, master, rec)
    html = render_feedback(rec, master)
    table, cells = html.split("<h2>Your notebook</h2>")
    assert "Tensor-likes are not close! ..." in table and "Mismatched" not in table
    assert escape(rec.failures["q1_test_a"]) in cells and "Mismatched elements: 3 / 9" in cells


def test_calling_a_labkit_function_that_does_not_exist_says_the_lines_are_the_students():
    master, graded = _master_and_graded()
    graded.cells[3].outputs[1] = _error("AttributeError", "module 'labkit' has no attribute 'shrink_channels'", 2)
    rec = Record("ann", "graded", {"q1_test_a": 0.0, "q1_test_b": 0.0}, {"q1_test_a": 3.0, "q1_test_b": 2.0})
    summarise(graded, master, rec)
    assert rec.failures["q1_test_a"].endswith("labkit has no such function: these lines are yours to write)")


def test_a_solution_cell_left_as_handed_out_is_still_shown():
    master, graded = _master_and_graded()
    graded.cells[2].source = master.release.cells[2].source  # the stub, unchanged
    graded.cells[2].outputs = []
    rec = Record("ann", "graded", {"q1_test_a": 0.0, "q1_test_b": 0.0}, {"q1_test_a": 3.0, "q1_test_b": 2.0})
    summarise(graded, master, rec)
    assert next(c for c in rec.cells if c["grade_id"] == "q1_prune")["kind"] == "code"
    assert escape(master.release.cells[2].source) in render_feedback(rec, master)
    assert next(c for c in rec.cells if c["source"] == "import torch")["kind"] == "given"  # not shown


def test_a_stub_left_in_place_is_named_as_the_reason():
    master, graded = _master_and_graded()
    graded.cells[3].outputs = [_error("NotImplementedError", "", 2)]
    graded.cells[4].outputs = [_error("NotImplementedError", "", 3)]  # raised from a hidden line
    rec = Record("ann", "graded", {"q1_test_a": 0.0, "q1_test_b": 0.0}, {"q1_test_a": 3.0, "q1_test_b": 2.0})
    summarise(graded, master, rec)
    a, b = rec.failures["q1_test_a"], rec.failures["q1_test_b"]
    assert a.startswith("NotImplementedError (the code still raises the stub's NotImplementedError")
    assert a.endswith("it was called from: assert prune(x) == 2, 'prune(1) must be 2')")
    assert "stub" in b and "secret_value" not in b and "called from" not in b

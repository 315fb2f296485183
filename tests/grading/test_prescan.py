"""prescan: what nbgrader's autograde lacks (unreadable files, stripped metadata, the cells it
cannot place), and a message for each repair nbgrader makes itself. Whether nbgrader then
grades these notebooks as described is checked by grading them (test_corpus.py's toy cases)."""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat
import pytest

from labkit_course.grading.prescan import prescan

from . import corpus as C

SOURCE = Path(__file__).parent / "fixtures" / "toy" / "source" / "toy" / "toy.ipynb"


@pytest.fixture(scope="module")
def release():
    """A release-like notebook: the source with hidden tests and solutions left in (prescan
    only looks at metadata, first lines and positions)."""
    return nbformat.read(SOURCE, as_version=4)


def _ids(nb):
    return [C.gid(c) for c in nb.cells]


def test_clean_notebook_passes_unchanged(release):
    nb, msgs = prescan(C.dumps(release), release)
    assert msgs == [] and _ids(nb) == _ids(release)


@pytest.mark.parametrize("raw", [b"{bad", b'{"foo": 1}', b"[1, 2]", b"\xff\xfe", b""])
def test_unreadable_files_are_invalid(release, raw):
    nb, msgs = prescan(raw, release)
    assert nb is None and "not a readable Jupyter notebook" in msgs[0]


def test_nbgraders_rule_for_duplicated_ids_keeps_the_last_copy(release):
    # the rule prescan documents and tells students is nbgrader's own: if nbgrader changes it,
    # prescan's docstring, its message and the README are wrong
    from nbgrader.preprocessors import DeduplicateIds

    nb = copy.deepcopy(release)
    i = C.find(nb, "q2_test")
    nb.cells.insert(i + 2, copy.deepcopy(nb.cells[i]))
    nb, _ = DeduplicateIds().preprocess(nb, {})
    assert nb.cells[i].metadata["nbgrader"] == {} and C.gid(nb.cells[i + 2]) == "q2_test"


def test_duplicate_grade_id_keeps_the_last_copy_and_leaves_no_empty_metadata(release):
    sub = C.duplicate(release, "q2_test")
    i = C.find(release, "q2_test")
    sub.cells[i + 1].source += "\n# my copy"
    nb, msgs = prescan(C.dumps(sub), release)
    assert _ids(nb).count("q2_test") == 1 and len(nb.cells) == len(release.cells) + 1
    assert C.gid(nb.cells[i + 1]) == "q2_test" and nb.cells[i + 1].source.endswith("# my copy")
    assert "nbgrader" not in nb.cells[i].metadata  # nbgrader's {} would stop its OverwriteCells
    assert msgs == [f"the cell 'q2_test' appears 2 times: as nbgrader does, the last copy (cell "
                    f"{i + 1}) is graded and the earlier copy (cell {i}) runs as an ordinary cell",
                    "the locked cell 'q2_test' was edited; nbgrader graded the original"]


def test_a_deleted_test_cell_nbgrader_can_place_is_only_reported(release):
    # q3_test follows the answer cell q3_topk: nbgrader's add_missing_cells puts it back there
    nb, msgs = prescan(C.dumps(C.delete(release, "q3_test")), release)
    assert "q3_test" not in _ids(nb) and len(nb.cells) == len(release.cells) - 1
    assert msgs == ["the graded test cell 'q3_test' was deleted; nbgrader put it back from the "
                    "assignment after 'q3_topk' and graded it"]


def test_deleted_cells_nbgrader_cannot_place_are_put_back_in_place(release):
    # q1_answer follows a locked prompt, q3_test a deleted answer cell: nbgrader raises KeyError
    sub = C.delete(C.delete(C.delete(release, "q1_answer"), "q3_test"), "q3_topk")
    nb, msgs = prescan(C.dumps(sub), release)
    assert _ids(nb) == [g for g in _ids(release) if g != "q3_topk"]
    assert any("'q1_answer' was deleted; it was put back" in m for m in msgs)
    assert any("'q3_test' was deleted; it was put back" in m for m in msgs)
    assert any("answer cell 'q3_topk' is missing" in m for m in msgs)


def test_stripped_metadata_is_restored_by_first_line_and_position(release):
    sub = C.strip_meta(release, "q2_test", "q1_answer")
    sub.cells[C.find(release, "q1_answer")].source = "My own words."
    nb, msgs = prescan(C.dumps(sub), release)
    assert _ids(nb) == _ids(release)
    assert nb.cells[C.find(nb, "q1_answer")].source == "My own words."
    assert sum("lost its nbgrader metadata" in m for m in msgs) == 2 and len(msgs) == 2


def test_edited_locked_cell_and_big_outputs_are_reported_and_left_to_nbgrader(release):
    sub = C.big_outputs(C.mutate(release, "q2_test", "assert abs(", "pass  # "), "q2_sparsity", mib=2)
    nb, msgs = prescan(C.dumps(sub), release)
    assert any("'q2_test' was edited" in m for m in msgs)
    assert any("outputs" in m and "cleared" in m for m in msgs)
    # nbgrader's ClearOutput and OverwriteCells repair these: prescan changes nothing
    assert nbformat.writes(nb) == nbformat.writes(nbformat.reads(C.dumps(sub).decode(), as_version=4))


def test_a_cell_with_a_grade_id_the_assignment_lacks_runs_as_an_ordinary_cell(release):
    # e.g. a test cell copied from another version of the notebook: nbgrader's gradebook has
    # no such grade and would fail the whole notebook
    sub = C.old_copy(release, "q2_test", "q2_test_v0", before="q3_topk")
    junk = nbformat.v4.new_code_cell("x = 1", metadata={"nbgrader": {"grade_id": 7}})
    empty = nbformat.v4.new_code_cell("y = 2", metadata={"nbgrader": {}})
    sub.cells += [junk, empty]
    nb, msgs = prescan(C.dumps(sub), release)
    assert _ids(nb) == _ids(release)[:C.find(release, "q3_topk")] + [None] + \
        _ids(release)[C.find(release, "q3_topk"):] + [None, None]
    i = C.find(sub, "q2_test_v0")
    assert msgs == [f"cell {i} carries nbgrader metadata for 'q2_test_v0', a cell this assignment "
                    "does not have (copied from another version of the notebook?); it runs as an "
                    "ordinary cell and is not graded",
                    f"cell {len(sub.cells) - 2} carries nbgrader metadata that nbgrader cannot read "
                    "(copied from another version of the notebook?); it runs as an ordinary cell "
                    "and is not graded"]
    assert nb.cells[i].source == release.cells[C.find(release, "q2_test")].source  # kept as is


@pytest.mark.parametrize("raw, why", [
    (b"x" * 10, "JSONDecodeError"), (b"\xff\xfe{}", "UnicodeDecodeError"),
    (b'{"cells": 3}', "no list of 'cells'"), (b"[" * 100_000, "RecursionError")])
def test_quick_check_refuses_what_cannot_be_a_notebook(release, raw, why):
    from labkit_course.grading.prescan import quick_check

    assert why in quick_check(raw) and "not a readable Jupyter notebook" in quick_check(raw)
    assert quick_check(C.dumps(release)) == ""

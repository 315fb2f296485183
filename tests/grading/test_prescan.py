"""prescan: repairs before nbgrader, each with a message."""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat
import pytest

from labkit.grading.prescan import prescan

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


def test_duplicate_grade_id_keeps_first(release):
    nb, msgs = prescan(C.dumps(C.duplicate(release, "q2_test")), release)
    assert _ids(nb).count("q2_test") == 1 and len(nb.cells) == len(release.cells) + 1
    assert "duplicates the graded cell 'q2_test'" in msgs[0]


def test_deleted_test_cell_is_put_back_in_place(release):
    nb, msgs = prescan(C.dumps(C.delete(release, "q3_test")), release)
    assert _ids(nb) == _ids(release) and "'q3_test' was deleted" in msgs[0]


def test_stripped_metadata_is_restored_by_first_line_and_position(release):
    sub = C.strip_meta(release, "q2_test", "q1_answer")
    sub.cells[C.find(release, "q1_answer")].source = "My own words."
    nb, msgs = prescan(C.dumps(sub), release)
    assert _ids(nb) == _ids(release)
    assert nb.cells[C.find(nb, "q1_answer")].source == "My own words."
    assert sum("lost its nbgrader metadata" in m for m in msgs) == 2


def test_edited_locked_cell_and_big_outputs_are_reported(release):
    sub = C.big_outputs(C.mutate(release, "q2_test", "assert abs(", "pass  # "), "q2_sparsity", mib=2)
    nb, msgs = prescan(C.dumps(sub), release)
    assert any("'q2_test' was edited" in m for m in msgs)
    assert any("outputs" in m and "cleared" in m for m in msgs)
    assert all(c.get("outputs", []) == [] for c in nb.cells)

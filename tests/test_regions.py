"""regions: one parser of nbgrader's solution and hidden-test regions, checked against nbgrader."""

from pathlib import Path

import nbformat
import pytest

from labkit_course import regions as R

SOURCE = Path(__file__).resolve().parents[1] / "notebooks" / "source" / "lab1" / "lab1.ipynb"
RELEASE = Path(__file__).resolve().parents[1] / "notebooks" / "release" / "lab1" / "lab1.ipynb"

CELL = ("def f(x):\n"
        "    ### BEGIN SOLUTION\n"
        "    return x + 1\n"
        "    ### END SOLUTION\n"
        "assert f(1) == 2\n"
        "### BEGIN HIDDEN TESTS\n"
        "assert f(2) == 3, 'hidden'\n"
        "### END HIDDEN TESTS\n")


def test_parse_keeps_regions_in_order_with_their_lines():
    regions = R.parse(CELL)
    assert [(r.kind, r.lines()) for r in regions] == [
        ("text", ["def f(x):"]), ("solution", ["    return x + 1"]),
        ("text", ["assert f(1) == 2"]), ("hidden", ["assert f(2) == 3, 'hidden'"])]
    assert regions[1].indent == "    " and regions[1].first_line == 3
    assert not any("###" in r.text for r in regions)  # markers are not content
    assert R.hidden_lines(CELL) == ["assert f(2) == 3, 'hidden'"]
    assert R.solution_lines(CELL) == ["return x + 1"]


def test_visible_removes_hidden_and_stubs_solutions():
    assert R.visible(CELL) == "def f(x):\n    return x + 1\nassert f(1) == 2"
    assert R.visible(CELL, stub=R.CODE_STUB) == (
        "def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()\nassert f(1) == 2")
    assert R.visible("no regions\n") == "no regions"


@pytest.mark.parametrize("bad, what", [
    ("### END SOLUTION\n", "without"),
    ("### BEGIN SOLUTION\n### BEGIN HIDDEN TESTS\n", "nest"),
    ("### BEGIN HIDDEN TESTS\nx\n", "never closed"),
])
def test_unpaired_markers_are_errors(bad, what):
    with pytest.raises(R.RegionError, match=what):
        R.parse(bad)


@pytest.mark.skipif(not (SOURCE.is_file() and RELEASE.is_file()), reason="lab1 notebooks not present")
def test_visible_equals_nbgraders_release_for_every_lab1_cell():
    src, rel = nbformat.read(SOURCE, 4), nbformat.read(RELEASE, 4)
    gid = lambda c: c.metadata.get("nbgrader", {}).get("grade_id")  # noqa: E731
    released = {gid(c): c.source for c in rel.cells if gid(c)}
    checked = 0
    for cell in src.cells:
        meta = cell.metadata.get("nbgrader", {})
        if not meta:
            continue
        stub = (R.CODE_STUB if cell.cell_type == "code" else R.TEXT_STUB) if meta.get("solution") else None
        assert R.visible(cell.source, stub=stub) == released[gid(cell)], gid(cell)
        checked += 1
    assert checked > 20

"""The students' submission check: nbgrader's checksum, the file's problems, a fresh run."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbgrader.utils import compute_checksum

from labkit.submission import check_submission, nbgrader_checksum, structure_problems
from labkit_course.samples import filled_in
from labkit_course.source_notebook import default_course_dir

COURSE = default_course_dir()
RELEASE = COURSE / "release" / "lab1" / "lab1.ipynb"
SOURCE = COURSE / "source" / "lab1" / "lab1.ipynb"


def _json(nb) -> dict:
    return json.loads(nbformat.writes(nb))


@pytest.fixture(scope="module")
def filled() -> dict:
    """The release with the source's solutions filled in, as a student hands it in."""
    release = nbformat.read(RELEASE, as_version=4)
    return _json(filled_in(nbformat.read(SOURCE, as_version=4), release))


def test_the_checksum_is_nbgraders_and_matches_the_release():
    release = nbformat.read(RELEASE, as_version=4)
    checked = 0
    for cell in release.cells:
        meta = cell.metadata.get("nbgrader", {})
        if "checksum" in meta and meta.get("grade_id"):
            as_json = _json(nbformat.v4.new_notebook(cells=[cell]))["cells"][0]
            assert nbgrader_checksum(as_json) == compute_checksum(cell)
            if meta.get("grade") and not meta.get("solution"):
                assert nbgrader_checksum(as_json) == meta["checksum"], meta["grade_id"]
                checked += 1
    assert checked >= 16  # every autograded test cell of lab1


def test_the_blank_release_lists_its_stubs_and_nothing_else():
    problems = structure_problems(json.loads(RELEASE.read_text()))
    assert problems and all("still holds" in p for p in problems), problems
    assert any("q2_fine_grained_prune" in p and "NotImplementedError" in p for p in problems)
    assert any("q1_answer" in p and "YOUR ANSWER HERE" in p for p in problems)


def test_a_finished_notebook_has_no_problems(filled):
    assert structure_problems(filled) == []


def test_edited_duplicated_and_deleted_cells_are_named(filled):
    nb = copy.deepcopy(filled)
    ids = [c["metadata"].get("nbgrader", {}).get("grade_id") for c in nb["cells"]]
    edited = nb["cells"][ids.index("q2_test_threshold")]
    edited["source"] = "".join(edited["source"]) + "\nassert True\n"
    nb["cells"].insert(ids.index("q3_test_target_sparsity"), copy.deepcopy(nb["cells"][ids.index("q3_test_target_sparsity")]))
    del nb["cells"][ids.index("q6_test_macs") + 1]  # one cell later: the copy above shifted it
    problems = structure_problems(nb)
    assert any("q2_test_threshold" in p and "was edited" in p for p in problems), problems
    assert any("q3_test_target_sparsity appears 2 times" in p for p in problems), problems
    assert any("q6_test_macs is missing" in p for p in problems), problems
    assert len(problems) == 3, problems


def _tiny_notebook(folder: Path, answer: str) -> Path:
    """A two-question notebook with nbgrader's metadata; its last cell runs the check itself."""
    solution = nbformat.v4.new_code_cell(f"def f():\n    return {answer}")
    solution.metadata["nbgrader"] = {"grade": False, "grade_id": "f", "locked": False,
                                     "schema_version": 3, "solution": True}
    test = nbformat.v4.new_code_cell('assert f() == 2, "expected f() == 2"')
    test.metadata["nbgrader"] = {"grade": True, "grade_id": "test_f", "locked": True, "points": 1,
                                 "schema_version": 3, "solution": False}
    nb = nbformat.v4.new_notebook(cells=[solution, test, nbformat.v4.new_code_cell(
        "import labkit as lk\nassert lk.check_submission('lab.ipynb') is True")])
    nb.metadata["labkit"] = {"graded_cells": ["test_f"]}
    test.metadata["nbgrader"]["checksum"] = nbgrader_checksum(_json(nb)["cells"][1])
    path = folder / "lab.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.mark.slow
def test_a_fresh_run_names_the_failing_test_and_passes_once_fixed(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    wrong = _tiny_notebook(tmp_path, "1")
    assert check_submission(wrong, timeout=120) is False
    out = capsys.readouterr().out
    assert "FAILS   test test_f: AssertionError: expected f() == 2" in out and "not ready" in out
    right = _tiny_notebook(tmp_path, "2")
    assert check_submission(right, timeout=120) is True  # its own last cell checks without recursing
    assert "ready to upload" in capsys.readouterr().out


def test_the_terminal_command(tmp_path, filled):
    path = tmp_path / "lab1.ipynb"
    path.write_text(json.dumps(filled))
    run = [sys.executable, "-m", "labkit.submission"]
    ok = subprocess.run([*run, str(path), "--no-run"], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0 and "ready to upload" in ok.stdout, ok.stdout + ok.stderr
    blank = subprocess.run([*run, str(RELEASE), "--no-run"], capture_output=True, text=True, timeout=120)
    assert blank.returncode == 1 and "still holds" in blank.stdout
    missing = subprocess.run([*run, str(tmp_path / "nope.ipynb")], capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and "no notebook at" in missing.stderr and "Traceback" not in missing.stderr

"""The course tools never name Lab 1: a second course (the toy one) goes through the same three
commands an instructor and a TA run -- ``labkit release``, ``labkit release --bundle``,
``labkit grade`` -- and its points come from its own source notebook."""

from __future__ import annotations

import csv
import shutil
import zipfile
from pathlib import Path

import nbformat
import pytest

from labkit_course.cli import main

from . import corpus as C

pytestmark = pytest.mark.slow
TOY = Path(__file__).parent / "fixtures" / "toy"


def _points(source: nbformat.NotebookNode) -> tuple[float, float]:
    """(autograded, free-text) points of a source notebook, from its nbgrader metadata."""
    auto = manual = 0.0
    for cell in source.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade"):
            if meta.get("solution"):
                manual += meta["points"]
            else:
                auto += meta["points"]
    return auto, manual


def test_the_toy_course_is_released_bundled_and_graded_with_the_labs_commands(tmp_path, capsys):
    course = tmp_path / "toy-course"
    shutil.copytree(TOY, course)
    source = nbformat.read(course / "source" / "toy" / "toy.ipynb", as_version=4)
    auto, manual = _points(source)
    assert auto > 0 and manual > 0

    assert main(["release", "--course", str(course)]) == 0  # its only assignment: no name needed
    said = capsys.readouterr().out
    assert f"audit passed: source {auto:g}/{auto:g}, blank 0/{auto:g}, nothing leaked" in said
    release = nbformat.read(course / "release" / "toy" / "toy.ipynb", as_version=4)
    assert (course / "source-py" / "toy.py").is_file()  # the source's reviewable twin

    bundle = tmp_path / "toy-students.zip"
    assert main(["release", "--course", str(course), "--assignment", "toy", "--check",
                 "--no-grade", "--bundle", str(bundle)]) == 0
    assert "bundle audit passed" in capsys.readouterr().out
    with zipfile.ZipFile(bundle) as z:
        names = sorted(z.namelist())
        handed_out = nbformat.reads(z.read("toy/toy.ipynb").decode(), as_version=4)
    assert names[0] == "toy/STUDENTS.md" and names[-1] == "toy/toy.ipynb"
    assert any(n.startswith("toy/labkit-") and n.endswith(".whl") for n in names)
    assert [c.source for c in handed_out.cells] == [c.source for c in release.cells]

    subs = tmp_path / "submissions"
    subs.mkdir()
    (subs / "ada.ipynb").write_bytes(C.dumps(C.correct(source, handed_out)))
    (subs / "blank.ipynb").write_bytes(C.dumps(handed_out))
    out = tmp_path / "grades"
    assert main(["grade", str(subs), "--course", str(course), "--assignment", "toy",
                 "--out", str(out), "--workers", "2", "--quiet"]) == 0
    with open(out / "grades.csv", newline="") as f:
        rows = {r["student"]: r for r in csv.DictReader(f)}
    assert {s: (r["status"], float(r["total"]), float(r["max_total"])) for s, r in rows.items()} == {
        "ada": ("graded", auto, auto + manual), "blank": ("graded", 0.0, auto + manual)}
    assert (out / "feedback" / "ada.html").is_file() and (out / "manual.csv").is_file()

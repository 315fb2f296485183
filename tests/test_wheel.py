"""labkit stands alone: installed from a built wheel into a fresh venv outside the repository
(no tests/, no notebooks/ next to the package), its commands work on a copy of the course."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import nbformat
import pytest

from labkit.samples import write_samples
from labkit.source_notebook import default_course_dir

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def course_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository's course (source and committed release), copied outside the repository."""
    course = tmp_path_factory.mktemp("wheel-course") / "notebooks"
    repo_course = default_course_dir()
    shutil.copytree(repo_course, course, ignore=shutil.ignore_patterns(
        "__pycache__", ".ipynb_checkpoints", "submitted", "autograded", "feedback", "gradebook.db"))
    return course


def test_the_wheel_has_the_package_and_nothing_of_the_checkout(wheel_venv):
    import zipfile

    names = zipfile.ZipFile(wheel_venv.wheel).namelist()
    assert "labkit/commands/grade.py" in names and "labkit/source_notebook.py" in names
    assert not [n for n in names if n.startswith(("tests/", "notebooks/"))]


def test_labkit_bench_scan_runs_from_the_wheel(wheel_venv, course_copy, tmp_path):
    got = wheel_venv.run(wheel_venv.labkit, "bench", "scan", "--images", "8", "--batch-size", "4",
                         "--width", "0.125", "--threads", "1", "--course", course_copy, cwd=tmp_path)
    assert got.returncode == 0, got.stdout
    assert "accuracies identical: True" in got.stdout and "weights restored: True" in got.stdout


def test_labkit_grade_grades_two_notebooks_from_the_wheel(wheel_venv, course_copy, tiny_checkpoint,
                                                           tmp_path):
    subs = tmp_path / "submissions"
    write_samples(subs, "lab1", course=course_copy)
    for path in subs.iterdir():  # two notebooks: the correct one and the blank release
        if path.stem not in ("alice", "carol"):
            path.unlink()
    out = tmp_path / "grades"
    data_dir = tiny_checkpoint.data_root.parent  # the prepared tiny profile, read as it is
    got = wheel_venv.run(wheel_venv.labkit, "grade", subs, "--out", out, "--course", course_copy,
                         "--workers", "2", "--quiet", cwd=tmp_path,
                         extra_env={"LABKIT_DATA_DIR": str(data_dir)})
    assert got.returncode == 0, got.stdout
    with open(out / "grades.csv", newline="") as f:
        rows = {r["student"]: r for r in csv.DictReader(f)}
    assert set(rows) == {"alice", "carol"}
    assert rows["alice"]["status"] == rows["carol"]["status"] == "graded", rows
    source = nbformat.read(course_copy / "source" / "lab1" / "lab1.ipynb", as_version=4)
    autograded = sum(float(c.metadata["nbgrader"].get("points", 0)) for c in source.cells
                     if c.metadata.get("nbgrader", {}).get("grade")
                     and not c.metadata["nbgrader"].get("solution"))  # test cells, not free text
    assert float(rows["alice"]["total"]) == autograded > 0  # every test passed
    assert float(rows["carol"]["total"]) == 0


def test_labkit_release_check_runs_from_the_wheel(wheel_venv, course_copy, tmp_path):
    got = wheel_venv.run(wheel_venv.labkit, "release", "--course", course_copy, "--check",
                         "--no-grade", cwd=tmp_path)
    assert got.returncode == 0, got.stdout
    assert "audit passed: nothing leaked, release up to date" in got.stdout

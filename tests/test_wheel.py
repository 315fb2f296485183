"""labkit stands alone: installed from a built wheel into a fresh venv outside the repository
(no tests/, no notebooks/ next to the package), its commands work on a copy of the course."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import nbformat
import pytest

from labkit_course.samples import write_samples
from labkit_course.source_notebook import default_course_dir

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def course_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository's course (source and committed release), copied outside the repository."""
    course = tmp_path_factory.mktemp("wheel-course") / "notebooks"
    repo_course = default_course_dir()
    shutil.copytree(repo_course, course, ignore=shutil.ignore_patterns(
        "__pycache__", ".ipynb_checkpoints", "submitted", "autograded", "feedback", "gradebook.db"))
    return course


def test_each_wheel_has_its_package_and_nothing_of_the_checkout(wheel_venv):
    import zipfile

    student = zipfile.ZipFile(wheel_venv.wheel).namelist()
    course = zipfile.ZipFile(wheel_venv.course_wheel).namelist()
    assert "labkit/pruning.py" in student and "labkit/assets/vgg_tiny.pth" in student
    assert {n.split("/")[0] for n in student} == {"labkit", wheel_venv.wheel.name.split("-py3")[0] + ".dist-info"}
    assert "labkit_course/grading/batch.py" in course and "labkit_course/source_notebook.py" in course
    assert {n.split("/")[0] for n in course} == {"labkit_course",
                                                 wheel_venv.course_wheel.name.split("-py3")[0] + ".dist-info"}


def test_the_student_wheel_requires_exactly_the_six_libraries_the_notebook_uses(wheel_venv):
    import zipfile

    with zipfile.ZipFile(wheel_venv.wheel) as z:
        meta = z.read(next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))).decode()
    required = sorted(line.split(":", 1)[1].strip().split(">")[0].split("=")[0].split("<")[0].strip()
                      for line in meta.splitlines() if line.startswith("Requires-Dist:"))
    assert required == ["matplotlib", "numpy", "torch", "torchprofile", "torchvision", "tqdm"]


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

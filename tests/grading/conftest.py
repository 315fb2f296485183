"""Fixtures of the grading tests: the lab1 corpus, graded once per session."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from labkit_course.grading.batch import Options, grade_batch
from labkit_course.grading.course import Master, prepare_master
from labkit_course.grading.limits import Limits

from .corpus import Case
from .lab1_cases import lab1_cases

COURSE = Path(__file__).resolve().parents[2] / "notebooks"
SOURCE = COURSE / "source" / "lab1" / "lab1.ipynb"


@pytest.fixture(scope="session")
def lab1_graded(tmp_path_factory, tiny_checkpoint) -> tuple[Path, list[Case], Master]:
    """Grade every lab1 corpus case in one batch with 2 workers: (out folder, cases, master)."""
    root = tmp_path_factory.mktemp("lab1-grading")
    out, subs = root / "out", root / "submissions"
    subs.mkdir()
    master = prepare_master(COURSE, "lab1", out, force=False)
    cases = lab1_cases(nbformat.read(SOURCE, as_version=4), master.release)
    for case in cases:
        (subs / f"{case.student}.ipynb").write_bytes(case.make())
    grade_batch([subs], Options(course=COURSE, assignment="lab1", out=out, workers=2, verbose=False,
                        limits=Limits(wall_limit=300)))
    return out, cases, master

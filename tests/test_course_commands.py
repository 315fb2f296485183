"""The course verbs take the assignment from the course itself when it has only one."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from labkit_course.cli import main
from labkit_course.source_notebook import default_assignment

TOY = Path(__file__).parent / "grading" / "fixtures" / "toy"


def test_a_course_with_one_assignment_names_it(tmp_path):
    assert default_assignment(TOY) == "toy"
    assert default_assignment(Path(__file__).resolve().parents[1] / "notebooks") == "lab1"


@pytest.mark.parametrize("verb", [["release", "--check", "--no-grade"], ["grade", "x.ipynb"],
                                  ["gradescope", "--out", "a.zip"]])
def test_a_course_with_several_or_no_assignments_asks_for_one(tmp_path, capsys, verb):
    course = tmp_path / "course"
    for name in ("lab1", "lab2"):
        shutil.copytree(TOY / "source" / "toy", course / "source" / name)
        (course / "source" / name / "toy.ipynb").rename(course / "source" / name / f"{name}.ipynb")
    with pytest.raises(SystemExit) as stopped:  # the exit status the shell sees
        main([*verb, "--course", str(course)])
    assert stopped.value.code == 2
    assert "holds 2 assignments (lab1, lab2): name one with --assignment" in capsys.readouterr().err
    empty = tmp_path / "empty"
    (empty / "source").mkdir(parents=True)
    with pytest.raises(SystemExit) as stopped:
        main([*verb, "--course", str(empty)])
    assert stopped.value.code == 2
    assert "no assignment in" in capsys.readouterr().err
    assert not (tmp_path / "a.zip").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["course", "empty"]

"""The grading limits have one home: ``labkit grade``, ``labkit gradescope``, the Gradescope
runner and the worker read :class:`labkit_course.grading.limits.Limits`."""

from __future__ import annotations

import argparse

import pytest
from labkit_course.commands import grade, gradescope
from labkit_course.commands.course import limits_from_args as from_args
from labkit_course.grading.batch import Options
from labkit_course.grading.limits import Limits, ZipLimits
from labkit_course.grading.worker import Job


def _parse(add_arguments, argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


@pytest.mark.parametrize("command", [grade, gradescope])
def test_each_command_defaults_to_the_one_set_of_limits(command):
    assert from_args(_parse(command.add_arguments, [])) == Limits()
    assert Options(course=".", assignment="a", out=".").limits == Limits()
    assert Job(student="s", path="", sha256="", out_dir="", tmp_root="").limits == Limits()


def test_options_on_the_command_line_become_limits():
    args = _parse(grade.add_arguments, ["--timeout", "30", "--wall-limit", "90", "--memory-limit", "0",
                                        "--zip-member-limit", "2", "--zip-members-limit", "5",
                                        "--zip-ratio-limit", "10"])
    got = from_args(args)
    assert got == Limits(cell_timeout=30, wall_limit=90, memory_gib=0,
                         zip=ZipLimits(member_bytes=2 * 2**20, members=5, ratio=10))
    assert got.mem_bytes is None  # 0 GiB: no memory limit
    assert Limits(memory_gib=1.5).mem_bytes == 3 * 2**29


def test_limits_travel_inside_a_gradescope_zip_unchanged():
    limits = Limits(cell_timeout=12, wall_limit=45, memory_gib=2, zip=ZipLimits(members=3))
    assert Limits.from_json(limits.to_json()) == limits
    assert Limits.from_json({}) == Limits()  # a config without limits: the defaults


@pytest.mark.parametrize("argv, says", [(["--wall-limit", "0"], "--wall-limit must be a positive"),
                                        (["--timeout", "-5"], "--timeout must be a positive"),
                                        (["--memory-limit", "-1"], "--memory-limit must be GiB >= 0")])
def test_a_limit_that_cannot_work_is_refused_with_its_option_named(argv, says, capsys, tmp_path):
    with pytest.raises(ValueError, match=says):
        from_args(_parse(grade.add_arguments, argv))
    from labkit_course.cli import main

    assert main(["grade", str(tmp_path), "--out", str(tmp_path / "out"), *argv]) == 2
    assert says in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # nothing written

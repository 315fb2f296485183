"""``labkit gradescope``: build a Gradescope autograder zip from the course.

    labkit gradescope --out autograder.zip [--course notebooks] [--assignment NAME] [--wheel W]

Upload the zip as the assignment's autograder (Ubuntu 24.04 base image: labkit needs Python
>= 3.11). Each submission is graded by labkit's grader; see :mod:`labkit_course.gradescope`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from labkit_course.commands.course import (
    add_assignment_argument,
    add_limit_arguments,
    limits_from_args,
    resolve_assignment,
)

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``labkit gradescope``."""
    parser.add_argument("--out", type=Path, default=Path("autograder.zip"), help="zip to write (default %(default)s)")
    parser.add_argument("--course", type=Path, default=Path("notebooks"),
                        help="nbgrader course folder with source/<assignment>/ (default %(default)s)")
    add_assignment_argument(parser)
    parser.add_argument("--wheel", type=Path, default=None,
                        help="labkit wheel to ship (default: built from this checkout)")
    add_limit_arguments(parser, zips=False,
                         wall_note="; keep it under the Gradescope assignment's own timeout")


def run(args: argparse.Namespace) -> int:
    """Build the zip; 2 when the course or the wheel is unusable."""
    resolve_assignment(args, "gradescope")
    from labkit_course.gradescope.build import build_autograder
    from labkit_course.grading.course import GradingError

    try:
        path = build_autograder(args.course, args.assignment, args.out, wheel=args.wheel,
                                limits=limits_from_args(args))
    except (GradingError, ValueError) as exc:
        print(f"labkit gradescope: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path}: upload it as the Gradescope autograder (base image Ubuntu 24.04)")
    return 0

"""``labkit release``: regenerate the student release from the source notebook, and audit it."""

from __future__ import annotations

import argparse
from pathlib import Path

from labkit_course.commands.course import add_assignment_argument, resolve_assignment
from labkit_course.release import run_release


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``labkit release``."""
    add_assignment_argument(parser)
    parser.add_argument("--course", "--course-dir", dest="course", type=Path, default=None,
                        help="nbgrader course folder (default: the repository's notebooks/)")
    parser.add_argument("--check", action="store_true",
                        help="do not write: fail when the committed release differs from a fresh one, "
                             "or the source notebook from its script source-py/<assignment>.py")
    parser.add_argument("--no-grade", action="store_true",
                        help="skip autograding the source and the blank release (leak and diff checks only)")
    parser.add_argument("--bundle", type=Path, default=None, metavar="PATH.zip",
                        help="after a passed audit, also write the student bundle (release notebook, "
                             "labkit wheel, STUDENTS.md) and audit it, inside the wheel too")


def run(args: argparse.Namespace) -> int:
    """Run ``labkit release``: 0 when the audit passed."""
    resolve_assignment(args, "release")
    report = run_release(args.course, args.assignment, check=args.check, grade=not args.no_grade)
    if not report.ok:
        return 1
    if args.bundle is not None:
        from labkit_course.bundle import make_bundle

        bundle = make_bundle(args.bundle, course_dir=args.course, assignment=args.assignment)
        print(bundle.summary())
        return 0 if bundle.ok else 1
    return 0

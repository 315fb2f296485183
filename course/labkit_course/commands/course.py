"""The ``--assignment`` option every course verb shares, and how it is resolved: a course with
one assignment under ``source/`` needs no name (the tools never assume which lab it is)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["add_assignment_argument", "resolve_assignment"]


def add_assignment_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--assignment NAME`` (default: the course's only assignment)."""
    parser.add_argument("--assignment", default=None,
                        help="assignment name, the folder under <course>/source/ (default: the "
                             "course's only one)")


def resolve_assignment(args: argparse.Namespace, verb: str) -> str:
    """``args.assignment``, or the only assignment of ``args.course`` (set on ``args`` too).

    Raises:
        SystemExit: 2, after saying why, when the course has none or several.
    """
    from labkit_course.source_notebook import default_assignment

    if not args.assignment:
        course = Path(args.course) if getattr(args, "course", None) is not None else None
        try:
            args.assignment = default_assignment(course)
        except FileNotFoundError as exc:
            print(f"labkit {verb}: {exc}", file=sys.stderr)
            raise SystemExit(2) from exc
    return args.assignment

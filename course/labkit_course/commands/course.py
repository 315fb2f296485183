"""Options the course verbs share: ``--assignment`` (a course with one assignment under
``source/`` needs no name: the tools never assume which lab it is) and the grading limits
(their defaults are :class:`labkit_course.grading.limits.Limits`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from labkit_course.grading.limits import MIB, Limits, ZipLimits

__all__ = ["add_assignment_argument", "resolve_assignment", "add_limit_arguments", "limits_from_args"]


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


def add_limit_arguments(parser: argparse.ArgumentParser, *, zips: bool = True,
                        wall_note: str = "") -> None:
    """Add ``--timeout``, ``--wall-limit``, ``--memory-limit`` (and with ``zips`` the
    ``--zip-*`` limits) to ``parser``, their defaults those of :class:`Limits`."""
    d = Limits()
    parser.add_argument("--timeout", type=float, default=d.cell_timeout,
                        help="seconds per cell (default: the course's Execute.timeout)")
    parser.add_argument("--wall-limit", type=float, default=d.wall_limit,
                        help=f"seconds for one whole submission (default %(default)s){wall_note}")
    parser.add_argument("--memory-limit", type=float, default=d.memory_gib,
                        help="GiB of memory per student kernel, 0 for none (default %(default)s)")
    if not zips:
        return
    parser.add_argument("--zip-member-limit", type=float, default=d.zip.member_bytes / MIB,
                        metavar="MIB",
                        help="refuse a zip member that declares more MiB (default %(default)g)")
    parser.add_argument("--zip-members-limit", type=int, default=d.zip.members, metavar="N",
                        help="refuse a zip of more members, extracting nothing (default %(default)s)")
    parser.add_argument("--zip-ratio-limit", type=float, default=d.zip.ratio, metavar="R",
                        help="refuse a zip member over 1 MiB compressed more than R to 1, and a zip "
                             "whose notebooks declare more than R times its size (default %(default)g)")


def limits_from_args(args: argparse.Namespace) -> Limits:
    """The :class:`Limits` of options added by :func:`add_limit_arguments`.

    Raises:
        ValueError: a limit that is not positive (the message names the option).
    """
    for option, value in (("--timeout", args.timeout), ("--wall-limit", args.wall_limit)):
        if value is not None and value <= 0:
            raise ValueError(f"{option} must be a positive number of seconds, not {value:g}")
    if args.memory_limit < 0:
        raise ValueError(f"--memory-limit must be GiB >= 0 (0 for none), not {args.memory_limit:g}")
    zip_limits = ZipLimits()
    if hasattr(args, "zip_member_limit"):
        zip_limits = ZipLimits(int(args.zip_member_limit * MIB), args.zip_members_limit,
                               args.zip_ratio_limit)
    return Limits(cell_timeout=args.timeout, wall_limit=args.wall_limit,
                  memory_gib=args.memory_limit, zip=zip_limits)

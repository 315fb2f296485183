"""The grading limits: the one home of their defaults, read by ``labkit grade``,
``labkit gradescope``, the Gradescope runner and every grading worker.

:class:`Limits` says how long and how large one submission may run; :class:`ZipLimits` what an
LMS zip export may declare before anything of it is extracted. :func:`add_arguments` gives a
command the same options with the same defaults, :func:`from_args` reads them back, and
:meth:`Limits.to_json` / :meth:`Limits.from_json` carry them inside a Gradescope zip.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, field

__all__ = ["Limits", "ZipLimits", "add_arguments", "from_args"]

MIB = 2**20
GIB = 2**30


@dataclass(frozen=True)
class ZipLimits:
    """Limits checked before anything of a zip is extracted (``labkit grade --zip-...``)."""

    member_bytes: int = 64 * MIB  # a member's declared size
    members: int = 10_000  # members of one zip
    ratio: float = 200.0  # declared size / compressed size, of a member over 1 MiB and of the zip


@dataclass(frozen=True, kw_only=True)
class Limits:
    """How long and how large one submission may run, and what a zip may declare."""

    cell_timeout: float | None = None  # seconds per cell; None: the course's Execute.timeout
    wall_limit: float = 600.0  # seconds for all of one submission's cells
    memory_gib: float = 4.0  # GiB of memory per student kernel; 0 for none
    zip: ZipLimits = field(default_factory=ZipLimits)

    @property
    def mem_bytes(self) -> int | None:
        """The kernel's memory limit in bytes (None: no limit)."""
        return int(self.memory_gib * GIB) or None

    def to_json(self) -> dict:
        """A JSON-ready dict (:meth:`from_json` reads it back)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> Limits:
        """The limits of a :meth:`to_json` dict; keys it lacks keep their defaults."""
        data = dict(data)
        zip_limits = ZipLimits(**data.pop("zip", {}))
        known = {k: v for k, v in data.items() if k in ("cell_timeout", "wall_limit", "memory_gib")}
        return cls(**known, zip=zip_limits)


def add_arguments(parser: argparse.ArgumentParser, *, zips: bool = True,
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


def from_args(args: argparse.Namespace) -> Limits:
    """The :class:`Limits` of options added by :func:`add_arguments`.

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

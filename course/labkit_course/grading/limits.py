"""The grading limits: the one home of their defaults, read by ``labkit grade``,
``labkit gradescope``, the Gradescope runner and every grading worker.

:class:`Limits` says how long and how large one submission may run; :class:`ZipLimits` what an
LMS zip export may declare before anything of it is extracted.
:func:`labkit_course.commands.course.add_limit_arguments` gives a command the same options with
the same defaults, and :meth:`Limits.to_json` / :meth:`Limits.from_json` carry them inside a
Gradescope zip.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

__all__ = ["Limits", "ZipLimits", "MIB", "GIB"]

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

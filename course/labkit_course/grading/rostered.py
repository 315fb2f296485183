"""Finish an out folder against a roster: what ``labkit grade --roster FILE [--export LMS]``
does once the records are published (after grading, ``--import-manual`` or ``--merge``, or
on its own).

With an LMS roster (Canvas's or Moodle's export) the graded students are matched to its rows
(:func:`labkit_course.grading.roster.match_roster`); ``grades.csv`` gets a ``missing`` row for
each roster row without a student (named by :meth:`Roster.key`), ``roster_matching.csv`` lists
the matching, and with ``--export`` the LMS's import file is written
(:mod:`labkit_course.grading.lms`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from labkit_course.grading.course import Master
from labkit_course.grading.lms import Export, write_export, write_matching
from labkit_course.grading.publish import finish_outputs
from labkit_course.grading.results import read_records
from labkit_course.grading.roster import Matching, Roster, match_roster

__all__ = ["RosterResult", "finish_with_roster", "report_lines"]


@dataclass
class RosterResult:
    """The matching, the files written and, with ``--export``, the export."""

    matching: Matching
    matching_file: Path
    export: Export | None = None
    files: list[Path] = field(default_factory=list)


def finish_with_roster(master: Master, out: Path, roster: Roster, *, export: str | None = None,
                       column: str | None = None) -> RosterResult:
    """Match ``out``'s records to ``roster``, rewrite ``grades.csv`` with its missing rows,
    write ``roster_matching.csv`` and, when ``export`` names an LMS, its import file. The
    caller holds ``out``'s lock."""
    records = read_records(out / "results")
    matching = match_roster(roster, records)
    missing = [k for k in (roster.key(i) for i in matching.missing) if k not in records]
    finish_outputs(master, out, roster.plain_ids() + missing)
    result = RosterResult(matching, write_matching(roster, matching, records, out))
    if export:
        result.export = write_export(export, roster, matching, records, master, out, column=column)
    return result


def report_lines(roster: Roster, result: RosterResult) -> list[str]:
    """What the command prints: counts, every unmatched student and every roster row without
    one, the students still waiting for free-text scores, and the export's notes."""
    m = result.matching
    lines = [f"roster {roster.path} ({roster.kind}): {len(m.rows)} of {len(roster.rows)} rows matched "
             f"a graded student; matching in {result.matching_file}"]
    if m.unmatched:
        lines.append(f"  {len(m.unmatched)} graded student(s) match no roster row (not exported):")
        lines += [f"    {s}: {why}" for s, why in m.unmatched.items()]
    if m.missing:
        lines.append(f"  {len(m.missing)} roster student(s) without a submission:")
        lines += [f"    {roster.key(i)} ({roster.name(i) or 'no name'})" for i in m.missing]
    e = result.export
    if e is not None:
        lines.append(f"wrote {e.path}: column {e.column!r}, {e.graded} grade(s)")
        if e.incomplete:
            lines.append(f"  {len(e.incomplete)} student(s) still lack free-text scores, left without a "
                         "grade (score manual.csv, --import-manual, then export again): "
                         + ", ".join(e.incomplete))
        lines += [f"  note: {n}" for n in e.notes]
    return lines

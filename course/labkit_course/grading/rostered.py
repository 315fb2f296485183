"""Finish an out folder against a roster and a due time: what ``labkit grade --roster FILE
[--export LMS] [--due TIME ...]`` does once the records are published (after grading,
``--import-manual`` or ``--merge``, or on its own).

With an LMS roster (Canvas's or Moodle's export) the graded students are matched to its rows
(:func:`labkit_course.grading.roster.match_roster`); ``grades.csv`` gets a ``missing`` row for
each roster row without a student (named by :meth:`Roster.key`), ``roster_matching.csv`` lists
the matching, and with ``--export`` the LMS's import file is written
(:mod:`labkit_course.grading.lms`). With ``--due`` the late-work policy is written
(:mod:`labkit_course.grading.late`: per-student due times from the roster, submission times
from an LMS CSV) before ``grades.csv``, so its late columns and the exported totals follow it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path

from labkit_course.grading.course import GradingError, Master
from labkit_course.grading.late import (POLICY_FILE, TIME_COLUMNS, LatePolicy, due_for, iso_utc,
                                        load_policy, parse_due, parse_penalty, parse_time, zone_of)
from labkit_course.grading.lms import Export, write_export, write_matching
from labkit_course.grading.publish import finish_outputs, stamp_time
from labkit_course.grading.results import Record, read_records, write_record
from labkit_course.grading.roster import Matching, Roster, match_roster, read_roster

__all__ = ["LateOptions", "RosterResult", "finish_with_roster", "report_lines"]


@dataclass
class LateOptions:
    """``--due`` (``off`` removes the policy), ``--late-penalty``, ``--submission-times``."""

    due: str | None = None
    penalty: str | None = None
    times: Path | None = None

    def given(self) -> bool:
        return any(v is not None for v in (self.due, self.penalty, self.times))


@dataclass
class RosterResult:
    """The matching, the files written and, with ``--export``, the export."""

    matching: Matching | None
    matching_file: Path | None
    export: Export | None = None
    policy: LatePolicy | None = None
    late_students: int = 0
    files: list[Path] = field(default_factory=list)


def _lms_times(path: Path, records: dict[str, Record], zone: tzinfo) -> tuple[dict[str, str], Matching]:
    """student -> submission time (ISO UTC) from the LMS submissions CSV ``path``."""
    table = read_roster(path)
    col = next((c for c in TIME_COLUMNS if c in table.header), None)
    if col is None:
        raise GradingError(f"{path} has no submission time column: name one of {list(TIME_COLUMNS)}")
    matching = match_roster(table, records)
    times = {}
    for i, (student, _) in matching.rows.items():
        cell = table.rows[i].get(col, "")
        if cell and cell != "-":  # Moodle writes '-' for no submission
            times[student] = iso_utc(parse_time(cell, zone))
    return times, matching


def _policy(opts: LateOptions, out: Path, roster: Roster | None, matching: Matching | None,
            records: dict[str, Record]) -> LatePolicy | None:
    """The late policy kept in ``out/late.json``: the one there, changed by ``opts``, its
    per-student due times read again from ``roster``; None when there is none (``--due off``
    removes it)."""
    old = load_policy(out)
    if opts.due == "off":
        (out / POLICY_FILE).unlink(missing_ok=True)
        return None
    if opts.due is None and old is None:
        if opts.given():
            raise GradingError("--late-penalty and --submission-times need --due (the due time)")
        return None
    if opts.penalty not in (None, "off"):
        parse_penalty(opts.penalty)
    if opts.due is not None:
        due, zone_name = parse_due(opts.due)
        policy = LatePolicy(iso_utc(due), zone_name, old.penalty if old else "",
                            times=dict(old.times) if old else {})
    else:
        policy = old
    if opts.penalty is not None:
        policy.penalty = "" if opts.penalty == "off" else opts.penalty
    if roster is not None and matching is not None:
        due = datetime.fromisoformat(policy.due)
        zone = zone_of(policy.zone)
        policy.dues = {student: iso_utc(own) for i, (student, _) in matching.rows.items()
                       if (own := due_for(roster.rows[i], due, zone)) != due}
    if opts.times is not None:
        policy.times, _ = _lms_times(opts.times, records, zone_of(policy.zone))
    policy.save(out)
    return policy


def finish_with_roster(master: Master, out: Path, roster: Roster | None, *, export: str | None = None,
                       column: str | None = None, late: LateOptions | None = None) -> RosterResult:
    """Match ``out``'s records to ``roster`` (if any), write the late policy (if asked),
    rewrite ``grades.csv`` (missing rows, late columns), write ``roster_matching.csv`` and,
    when ``export`` names an LMS, its import file. The caller holds ``out``'s lock."""
    records = read_records(out / "results")
    for rec in records.values():  # graded before submission times were kept: read them now
        if not rec.submitted_at and rec.source_file:
            stamp_time(master, rec)
            if rec.submitted_at:
                write_record(rec, out / "results")
    matching = match_roster(roster, records) if roster is not None else None
    policy = _policy(late or LateOptions(), out, roster, matching, records)
    missing = [k for k in (roster.key(i) for i in matching.missing) if k not in records] if matching else []
    finish_outputs(master, out, (roster.plain_ids() if roster else []) + missing)
    result = RosterResult(matching, write_matching(roster, matching, records, out) if matching else None,
                          policy=policy)
    if policy is not None:
        result.late_students = sum(bool(policy.late_hours(r)) for r in records.values())
    if export and roster is not None and matching is not None:
        totals = {s: r.total - policy.penalty_points(r) for s, r in records.items()} if policy else None
        notes = {s: policy.note(r) for s, r in records.items()} if policy else None
        result.export = write_export(export, roster, matching, records, master, out, column=column,
                                     totals=totals, notes=notes)
    return result


def report_lines(roster: Roster | None, result: RosterResult) -> list[str]:
    """What the command prints: counts, every unmatched student and every roster row without
    one, the students still waiting for free-text scores, the export's notes, the late count."""
    lines = []
    m = result.matching
    if roster is not None and m is not None:
        lines.append(f"roster {roster.path} ({roster.kind}): {len(m.rows)} of {len(roster.rows)} rows "
                     f"matched a graded student; matching in {result.matching_file}")
        if m.unmatched:
            lines.append(f"  {len(m.unmatched)} graded student(s) match no roster row (not exported):")
            lines += [f"    {s}: {why}" for s, why in m.unmatched.items()]
        if m.missing:
            lines.append(f"  {len(m.missing)} roster student(s) without a submission:")
            lines += [f"    {roster.key(i)} ({roster.name(i) or 'no name'})" for i in m.missing]
    p = result.policy
    if p is not None:
        lines.append(f"late work: due {p.show(p.due)}, {result.late_students} submission(s) late"
                     + (f", penalty {p.penalty}" if p.penalty else ", no penalty")
                     + "; grades.csv has submitted_at, submitted_from, late_by_hours, late_penalty")
    e = result.export
    if e is not None:
        lines.append(f"wrote {e.path}: column {e.column!r}, {e.graded} grade(s)")
        if e.incomplete:
            lines.append(f"  {len(e.incomplete)} student(s) still lack free-text scores, left without a "
                         "grade (score manual.csv, --import-manual, then export again): "
                         + ", ".join(e.incomplete))
        lines += [f"  note: {n}" for n in e.notes]
    return lines

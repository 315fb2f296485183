"""Grades into the LMS: the import file for Canvas or Moodle, built from the graded records and
the roster the TA exported from that LMS (:mod:`labkit_course.grading.roster`).

``OUT/canvas.csv`` follows what Canvas's gradebook import reads (canvas-lms
``lib/gradebook_importer.rb``): the export's identity columns through ``Section``, copied
cell for cell; the assignment column named as in the export (``Title (id)`` binds it to that
assignment); a ``Points Possible`` row (the export's value, else the course's points); a
blank cell leaves the student's grade unchanged. ``OUT/moodle.csv`` follows Moodle's CSV grade
import (``grade/import/csv``): the identifier column the TA maps from (``ID number``, ``Email
address`` or ``Username``, the first every row has), the grade column named as in the export,
and its ``(Feedback)`` column; ``-`` is no grade, and every row names a user of the export
(Moodle stops the whole import at a user it does not know).

A total goes into the file only once it is complete: every free-text answer scored (an
``invalid`` submission has none to score). Other students get a blank (Canvas: unchanged) or
``-`` (Moodle: no grade), and the command says how many. ``OUT/roster_matching.csv`` lists
every roster row with the student matched to it and how, then every graded student matched to
no row, with why.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

from labkit_course.grading.course import GradingError, Master
from labkit_course.grading.outputs import atomic_open
from labkit_course.grading.results import Record
from labkit_course.grading.roster import Matching, Roster
from labkit_course.grading.sheets import safe_cell, write_csv

__all__ = ["EXPORTS", "Export", "is_complete", "grade_text", "write_export", "write_matching"]

EXPORTS = ("canvas", "moodle")
_MOODLE_DISPLAY = re.compile(r"\s*\((Real|Percentage|Letter)\)$")


@dataclass
class Export:
    """What :func:`write_export` wrote: the file, the assignment column, how many rows got a
    grade, the students still waiting for free-text scores, and notes for the TA."""

    path: Path
    column: str
    graded: int
    incomplete: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def is_complete(rec: Record, master: Master) -> bool:
    """True when ``rec``'s total is final: every free-text answer has a score, or the
    submission was ``invalid`` (no answers to score)."""
    if rec.status == "invalid":
        return True
    return all(rec.scores.get(c.grade_id) is not None for c in master.cells if c.kind == "manual")


def grade_text(value: float) -> str:
    """A score as the LMS files hold it: at most two decimals, no trailing zeros."""
    return f"{round(value, 2):g}"


def _summary(rec: Record | None, master: Master, total: float | None, note: str = "") -> str:
    """The short feedback text of a Moodle row."""
    if rec is None:
        return "no submission was found"
    auto = [c for c in master.cells if c.kind == "test"]
    manual = [c for c in master.cells if c.kind == "manual"]
    a = sum(rec.scores.get(c.grade_id) or 0 for c in auto)
    parts = [f"autograded {a:g}/{sum(c.points for c in auto):g}"]
    if manual:
        if is_complete(rec, master) and rec.status != "invalid":
            m = sum(rec.scores.get(c.grade_id) or 0 for c in manual)
            parts.append(f"free text {m:g}/{sum(c.points for c in manual):g}")
        elif rec.status != "invalid":
            parts.append("free-text answers not scored yet")
    failed = len(rec.failures)
    if failed:
        parts.append(f"{failed} test{'s' * (failed != 1)} failed")
    if rec.status != "graded":
        parts.append(f"status {rec.status}")
    head = f"{grade_text(total)}/{rec.max_total:g}: " if total is not None else ""
    return head + ", ".join(parts) + (f"; {note}" if note else "") + "; details on your feedback page"


def _write_rows(path: Path, header: list[str], rows: list[list[str]], raw_column: int) -> None:
    """Write an LMS file: every cell spreadsheet-safe except column ``raw_column`` (a score or
    ``-``, which the LMS must read as it is)."""
    with atomic_open(path, newline="") as f:
        w = csv.writer(f)
        w.writerow([safe_cell(c) for c in header])
        for row in rows:
            w.writerow([c if j == raw_column else safe_cell(c) for j, c in enumerate(row)])


def write_export(kind: str, roster: Roster, matching: Matching, records: dict[str, Record],
                 master: Master, out: Path, *, column: str | None = None,
                 totals: dict[str, float] | None = None, notes: dict[str, str] | None = None) -> Export:
    """Write ``out/canvas.csv`` or ``out/moodle.csv`` (module docstring).

    Args:
        kind: ``canvas`` or ``moodle``; ``roster`` must be that LMS's export.
        column: ``--assignment-column`` (None: the roster's only assignment column).
        totals: student -> the total to export (default: the record's total; a late penalty
            lowers it).
        notes: student -> a line for the Moodle feedback text (e.g. how late).

    Raises:
        GradingError: the roster is not ``kind``'s export, or the assignment column is unclear.
    """
    if roster.kind != kind:
        raise GradingError(f"--export {kind} needs the gradebook exported from {kind.capitalize()} as "
                           f"--roster; {roster.path} reads as a {roster.kind} roster")
    col = roster.assignment_column(column)
    totals = totals or {}
    notes = notes or {}
    done = Export(out / f"{kind}.csv", col, 0)
    max_total = sum(c.points for c in master.cells)
    header, rows = [], []
    for i in range(len(roster.rows)):
        student = matching.rows.get(i, ("", ""))[0]
        rec = records.get(student) if student else None
        total = None
        if rec is not None and is_complete(rec, master):
            total = totals.get(student, rec.total)
        elif rec is not None:
            done.incomplete.append(student)
        done.graded += total is not None
        if kind == "canvas":
            rows.append([roster.rows[i].get(c, "") for c in roster.identity]
                        + ["" if total is None else grade_text(total)])
        else:
            rows.append([i, "-" if total is None else grade_text(total),
                         _summary(rec, master, total, notes.get(student, ""))])
    if kind == "canvas":
        header = roster.identity + [col]
        points = roster.points_possible.get(col, "") or f"{max_total:g}"
        if points != f"{max_total:g}" and not re.search(r"read\s+only", points):
            done.notes.append(f"Canvas's {col!r} is worth {points} points, the lab {max_total:g}: the "
                              "file holds the lab's points; change the assignment's points in Canvas "
                              "or scale the column before importing")
        pp_row = ["Points Possible"] + [""] * (len(roster.identity) - 1) + [points]
        _write_rows(done.path, header, [pp_row] + rows, len(header) - 1)
        return done
    id_col = next((c for c in ("ID number", "Email address", "Username")
                   if c in roster.header and all(r.get(c) for r in roster.rows)), None)
    if id_col is None:
        id_col = next(c for c in ("ID number", "Email address", "Username") if c in roster.header)
    kept = [r for r in rows if roster.rows[r[0]].get(id_col)]
    for r in rows:
        if not roster.rows[r[0]].get(id_col):
            done.notes.append(f"{roster.name(r[0]) or roster.key(r[0])!r} has no {id_col!r} in "
                              f"{roster.path}: not in moodle.csv (Moodle stops at an unknown user)")
    for r in kept:
        r[0] = roster.rows[r[0]][id_col]
    feedback = _MOODLE_DISPLAY.sub("", col) + " (Feedback)"
    _write_rows(done.path, [id_col, col, feedback], kept, 1)
    done.notes.append(f"in Moodle's CSV import map from {id_col!r} to the same user field, {col!r} "
                      f"to the grade item and {feedback!r} to its feedback")
    return done


def write_matching(roster: Roster, matching: Matching, records: dict[str, Record], out: Path) -> Path:
    """Write ``out/roster_matching.csv``: each roster row (its key, name, the student matched
    and the rule), then each graded student on no row (with why). Return the path."""
    rows = []
    for i in range(len(roster.rows)):
        student, rule = matching.rows.get(i, ("", ""))
        src = records[student].source_file if student else ""
        rows.append([roster.key(i), roster.name(i), student, src, rule or "no submission"])
    for student, why in matching.unmatched.items():
        rows.append(["", "", student, records[student].source_file, f"not on the roster: {why}"])
    path = out / "roster_matching.csv"
    write_csv(path, ["roster_id", "roster_name", "student", "file", "matched_by"], rows)
    return path

"""Publish graded records: the only place the parent process turns records into what a course
sees -- the master gradebook, the feedback pages, ``grades.csv`` and the manual sheet.

Scheduling (:mod:`labkit.grading.batch`), merging shards (:mod:`labkit.grading.merge`) and
importing manual scores (``labkit grade --import-manual``) all publish through here, so a
record reaches every output the same way whichever path made it.
"""

from __future__ import annotations

from pathlib import Path

from .course import Master
from .feedback import write_feedback
from .gradebook import gradebook_students, merge_record
from .manual import write_manual_sheet
from .results import Record, read_records, write_grades_csv

__all__ = ["publish_record", "finish_outputs"]


def publish_record(master: Master, rec: Record, out: Path) -> None:
    """Merge ``rec`` into the master gradebook and write the student's feedback page
    (``out/feedback/<student>.html``). Parent process only: workers never write the gradebook."""
    merge_record(master, rec)
    write_feedback(rec, master, out / "feedback")


def finish_outputs(master: Master, out: Path, roster: list[str] = ()) -> dict[str, Record]:
    """Write ``grades.csv``, ``manual.html``/``manual.csv`` and any missing feedback from the
    records in ``out/results`` (plus ``missing`` rows for roster students without one, and for
    students the gradebook knows without a record); return the records by student."""
    records = read_records(out / "results")
    with_roster = dict(records)
    for student in sorted(set(roster) | gradebook_students(master)):
        if student not in with_roster:
            with_roster[student] = Record(student, "missing", {c.grade_id: None for c in master.cells},
                                          {c.grade_id: c.points for c in master.cells},
                                          messages=["no submission was found for this student"])
    columns: dict[str, list[str]] = {}
    for c in master.cells:
        columns.setdefault(c.question, []).append(c.grade_id)
    max_q = {q: sum(c.points for c in master.cells if c.question == q) for q in columns}
    tests = [c.grade_id for c in master.cells if c.kind == "test"]  # notebook order
    write_grades_csv(with_roster, columns, max_q, out / "grades.csv", tests)
    write_manual_sheet(records, master, out)
    for rec in records.values():
        if not (out / "feedback" / f"{rec.student}.html").is_file():
            write_feedback(rec, master, out / "feedback")
    return with_roster

"""Publish graded records: the only place the parent process turns records into what a course
sees -- the master gradebook, the feedback pages, ``grades.csv``, the manual sheet and the
class report.

Scheduling (:mod:`labkit_course.grading.batch`), merging shards (:mod:`labkit_course.grading.merge`) and
importing manual scores (``labkit grade --import-manual``) all publish through here, so a
record reaches every output the same way whichever path made it.

Workers leave their records in ``OUT/course/pending/``; a record reaches ``OUT/results/`` only
after the gradebook and the feedback page have it, so a student counts as graded (see
:func:`published_records`) only when every output has been written, whatever stopped the grader.
Imported free-text scores survive regrading (:func:`keep_manual_scores`).
"""

from __future__ import annotations

from pathlib import Path

from labkit_course.grading.course import Master
from labkit_course.grading.feedback import write_feedback
from labkit_course.grading.gradebook import gradebook_students, gradebook_submissions, merge_record, merge_records
from labkit_course.grading.late import file_time, load_policy
from labkit_course.grading.manual import rescore, write_manual_sheet
from labkit_course.grading.names import safe_name
from labkit_course.grading.report import write_report
from labkit_course.grading.results import Record, read_records, write_grades_csv, write_record

__all__ = ["pending_dir", "publish_record", "publish_records", "stamp_time", "published_records",
           "keep_manual_scores", "finish_outputs"]


def pending_dir(master: Master) -> Path:
    """The folder where workers leave finished records for the parent to publish."""
    return master.root / "pending"


def publish_record(master: Master, rec: Record, out: Path) -> None:
    """Merge ``rec`` into the master gradebook, write the student's feedback page
    (``out/feedback/<student>.html``), then the record (``out/results/<student>.json``), in
    that order. Parent process only: workers never write the gradebook."""
    stamp_time(master, rec)
    merge_record(master, rec)
    write_feedback(rec, master, out / "feedback")
    write_record(rec, out / "results")


def publish_records(master: Master, recs: list[Record], out: Path) -> None:
    """:func:`publish_record` for each of ``recs``, in one gradebook transaction for all (the
    gradebook first, then the feedback pages, then the records)."""
    for rec in recs:
        stamp_time(master, rec)
    merge_records(master, recs)
    for rec in recs:
        write_feedback(rec, master, out / "feedback")
    for rec in recs:
        write_record(rec, out / "results")


def stamp_time(master: Master, rec: Record) -> None:
    """Give ``rec`` its submission time (:func:`labkit_course.grading.late.file_time`) unless it
    has one; a notebook extracted from a zip (under ``OUT/course/``) gets none: its file's
    time is the extraction's."""
    src = Path(rec.source_file) if rec.source_file else None
    if rec.submitted_at or src is None or src.resolve().is_relative_to(master.root.resolve()):
        return
    rec.submitted_at, rec.submitted_from = file_time(src)


def published_records(master: Master, records: dict[str, Record]) -> dict[str, Record]:
    """Those of ``records`` (read from ``OUT/results``) whose student also has a submission in
    the master gradebook: the fully published ones (student -> Record)."""
    if not records:
        return {}
    in_gradebook = gradebook_submissions(master)
    return {s: r for s, r in records.items() if s in in_gradebook or r.status == "missing"}


def keep_manual_scores(old: Record | None, new: Record, master: Master) -> list[str]:
    """Copy into ``new`` each free-text score a TA gave in ``old`` (the student's record before
    regrading) when the answer is the same text; return the grade ids whose score was kept.

    A score is dropped when the answer changed (a TA must read it again) or the course no
    longer has that question with enough points; the record then says so."""
    if old is None:
        return []
    kept = []
    for c in master.cells:
        score = old.scores.get(c.grade_id)
        if c.kind != "manual" or score is None or c.grade_id not in new.scores:
            continue
        if old.answers.get(c.grade_id) == new.answers.get(c.grade_id) and score <= c.points:
            new.scores[c.grade_id] = score
            if c.grade_id in old.manual:
                new.manual[c.grade_id] = old.manual[c.grade_id]
            kept.append(c.grade_id)
        elif old.answers.get(c.grade_id) != new.answers.get(c.grade_id):
            new.messages.append(f"the answer to {c.grade_id} changed since a TA scored it "
                                f"({score:g}); it waits to be scored again")
    return kept


def finish_outputs(master: Master, out: Path, roster: list[str] = ()) -> dict[str, Record]:
    """Re-score the answers graded with rubric items from the current rubric (publishing the
    records that changed), then write ``grades.csv``, ``manual.html``/``manual.csv``, the class
    report (``report.html``, ``stats.csv``) and any missing feedback from the records in
    ``out/results`` (plus ``missing`` rows for roster students without one, and for students the
    gradebook knows without a record); return the records by student."""
    records = read_records(out / "results")
    for rec in records.values():
        if rescore(rec, master):  # a rubric item's points changed since it was graded
            publish_record(master, rec, out)
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
    policy = load_policy(out)  # late work: columns only once a due time was given
    write_grades_csv(with_roster, columns, max_q, out / "grades.csv", tests,
                     policy.columns(with_roster) if policy else None)
    write_manual_sheet(records, master, out)
    write_report(with_roster, master, out)
    for rec in records.values():
        if not (out / "feedback" / f"{safe_name(rec.student)}.html").is_file():
            write_feedback(rec, master, out / "feedback")
    return with_roster

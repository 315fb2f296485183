"""The one place that reads and writes nbgrader gradebooks.

:func:`read_scores` reads a graded submission's scores from a gradebook (a worker's private
one). :func:`merge_record` merges result records into the master gradebook
(``OUT/course/gradebook.db``); only the parent process calls it, one record at a time, so
parallel workers never write the same sqlite file (:func:`merge_records` merges many in one
transaction). Autograded tests go to ``auto_score``, free-text answers to ``manual_score``. :func:`gradebook_submissions` says which students have
a submission there (a record counts as published only then). The master gradebook is kept
``0600``; SQLite's commits make each merge all or nothing, also on a full disk.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from labkit_course.grading.course import Master
from labkit_course.grading.results import Record

__all__ = ["read_scores", "gradebook_students", "gradebook_submissions", "merge_record",
           "merge_records", "make_private"]


def read_scores(db: Path, notebook: str, assignment: str, student: str
                ) -> tuple[dict[str, float | None], dict[str, float]]:
    """Scores of ``student``'s graded ``notebook`` in the gradebook file ``db``.

    Returns:
        (grade_id -> points earned, None for a free-text answer not graded yet;
        grade_id -> points available), for every graded cell.
    """
    from nbgrader.api import Gradebook

    scores: dict[str, float | None] = {}
    max_scores: dict[str, float] = {}
    with Gradebook(f"sqlite:///{db}") as gb:
        for g in gb.find_submission_notebook(notebook, assignment, student).grades:
            max_scores[g.name] = float(g.max_score)
            earned = g.manual_score if g.manual_score is not None else g.auto_score
            scores[g.name] = None if earned is None else float(earned)
    return scores, max_scores


def gradebook_students(master: Master) -> set[str]:
    """The ids of every student in the master gradebook."""
    from nbgrader.api import Gradebook

    with Gradebook(master.db_url) as gb:
        return {s.id for s in gb.students}


def gradebook_submissions(master: Master) -> set[str]:
    """The ids of the students with a submission of ``master.assignment`` in the master
    gradebook."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(master.db_url) as gb:
        try:
            return {s.student.id for s in gb.find_assignment(master.assignment).submissions}
        except MissingEntry:
            return set()


def make_private(master: Master) -> None:
    """Make the master gradebook and its template readable by the grading user only."""
    for db in (master.root / "gradebook.db", master.template_db):
        if db.is_file() and db.stat().st_mode & 0o077:
            os.chmod(db, 0o600)


@contextmanager
def _quiet_nbgrader() -> Iterator[None]:
    """Keep nbgrader from logging a traceback for a failed commit: its error propagates as an
    exception, which the caller reports (a full disk, say, as one line)."""
    log = logging.getLogger("tornado.application")
    was = log.disabled
    log.disabled = True
    try:
        yield
    finally:
        log.disabled = was


@contextmanager
def _one_transaction(gb) -> Iterator[None]:
    """Make the nbgrader calls inside one database transaction: nbgrader commits after every
    change (a disk sync each, the bulk of a record's cost); here its commits only flush, and
    everything is committed once at the end, or nothing if it fails."""
    commit = gb.db.commit
    gb.db.commit = gb.db.flush
    try:
        yield
    except BaseException:
        gb.db.rollback()
        raise
    finally:
        gb.db.commit = commit
    gb.db.commit()


def merge_record(master: Master, rec: Record) -> None:
    """Create or update ``rec.student``'s submission and grades in the master gradebook."""
    merge_records(master, [rec])


def merge_records(master: Master, recs: list[Record]) -> None:
    """:func:`merge_record` for each of ``recs``, all in one transaction (a batch of refused
    files costs one disk sync, not three per file)."""
    from nbgrader.api import Gradebook, MissingEntry
    from sqlalchemy.exc import SAWarning

    kinds = {c.grade_id: c.kind for c in master.cells}
    with warnings.catch_warnings(), _quiet_nbgrader():
        warnings.simplefilter("ignore", SAWarning)  # nbgrader 0.9 + SQLAlchemy 2.1 noise
        with Gradebook(master.db_url) as gb, _one_transaction(gb):
            for rec in recs:
                gb.update_or_create_student(rec.student)
                if rec.status == "missing":
                    continue
                try:
                    gb.find_submission(master.assignment, rec.student)
                except MissingEntry:
                    gb.add_submission(master.assignment, rec.student)
                for gid, score in rec.scores.items():
                    if gid not in kinds:
                        continue
                    grade = gb.find_grade(gid, master.notebook, master.assignment, rec.student)
                    if kinds[gid] == "test":
                        grade.auto_score = score
                        grade.needs_manual_grade = False
                    else:  # a free-text answer: the TA's score, or none yet
                        grade.manual_score = score
                        grade.needs_manual_grade = score is None

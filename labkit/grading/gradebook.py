"""Merge result records into the master nbgrader gradebook (``OUT/course/gradebook.db``).

Only the parent process calls this, one record at a time, so parallel workers never write the
same sqlite file. Autograded tests go to ``auto_score``, free-text answers to ``manual_score``.
"""

from __future__ import annotations

import warnings

from .course import Master
from .results import Record

__all__ = ["merge_record"]


def merge_record(master: Master, rec: Record) -> None:
    """Create or update ``rec.student``'s submission and grades in the master gradebook."""
    from nbgrader.api import Gradebook, MissingEntry
    from sqlalchemy.exc import SAWarning

    kinds = {c.grade_id: c.kind for c in master.cells}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SAWarning)  # nbgrader 0.9 + SQLAlchemy 2.1 noise
        with Gradebook(master.db_url) as gb:
            gb.update_or_create_student(rec.student)
            if rec.status == "missing":
                return
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
                elif score is not None:
                    grade.manual_score = score
                    grade.needs_manual_grade = False
            gb.db.commit()

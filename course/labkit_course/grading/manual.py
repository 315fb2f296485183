"""The manual-grading sheet (free-text answers side by side) and importing its scores.

``OUT/manual.html`` lists, per free-text question, every student's answer with the points
available. ``OUT/manual.csv`` has one row per (student, answer) with an empty ``score``
column (spreadsheet-safe: an answer that starts like a formula starts with ``'``, see
:mod:`labkit_course.grading.sheets`): fill it in and run ``labkit grade --import-manual manual.csv --out OUT`` to merge the
scores into the records, the master gradebook, ``grades.csv`` and the feedback pages.
"""

from __future__ import annotations

import html
import unicodedata
from pathlib import Path

from labkit_course.grading.course import GradingError, Master
from labkit_course.grading.outputs import write_text
from labkit_course.grading.results import Record
from labkit_course.grading.sheets import read_csv, write_csv

__all__ = ["write_manual_sheet", "read_manual_scores"]


def write_manual_sheet(records: dict[str, Record], master: Master, out_dir: Path) -> tuple[Path, Path]:
    """Write ``manual.html`` and ``manual.csv`` into ``out_dir``; return both paths."""
    e = html.escape
    manual = [c for c in master.cells if c.kind == "manual"]
    parts = [f"<!doctype html><meta charset='utf-8'><title>{e(master.assignment)}: free-text answers"
             "</title><style>body{font-family:system-ui,sans-serif;margin:2rem}"
             "td,th{border:1px solid #ccc;padding:.3rem .6rem;vertical-align:top;text-align:left}"
             "table{border-collapse:collapse;width:100%}pre{white-space:pre-wrap;margin:0}</style>",
             f"<h1>{e(master.assignment)}: free-text answers</h1>",
             "<p>Score them in <code>manual.csv</code> (column <code>score</code>), then run "
             "<code>labkit grade --import-manual manual.csv --out DIR</code>.</p>"]
    for c in manual:
        parts.append(f"<h2>{e(c.question)} <small>({e(c.grade_id)}, {c.points:g} points)</small></h2>"
                     "<table><tr><th>student</th><th>status</th><th>answer</th><th>score</th></tr>")
        for student in sorted(records):
            r = records[student]
            answer = r.answers.get(c.grade_id, "")
            score = r.scores.get(c.grade_id)
            parts.append(f"<tr><td>{e(student)}</td><td>{e(r.status)}</td><td><pre>"
                         f"{e(answer) or '<i>(no answer)</i>'}</pre></td>"
                         f"<td>{'' if score is None else f'{score:g}'} / {c.points:g}</td></tr>")
        parts.append("</table>")
    html_path, csv_path = out_dir / "manual.html", out_dir / "manual.csv"
    write_text(html_path, "\n".join(parts))
    write_csv(csv_path, ["student", "grade_id", "question", "max_points", "score", "answer"],
              ([student, c.grade_id, c.question, f"{c.points:g}",
                "" if (score := records[student].scores.get(c.grade_id)) is None else f"{score:g}",
                records[student].answers.get(c.grade_id, "")]
               for c in manual for student in sorted(records)))
    return html_path, csv_path


def read_manual_scores(path: Path, master: Master, students: set[str]) -> dict[tuple[str, str], float]:
    """Read ``(student, grade_id) -> score`` from a CSV with columns ``student``, ``grade_id``
    (or ``question``) and ``score``; rows with an empty score are skipped. The file may be
    UTF-8 with or without a byte-order mark (:func:`labkit_course.grading.sheets.read_csv`).

    Raises:
        GradingError: a file that is not UTF-8 CSV, missing columns, or any bad row: an unknown
            student, a grade_id that is not a free-text answer, a grade_id whose question is
            not the row's question, an unknown question, a score that is not a number in
            [0, points], or the same answer scored twice. All bad rows are listed; nothing is
            imported unless every row is valid.
    """
    manual = {c.grade_id: c for c in master.cells if c.kind == "manual"}
    by_question = {c.question.lower(): c for c in manual.values()}
    cols, rows = read_csv(path)
    if not {"student", "score"} <= set(cols) or not ({"grade_id", "question"} & set(cols)):
        raise GradingError(f"{path}: needs columns student, grade_id (or question) and score; "
                           f"found {cols}")
    scores: dict[tuple[str, str], float] = {}
    first_line: dict[tuple[str, str], int] = {}
    errors = []
    for n, row in enumerate(rows, start=2):
        raw = row.get("score", "")
        if not raw:
            continue
        student = unicodedata.normalize("NFC", row.get("student", ""))
        gid, question = row.get("grade_id", ""), row.get("question", "")
        cell = manual.get(gid) if gid else by_question.get(question.lower())
        try:
            value = float(raw)
        except ValueError:
            value = None
        if student not in students:
            errors.append(f"line {n}: unknown student {student!r}")
        elif cell is None and gid:
            errors.append(f"line {n}: {gid!r} is not a free-text question (one of {sorted(manual)})")
        elif cell is None:
            errors.append(f"line {n}: {question!r} is not a question with a free-text answer "
                          f"(one of {sorted(c.question for c in manual.values())})")
        elif question and question.lower() != cell.question.lower():
            errors.append(f"line {n}: {gid!r} is a {cell.question} answer, but the row says "
                          f"question {question!r}")
        elif value is None or not 0 <= value <= cell.points:
            errors.append(f"line {n}: score {raw!r} must be a number in [0, {cell.points:g}]")
        elif (student, cell.grade_id) in first_line:
            errors.append(f"line {n}: {student!r} {cell.grade_id!r} is scored twice (lines "
                          f"{first_line[(student, cell.grade_id)]} and {n}): keep one row")
        else:
            scores[(student, cell.grade_id)] = value
            first_line[(student, cell.grade_id)] = n
    if errors:
        raise GradingError(f"{path}: nothing imported, fix these rows:\n  " + "\n  ".join(errors))
    return scores

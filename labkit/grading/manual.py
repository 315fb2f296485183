"""The manual-grading sheet (free-text answers side by side) and importing its scores.

``OUT/manual.html`` lists, per free-text question, every student's answer with the points
available. ``OUT/manual.csv`` has one row per (student, answer) with an empty ``score``
column: fill it in and run ``labkit grade --import-manual manual.csv --out OUT`` to merge the
scores into the records, the master gradebook, ``grades.csv`` and the feedback pages.
"""

from __future__ import annotations

import csv
import html
from pathlib import Path

from .course import GradingError, Master
from .outputs import atomic_open, write_text
from .results import Record

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
    with atomic_open(csv_path, newline="") as f:
        w = csv.writer(f)
        w.writerow(["student", "grade_id", "question", "max_points", "score", "answer"])
        for c in manual:
            for student in sorted(records):
                r = records[student]
                score = r.scores.get(c.grade_id)
                w.writerow([student, c.grade_id, c.question, f"{c.points:g}",
                            "" if score is None else f"{score:g}", r.answers.get(c.grade_id, "")])
    return html_path, csv_path


def read_manual_scores(path: Path, master: Master, students: set[str]) -> dict[tuple[str, str], float]:
    """Read ``(student, grade_id) -> score`` from a CSV with columns ``student``, ``grade_id``
    (or ``question``) and ``score``; rows with an empty score are skipped.

    Raises:
        GradingError: missing columns, or any row with an unknown student or question, or a
            score that is not a number in [0, points] (all bad rows are listed; nothing is
            imported unless every row is valid).
    """
    manual = {c.grade_id: c for c in master.cells if c.kind == "manual"}
    by_question = {c.question: c for c in manual.values()}
    scores: dict[tuple[str, str], float] = {}
    errors = []
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        cols = set(reader.fieldnames or [])
        if not {"student", "score"} <= cols or not ({"grade_id", "question"} & cols):
            raise GradingError(f"{path}: needs columns student, grade_id (or question) and score; "
                               f"found {sorted(cols)}")
        for n, row in enumerate(reader, start=2):
            raw = (row.get("score") or "").strip()
            if not raw:
                continue
            key = (row.get("grade_id") or "").strip()
            cell = manual.get(key) or by_question.get((row.get("question") or "").strip().lower())
            student = (row.get("student") or "").strip()
            try:
                value = float(raw)
            except ValueError:
                value = None
            if student not in students:
                errors.append(f"line {n}: unknown student {student!r}")
            elif cell is None:
                errors.append(f"line {n}: {key or row.get('question')!r} is not a free-text question "
                              f"(one of {sorted(manual)})")
            elif value is None or not 0 <= value <= cell.points:
                errors.append(f"line {n}: score {raw!r} must be a number in [0, {cell.points:g}]")
            else:
                scores[(student, cell.grade_id)] = value
    if errors:
        raise GradingError(f"{path}: nothing imported, fix these rows:\n  " + "\n  ".join(errors))
    return scores

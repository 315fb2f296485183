"""The manual-grading sheet (free-text answers side by side) and importing its scores.

``OUT/manual.html`` lists, per free-text question, every student's answer with the points
available. ``OUT/manual.csv`` has one row per (student, answer) with an empty ``score``
column (spreadsheet-safe: an answer that starts like a formula starts with ``'``, see
:mod:`labkit_course.grading.sheets`): fill it in and run ``labkit grade --import-manual manual.csv --out OUT`` to merge the
scores into the records, the master gradebook, ``grades.csv`` and the feedback pages.
"""

from __future__ import annotations

import hashlib
import html
import json
import secrets
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from labkit_course.grading.course import GradeCell, GradingError, Master
from labkit_course.grading.outputs import write_text
from labkit_course.grading.results import Record
from labkit_course.grading.rubric import Rubric, RubricError, score_items
from labkit_course.grading.sheets import read_csv, write_csv

__all__ = ["SheetOptions", "load_sheet_options", "save_sheet_options", "pseudonyms", "grader_shares",
           "grading_order", "ManualGrade", "write_manual_sheet", "read_manual_scores", "apply_grade", "rescore"]


_OPTIONS_FILE = "manual-sheets.json"


@dataclass(frozen=True)
class SheetOptions:
    """How the sheets are written: ``graders`` sheets (``manual-1.csv`` ...), each student in
    exactly one (1: only ``manual.csv``); ``anonymous``: a pseudonym per student instead of the
    id; ``salt``: the secret that makes pseudonyms (kept in the out folder, so they are stable)."""

    graders: int = 1
    anonymous: bool = False
    salt: str = ""


def load_sheet_options(out_dir: Path) -> SheetOptions:
    """The sheet options saved in ``out_dir`` (defaults when none were given)."""
    path = out_dir / _OPTIONS_FILE
    return SheetOptions(**json.loads(path.read_text())) if path.is_file() else SheetOptions()


def save_sheet_options(out_dir: Path, graders: int | None, anonymous: bool | None) -> SheetOptions:
    """Save the options given (None: keep the saved one) in ``out_dir``; return them all.

    Raises:
        GradingError: ``graders`` below 1."""
    old = load_sheet_options(out_dir)
    if graders is not None and graders < 1:
        raise GradingError(f"--graders {graders}: give 1 or more graders")
    new = SheetOptions(old.graders if graders is None else graders,
                       old.anonymous if anonymous is None else anonymous,
                       old.salt or secrets.token_hex(16))
    out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_text(out_dir / _OPTIONS_FILE, json.dumps(new.__dict__))
    return new


def pseudonyms(students: list[str], options: SheetOptions) -> dict[str, str]:
    """student -> what the sheets call them: the id, or with ``options.anonymous`` a stable
    pseudonym (``anon-`` and 10 hex digits of a salted hash; nobody without the out folder can
    tell whose it is)."""
    if not options.anonymous:
        return {s: s for s in students}
    return {s: "anon-" + hashlib.sha256(f"{options.salt}\0{s}".encode()).hexdigest()[:10]
            for s in students}


def grader_shares(students: list[str], graders: int) -> list[list[str]]:
    """Split ``students`` into ``graders`` shares of nearly equal size, each student in exactly
    one, the same split on every run (dealt in the order of a hash of the id)."""
    dealt = sorted(students, key=lambda s: hashlib.sha256(s.encode()).hexdigest())
    return [sorted(dealt[k::graders]) for k in range(graders)]


def grading_order(grade_id: str, students: list[str]) -> list[str]:
    """``students`` in the order a grader reads answer ``grade_id``: shuffled by a hash of the
    grade id and the student, so every run (and every grader) sees the same order, and a
    student's place does not follow from the name."""
    return sorted(students, key=lambda s: hashlib.sha256(f"{grade_id}\0{s}".encode()).hexdigest())


def _graded(rec: Record, gid: str, rubric: bool) -> tuple[str, str, str]:
    """(items, comment, score) of answer ``gid`` of ``rec`` as a sheet shows them; ``rubric``:
    the answer has a rubric (no items applied then reads ``none``)."""
    entry = rec.manual.get(gid, {})
    score = rec.scores.get(gid)
    items = ";".join(entry.get("items", [])) or ("none" if rubric and entry and score is not None else "")
    return items, entry.get("comment", ""), "" if score is None else f"{score:g}"


def write_manual_sheet(records: dict[str, Record], master: Master, out_dir: Path) -> tuple[Path, Path]:
    """Write ``manual.html`` and ``manual.csv`` into ``out_dir`` (and, with the saved
    :class:`SheetOptions` of more graders, ``manual-K.html``/``.csv`` for each grader's share
    of the students); return the paths of the whole class's pair."""
    options = load_sheet_options(out_dir)
    names = pseudonyms(list(records), options)
    paths = _write_sheet(records, names, master, out_dir / "manual.html", out_dir / "manual.csv")
    shares = grader_shares(list(records), options.graders) if options.graders > 1 else []
    for k, share in enumerate(shares, start=1):
        _write_sheet({s: records[s] for s in share}, names, master,
                     out_dir / f"manual-{k}.html", out_dir / f"manual-{k}.csv")
    for stale in (*out_dir.glob("manual-*.csv"), *out_dir.glob("manual-*.html")):
        k = stale.stem.removeprefix("manual-")
        if k.isdigit() and int(k) > len(shares):
            stale.unlink()
    return paths


def _write_sheet(records: dict[str, Record], names: dict[str, str], master: Master,
                 html_path: Path, csv_path: Path) -> tuple[Path, Path]:
    """Write one sheet pair for ``records``: one section (and block of rows) per free-text
    answer, its rubric first, the students (as ``names`` calls them) in :func:`grading_order`."""
    e = html.escape
    manual = [c for c in master.cells if c.kind == "manual"]
    parts = [f"<!doctype html><meta charset='utf-8'><title>{e(master.assignment)}: free-text answers"
             "</title><style>body{font-family:system-ui,sans-serif;margin:2rem}"
             "td,th{border:1px solid #ccc;padding:.3rem .6rem;vertical-align:top;text-align:left}"
             "table{border-collapse:collapse;width:100%;margin-bottom:1rem}"
             "pre{white-space:pre-wrap;margin:0}</style>",
             f"<h1>{e(master.assignment)}: free-text answers</h1>",
             f"<p>Grade them in <code>{e(csv_path.name)}</code>: for a question with a rubric, the ids of "
             "the items earned in <code>items</code> (<code>a;c</code>, <code>none</code> for 0), "
             "otherwise a number in <code>score</code>; anything the student should read in "
             "<code>comment</code>. Then run "
             f"<code>labkit grade --import-manual {e(csv_path.name)} --out DIR</code>.</p>"]
    for c in manual:
        parts.append(f"<h2>{e(c.question)} <small>({e(c.grade_id)}, {c.points:g} points)</small></h2>")
        if c.grade_id in master.rubric.questions:
            parts.append("<table><tr><th>item</th><th>points</th><th>comment the student sees</th></tr>"
                         + "".join(f"<tr><td>{e(i.id)}</td><td>{i.points:g}</td><td>{e(i.comment)}</td></tr>"
                                   for i in master.rubric.questions[c.grade_id]) + "</table>")
        parts.append("<table><tr><th>student</th><th>status</th><th>answer</th><th>items</th>"
                     "<th>comment</th><th>score</th></tr>")
        for student in grading_order(c.grade_id, list(records)):
            r = records[student]
            answer = r.answers.get(c.grade_id, "")
            items, comment, score = _graded(r, c.grade_id, c.grade_id in master.rubric.questions)
            parts.append(f"<tr><td>{e(names[student])}</td><td>{e(r.status)}</td><td><pre>"
                         f"{e(answer) or '<i>(no answer)</i>'}</pre></td><td>{e(items)}</td>"
                         f"<td>{e(comment)}</td><td>{score} / {c.points:g}</td></tr>")
        parts.append("</table>")
    write_text(html_path, "\n".join(parts))
    rows = []
    for c in manual:
        rubric = c.grade_id in master.rubric.questions
        for student in grading_order(c.grade_id, list(records)):
            items, comment, score = _graded(records[student], c.grade_id, rubric)
            rows.append([names[student], c.grade_id, c.question, f"{c.points:g}", items, comment,
                         "" if rubric else score, records[student].answers.get(c.grade_id, "")])
    write_csv(csv_path, ["student", "grade_id", "question", "max_points", "items", "comment", "score",
                         "answer"], rows)
    return html_path, csv_path


@dataclass(frozen=True)
class ManualGrade:
    """One graded free-text answer from a sheet: its ``score``, the rubric ``items`` applied
    (ids; empty for an answer without a rubric) and the grader's ``comment``."""

    score: float
    items: list[str]
    comment: str


def _items(raw: str) -> list[str]:
    """The item ids of an ``items`` cell (``a;c``, ``a, c`` or ``none``)."""
    if raw.strip().lower() in ("none", "'none"):
        return []
    return [i.strip() for i in raw.replace(",", ";").split(";") if i.strip()]


def _row(row: dict[str, str], cell: GradeCell, rubric: Rubric) -> ManualGrade:
    """The grade a sheet row gives answer ``cell``.

    Raises:
        RubricError: what is wrong with the row (said so that a TA can fix it)."""
    raw, items_raw, comment = row.get("score", ""), row.get("items", ""), row.get("comment", "")
    if cell.grade_id in rubric.questions:
        if raw:
            raise RubricError(f"{cell.grade_id} has a rubric: write its item ids in 'items' "
                              f"(one of {', '.join(rubric.items(cell.grade_id))}; 'none' for 0), "
                              "leave 'score' empty")
        if not items_raw:
            raise RubricError(f"no items for {cell.grade_id}: write item ids in 'items' "
                              "('none' for 0 points)")
        items = _items(items_raw)
        return ManualGrade(score_items(rubric, cell.grade_id, items, cell.points), items, comment)
    if items_raw:
        raise RubricError(f"{cell.grade_id} has no rubric: give a number in 'score', no 'items'")
    try:
        value = float(raw)
    except ValueError:
        value = None
    if value is None or not 0 <= value <= cell.points:
        raise RubricError(f"score {raw!r} must be a number in [0, {cell.points:g}]")
    return ManualGrade(value, [], comment)


def read_manual_scores(paths: list[Path], master: Master, students: set[str],
                       aliases: dict[str, str] | None = None) -> dict[tuple[str, str], ManualGrade]:
    """Read ``(student, grade_id) -> ManualGrade`` from sheets (CSV) with columns ``student``,
    ``grade_id`` (or ``question``), and ``items`` (rubric item ids, ``a;c``) or ``score`` (a
    number, for an answer without a rubric), and optionally ``comment``; rows with none of
    these filled in are skipped. ``aliases`` maps the pseudonyms of anonymous sheets to
    students (:func:`pseudonyms`). A file may be UTF-8 with or without a byte-order mark
    (:func:`labkit_course.grading.sheets.read_csv`).

    Raises:
        GradingError: a file that is not UTF-8 CSV, missing columns, or any bad row: an unknown
            student, a grade_id that is not a free-text answer, a grade_id whose question is
            not the row's question, an unknown question, an unknown rubric item, items worth
            more than the question, a score that is not a number in [0, points], or the same
            answer graded twice (in one file or across files). Every bad row is listed with its
            file and line; nothing is imported unless every row is valid.
    """
    manual = {c.grade_id: c for c in master.cells if c.kind == "manual"}
    by_question = {c.question.lower(): c for c in manual.values()}
    grades: dict[tuple[str, str], ManualGrade] = {}
    first_line: dict[tuple[str, str], str] = {}
    errors = []
    for path in paths:
        cols, rows = read_csv(path)
        if "student" not in cols or not ({"grade_id", "question"} & set(cols)) or not (
                {"score", "items"} & set(cols)):
            errors.append(f"{path}: needs columns student, grade_id (or question) and items or "
                          f"score; found {cols}")
            continue
        for n, row in enumerate(rows, start=2):
            where = f"{path}:{n}"
            if not (row.get("score") or row.get("items") or row.get("comment")):
                continue
            student = unicodedata.normalize("NFC", row.get("student", ""))
            student = (aliases or {}).get(student, student)
            gid, question = row.get("grade_id", ""), row.get("question", "")
            cell = manual.get(gid) if gid else by_question.get(question.lower())
            if student not in students:
                errors.append(f"{where}: unknown student {student!r}")
            elif cell is None and gid:
                errors.append(f"{where}: {gid!r} is not a free-text question (one of {sorted(manual)})")
            elif cell is None:
                errors.append(f"{where}: {question!r} is not a question with a free-text answer "
                              f"(one of {sorted(c.question for c in manual.values())})")
            elif question and question.lower() != cell.question.lower():
                errors.append(f"{where}: {gid!r} is a {cell.question} answer, but the row says "
                              f"question {question!r}")
            elif (student, cell.grade_id) in first_line:
                errors.append(f"{where}: {student!r} {cell.grade_id!r} is graded twice ("
                              f"{first_line[(student, cell.grade_id)]} and {where}): keep one row")
            else:
                try:
                    grades[(student, cell.grade_id)] = _row(row, cell, master.rubric)
                    first_line[(student, cell.grade_id)] = where
                except RubricError as exc:
                    errors.append(f"{where}: {exc}")
    if errors:
        raise GradingError("nothing imported, fix these rows:\n  " + "\n  ".join(errors))
    return grades


def apply_grade(rec: Record, grade_id: str, grade: ManualGrade) -> None:
    """Store ``grade`` of answer ``grade_id`` in ``rec``: the items and comment, and the score."""
    rec.manual[grade_id] = {"items": list(grade.items), "comment": grade.comment}
    rec.scores[grade_id] = grade.score


def rescore(rec: Record, master: Master) -> bool:
    """Re-derive the score of each answer of ``rec`` graded with rubric items from the current
    rubric; return whether a score changed. An answer whose items no longer fit the rubric
    (an item removed, or items now worth more than the question) waits to be graded again,
    and the record says why."""
    points = {c.grade_id: c.points for c in master.cells if c.kind == "manual"}
    changed = False
    for gid, entry in rec.manual.items():
        if gid not in master.rubric.questions or gid not in points:
            continue
        try:
            score: float | None = score_items(master.rubric, gid, entry["items"], points[gid])
        except RubricError as exc:
            score = None
            note = f"{exc}: a TA grades it again"
            if note not in rec.messages:
                rec.messages.append(note)
        if rec.scores.get(gid) != score:
            rec.scores[gid] = score
            changed = True
    return changed

"""One result record per student (the resumable results store), and the grades CSV.

Each record is ``OUT/results/<student>.json``, written atomically
(:mod:`labkit_course.grading.outputs`: temp file, fsync, rename; mode 0600); the CSV, the feedback
pages and the master gradebook are derived from the records, so a crash of the grader loses at
most the submissions in flight.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from labkit_course.grading.names import safe_name
from labkit_course.grading.outputs import atomic_open
from labkit_course.grading.sheets import write_csv

__all__ = ["STATUSES", "Record", "write_record", "read_records", "write_grades_csv", "scrub"]

STATUSES = ("graded", "timeout", "crashed", "invalid", "missing")


@dataclass
class Record:
    """What grading one student produced.

    Attributes:
        student: the student id.
        status: one of STATUSES.
        scores: grade_id -> points earned (None: a free-text answer not graded yet).
        max_scores: grade_id -> points available.
        failures: grade_id of each failed test -> why it failed, never empty (the error, or
            the failing visible line; hidden-test code scrubbed).
        messages: notes about the submission (repairs, crashes, timeouts).
        answers: grade_id of each free-text answer -> the student's text.
        manual: grade_id of each free-text answer a TA graded -> ``{"items": [rubric item
            ids], "comment": the grader's comment}`` (its score derives from the items,
            :mod:`labkit_course.grading.rubric`; an answer without a rubric: no items).
        cells: the notebook as shown in feedback: dicts with ``kind`` (markdown, code, given =
            a release code cell left unchanged, test, manual), ``grade_id``, ``source`` (a
            student's cell exactly as submitted; a test cell as the release shows it),
            ``error`` (a one-line message or "") and ``output`` (what a test cell printed,
            capped; "" for other cells and in records written before it existed).
        sha256: hash of the submitted file (re-runs skip unchanged, already graded files).
        source_file: the submitted file.
        seconds: wall time spent grading it.
        internal_error: the grader itself failed on this submission (a bug to report; the
            submission is regraded by the next run even without ``--force``).
        submitted_at: when the file was submitted (ISO 8601, UTC; "" = unknown), read when
            the record is published (:func:`labkit_course.grading.late.file_time`).
        submitted_from: where that time comes from: ``gradescope`` or ``mtime``.
    """

    student: str
    status: str
    scores: dict[str, float | None] = field(default_factory=dict)
    max_scores: dict[str, float] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    answers: dict[str, str] = field(default_factory=dict)
    manual: dict[str, dict] = field(default_factory=dict)
    cells: list[dict] = field(default_factory=list)
    sha256: str = ""
    source_file: str = ""
    seconds: float = 0.0
    internal_error: bool = False
    submitted_at: str = ""
    submitted_from: str = ""

    @property
    def total(self) -> float:
        return float(sum(s for s in self.scores.values() if s is not None))

    @property
    def max_total(self) -> float:
        return float(sum(self.max_scores.values()))


def write_record(record: Record, results_dir: Path) -> Path:
    """Write ``record`` to ``results_dir/<student>.json`` atomically (a long id: its
    :func:`~labkit_course.grading.names.safe_name`); return the path."""
    path = results_dir / f"{safe_name(record.student)}.json"
    with atomic_open(path) as f:
        json.dump(asdict(record), f, indent=1)
    return path


def read_records(results_dir: Path) -> dict[str, Record]:
    """Read every record in ``results_dir`` (student -> Record)."""
    records = {}
    for path in sorted(results_dir.glob("*.json")):
        data = json.loads(path.read_text())
        records[data["student"]] = Record(**data)
    return records


def scrub(text: str, hidden_lines: list[str]) -> str:
    """Replace every hidden-test line of 6+ characters found in ``text`` by ``[hidden test]``.

    For text that came from the kernel (error messages, printed output) only: a student's
    code is never scrubbed, it is shown as submitted."""
    for line in sorted(hidden_lines, key=len, reverse=True):
        if len(line) >= 6 and line in text:
            text = text.replace(line, "[hidden test]")
    return text


def write_grades_csv(records: dict[str, Record], columns: dict[str, list[str]],
                     max_by_question: dict[str, float], path: Path,
                     test_cells: list[str] = (),
                     extra: dict[str, dict[str, str]] | None = None) -> None:
    """Write ``student, status, total, max_total, <question>..., <test cell>...``, one row
    per student, sorted by student.

    Args:
        records: student -> Record.
        columns: question -> the grade_ids it sums, in notebook order.
        max_by_question: question -> its points (their sum is ``max_total``; per-question
            maxima are shown in the feedback pages).
        path: the CSV file to write (atomically; spreadsheet-safe, see
            :mod:`labkit_course.grading.sheets`).
        test_cells: the autograded test cells' grade_ids, in notebook order: one column each
            after the question columns. A blank cell: not graded (never a silent 0).
        extra: more columns after those: column -> student -> cell (the late-work columns).
    """
    def fmt(vals: list[float | None]) -> str:
        return "" if all(v is None for v in vals) else f"{sum(v or 0 for v in vals):g}"

    extra = extra or {}
    header = ["student", "status", "total", "max_total", *columns, *test_cells, *extra]
    rows = []
    for student in sorted(records):
        r = records[student]
        row = [student, r.status, f"{r.total:g}", f"{sum(max_by_question.values()):g}"]
        row += [fmt([r.scores.get(g) for g in gids]) for gids in columns.values()]
        row += [fmt([r.scores.get(g)]) for g in test_cells]
        row += [cells.get(student, "") for cells in extra.values()]
        rows.append(row)
    write_csv(path, header, rows)

"""The class's numbers, counted from the same records as ``grades.csv``: statuses, totals,
per-question and per-test results, the commonest failure reasons of each test, grading time.

Counted over the rows of ``grades.csv`` (:func:`labkit_course.grading.publish.finish_outputs`
passes the records with the roster's ``missing`` rows added). A student "submitted" when the
status is not ``missing``; scores, pass rates and failures count only those. A test "passed"
when it earned all its points. A free-text question counts only the students it was scored
for (a blank in ``grades.csv``: not scored yet).

Failure reasons group by their text with numbers and addresses replaced (``cell 11, line 28``
and ``cell 12, line 30`` are one reason; ``at 0x7f3a...`` and ``at 0x55e1...`` too), so one
mistake made by forty students is one row with its count and an example student.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from dataclasses import dataclass, field

from labkit_course.grading.course import GradeCell
from labkit_course.grading.results import STATUSES, Record

__all__ = ["FailureGroup", "QuestionStats", "TestStats", "ClassStats", "failure_key",
           "class_stats"]

_ADDRESS = re.compile(r"\b0x[0-9a-fA-F]+\b")
_NUMBER = re.compile(r"(?<![A-Za-z_])[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
_SPACE = re.compile(r"\s+")


def failure_key(reason: str) -> str:
    """``reason`` with addresses as ``<address>``, numbers as ``#`` and runs of white space as one
    space: the text that failures of the same kind share."""
    text = _ADDRESS.sub("<address>", reason)
    text = _NUMBER.sub("#", text)
    return _SPACE.sub(" ", text).strip()


@dataclass
class FailureGroup:
    """Failures of one test that read the same once numbers and addresses are masked.

    Attributes:
        key: the masked text (:func:`failure_key`).
        count: how many students failed this test this way.
        example_student: the first of them by id.
        example: that student's reason, as the record has it.
    """

    key: str
    count: int
    example_student: str
    example: str


@dataclass
class QuestionStats:
    """One question (the sum of its cells, as in ``grades.csv``).

    Attributes:
        question: its name (``q2``).
        max_points: the points it is worth.
        kind: ``"test"`` (autograded), ``"manual"`` (free text) or ``"mixed"``.
        scored: students with a score for it (blank cells in grades.csv not counted).
        full_marks: of those, how many earned ``max_points``.
        mean: their mean points (None when nobody is scored).
    """

    question: str
    max_points: float
    kind: str
    scored: int
    full_marks: int
    mean: float | None


@dataclass
class TestStats:
    """One autograded test cell.

    Attributes:
        grade_id: the test cell's id.
        question: the question it counts for.
        points: its points.
        run: students with a score for it.
        passed: of those, how many earned all its points.
        failures: why the others failed, commonest first (ties: by text).
    """

    grade_id: str
    question: str
    points: float
    run: int
    passed: int
    failures: list[FailureGroup] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return self.run - self.passed


@dataclass
class ClassStats:
    """Everything the class report shows (module docstring)."""

    students: int
    submitted: int
    max_total: float
    statuses: dict[str, int]
    totals: dict[str, float]  # submitted student -> total
    questions: list[QuestionStats]
    tests: list[TestStats]
    median_seconds: float | None
    timed: int  # submissions with a grading time

    def histogram(self, bins: int = 10) -> list[tuple[float, float, int]]:
        """``(low, high, count)`` for ``bins`` equal bins from 0 to ``max_total``; each bin
        holds totals ``low <= t < high``, the last one ``max_total`` too."""
        top = self.max_total or 1.0
        width = top / bins
        counts = [0] * bins
        for t in self.totals.values():
            counts[min(max(int(t // width), 0), bins - 1)] += 1
        return [(i * width, (i + 1) * width, n) for i, n in enumerate(counts)]


def _question_kind(cells: list[GradeCell]) -> str:
    kinds = {c.kind for c in cells}
    return kinds.pop() if len(kinds) == 1 else "mixed"


def _failure_groups(records: list[Record], grade_id: str, points: float) -> list[FailureGroup]:
    groups: dict[str, list[tuple[str, str]]] = {}
    for r in sorted(records, key=lambda r: r.student):
        score = r.scores.get(grade_id)
        if score is None or score >= points:
            continue
        reason = r.failures.get(grade_id) or f"no reason recorded (status {r.status})"
        groups.setdefault(failure_key(reason), []).append((r.student, reason))
    out = [FailureGroup(k, len(v), v[0][0], v[0][1]) for k, v in groups.items()]
    return sorted(out, key=lambda g: (-g.count, g.key))


def class_stats(records: dict[str, Record], cells: list[GradeCell]) -> ClassStats:
    """Count :class:`ClassStats` over ``records`` (student -> Record, the rows of
    ``grades.csv``) for the assignment's graded ``cells`` (notebook order)."""
    submitted = [r for r in records.values() if r.status != "missing"]
    statuses = Counter(r.status for r in records.values())
    by_question: dict[str, list[GradeCell]] = {}
    for c in cells:
        by_question.setdefault(c.question, []).append(c)
    questions = []
    for q, qcells in by_question.items():
        top = sum(c.points for c in qcells)
        got = []
        for r in submitted:
            vals = [r.scores.get(c.grade_id) for c in qcells]
            if any(v is not None for v in vals):
                got.append(sum(v or 0.0 for v in vals))
        questions.append(QuestionStats(q, top, _question_kind(qcells), len(got),
                                       sum(1 for g in got if g >= top),
                                       statistics.fmean(got) if got else None))
    tests = []
    for c in cells:
        if c.kind != "test":
            continue
        run = [r for r in submitted if r.scores.get(c.grade_id) is not None]
        passed = sum(1 for r in run if r.scores[c.grade_id] >= c.points)
        tests.append(TestStats(c.grade_id, c.question, c.points, len(run), passed,
                               _failure_groups(run, c.grade_id, c.points)))
    seconds = [r.seconds for r in submitted if r.seconds > 0]
    order = {s: i for i, s in enumerate(STATUSES)}
    return ClassStats(
        students=len(records), submitted=len(submitted),
        max_total=float(sum(c.points for c in cells)),
        statuses=dict(sorted(statuses.items(), key=lambda kv: (order.get(kv[0], 99), kv[0]))),
        totals={r.student: r.total for r in submitted},
        questions=questions, tests=tests,
        median_seconds=statistics.median(seconds) if seconds else None, timed=len(seconds))

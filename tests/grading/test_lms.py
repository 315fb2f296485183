"""Grades into the LMS (labkit_course.grading.roster, .lms, .rostered): rosters exported from
Canvas and Moodle, matching graded students to their rows, and the import files, checked
against the rules each LMS's importer applies (canvas-lms lib/gradebook_importer.rb; Moodle
grade/import/csv/classes/load_data.php)."""

from __future__ import annotations

import csv
import json
import os
import re
import sys
from dataclasses import asdict
from pathlib import Path

import pytest
from traitlets.config import Config

from labkit_course.cli import main as cli_main
from labkit_course.grading.course import GradeCell, GradingError, Master
from labkit_course.grading.lms import write_export
from labkit_course.grading.results import Record
from labkit_course.grading.roster import canvas_identity_count, match_roster, read_roster
from labkit_course.grading.rostered import finish_with_roster

CANVAS_EXPORT = """\
Student,ID,SIS User ID,SIS Login ID,Section,Lab 1 Pruning (12001),Homework 2 (12002),Current Score,Unposted Current Score,Final Score
    Points Possible,,,,,17,20,(read only),(read only),(read only)
"Doe, Jane",5001,S1,jdoe,6.5940 L01,,,0,0,0
"Roe, Rick",5002,S2,rroe,6.5940 L01,,,0,0,0
"Poe, Ann",5003,S3,apoe,6.5940 L02,,,0,0,0
"Student, Test",5099,,,6.5940 L01,,,0,0,0
"""

MOODLE_EXPORT = """\
First name,Last name,ID number,Institution,Department,Email address,Assignment: Lab 1 (Real),Course total (Real),Last downloaded from this course
Jane,Doe,900001,MIT,EECS,jdoe@mit.edu,-,-,1764700000
Rick,Roe,900002,MIT,EECS,rroe@mit.edu,-,-,1764700000
Ann,Poe,900003,MIT,EECS,apoe@mit.edu,-,-,1764700000
"""


def _canvas_reads(header: list[str]) -> bool:
    """Canvas's header rule, written from its importer independently of labkit's reader: the
    first column names Student, the second ID, and the identity part (3 columns, one more
    for SIS Login ID, two more for SIS User ID + SIS Login ID) ends with Section."""
    if len(header) <= 3 or "Student" not in header[0] or "ID" not in header[1]:
        return False
    n = 3
    if "SIS Login ID" in header[2]:
        n = 4
    elif "SIS User ID" in header[2] and "SIS Login ID" in header[3]:
        n = 5
    return "Section" in header[n - 1]


@pytest.fixture
def master(tmp_path: Path) -> Master:
    cells = [GradeCell("q1_answer", "manual", 5.0, "q1", ""),
             GradeCell("q2_test_a", "test", 4.0, "q2", ""),
             GradeCell("q2_test_b", "test", 8.0, "q2", "")]
    return Master(tmp_path / "course", "lab1", "lab1", Config(), cells, None, "0" * 64)


def _rec(student: str, file: str, manual: float | None, tests=(4.0, 8.0), status="graded") -> Record:
    failures = {"q2_test_b": "AssertionError"} if tests[1] == 0 else {}
    return Record(student, status, {"q1_answer": manual, "q2_test_a": tests[0], "q2_test_b": tests[1]},
                  {"q1_answer": 5.0, "q2_test_a": 4.0, "q2_test_b": 8.0}, failures=failures,
                  source_file=f"/subs/{file}")


@pytest.fixture
def canvas(tmp_path: Path) -> Path:
    path = tmp_path / "canvas_export.csv"
    path.write_text(CANVAS_EXPORT)
    return path


@pytest.fixture
def moodle(tmp_path: Path) -> Path:
    path = tmp_path / "moodle_export.csv"
    path.write_text(MOODLE_EXPORT)
    return path


def _canvas_records() -> dict[str, Record]:
    recs = [_rec("doejane_5001_900123", "doejane_5001_900123_lab1.ipynb", 4.0),  # complete: 16
            _rec("roerick_late_5002_900124", "roerick_late_5002_900124_lab1.ipynb", None),
            _rec("nobody_7777_1", "nobody_7777_1_lab1.ipynb", 5.0)]
    return {r.student: r for r in recs}


def _read(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def test_canvas_header_rule_refuses_what_canvas_refuses():
    assert canvas_identity_count(["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Lab (1)"]) == 5
    assert canvas_identity_count(["Student", "ID", "SIS Login ID", "Section", "Lab (1)"]) == 4
    assert canvas_identity_count(["Student", "ID", "Section", "Lab (1)"]) == 3
    # the identity part must end with Section, else Canvas says "Invalid header row"
    assert canvas_identity_count(["Student", "ID", "SIS User ID", "SIS Login ID", "Lab (1)"]) is None
    assert canvas_identity_count(["Name", "ID", "Section", "Lab (1)"]) is None


def test_a_canvas_export_is_read_with_its_identity_columns_and_points(canvas):
    roster = read_roster(canvas)
    assert roster.kind == "canvas"
    assert roster.identity == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
    assert [r["ID"] for r in roster.rows] == ["5001", "5002", "5003", "5099"]  # no Points Possible row
    assert roster.points_possible["Lab 1 Pruning (12001)"] == "17"
    assert roster.candidates() == ["Lab 1 Pruning (12001)", "Homework 2 (12002)"]  # no Current Score


def test_the_assignment_column_is_picked_or_the_candidates_are_listed(canvas):
    roster = read_roster(canvas)
    with pytest.raises(GradingError) as err:
        roster.assignment_column(None)
    assert "'Lab 1 Pruning (12001)'" in str(err.value) and "'Homework 2 (12002)'" in str(err.value)
    assert roster.assignment_column("Lab 1") == "Lab 1 Pruning (12001)"
    assert roster.assignment_column("Homework 2 (12002)") == "Homework 2 (12002)"
    with pytest.raises(GradingError, match="names no column"):
        roster.assignment_column("Lab 9")


def test_canvas_download_names_match_through_the_roster(canvas):
    roster = read_roster(canvas)
    m = match_roster(roster, _canvas_records())
    assert m.rows == {0: ("doejane_5001_900123", "number in file name"),
                      1: ("roerick_late_5002_900124", "number in file name")}
    assert list(m.unmatched) == ["nobody_7777_1"]
    assert m.missing == [2, 3]  # Ann Poe and the test student have no file


def test_an_id_pattern_that_takes_the_user_id_matches_by_id(canvas):
    roster = read_roster(canvas)
    recs = {"5001": _rec("5001", "doejane_5001_900123_lab1.ipynb", 4.0),
            "jdoe-x": _rec("rroe", "weird.ipynb", 4.0)}
    recs["rroe"] = recs.pop("jdoe-x")
    m = match_roster(roster, recs)
    assert m.rows[0] == ("5001", "id") and m.rows[1] == ("rroe", "id")  # ID and SIS Login ID


def test_two_files_for_one_row_and_a_number_that_contradicts_the_name_match_nothing(canvas):
    roster = read_roster(canvas)
    recs = {"a": _rec("a", "doejane_5001_1_lab1.ipynb", 4.0),
            "b": _rec("b", "doejane_2_3_lab1.ipynb", 4.0),  # by name: Jane too
            "c": _rec("c", "poeann_5002_4_lab1.ipynb", 4.0)}  # Rick's id, Ann's name
    m = match_roster(roster, recs)
    assert set(m.unmatched) == {"a", "b", "c"}
    assert "matched by b too" in m.unmatched["a"]
    assert "'Roe, Rick'" in m.unmatched["c"] and "'Poe, Ann'" in m.unmatched["c"]
    assert 0 in m.missing  # Jane's row is not given to either


def test_the_canvas_file_follows_canvas_import_rules(canvas, master, tmp_path):
    roster = read_roster(canvas)
    recs = _canvas_records()
    m = match_roster(roster, recs)
    e = write_export("canvas", roster, m, recs, master, tmp_path, column="Lab 1")
    rows = _read(e.path)
    header = rows[0]
    assert _canvas_reads(header)
    assert header == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Lab 1 Pruning (12001)"]
    assert re.fullmatch(r".*\s\(\d+\)", header[-1])  # binds to the existing assignment 12001
    assert rows[1][0] == "Points Possible" and rows[1][-1] == "17"
    by_id = {r[1]: r for r in rows[2:]}
    assert set(by_id) == {"5001", "5002", "5003", "5099"}  # every row of the export, none added
    assert by_id["5001"] == ["Doe, Jane", "5001", "S1", "jdoe", "6.5940 L01", "16"]
    assert by_id["5002"][-1] == ""  # free text not scored yet: blank, Canvas keeps the grade
    assert by_id["5003"][-1] == "" and by_id["5099"][-1] == ""
    assert e.graded == 1 and e.incomplete == ["roerick_late_5002_900124"]
    assert e.notes == []  # Canvas's points possible and the lab's agree


def test_canvas_points_possible_that_differ_from_the_lab_are_named(canvas, master, tmp_path):
    text = canvas.read_text().replace(",17,20,", ",100,20,")
    canvas.write_text(text)
    roster = read_roster(canvas)
    e = write_export("canvas", roster, match_roster(roster, {}), {}, master, tmp_path, column="Lab 1")
    assert any("worth 100 points, the lab 17" in n for n in e.notes)


def test_the_moodle_file_follows_moodle_import_rules(moodle, master, tmp_path):
    roster = read_roster(moodle)
    assert roster.kind == "moodle" and roster.assignment_column(None) == "Assignment: Lab 1 (Real)"
    recs = {"Jane-Doe_31_assignsubmission_file": _rec("Jane-Doe_31_assignsubmission_file",
                                                      "Jane Doe_31_assignsubmission_file_lab1.ipynb", 5.0,
                                                      tests=(4.0, 0.0)),
            "Rick-Roe_32_assignsubmission_file": _rec("Rick-Roe_32_assignsubmission_file",
                                                      "Rick Roe_32_assignsubmission_file_lab1.ipynb", None)}
    m = match_roster(roster, recs)
    assert {i: rule for i, (_, rule) in m.rows.items()} == {0: "name in file name", 1: "name in file name"}
    e = write_export("moodle", roster, m, recs, master, tmp_path)
    rows = _read(e.path)
    assert rows[0] == ["ID number", "Assignment: Lab 1 (Real)", "Assignment: Lab 1 (Feedback)"]
    known = {r["ID number"] for r in roster.rows}
    assert all(r[0] in known for r in rows[1:])  # Moodle stops the import at an unknown user
    grades = {r[0]: r[1] for r in rows[1:]}
    assert grades == {"900001": "9", "900002": "-", "900003": "-"}  # '-' = no grade
    feedback = {r[0]: r[2] for r in rows[1:]}
    assert feedback["900001"].startswith("9/17: autograded 4/12, free text 5/5, 1 test failed")
    assert "not scored yet" in feedback["900002"] and feedback["900003"] == "no submission was found"


def test_an_export_for_the_wrong_lms_is_refused(moodle, master, tmp_path):
    roster = read_roster(moodle)
    with pytest.raises(GradingError, match="reads as a moodle roster"):
        write_export("canvas", roster, match_roster(roster, {}), {}, master, tmp_path)


def test_finishing_with_a_roster_lists_every_row_and_adds_missing_rows(canvas, master, tmp_path,
                                                                       monkeypatch):
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")  # alembic
    out = tmp_path / "out"
    (out / "results").mkdir(parents=True)
    (out / "feedback").mkdir()
    master.root.mkdir()
    for rec in _canvas_records().values():
        (out / "results" / f"{rec.student}.json").write_text(json.dumps(asdict(rec)))
        (out / "feedback" / f"{rec.student}.html").write_text("page")
    result = finish_with_roster(master, out, read_roster(canvas), export="canvas", column="Lab 1")
    grades = {r["student"]: r["status"] for r in csv.DictReader(open(out / "grades.csv"))}
    assert grades["apoe"] == "missing" and grades["5099"] == "missing"  # SIS login, else Canvas ID
    assert grades["nobody_7777_1"] == "graded"  # kept in grades.csv, listed as not on the roster
    matching = list(csv.DictReader(open(result.matching_file)))
    assert [r["matched_by"] for r in matching[:4]] == ["number in file name", "number in file name",
                                                       "no submission", "no submission"]
    assert matching[4]["student"] == "nobody_7777_1" and matching[4]["matched_by"].startswith("not on the roster")
    assert (out / "canvas.csv").is_file()


def test_export_without_an_lms_roster_stops_before_grading(tmp_path, canvas, capsys):
    plain = tmp_path / "plain.csv"
    plain.write_text("student\nalice\n")
    assert cli_main(["grade", str(tmp_path), "--export", "canvas", "--out", str(tmp_path / "o")]) == 2
    assert "needs --roster" in capsys.readouterr().err
    assert cli_main(["grade", str(tmp_path), "--export", "canvas", "--roster", str(plain),
                     "--out", str(tmp_path / "o")]) == 2
    assert "reads as a plain roster" in capsys.readouterr().err
    assert cli_main(["grade", str(tmp_path), "--export", "canvas", "--roster", str(canvas),
                     "--out", str(tmp_path / "o")]) == 2
    assert "--assignment-column" in capsys.readouterr().err  # two assignment columns
    assert not (tmp_path / "o").exists()


TOY = Path(__file__).parent / "fixtures" / "toy"


def test_the_command_exports_once_free_text_is_scored(tmp_path, monkeypatch, capsys):
    """The TA's path: grade, export (the free text not scored yet: no grade), import the
    free-text scores with the same roster and export, and the grade is there."""
    from labkit_course.grading.course import prepare_master
    from labkit_course.grading.publish import publish_records

    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")  # alembic
    out = tmp_path / "out"
    master = prepare_master(TOY, "toy", out, force=False)
    scores = {"q1_answer": None, "q2_test": 2.0, "q3_test": 0.0}
    recs = [Record("doejane_5001_77_toy", "graded", dict(scores), {c.grade_id: c.points for c in master.cells},
                   answers={"q1_answer": "smaller weights matter less"},
                   source_file=str(tmp_path / "doejane_5001_77_toy.ipynb"))]
    publish_records(master, recs, out)
    export = tmp_path / "canvas_export.csv"
    export.write_text("Student,ID,SIS User ID,SIS Login ID,Section,Toy (31)\n"
                      "    Points Possible,,,,,10\n\"Doe, Jane\",5001,S1,jdoe,L01,\n\"Poe, Ann\",5003,S3,apoe,L01,\n")
    common = ["--roster", str(export), "--export", "canvas", "--out", str(out), "--course", str(TOY),
              "--assignment", "toy"]
    assert cli_main(["grade", *common]) == 0
    said = capsys.readouterr().out
    assert "1 student(s) still lack free-text scores" in said and "apoe (Poe, Ann)" in said
    assert [r[-1] for r in _read(out / "canvas.csv")[2:]] == ["", ""]
    sheet = tmp_path / "scores.csv"
    sheet.write_text("student,grade_id,score\ndoejane_5001_77_toy,q1_answer,4\n")
    assert cli_main(["grade", "--import-manual", str(sheet), *common]) == 0
    assert [r[-1] for r in _read(out / "canvas.csv")[2:]] == ["6", ""]  # 2 + 0 + 4; Ann: unchanged

"""Late work (labkit_course.grading.late, .rostered): submission times, due times with
extensions, late_by across a DST change, the penalty, and the columns of grades.csv."""

from __future__ import annotations

import csv
import json
import os
import sys
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

import pytest
from traitlets.config import Config

from labkit_course.grading.course import GradeCell, GradingError, Master
from labkit_course.grading.late import LatePolicy, file_time, parse_due, parse_penalty, parse_time
from labkit_course.grading.publish import finish_outputs, stamp_time
from labkit_course.grading.results import Record
from labkit_course.grading.roster import read_roster
from labkit_course.grading.rostered import LateOptions, finish_with_roster

# 2026-03-08 02:00 America/New_York: clocks go from EST (-05:00) to EDT (-04:00)
DUE = "2026-03-07T12:00 America/New_York"


def _utc(text: str) -> str:
    return datetime.fromisoformat(text).astimezone(timezone.utc).isoformat()


def _rec(student: str, at: str = "", total: float = 10.0, source: str = "mtime") -> Record:
    return Record(student, "graded", {"q2_t": total}, {"q2_t": 10.0}, source_file=f"/subs/{student}.ipynb",
                  submitted_at=_utc(at) if at else "", submitted_from=source if at else "")


def _policy(**kw) -> LatePolicy:
    due, zone = parse_due(DUE)
    return LatePolicy(due.astimezone(timezone.utc).isoformat(), zone, **kw)


def test_late_by_is_real_time_across_a_dst_change():
    # noon to noon on the wall clock, but the night of the change is an hour short
    rec = _rec("a", "2026-03-08T12:00-04:00")
    assert _policy().late_hours(rec) == pytest.approx(23.0)
    assert _policy().late_hours(_rec("b", "2026-03-07T11:59-05:00")) == 0.0  # on time: 0
    assert _policy().late_hours(_rec("c")) is None  # no time known


def test_a_due_without_zone_is_refused_and_a_zone_name_is_kept():
    with pytest.raises(GradingError, match="no time zone"):
        parse_due("2026-03-07T12:00")
    t, zone = parse_due(DUE)
    assert zone == "America/New_York" and t.utcoffset().total_seconds() == -5 * 3600
    assert parse_due("2026-03-07T12:00-05:00")[1] == "-05:00"
    # Moodle's grading worksheet writes times like this, in the course's zone
    assert parse_time("Sunday, 8 March 2026, 1:00 PM", t.tzinfo).utcoffset().total_seconds() == -4 * 3600


def test_an_extension_and_a_per_student_due_move_that_student_only(tmp_path, master, monkeypatch):
    out = _out(tmp_path, master, monkeypatch, [_rec("ann", "2026-03-08T12:00-04:00"),
                                               _rec("ben", "2026-03-08T13:00-04:00"),
                                               _rec("cid", "2026-03-08T12:00-04:00")])
    roster = tmp_path / "roster.csv"
    # ann: 48 hours more; ben: due Sunday noon on the clock (EDT, after the change)
    roster.write_text("student,extension_hours,due\nann,48,\nben,,2026-03-08T12:00\ncid,,\n")
    finish_with_roster(master, out, read_roster(roster), late=LateOptions(due=DUE))
    rows = {r["student"]: r for r in csv.DictReader(open(out / "grades.csv"))}
    assert rows["ann"]["late_by_hours"] == "0"
    assert rows["ben"]["late_by_hours"] == "1"
    assert rows["cid"]["late_by_hours"] == "23"
    assert rows["cid"]["submitted_at"] == "2026-03-08T12:00:00-04:00"  # shown in the due's zone
    assert rows["cid"]["submitted_from"] == "mtime"


def test_the_penalty_counts_started_days_and_never_passes_the_total():
    assert parse_penalty("10%/day") == (0.10, 24.0)
    with pytest.raises(GradingError, match="P%/day"):
        parse_penalty("10 points")
    p = _policy(penalty="10%/day")
    assert p.penalty_points(_rec("a", "2026-03-08T12:00-04:00")) == pytest.approx(1.0)  # 23 h: 1 day
    assert p.penalty_points(_rec("b", "2026-03-08T14:00-04:00")) == pytest.approx(2.0)  # 25 h: 2 days
    assert p.penalty_points(_rec("c", "2026-03-07T11:00-05:00")) == 0.0
    all_of_it = _policy(penalty="100%/hour")
    assert all_of_it.penalty_points(_rec("d", "2026-03-08T12:00-04:00", total=7.0)) == 7.0


def test_file_time_reads_gradescope_metadata_else_says_mtime(tmp_path):
    nb = tmp_path / "submission" / "lab1.ipynb"
    nb.parent.mkdir()
    nb.write_text("{}")
    os.utime(nb, (1_700_000_000, 1_700_000_000))
    assert file_time(nb) == (datetime.fromtimestamp(1_700_000_000, timezone.utc).isoformat(), "mtime")
    (tmp_path / "submission_metadata.json").write_text(json.dumps(
        {"created_at": "2026-03-07T09:30:00.000000-08:00", "users": [{"email": "a@x.edu"}]}))
    assert file_time(nb) == ("2026-03-07T17:30:00+00:00", "gradescope")


def test_a_notebook_extracted_from_a_zip_gets_no_mtime(tmp_path, master):
    inner = master.root / "downloaded" / "export" / "a.ipynb"
    inner.parent.mkdir(parents=True)
    inner.write_text("{}")
    rec = Record("a", "graded", source_file=str(inner))
    stamp_time(master, rec)
    assert rec.submitted_at == "" and rec.submitted_from == ""
    plain = tmp_path / "b.ipynb"
    plain.write_text("{}")
    rec = Record("b", "graded", source_file=str(plain))
    stamp_time(master, rec)
    assert rec.submitted_from == "mtime" and rec.submitted_at


@pytest.fixture
def master(tmp_path: Path) -> Master:
    root = tmp_path / "course"
    root.mkdir()
    return Master(root, "lab1", "lab1", Config(), [GradeCell("q2_t", "test", 10.0, "q2", "")], None, "0" * 64)


def _out(tmp_path: Path, master: Master, monkeypatch, recs: list[Record]) -> Path:
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")  # alembic
    out = tmp_path / "out"
    (out / "results").mkdir(parents=True)
    (out / "feedback").mkdir()
    for rec in recs:
        (out / "results" / f"{rec.student}.json").write_text(json.dumps(asdict(rec)))
        (out / "feedback" / f"{rec.student}.html").write_text("page")
    return out


def test_the_policy_is_kept_for_later_commands_and_off_removes_it(tmp_path, master, monkeypatch):
    out = _out(tmp_path, master, monkeypatch, [_rec("ann", "2026-03-08T12:00-04:00")])
    finish_with_roster(master, out, None, late=LateOptions(due=DUE, penalty="10%/day"))
    finish_outputs(master, out)  # e.g. --import-manual later, without --due
    rows = list(csv.DictReader(open(out / "grades.csv")))
    assert list(rows[0])[-4:] == ["submitted_at", "submitted_from", "late_by_hours", "late_penalty"]
    assert rows[0]["late_by_hours"] == "23" and rows[0]["late_penalty"] == "1"
    assert rows[0]["total"] == "10"  # the total as graded; the penalty is its own column
    finish_with_roster(master, out, None, late=LateOptions(due="off"))
    assert "late_by_hours" not in next(csv.reader(open(out / "grades.csv")))
    with pytest.raises(GradingError, match="need --due"):
        finish_with_roster(master, out, None, late=LateOptions(penalty="10%/day"))


def test_lms_submission_times_override_the_file_and_say_lms(tmp_path, master, monkeypatch):
    out = _out(tmp_path, master, monkeypatch, [_rec("Jane-Doe_31_assignsubmission_file", "2026-03-01T00:00Z")])
    times = tmp_path / "worksheet.csv"  # Moodle's grading worksheet
    times.write_text("Identifier,Full name,First name,Last name,Email address,Status,Last modified (submission)\n"
                     "Participant 31,Jane Doe,Jane,Doe,jdoe@x.edu,Submitted,\"Sunday, 8 March 2026, 1:00 PM\"\n")
    finish_with_roster(master, out, None, late=LateOptions(due=DUE, times=times))
    row = next(csv.DictReader(open(out / "grades.csv")))
    assert row["submitted_from"] == "lms" and row["submitted_at"] == "2026-03-08T13:00:00-04:00"
    assert row["late_by_hours"] == "24"


def test_the_lms_export_holds_the_total_after_the_penalty(tmp_path, master, monkeypatch):
    out = _out(tmp_path, master, monkeypatch, [_rec("5001", "2026-03-08T14:00-04:00", total=8.0)])
    export = tmp_path / "moodle.csv"
    export.write_text("First name,Last name,ID number,Email address,Assignment: Lab 1 (Real)\n"
                      "Jane,Doe,5001,jdoe@x.edu,-\n")
    finish_with_roster(master, out, read_roster(export), export="moodle",
                       late=LateOptions(due=DUE, penalty="10%/day"))
    rows = list(csv.reader(open(out / "moodle.csv")))
    assert rows[1][:2] == ["5001", "6.4"]  # 8 - 2 days x 10%
    assert "late by 25.0 h: -1.6 points (10%/day)" in rows[1][2]


def test_the_command_gives_grades_csv_the_late_columns(tmp_path, monkeypatch, capsys):
    from labkit_course.cli import main as cli_main
    from labkit_course.grading.course import prepare_master
    from labkit_course.grading.publish import publish_records

    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")  # alembic
    toy = Path(__file__).parent / "fixtures" / "toy"
    out = tmp_path / "out"
    master = prepare_master(toy, "toy", out, force=False)
    nb = tmp_path / "ann.ipynb"
    nb.write_text("{}")
    sunday_noon = datetime.fromisoformat("2026-03-08T12:00-04:00").timestamp()
    os.utime(nb, (sunday_noon, sunday_noon))
    publish_records(master, [Record("ann", "graded", {"q1_answer": None, "q2_test": 2.0, "q3_test": 3.0},
                                    {c.grade_id: c.points for c in master.cells}, source_file=str(nb))], out)
    common = ["--out", str(out), "--course", str(toy), "--assignment", "toy"]
    assert cli_main(["grade", "--due", DUE, "--late-penalty", "10%/day", *common]) == 0
    assert "1 submission(s) late" in capsys.readouterr().out
    row = next(csv.DictReader(open(out / "grades.csv")))
    assert (row["submitted_from"], row["late_by_hours"], row["late_penalty"]) == ("mtime", "23", "0.5")
    assert cli_main(["grade", "--due", "off", *common]) == 0
    assert "late_by_hours" not in next(csv.reader(open(out / "grades.csv")))

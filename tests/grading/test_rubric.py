"""Rubric grading of the free-text answers (labkit_course.grading.rubric and the sheet that
applies it): the rubric file and its audit, importing item ids and comments, re-scoring after
an item's points change, the student's page, and the stable grading order."""

from __future__ import annotations

import csv
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import nbformat
import pytest
from traitlets.config import Config

from labkit_course.grading.course import GradeCell, GradingError, Master
from labkit_course.grading.feedback import render_feedback
from labkit_course.grading.manual import (apply_grade, grader_shares, grading_order, load_sheet_options,
                                         pseudonyms, read_manual_scores, rescore, save_sheet_options,
                                         write_manual_sheet)
from labkit_course.grading.results import Record
from labkit_course.grading.rubric import RUBRIC_FILE, RubricError, load_rubric, rubric_problems

REPO = Path(__file__).resolve().parents[2]
RUBRIC = """
[[q1_answer]]
id = "a"
points = 2
comment = "Centred at <zero>."
[[q1_answer]]
id = "b"
points = 3
comment = "Most weights are small."
"""


@pytest.fixture
def master(tmp_path: Path) -> Master:
    (tmp_path / RUBRIC_FILE).write_text(RUBRIC)
    cells = [GradeCell("q1_answer", "manual", 5.0, "q1", "YOUR ANSWER HERE"),
             GradeCell("q2_test", "test", 2.0, "q2", "assert True"),
             GradeCell("q4_answer", "manual", 15.0, "q4", "YOUR ANSWER HERE")]
    return Master(tmp_path, "toy", "toy", Config(), cells, None, "0" * 64,
                  load_rubric(tmp_path / RUBRIC_FILE))


@pytest.fixture
def records() -> dict[str, Record]:
    def rec(student: str) -> Record:
        return Record(student, "graded", {"q1_answer": None, "q2_test": 2.0, "q4_answer": None},
                      {"q1_answer": 5.0, "q2_test": 2.0, "q4_answer": 15.0},
                      answers={"q1_answer": f"{student}'s answer", "q4_answer": "fewer MACs"},
                      cells=[{"kind": "manual", "grade_id": "q1_answer", "source": f"{student}'s answer",
                              "error": ""}])
    return {s: rec(s) for s in ("amy", "bob", "cho")}


def _sheet(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_lab1_rubric_adds_up_to_each_free_text_question():
    nb = nbformat.read(REPO / "notebooks/source/lab1/lab1.ipynb", as_version=4)
    manual = {m["grade_id"]: float(m["points"]) for c in nb.cells
              if (m := c.metadata.get("nbgrader", {})).get("grade") and m.get("solution")}
    rubric = load_rubric(REPO / "notebooks/source/lab1" / RUBRIC_FILE)
    assert set(rubric.questions) == set(manual) == {"q1_answer", "q4_answer", "q8_answer", "q9_answer"}
    assert rubric_problems(rubric, manual) == []


def test_the_audit_names_each_rubric_problem(tmp_path):
    path = _sheet(tmp_path / RUBRIC_FILE, RUBRIC + '[[q1_answer]]\nid = "a"\npoints = 1\ncomment = ""\n'
                  '[[q7_answer]]\nid = "a"\npoints = 1\ncomment = ""\n')
    problems = rubric_problems(load_rubric(path), {"q1_answer": 5.0})
    assert problems == ["q1_answer: item id 'a' used twice",
                        "q1_answer: items add up to 6 points, the question has 5",
                        "q7_answer: not a free-text answer of the notebook (one of ['q1_answer'])"]


def test_a_malformed_rubric_says_what_an_item_needs(tmp_path):
    path = _sheet(tmp_path / RUBRIC_FILE, '[[q1_answer]]\nid = "a"\npoints = "two"\ncomment = ""\n')
    with pytest.raises(RubricError, match="needs id .text., points .a number. and comment"):
        load_rubric(path)


def test_item_ids_and_comments_are_imported_and_scored_from_the_rubric(master, records, tmp_path):
    sheet = _sheet(tmp_path / "s.csv", "student,grade_id,items,comment,score\n"
                   "amy,q1_answer,a;b,Well argued.,\n"
                   "bob,q1_answer,b,,\n"
                   "cho,q1_answer,none,Read section 2 again.,\n"
                   "amy,q4_answer,,,12\n")
    grades = read_manual_scores([sheet], master, set(records))
    assert {k: (g.score, g.items, g.comment) for k, g in grades.items()} == {
        ("amy", "q1_answer"): (5.0, ["a", "b"], "Well argued."),
        ("bob", "q1_answer"): (3.0, ["b"], ""),
        ("cho", "q1_answer"): (0.0, [], "Read section 2 again."),
        ("amy", "q4_answer"): (12.0, [], "")}


def test_bad_rows_in_all_sheets_are_listed_with_file_and_line_and_nothing_imported(master, records, tmp_path):
    one = _sheet(tmp_path / "manual-1.csv", "student,grade_id,items,score\n"
                 "amy,q1_answer,a,\n"          # fine, but not imported
                 "bob,q1_answer,z,\n"          # unknown item
                 "cho,q1_answer,a;b;a,\n"      # an item twice
                 "zed,q1_answer,a,\n"          # unknown student
                 "amy,q9_answer,a,\n"          # unknown question
                 "bob,q4_answer,,16\n")        # over the points
    two = _sheet(tmp_path / "manual-2.csv", "student,grade_id,items,score\n"
                 "amy,q1_answer,b,\n"          # amy's q1 again, in another sheet
                 "cho,q1_answer,,4\n")         # a score where the rubric wants items
    with pytest.raises(GradingError) as e:
        read_manual_scores([one, two], master, set(records))
    lines = str(e.value).splitlines()
    assert lines[0] == "nothing imported, fix these rows:"
    assert [line.split(": ", 1)[0].strip() for line in lines[1:]] == [
        f"{one}:{n}" for n in (3, 4, 5, 6, 7)] + [f"{two}:{n}" for n in (2, 3)]
    text = str(e.value)
    for part in ("unknown rubric item(s) 'z' for q1_answer (one of a, b)", "'a' applied twice",
                 "unknown student 'zed'", "'q9_answer' is not a free-text question",
                 "score '16' must be a number in [0, 15]", f"graded twice ({one}:2 and {two}:2)",
                 "q1_answer has a rubric: write its item ids in 'items'"):
        assert part in text, text


def test_items_over_the_question_points_are_refused(master, records, tmp_path):
    master.rubric.questions["q1_answer"].append(replace(master.rubric.questions["q1_answer"][0], id="c"))
    sheet = _sheet(tmp_path / "s.csv", "student,grade_id,items\namy,q1_answer,a;b;c\n")
    with pytest.raises(GradingError, match="worth 7 points, over the 5 of q1_answer"):
        read_manual_scores([sheet], master, set(records))


def test_changing_an_items_points_rescores_everyone_who_got_it(master, records, tmp_path):
    sheet = _sheet(tmp_path / "s.csv", "student,grade_id,items\namy,q1_answer,a;b\nbob,q1_answer,b\n"
                   "cho,q1_answer,a\n")
    for (student, gid), grade in read_manual_scores([sheet], master, set(records)).items():
        apply_grade(records[student], gid, grade)
    assert [records[s].scores["q1_answer"] for s in ("amy", "bob", "cho")] == [5.0, 3.0, 2.0]
    (tmp_path / RUBRIC_FILE).write_text(RUBRIC.replace("points = 2", "points = 1").replace(
        "points = 3", "points = 4"))
    master.rubric = load_rubric(tmp_path / RUBRIC_FILE)
    changed = {s for s, r in records.items() if rescore(r, master)}
    assert changed == {"bob", "cho"}  # amy's a + b still add up to 5
    assert [records[s].scores["q1_answer"] for s in ("amy", "bob", "cho")] == [5.0, 4.0, 1.0]
    assert records["bob"].manual["q1_answer"]["items"] == ["b"]  # ids stored, points derived


def test_an_item_removed_from_the_rubric_leaves_the_answer_to_grade_again(master, records, tmp_path):
    apply_grade(records["amy"], "q1_answer", read_manual_scores(
        [_sheet(tmp_path / "s.csv", "student,grade_id,items\namy,q1_answer,b\n")],
        master, set(records))[("amy", "q1_answer")])
    master.rubric.questions["q1_answer"] = [i for i in master.rubric.questions["q1_answer"] if i.id != "b"]
    assert rescore(records["amy"], master)
    assert records["amy"].scores["q1_answer"] is None
    assert any("'b'" in m and "grades it again" in m for m in records["amy"].messages)


def test_the_grading_order_is_shuffled_the_same_way_every_run():
    students = [f"s{i:03d}" for i in range(40)]
    q1 = grading_order("q1_answer", students)
    assert q1 == grading_order("q1_answer", list(reversed(students)))  # the same on every run
    assert sorted(q1) == students and q1 != students  # everyone, not alphabetical
    assert grading_order("q4_answer", students) != q1  # each question its own order


def test_the_sheet_shows_the_rubric_and_reads_back_what_was_imported(master, records, tmp_path):
    apply_grade(records["amy"], "q1_answer", read_manual_scores(
        [_sheet(tmp_path / "s.csv", "student,grade_id,items,comment\namy,q1_answer,a;b,Good.\n"
                                    "bob,q1_answer,none,\n")], master, set(records))[("amy", "q1_answer")])
    html_path, csv_path = write_manual_sheet(records, master, tmp_path)
    page = html_path.read_text()
    assert "Centred at &lt;zero&gt;." in page and "Most weights are small." in page
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    q1 = [r for r in rows if r["grade_id"] == "q1_answer"]
    assert [r["student"] for r in q1] == grading_order("q1_answer", list(records))
    amy = next(r for r in q1 if r["student"] == "amy")
    assert (amy["items"], amy["comment"], amy["score"]) == ("a;b", "Good.", "")
    assert set(read_manual_scores([csv_path], master, set(records))) == {("amy", "q1_answer")}


def test_the_feedback_page_shows_the_items_and_the_graders_comment(master, records, tmp_path):
    sheet = _sheet(tmp_path / "s.csv", "student,grade_id,items,comment\n"
                   "amy,q1_answer,a,\"Say why small weights matter: <b>not bold</b>\"\n")
    rec = records["amy"]
    apply_grade(rec, "q1_answer", read_manual_scores([sheet], master, set(records))[("amy", "q1_answer")])
    page = render_feedback(rec, master)
    assert "+2</b> Centred at &lt;zero&gt;." in page
    assert "Most weights are small." not in page  # an item not earned is not claimed
    assert "Say why small weights matter: &lt;b&gt;not bold&lt;/b&gt;" in page
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium:
        html_file, png = tmp_path / "amy.html", tmp_path / "amy.png"
        html_file.write_text(page)
        subprocess.run([chromium, "--headless", "--no-sandbox", f"--screenshot={png}",
                        "--window-size=1200,1600", html_file.as_uri()], capture_output=True, timeout=120)
        assert png.is_file() and png.stat().st_size > 1000


def test_graders_sheets_partition_the_class(master, tmp_path):
    students = [f"s{i:03d}" for i in range(23)]
    shares = grader_shares(students, 3)
    assert sorted(s for share in shares for s in share) == students  # each exactly once
    assert sorted(len(share) for share in shares) == [7, 8, 8]
    assert grader_shares(list(reversed(students)), 3) == shares  # the same split every run
    recs = {s: Record(s, "graded", {"q1_answer": None}, {"q1_answer": 5.0}, answers={"q1_answer": s})
            for s in students}
    save_sheet_options(tmp_path, 3, None)
    write_manual_sheet(recs, master, tmp_path)
    seen = []
    for k in (1, 2, 3):
        with open(tmp_path / f"manual-{k}.csv", newline="") as f:
            seen += [r["student"] for r in csv.DictReader(f) if r["grade_id"] == "q1_answer"]
        assert (tmp_path / f"manual-{k}.html").is_file()
    assert sorted(seen) == students
    save_sheet_options(tmp_path, 2, None)
    write_manual_sheet(recs, master, tmp_path)
    assert not (tmp_path / "manual-3.csv").exists()  # no stale sheet of a grader that left


def test_anonymous_sheets_hide_the_ids_and_import_back(master, records, tmp_path):
    options = save_sheet_options(tmp_path, None, True)
    assert load_sheet_options(tmp_path) == options
    names = pseudonyms(list(records), options)
    assert names == pseudonyms(list(records), load_sheet_options(tmp_path))  # stable
    assert len(set(names.values())) == 3 and not set(names.values()) & set(records)
    html_path, csv_path = write_manual_sheet(records, master, tmp_path)
    page = html_path.read_text()
    assert names["amy"] in page and ">amy<" not in page
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["student"] for r in rows} == set(names.values())
    sheet = _sheet(tmp_path / "s.csv", f"student,grade_id,items\n{names['bob']},q1_answer,b\n")
    aliases = {p: s for s, p in names.items()}
    assert read_manual_scores([sheet], master, set(records), aliases)[("bob", "q1_answer")].score == 3.0


def test_the_cli_grades_with_the_rubric_split_and_anonymous_and_rescores(tmp_path, capsys):
    from labkit_course.cli import main

    toy = tmp_path / "toy"
    shutil.copytree(REPO / "tests/grading/fixtures/toy", toy)
    (toy / "source/toy" / RUBRIC_FILE).write_text(RUBRIC)
    subs, out = tmp_path / "subs", tmp_path / "out"
    subs.mkdir()
    release = nbformat.read(toy / "source/toy/toy.ipynb", as_version=4)
    for student in ("amy", "bob", "cho"):
        nbformat.write(release, subs / f"{student}.ipynb")
    common = ["--out", str(out), "--course", str(toy), "--assignment", "toy"]
    assert main(["grade", str(subs), *common, "--quiet", "--graders", "2", "--anonymous"]) == 0
    assert (out / "manual-1.csv").is_file() and (out / "manual-2.csv").is_file()
    for k in (1, 2):  # each grader's page tells them to import their own sheet
        assert f"--import-manual manual-{k}.csv --out" in (out / f"manual-{k}.html").read_text()
    rows = []
    for k in (1, 2):
        with open(out / f"manual-{k}.csv", newline="") as f:
            rows += [dict(r, _file=out / f"manual-{k}.csv") for r in csv.DictReader(f)]
    assert len(rows) == 3 and not {"amy", "bob", "cho"} & {r["student"] for r in rows}
    for r in rows:
        r["items"], r["comment"] = "b", "<i>see me</i>"
    for k in (1, 2):
        mine = [r for r in rows if r["_file"] == out / f"manual-{k}.csv"]
        with open(out / f"manual-{k}.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=[c for c in rows[0] if c != "_file"], extrasaction="ignore")
            w.writeheader()
            w.writerows(mine)
    assert main(["grade", "--import-manual", str(out / "manual-1.csv"), str(out / "manual-2.csv"),
                 *common]) == 0
    with open(out / "grades.csv", newline="") as f:
        assert {r["student"]: r["q1"] for r in csv.DictReader(f)} == {"amy": "3", "bob": "3", "cho": "3"}
    page = (out / "feedback/amy.html").read_text()
    assert "Most weights are small." in page and "&lt;i&gt;see me&lt;/i&gt;" in page
    (toy / "source/toy" / RUBRIC_FILE).write_text(RUBRIC.replace("points = 2", "points = 1").replace(
        "points = 3", "points = 4"))
    assert main(["grade", str(subs), *common, "--quiet"]) == 0  # a re-run: nothing to regrade
    with open(out / "grades.csv", newline="") as f:
        assert {r["student"]: r["q1"] for r in csv.DictReader(f)} == {"amy": "4", "bob": "4", "cho": "4"}
    assert "+4</b> Most weights are small." in (out / "feedback/bob.html").read_text()

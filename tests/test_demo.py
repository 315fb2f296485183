"""`labkit demo` pieces: its sample submissions (labkit_course.samples, made from the course's source
notebook), its grade table and its notebook run (the whole demo is `make demo`)."""

import csv
import os

import nbformat

from labkit_course.demo import execute_notebook, print_grade_table
from labkit_course.grading.roster import canvas_identity_count, read_roster
from labkit_course.samples import SAMPLES, write_canvas_roster, write_samples
from labkit_course.source_notebook import default_course_dir, source_notebook_path


def test_samples_are_generated_from_the_source(tmp_path):
    paths = write_samples(tmp_path, "lab1")
    assert sorted(p.stem for p in paths) == ["alice", "bob", "carol", "dave", "erin"]
    notebooks = {p.stem: nbformat.read(p, 4) for p in paths}
    for nb in notebooks.values():
        nbformat.validate(nb)
    alice = "\n".join(c.source for c in notebooks["alice"].cells if c.cell_type == "code")
    carol = "\n".join(c.source for c in notebooks["carol"].cells if c.cell_type == "code")
    assert "raise NotImplementedError()" not in alice  # every answer filled in
    assert "raise NotImplementedError()" in carol  # the blank release
    assert "torch.ge(importance, threshold)" in "\n".join(c.source for c in notebooks["bob"].cells)


def test_grade_table_lists_every_student(tmp_path, capsys):
    path = tmp_path / "grades.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["student", "status", "total", "max_total", "q2", "q2_test_threshold"])
        w.writerow(["alice", "graded", "55", "100", "15", "3"])
        w.writerow(["dave", "crashed", "20", "100", "15", "3"])
    print_grade_table(path)
    out = capsys.readouterr().out
    assert "alice    graded   55/100  15" in out and "dave     crashed  20/100" in out
    assert "q2_test_threshold" not in out  # per-cell columns stay in the CSV


def test_execute_notebook_runs_as_a_student_and_gives_the_environment_back(tmp_path, monkeypatch):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    monkeypatch.setenv("LABKIT_PROFILE", "full")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import os\nprint(os.environ.get('LABKIT_PROFILE'), os.environ.get('NBGRADER_EXECUTION'))")])
    path = tmp_path / "probe.ipynb"
    nbformat.write(nb, path)
    executed, html = execute_notebook(path, tmp_path / "out")
    assert nbformat.read(executed, 4).cells[0].outputs[0]["text"] == "tiny None\n"
    assert html.is_file() and "tiny None" in html.read_text()
    assert os.environ["NBGRADER_EXECUTION"] == "autograde" and os.environ["LABKIT_PROFILE"] == "full"


def test_the_demo_roster_reads_as_a_canvas_export_of_the_samples(tmp_path):
    roster = read_roster(write_canvas_roster(tmp_path / "export.csv"))
    assert roster.kind == "canvas" and canvas_identity_count(roster.header) == 5
    assert [r["SIS Login ID"] for r in roster.rows] == list(SAMPLES)  # matched by id
    (column,) = roster.candidates()
    source = nbformat.read(source_notebook_path(default_course_dir(), "lab1"), as_version=4)
    points = sum(c.metadata["nbgrader"].get("points", 0) for c in source.cells
                 if c.metadata.get("nbgrader", {}).get("grade"))
    assert roster.points_possible[column] == f"{points:g}"  # the lab's points

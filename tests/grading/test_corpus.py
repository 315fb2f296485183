"""Grade the toy course's corpus once (2 workers) and check every case's status and points,
the CSV, the feedback pages (no hidden-test line), the manual sheet and its import, resuming,
and that hostile submissions changed nothing they must not touch."""

from __future__ import annotations

import csv
import hashlib
import html
import json
import shutil
import socket
from pathlib import Path

import nbformat
import pytest
from labkit_course.grading.batch import Options, grade_batch
from labkit_course.grading.course import prepare_master
from labkit_course.grading.limits import Limits
from labkit_course.grading.names import safe_name
from labkit_course.grading.results import read_records

from .toy_cases import toy_cases

pytestmark = pytest.mark.slow
TOY = Path(__file__).parent / "fixtures" / "toy"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _options(out: Path, **kw) -> Options:
    kw = {"workers": 2, "limits": Limits(cell_timeout=6, wall_limit=60), "verbose": False,
          "prepare_data": False, **kw}
    return Options(course=TOY, assignment="toy", out=out, **kw)


@pytest.fixture(scope="session")
def graded(tmp_path_factory: pytest.TempPathFactory):
    """Grade the corpus into a fresh out folder; return (out, cases, before/after hashes)."""
    root = tmp_path_factory.mktemp("toy-grading")
    out, subs = root / "out", root / "submissions"
    subs.mkdir()
    master = prepare_master(TOY, "toy", out, force=False)  # the grader reuses it
    source = nbformat.read(master.root / "source" / "toy" / "toy.ipynb", as_version=4)
    protected = [TOY / "source" / "toy" / "toy.ipynb", master.root / "gradebook-template.db",
                 master.root / "source" / "toy" / "toy.ipynb", master.root / "release" / "toy" / "toy.ipynb"]
    # A first student graded before the hostile ones: their record must survive.
    (subs / "early.ipynb").write_bytes(nbformat.writes(master.release).encode())
    grade_batch([subs / "early.ipynb"], _options(out))
    protected += [out / "results" / "early.json", out / "feedback" / "early.html"]
    snoop_reads = [str(p) for p in protected] + [str(master.root / "gradebook.db"), str(TOY)]
    snoop_writes = [str(p) for p in protected] + [str(master.root / "gradebook.db")]
    listener = socket.socket()  # on the host's loopback: student code must not reach it
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)
    cases = toy_cases(source, master.release, snoop_reads, snoop_writes,
                      listen_port=listener.getsockname()[1])
    for case in cases:
        (subs / f"{case.student}.ipynb").write_bytes(case.make())
    before = {p: _sha(p) for p in protected}
    with listener:
        summary = grade_batch([subs], _options(out, roster=["absent"]))
        try:
            listener.accept()
            raise AssertionError("student code connected to the host's loopback")
        except BlockingIOError:
            pass
    after = {p: _sha(p) for p in protected}
    return out, cases, before, after, summary


def _case_ids():
    return [c.student for c in toy_cases(*_toy_notebooks(), [], [])]


def _toy_notebooks():
    src = nbformat.read(TOY / "source" / "toy" / "toy.ipynb", as_version=4)
    return src, src  # ids only; the real release is made by the fixture


@pytest.mark.parametrize("student", _case_ids())
def test_case_gets_expected_status_and_points(graded, student):
    out, cases, *_ = graded
    case = next(c for c in cases if c.student == student)
    rec = json.loads((out / "results" / f"{safe_name(student)}.json").read_text())
    text = " ".join(rec["messages"] + list(rec["failures"].values()))
    assert rec["status"] == case.status, text
    cells = {q: [g for g in rec["max_scores"] if g.startswith(q + "_")] for q in case.scores}
    got = {q: sum(rec["scores"][g] or 0 for g in gids) for q, gids in cells.items()}
    assert got == case.scores, text
    if case.message:
        assert case.message in text


def test_grades_csv_has_one_row_per_student(graded):
    out, cases, *_ = graded
    rows = list(csv.DictReader(open(out / "grades.csv", encoding="utf-8")))
    assert list(rows[0])[:4] == ["student", "status", "total", "max_total"]
    assert list(rows[0])[4:] == ["q1", "q2", "q3", "q2_test", "q3_test"]  # questions, then test cells
    by = {r["student"]: r for r in rows}
    assert set(by) == {c.student for c in cases} | {"early", "absent"}
    assert by["absent"]["status"] == "missing" and by["absent"]["q2"] == ""
    assert by["correct"]["total"] == "5" and by["correct"]["max_total"] == "10"
    assert by["correct"]["q1"] == ""  # free text: not graded yet, not a silent 0
    assert {r["status"] for r in rows} <= {"graded", "timeout", "crashed", "invalid", "missing"}


def test_feedback_never_shows_hidden_tests(graded):
    out, cases, *_ = graded
    master = prepare_master(TOY, "toy", out, force=False)
    hidden = master.hidden_lines()
    assert len(hidden) == 4
    pages = sorted((out / "feedback").glob("*.html"))
    assert len(pages) == len(cases) + 1
    for page in pages:
        text = page.read_text()
        for line in hidden:
            for form in (line, html.escape(line)):
                assert form not in text, f"{page.name} shows hidden test line {line!r}"
        # a hidden check's own message comes back, as the reason of a failure only
        assert "3 of 4 are zero" not in text or "a hidden check failed: 3 of 4 are zero" in text
    leak = (out / "feedback" / "leak-hidden-tests.html").read_text()
    assert "Score: <b>5 / 10</b>" in leak


def test_feedback_shows_code_scores_and_failures(graded):
    out, *_ = graded
    page = (out / "feedback" / "wrong-strict-threshold.html").read_text()
    assert "t.abs() &gt; threshold" in page  # the student's code
    assert "AssertionError: keep 3 and 2" in page  # the failing check's message
    assert "Status: <b>graded</b>" in page


def test_hostile_code_changed_and_read_nothing(graded):
    out, _, before, after, _ = graded
    assert before == after
    outputs = "".join(o.get("text", "") for c in nbformat.read(
        out / "course" / "autograded" / "snoop" / "toy.ipynb", as_version=4).cells
        for o in c.get("outputs", []))
    assert "blocked read" in outputs and "READ " not in outputs and "WROTE" not in outputs
    early = json.loads((out / "results" / "early.json").read_text())
    assert early["status"] == "graded"


def test_manual_sheet_and_import(graded, tmp_path, capsys):
    out, *_ = graded
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    sheet = (copy / "manual.html").read_text()
    assert "Small weights change the output least." in sheet and "q1_answer" in sheet
    rows = list(csv.DictReader(open(copy / "manual.csv")))
    for row in rows:
        row["score"] = "4" if row["student"] == "correct" else ""
    with open(tmp_path / "scores.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    from labkit_course.cli import main

    assert main(["grade", "--import-manual", str(tmp_path / "scores.csv"), "--out", str(copy),
                 "--course", str(TOY), "--assignment", "toy"]) == 0
    by = {r["student"]: r for r in csv.DictReader(open(copy / "grades.csv"))}
    assert by["correct"]["q1"] == "4" and by["correct"]["total"] == "9"
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{copy / 'course' / 'gradebook.db'}") as gb:
        assert gb.find_grade("q1_answer", "toy", "toy", "correct").manual_score == 4
        assert gb.find_grade("q2_test", "toy", "toy", "correct").auto_score == 2
    bad = tmp_path / "bad.csv"
    bad.write_text("student,grade_id,score\ncorrect,q1_answer,7\nnobody,q1_answer,1\n")
    assert main(["grade", "--import-manual", str(bad), "--out", str(copy), "--course", str(TOY),
                 "--assignment", "toy"]) == 2
    latin = tmp_path / "latin.csv"  # a spreadsheet's default save in some locales
    latin.write_text("student,grade_id,score\njosé,q1_answer,1\n", encoding="latin-1")
    capsys.readouterr()
    assert main(["grade", "--import-manual", str(latin), "--out", str(copy), "--course", str(TOY),
                 "--assignment", "toy"]) == 2
    err = capsys.readouterr().err
    assert f"labkit grade: {latin} is not UTF-8" in err and "Traceback" not in err


def test_rerun_skips_graded_and_force_regrades(graded, tmp_path):
    out, *_ = graded
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    subs = sorted((out.parent / "submissions").glob("*.ipynb"))
    summary = grade_batch(subs[:3], _options(copy))
    assert summary.graded == [] and len(summary.skipped) == 3
    summary = grade_batch(subs[:1], _options(copy, force=True))
    assert summary.graded == [subs[0].stem]
    assert read_records(copy / "results")[subs[0].stem].status in ("graded", "crashed", "timeout", "invalid")


def test_master_gradebook_has_every_submission(graded):
    out, cases, *_ = graded
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{out / 'course' / 'gradebook.db'}") as gb:
        assert gb.find_grade("q2_test", "toy", "toy", "correct").auto_score == 2
        assert gb.find_grade("q3_test", "toy", "toy", "os-exit").auto_score == 0
        students = {s.id for s in gb.students}
    assert {c.student for c in cases} <= students


def test_grader_killed_mid_batch_loses_nothing(graded, tmp_path):
    """SIGKILL the grader once two records exist; the re-run skips them and finishes."""
    import os
    import signal
    import subprocess
    import sys
    import time

    out, *_ = graded
    subs = tmp_path / "subs"
    subs.mkdir()
    for name in ("correct", "blank", "wrong-k-zero", "renamed-function", "syntax-error", "segfault"):
        shutil.copy(out.parent / "submissions" / f"{name}.ipynb", subs)
    new_out = tmp_path / "out"
    cmd = [sys.executable, "-m", "labkit_course.cli", "grade", str(subs), "--out", str(new_out),
           "--course", str(TOY), "--assignment", "toy", "--workers", "2", "--quiet",
           "--timeout", "6"]
    import glob
    import tempfile

    tmp_glob = str(Path(tempfile.gettempdir()) / "labkit-grade-*")
    before = set(glob.glob(tmp_glob))
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while len(list((new_out / "results").glob("*.json"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = {p.stem for p in (new_out / "results").glob("*.json")}
    assert len(done) >= 2
    # Orphaned workers finish the submission they had (their kernels die with them): wait
    # for them (a fixed 8 s was too short on a loaded machine, where one takes ~20 s).
    def orphans() -> bool:
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                if str(new_out).encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                    return True
            except OSError:
                pass
        return False

    deadline = time.monotonic() + 120
    while orphans() and time.monotonic() < deadline:
        time.sleep(0.5)
    done = {p.stem for p in (new_out / "results").glob("*.json")}
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert f"skipped {len(done)} already graded" in result.stdout
    rows = list(csv.DictReader(open(new_out / "grades.csv")))
    assert len(rows) == 6 and {r["student"]: r["status"] for r in rows}["segfault"] == "crashed"
    for leftover in set(glob.glob(tmp_glob)) - before:  # the killed grader's private folders
        shutil.rmtree(leftover, ignore_errors=True)


def test_wall_limit_ends_the_submission_and_keeps_earlier_points(graded, tmp_path):
    from . import corpus as C

    out, *_ = graded
    master = prepare_master(TOY, "toy", out, force=False)
    source = nbformat.read(master.root / "source" / "toy" / "toy.ipynb", as_version=4)
    slow = C.correct(source, master.release)
    for _ in range(3):  # each under the 6 s cell timeout, together over the 12 s wall limit
        slow = C.insert_after(slow, "q2_test", "import time\ntime.sleep(5)")
    (tmp_path / "slowpoke.ipynb").write_bytes(C.dumps(slow))
    grade_batch([tmp_path / "slowpoke.ipynb"], _options(tmp_path / "out", limits=Limits(cell_timeout=6, wall_limit=12)))
    rec = read_records(tmp_path / "out" / "results")["slowpoke"]
    assert rec.status == "timeout" and rec.scores["q2_test"] == 2 and rec.scores["q3_test"] == 0
    assert "did not run" in rec.failures["q3_test"]
    assert rec.seconds < 60

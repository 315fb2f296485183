"""The Gradescope autograder on the toy course: the zip's layout, run_autograder in a temporary
folder laid out like Gradescope's (AUTOGRADER_ROOT), scores equal to ``labkit grade``'s, and no
hidden-test text in results.json or anywhere in the zip but the course's source notebook."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest
from labkit_course.gradescope.build import build_autograder
from labkit_course.gradescope.run import secret_lines
from labkit_course.grading.batch import Options, grade_batch
from labkit_course.grading.course import prepare_master
from labkit_course.grading.limits import Limits
from labkit_course.grading.results import read_records

from .toy_cases import toy_cases

pytestmark = pytest.mark.slow
TOY = Path(__file__).parent / "fixtures" / "toy"
CASES = ("correct", "wrong-strict-threshold", "renamed-function", "os-exit", "invalid-json")
SOURCE_MEMBER = "course/source/toy/toy.ipynb"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory):
    """The zip, Gradescope's folder with it unpacked and set up, the cases and labkit grade's
    records of the same submissions."""
    if os.geteuid() != 0:
        pytest.skip("run_autograder runs as root on Gradescope (kernels as 'nobody'); run as root")
    root = tmp_path_factory.mktemp("gradescope")
    zip_path = build_autograder(TOY, "toy", root / "autograder.zip", limits=Limits(cell_timeout=6, wall_limit=60),
                                prepare_data=False)  # the toy notebook reads no data
    gs = root / "autograder"
    with zipfile.ZipFile(zip_path) as z:
        z.extractall(gs / "source")
    env = {**os.environ, "AUTOGRADER_ROOT": str(gs)}
    subprocess.run([sys.executable, "-m", "labkit_course.gradescope.run", "--setup"], env=env, check=True)

    master = prepare_master(TOY, "toy", root / "probe", force=False)
    source = nbformat.read(master.root / "source" / "toy" / "toy.ipynb", as_version=4)
    cases = {c.student: c for c in toy_cases(source, master.release, [], []) if c.student in CASES}
    subs = root / "submissions"
    subs.mkdir()
    for case in cases.values():
        (subs / f"{case.student}.ipynb").write_bytes(case.make())
    out = root / "graded"
    grade_batch([subs], Options(course=TOY, assignment="toy", out=out, workers=2, limits=Limits(cell_timeout=6, wall_limit=60),
                                verbose=False, prepare_data=False))
    return zip_path, gs, cases, read_records(out / "results"), master


def _run_autograder(gs: Path, name: str, data: bytes) -> dict:
    shutil.rmtree(gs / "submission", ignore_errors=True)
    shutil.rmtree(gs / "results", ignore_errors=True)
    (gs / "submission" / "upload").mkdir(parents=True)
    (gs / "submission" / "upload" / name).write_bytes(data)
    env = {**os.environ, "AUTOGRADER_ROOT": str(gs), "LABKIT_PYTHON": sys.executable}
    done = subprocess.run(["bash", str(gs / "source" / "run_autograder")], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((gs / "results" / "results.json").read_text())


def test_zip_layout_and_no_hidden_tests_outside_the_source(built):
    zip_path, _, _, _, master = built
    hidden = [h for h in secret_lines(master) if len(h) >= 6]
    assert hidden, "the toy course has hidden tests"
    with zipfile.ZipFile(zip_path) as z:
        names = z.namelist()
        assert {"setup.sh", "run_autograder", "labkit.json", SOURCE_MEMBER} <= set(names)
        wheels = sorted(n for n in names if n.startswith(("labkit-", "labkit_course-")) and n.endswith(".whl"))
        assert [w.split("-")[0] for w in wheels] == ["labkit", "labkit_course"]  # student package, course tools
        assert all(w in z.read("setup.sh").decode() for w in wheels)
        assert z.getinfo("run_autograder").external_attr >> 16 & 0o111
        texts = {n: z.read(n) for n in names}
    import io

    for wheel in wheels:
        with zipfile.ZipFile(io.BytesIO(texts.pop(wheel))) as w:
            texts |= {f"{wheel}:{n}": w.read(n) for n in w.namelist()}
    assert f"{wheels[1]}:labkit_course/gradescope/run.py" in texts
    forms = [f.encode() for h in hidden for f in (h, json.dumps(h)[1:-1])]  # as in JSON too
    leaks = {n: f for n, t in texts.items() for f in forms if f in t}
    assert set(leaks) == {SOURCE_MEMBER}, leaks  # the grader's copy, root-only once set up


@pytest.mark.parametrize("student", CASES)
def test_run_autograder_scores_equal_labkit_grade(built, student):
    _, gs, cases, records, master = built
    result = _run_autograder(gs, "my_lab.ipynb", cases[student].make())
    rec = records[student]
    tests = {t["name"].split(": ", 1)[1]: t for t in result["tests"]}
    autograded = {c.grade_id for c in master.cells if c.kind == "test"}
    assert set(tests) == autograded  # free-text questions are left to manual grading
    assert {g: t["score"] for g, t in tests.items()} == {g: rec.scores[g] or 0.0 for g in autograded}
    assert {g: t["max_score"] for g, t in tests.items()} == {g: rec.max_scores.get(g, c.points)
                                                             for c in master.cells for g in [c.grade_id]
                                                             if g in autograded}
    assert result["extra_data"]["status"] == rec.status == cases[student].status
    text = json.dumps(result)
    assert not [h for h in secret_lines(master) if len(h) >= 6 and json.dumps(h)[1:-1] in text]
    for c in master.cells:  # each test's visible part is shown whole
        if c.kind == "test":
            assert c.release_source.strip() in tests[c.grade_id]["output"]
    assert "q1" in result["output"] and "by hand" in result["output"]
    for gid, message in rec.failures.items():  # the visible failure reaches the student
        assert message in tests[gid]["output"]
    if rec.status in ("crashed", "timeout", "invalid"):
        assert "stopped" in result["output"] or "could not be graded" in result["output"]


def test_no_notebook_is_a_clear_message(built):
    _, gs, *_ = built
    result = _run_autograder(gs, "notes.txt", b"hello")
    assert "no notebook was found" in result["output"]
    assert all(t["score"] == 0 for t in result["tests"])


def test_a_submission_cannot_read_the_hidden_tests_it_is_graded_with(built):
    """The zip must hold the hidden tests (the grader runs them), so the student's code must not
    reach them: a sparsity() that reads the source notebook and raises its text (which would
    land in results.json as the test's failure message) finds it unreadable."""
    _, gs, cases, _, master = built
    target = gs / "source" / SOURCE_MEMBER
    assert target.is_file() and (gs / "source" / "course").stat().st_mode & 0o077 == 0  # root-only
    snoop = (
        "def sparsity(t):\n"
        "    try:\n"
        f"        text = open({str(target)!r}).read()\n"
        "    except OSError as exc:\n"
        "        raise ValueError(f'UNREADABLE {type(exc).__name__}')\n"
        "    raise ValueError('READ ' + text)\n")
    nb = nbformat.reads(cases["correct"].make().decode(), as_version=4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "q2_sparsity")
    cell.source = snoop
    result = _run_autograder(gs, "snoop.ipynb", nbformat.writes(nb).encode())
    q2 = next(t for t in result["tests"] if t["name"].endswith("q2_test"))
    assert q2["score"] == 0 and "UNREADABLE" in q2["output"], q2["output"]
    text = json.dumps(result)
    assert "READ " not in text.replace("UNREADABLE", "")
    assert not [h for h in secret_lines(master) if len(h) >= 6 and json.dumps(h)[1:-1] in text]

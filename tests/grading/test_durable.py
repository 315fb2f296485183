"""Nothing graded is lost, whatever stops the grader: ``kill -9`` in the middle of a batch, a
full disk, a second grader on the same out folder, ``--force`` after ``--import-manual``; and
every output is readable by the grading user only. Checked as a TA would: rows of grades.csv,
the gradebook, the feedback pages, the error text, the files' modes."""

from __future__ import annotations

import csv
import errno
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from labkit_course.grading.course import GradingError, prepare_master
from labkit_course.grading.outlock import out_lock
from labkit_course.grading.outputs import (OutputError, atomic_open, disk_errors, private_dir,
                                    sweep_temps, write_text)
from labkit_course.grading.publish import keep_manual_scores
from labkit_course.grading.results import Record
from labkit_course.samples import filled_in, inserted_after, replaced

TOY = Path(__file__).parent / "fixtures" / "toy"
STUDENTS = ("r1", "r2", "r3", "r4")


# ------------------------------------------------------------------------------------------
# helpers: the toy course graded with the command a TA types


def _submissions(folder: Path, names=STUDENTS, sleep: float = 0.0, answer: str = "") -> Path:
    """Correct toy submissions ``<name>.ipynb`` in ``folder``; ``sleep`` seconds in a cell
    of their own; ``answer``: the free-text answer (default: the source's)."""
    master = prepare_master(TOY, "toy", folder.parent / "probe", force=False)
    nb = filled_in(nbformat.read(master.root / "source" / "toy" / "toy.ipynb", as_version=4),
                   master.release)
    if sleep:
        nb = inserted_after(nb, "q2_test", f"import time\ntime.sleep({sleep})")
    if answer:
        nb = replaced(nb, "q1_answer", "Small weights change the output least.", answer)
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        nbformat.write(nb, folder / f"{name}.ipynb")
    return folder


def _cmd(subs: Path | None, out: Path, *extra: str) -> list[str]:
    inputs = [str(subs)] if subs is not None else []
    return [sys.executable, "-m", "labkit_course.cli", "grade", *inputs, "--out", str(out),
            "--course", str(TOY), "--assignment", "toy", "--quiet", "--timeout", "20", *extra]


def _grade(subs: Path | None, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(_cmd(subs, out, *extra), capture_output=True, text=True, timeout=600)


def _rows(out: Path) -> dict[str, dict]:
    with open(out / "grades.csv", newline="") as f:
        return {r["student"]: r for r in csv.DictReader(f)}


def _gradebook(out: Path) -> dict[str, dict[str, float | None]]:
    """student -> grade_id -> score (the TA's if given, else the autograder's) of every
    submission in the master gradebook."""
    import warnings

    from nbgrader.api import Gradebook

    book: dict[str, dict[str, float | None]] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Gradebook(f"sqlite:///{out / 'course' / 'gradebook.db'}") as gb:
            for sub in gb.find_assignment("toy").submissions:
                for nb in sub.notebooks:
                    for g in nb.grades:
                        book.setdefault(sub.student.id, {})[g.name] = (
                            g.manual_score if g.manual_score is not None else g.auto_score)
    return book


def _descendants(pid: int) -> set[int]:
    parents = {}
    for d in filter(str.isdigit, os.listdir("/proc")):
        try:
            parents[int(d)] = int(Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            pass
    tree, frontier = set(), {pid}
    while frontier:
        frontier = {c for c, p in parents.items() if p in frontier} - tree
        tree |= frontier
    return tree


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.add(pid)
    return alive


def _wait(cond, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


# ------------------------------------------------------------------------------------------
# kill -9 and a second grader


@pytest.mark.slow
def test_kill_9_mid_batch_then_the_same_command_grades_exactly_the_missing(tmp_path):
    subs = _submissions(tmp_path / "subs", sleep=6)
    out = tmp_path / "out"
    cmd = _cmd(subs, out, "--workers", "2")
    first = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        lock = out / ".lock"
        _wait(lambda: lock.is_file() and lock.stat().st_size > 0, 120, "the first grader's lock")
        # a second grader on the same out folder is refused, naming the first
        second = _grade(subs, out, "--workers", "2")
        assert second.returncode == 2, second.stdout
        assert f"in use by another grader: pid {first.pid}" in second.stderr, second.stderr
        assert f"--out {out}" in second.stderr and "started" in second.stderr
        assert first.poll() is None  # refused while the first one grades
        results = out / "results"
        _wait(lambda: results.is_dir() and any(results.glob("*.json")), 300, "a first record")
        _wait(lambda: len(_descendants(first.pid)) >= 2, 120, "the next workers to start")
        family = _descendants(first.pid)
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
    finally:
        if first.poll() is None:
            first.kill()
    _wait(lambda: not _alive(family), 20, f"the workers {sorted(_alive(family))} to die with the grader")
    published = {p.stem for p in (out / "results").glob("*.json")}
    time.sleep(3)
    assert {p.stem for p in (out / "results").glob("*.json")} == published  # nobody works on
    assert 1 <= len(published) < len(STUDENTS)

    again = _grade(subs, out, "--workers", "2")
    assert again.returncode == 0, again.stderr
    missing = len(STUDENTS) - len(published)
    assert f"graded {missing}, skipped {len(published)} already graded" in again.stdout
    rows = _rows(out)
    assert sorted(rows) == list(STUDENTS)
    assert all(r["status"] == "graded" and r["total"] == "5" for r in rows.values())
    book = _gradebook(out)
    assert sorted(book) == list(STUDENTS)
    assert all(book[s]["q2_test"] == 2 and book[s]["q3_test"] == 3 for s in STUDENTS)
    assert not list(out.rglob(".labkit-*.tmp"))


def test_the_lock_names_its_holder_and_goes_with_it(tmp_path):
    out = tmp_path / "out"
    with out_lock(out):
        assert json.loads((out / ".lock").read_text())["pid"] == os.getpid()
        with pytest.raises(GradingError, match=f"in use by another grader: pid {os.getpid()}"):
            with out_lock(out):
                pass
    with out_lock(out):  # released at the end of the block
        pass
    assert (out / ".lock").stat().st_mode & 0o777 == 0o600


# ------------------------------------------------------------------------------------------
# a full disk


def test_a_write_that_fails_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "grades.csv"
    path.write_text("old\n")

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError):
        write_text(path, "new\n" * 10_000)
    assert path.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["grades.csv"]


def test_a_full_disk_is_one_line_saying_what_to_free_and_to_run_again(tmp_path):
    with pytest.raises(OutputError) as err, disk_errors(tmp_path):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp_path / "grades.csv"))
    msg = str(err.value)
    assert "\n" not in msg and "no space left" in msg and f"df -h {tmp_path}" in msg
    assert "run the same command again" in msg
    from sqlalchemy.exc import OperationalError  # the gradebook's way of saying it

    from nbgrader.api import InvalidEntry

    with pytest.raises(OutputError, match="no space left"), disk_errors(tmp_path):
        try:
            raise OperationalError("COMMIT", {}, sqlite3.OperationalError("database or disk is full"))
        except OperationalError as exc:
            raise InvalidEntry(*exc.args)  # as nbgrader's Gradebook re-raises it
    with pytest.raises(OutputError, match="I/O error"), disk_errors(tmp_path):
        raise OSError(errno.EIO, os.strerror(errno.EIO))
    with pytest.raises(KeyError), disk_errors(tmp_path):  # other errors pass unchanged
        raise KeyError("x")


def test_a_killed_writers_temporary_files_are_swept(tmp_path):
    with pytest.raises(RuntimeError), atomic_open(tmp_path / "a.json") as f:
        f.write("{")
        raise RuntimeError("stop")
    assert not list(tmp_path.iterdir())  # removed on an error ...
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / ".labkit-abc.tmp").write_text("{")  # ... or, after kill -9, swept
    (tmp_path / "results" / "loop").symlink_to(tmp_path)  # a link is not followed
    assert sweep_temps(tmp_path) == 1
    assert [p.name for p in (tmp_path / "results").iterdir()] == ["loop"]


def _unshare_ok() -> bool:
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return False
    return subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode == 0


FILL = """import os, sys
free = int(sys.argv[2]) * 1024
with open(sys.argv[1], "wb") as f:
    try:
        while True:
            f.write(b"\\0" * 65536); f.flush()
    except OSError:
        pass
    f.truncate(max(0, f.tell() - free))
"""


@pytest.mark.slow
@pytest.mark.skipif(not _unshare_ok(), reason="needs root and mount namespaces (unshare -m)")
def test_a_full_disk_stops_the_batch_cleanly_and_the_rerun_adds_the_rest(tmp_path):
    subs = _submissions(tmp_path / "subs")
    first = tmp_path / "first"
    first.mkdir()
    shutil.copy(subs / "r1.ipynb", first)
    out, saved = tmp_path / "out", tmp_path / "saved"
    out.mkdir()
    (tmp_path / "fill.py").write_text(FILL)

    def run(inputs: Path, tag: str) -> str:
        cmd = " ".join(f"'{a}'" for a in _cmd(inputs, out))
        return f"{cmd} >{saved}/{tag}.out 2>{saved}/{tag}.err; echo $? >{saved}/{tag}.rc; cp -a {out} {saved}/{tag}"

    saved.mkdir()
    script = " && ".join([
        f"mount -t tmpfs -o size=3m,mode=0700 labkit-test {out}",  # private: this namespace only
        run(first, "one"),
        f"{sys.executable} {tmp_path / 'fill.py'} {out}/filler 40",
        run(subs, "full"),
        f"rm {out}/filler",
        run(subs, "freed"),
    ])
    done = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr

    def rc(tag):
        return int((saved / f"{tag}.rc").read_text())

    assert rc("one") == 0, (saved / "one.err").read_text()
    err = (saved / "full.err").read_text()
    assert rc("full") == 1, err
    assert "Traceback" not in err
    line = err.strip().splitlines()[-1]
    assert line.startswith("labkit grade: no space left on the disk"), err
    assert "run the same command again" in line
    full = saved / "full"
    assert not list(full.rglob(".labkit-*.tmp")) and not list(full.rglob("*.tmp"))
    for rec in (full / "results").glob("*.json"):  # whole records, each in the gradebook
        json.loads(rec.read_text())
    for nb in (full / "course" / "autograded").rglob("*.ipynb"):
        nbformat.read(nb, as_version=4)  # no truncated notebook
    published = {p.stem for p in (full / "results").glob("*.json")}
    assert published <= set(_gradebook(full)) and "r1" in published
    rows = _rows(full)  # grades.csv whole, with every published student; the one being
    assert {s for s, r in rows.items() if r["status"] == "graded"} == published  # published
    assert all(r["status"] == "missing" for s, r in rows.items() if s not in published)  # not

    assert rc("freed") == 0, (saved / "freed.err").read_text()
    freed = saved / "freed"
    assert f"skipped {len(published)} already graded" in (saved / "freed.out").read_text()
    assert sorted(_rows(freed)) == list(STUDENTS)
    assert all(r["total"] == "5" for r in _rows(freed).values())
    assert sorted(_gradebook(freed)) == list(STUDENTS)


# ------------------------------------------------------------------------------------------
# --force keeps imported free-text scores; every output is the grading user's only


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """r1 and r2 graded, then the TA's q1 = 4 for r1 imported: the out folder."""
    root = tmp_path_factory.mktemp("scored")
    subs = _submissions(root / "subs", names=("r1", "r2"))
    out = root / "out"
    done = _grade(subs, out, "--workers", "2")
    assert done.returncode == 0, done.stderr
    sheet = root / "scores.csv"
    sheet.write_text("student,grade_id,score\nr1,q1_answer,4\n")
    done = _grade(None, out, "--import-manual", str(sheet))
    assert done.returncode == 0, done.stderr
    return out


@pytest.mark.slow
def test_force_keeps_the_imported_scores_and_drop_manual_drops_them(scored, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(scored, out)
    subs = scored.parent / "subs"
    assert _rows(out)["r1"]["q1"] == "4"
    again = _grade(subs, out, "--workers", "2", "--force")
    assert again.returncode == 0, again.stderr
    assert "graded 2, skipped 0" in again.stdout
    assert _rows(out)["r1"]["q1"] == "4" and _rows(out)["r1"]["total"] == "9"
    assert _rows(out)["r2"]["q1"] == ""  # never scored: still waiting for a TA
    assert json.loads((out / "results" / "r1.json").read_text())["scores"]["q1_answer"] == 4
    assert "4 / 5" in (out / "feedback" / "r1.html").read_text()
    assert _gradebook(out)["r1"]["q1_answer"] == 4

    dropped = _grade(subs, out, "--workers", "2", "--force", "--drop-manual")
    assert dropped.returncode == 0, dropped.stderr
    assert _rows(out)["r1"]["q1"] == "" and _rows(out)["r1"]["total"] == "5"
    assert json.loads((out / "results" / "r1.json").read_text())["scores"]["q1_answer"] is None
    assert _gradebook(out)["r1"]["q1_answer"] in (None, 0)  # nbgrader's own, no TA's score
    assert "4 / 5" not in (out / "feedback" / "r1.html").read_text()


def test_drop_manual_goes_with_force(tmp_path):
    done = _grade(tmp_path, tmp_path / "out", "--drop-manual")
    assert done.returncode == 2 and "--drop-manual goes with --force" in done.stderr


def test_a_score_is_kept_only_for_the_same_answer(tmp_path):
    master = prepare_master(TOY, "toy", tmp_path, force=False)
    old = Record("r1", "graded", {"q1_answer": 4.0, "q2_test": 2.0}, answers={"q1_answer": "A"})
    same = Record("r1", "graded", {"q1_answer": None, "q2_test": 0.0}, answers={"q1_answer": "A"})
    assert keep_manual_scores(old, same, master) == ["q1_answer"]
    assert same.scores == {"q1_answer": 4.0, "q2_test": 0.0}  # tests keep the new grading
    edited = Record("r1", "graded", {"q1_answer": None}, answers={"q1_answer": "B"})
    assert keep_manual_scores(old, edited, master) == [] and edited.scores["q1_answer"] is None
    assert "changed since a TA scored it" in edited.messages[0]


@pytest.mark.slow
def test_every_output_is_readable_by_the_grading_user_only(scored):
    listed = [scored / "grades.csv", scored / "manual.csv", scored / "manual.html",
              scored / "course" / "gradebook.db", *(scored / "feedback").iterdir(),
              *(scored / "results").iterdir()]
    assert len(listed) == 8
    for f in listed:
        assert f.stat().st_mode & 0o777 == 0o600, f
    folders = [scored / "feedback", scored / "results", scored / "course",
               scored / "course" / "autograded"]
    autograded = list((scored / "course" / "autograded").rglob("*"))
    assert len(autograded) == 4  # r1/, r1/toy.ipynb, r2/, r2/toy.ipynb
    for p in folders + autograded:
        assert p.stat().st_mode & 0o777 == (0o700 if p.is_dir() else 0o600), p
    outside_course = [p for p in scored.rglob("*") if "course" not in p.relative_to(scored).parts]
    assert all(p.stat().st_mode & 0o077 == 0 for p in outside_course)


def test_private_dir_makes_what_it_creates_0700(tmp_path):
    made = private_dir(tmp_path / "a" / "b")
    assert made.stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "a").stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize("free", [0, 2**30])
def test_a_full_disk_under_the_private_course_is_the_graders_failure_not_the_students(
        tmp_path, monkeypatch, free):
    import collections

    import nbgrader.utils

    from labkit_course.grading.worker import Job, grade_one

    master = prepare_master(TOY, "toy", tmp_path / "master", force=False)
    subs = _submissions(tmp_path / "subs", names=("r1",))
    (tmp_path / "tmp").mkdir()
    job = Job(student="r1", path=str(subs / "r1.ipynb"), sha256="0" * 64,
              out_dir=str(tmp_path / "out"), tmp_root=str(tmp_path / "tmp"), protections=[])
    monkeypatch.setattr(nbgrader.utils, "capture_log",  # nbgrader failed: out of space or not?
                        lambda app: {"success": False, "log": "", "error": "OSError"})
    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(2**31, 2**31 - free, free))
    if free == 0:  # the batch stops with the disk error; the student is graded on the re-run
        with pytest.raises(OSError) as err:
            grade_one(job, master)
        assert err.value.errno == errno.ENOSPC
    else:  # nbgrader could not grade the notebook: the submission's own status
        assert grade_one(job, master).status == "crashed"


def test_the_private_folders_of_a_killed_grader_are_swept(tmp_path):
    from labkit_course.grading.batch import sweep_stale_tmp

    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = tmp_path / f"labkit-grade-{dead.pid}-abc"
    (stale / "r1" / "course").mkdir(parents=True)
    mine = tmp_path / f"labkit-grade-{os.getpid()}-def"
    mine.mkdir()
    other = tmp_path / "labkit-grade-xyz"  # not named for a process: left alone
    other.mkdir()
    assert sweep_stale_tmp(tmp_path) == [stale]
    assert not stale.exists() and mine.is_dir() and other.is_dir()

"""One submission through labkit_course.grading.worker: its sandbox settings, its record when the file
is unusable, and a whole grading of a toy submission (weak isolation: no root needed)."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from labkit_course.grading.course import prepare_master
from labkit_course.grading.limits import Limits
from labkit_course.grading.publish import pending_dir
from labkit_course.grading.results import read_records
from labkit_course.grading.worker import Job, _sandbox, grade_one, record_for_failure
from labkit_course.samples import filled_in

TOY = Path(__file__).parent / "fixtures" / "toy"


@pytest.fixture(scope="module")
def master(tmp_path_factory: pytest.TempPathFactory):
    return prepare_master(TOY, "toy", tmp_path_factory.mktemp("worker-master"), force=True)


def _job(tmp_path: Path, path: Path, **kw) -> Job:
    tmp = tmp_path / "tmp"
    tmp.mkdir(exist_ok=True)
    return Job(student="s1", path=str(path), sha256="0" * 64, out_dir=str(tmp_path / "out"),
               tmp_root=str(tmp), limits=Limits(cell_timeout=30, wall_limit=120), data_dir=str(tmp_path / "data"),
               **kw)


def test_a_failure_record_gives_zero_on_tests_and_leaves_answers_ungraded(master, tmp_path):
    rec = record_for_failure(_job(tmp_path, tmp_path / "s1.ipynb"), master, "crashed", "it died")
    assert rec.status == "crashed" and rec.messages == ["it died"]
    assert rec.scores == {"q1_answer": None, "q2_test": 0.0, "q3_test": 0.0}
    assert rec.max_scores == {"q1_answer": 5.0, "q2_test": 2.0, "q3_test": 3.0}


def test_the_sandbox_follows_the_jobs_protections(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    bare = _sandbox(_job(tmp_path, tmp_path / "s1.ipynb", protections=[]), work, "tok")
    assert bare.uid is None and bare.hide == [] and not bare.own_root and not bare.world
    assert bare.env["NBGRADER_EXECUTION"] == "autograde" and bare.env["LABKIT_GUARD_TOKEN"] == "tok"
    assert bare.env["LABKIT_DATA_DIR"] == str(tmp_path / "data")
    assert bare.env["MPLBACKEND"] == "agg"  # figures are built, never drawn
    assert bare.env["LABKIT_FAST_GRADING"] == "1"  # and the ungraded work runs on less data
    files = _sandbox(_job(tmp_path, tmp_path / "s1.ipynb", protections=["files"], hide=["/srv/x"]),
                     work, "tok")
    assert files.hide == ["/srv/x"] and files.own_root and str(tmp_path / "data") in files.read_only
    no_data = _sandbox(Job(student="s1", path="", sha256="", out_dir="", tmp_root=str(tmp_path),
                           protections=["files"]), work, "tok")
    assert "" not in no_data.read_only  # never the grader's working folder


def test_the_kernel_keeps_every_package_folder_of_the_import_path(tmp_path, monkeypatch):
    # e.g. a venv whose .pth adds another venv's site-packages under /tmp: the kernel's own root
    # must hold it (seen: 'No module named ipykernel' from a clone under /tmp)
    other = tmp_path / "other-venv" / "lib" / "python3.11" / "site-packages"
    other.mkdir(parents=True)
    monkeypatch.syspath_prepend(str(other))
    work = tmp_path / "work"
    work.mkdir()
    files = _sandbox(_job(tmp_path, tmp_path / "s1.ipynb", protections=["files"]), work, "tok")
    assert str(other) in files.read_only
    assert not any(p == str(tmp_path) for p in files.read_only)  # nothing broader than the packages


def test_an_unreadable_file_is_recorded_invalid(master, tmp_path):
    bad = tmp_path / "s1.ipynb"
    bad.write_text("{ this is not a notebook")
    rec = grade_one(_job(tmp_path, bad), master)
    assert rec.status == "invalid" and rec.total == 0
    assert read_records(pending_dir(master))["s1"].status == "invalid"  # left for the parent
    assert not (tmp_path / "out" / "results").exists()  # which alone publishes it


@pytest.mark.slow
def test_a_correct_submission_earns_every_autograded_point(master, tmp_path):
    source = nbformat.read(master.root / "source" / "toy" / "toy.ipynb", as_version=4)
    path = tmp_path / "s1.ipynb"
    nbformat.write(filled_in(source, master.release), path)
    rec = grade_one(_job(tmp_path, path, protections=[]), master)
    assert rec.status == "graded", rec.messages
    assert rec.scores["q2_test"] == 2.0 and rec.scores["q3_test"] == 3.0
    assert rec.scores["q1_answer"] is None  # free text waits for a TA
    saved = json.loads((pending_dir(master) / "s1.json").read_text())
    assert saved["scores"] == rec.scores and saved["status"] == "graded"
    assert (master.root / "autograded" / "s1" / "toy.ipynb").is_file()


def test_a_run_that_left_no_outcome_reads_as_crashed(tmp_path):
    from labkit_course.grading.execute import read_outcome

    assert read_outcome(tmp_path / "outcome.json") == {"status": "crashed", "stopped": None}
    (tmp_path / "outcome.json").write_text('{"status": "timeout", "stopped": "cell 3 ran over 6 s"}')
    assert read_outcome(tmp_path / "outcome.json")["status"] == "timeout"

"""Shards and merge on the toy course: shards 1/2 + 2/2 merged give what one run gives;
merging twice changes nothing; missing shards, shards of another source notebook and students
graded twice are refused with a message that names them."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import nbformat
import pytest
from labkit_course.grading.batch import Options, grade_batch
from labkit_course.grading.course import GradingError, prepare_master
from labkit_course.grading.limits import Limits
from labkit_course.grading.merge import merge_shards
from labkit_course.grading.shards import parse_shard, read_stamp, shard_of

from .toy_cases import toy_cases

pytestmark = pytest.mark.slow
TOY = Path(__file__).parent / "fixtures" / "toy"
CASES = ("correct", "blank", "wrong-counts-nonzero", "syntax-error", "invalid-json", "not-a-notebook")
ROSTER = ["absent", "correct"]


def _options(out: Path, **kw) -> Options:
    kw = {"workers": 2, "limits": Limits(cell_timeout=6, wall_limit=60), "verbose": False,
          "prepare_data": False, "roster": ROSTER, **kw}
    return Options(course=TOY, assignment="toy", out=out, **kw)


def _rows(out: Path) -> list[dict]:
    with open(out / "grades.csv", newline="") as f:
        return list(csv.DictReader(f))


def _pages(out: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted((out / "feedback").glob("*.html"))}


def _files(out: Path) -> dict[str, bytes]:
    names = ["grades.csv", "manual.csv", "manual.html"]
    files = {n: (out / n).read_bytes() for n in names}
    files |= {f"feedback/{p.name}": p.read_bytes() for p in (out / "feedback").glob("*.html")}
    files |= {f"results/{p.name}": p.read_bytes() for p in (out / "results").glob("*.json")}
    return files


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory):
    """One whole run and two shards of the same submissions; return the folders."""
    root = tmp_path_factory.mktemp("shards")
    subs = root / "submissions"
    subs.mkdir()
    master = prepare_master(TOY, "toy", root / "probe", force=False)
    source = nbformat.read(master.root / "source" / "toy" / "toy.ipynb", as_version=4)
    for case in toy_cases(source, master.release, [], []):
        if case.student in CASES:
            (subs / f"{case.student}.ipynb").write_bytes(case.make())
    grade_batch([subs], _options(root / "whole"))  # the shards must give the same grades and pages
    shards = [root / f"shard{k}" for k in (1, 2)]
    for k, out in enumerate(shards, start=1):
        grade_batch([subs], _options(out, shard=(k, 2)))
    return root, subs, shards


def test_split_is_stable_and_covers_everyone():
    students = [f"s{i:03d}" for i in range(200)]
    split = [shard_of(s, 4) for s in students]
    assert split == [shard_of(s, 4) for s in students]  # same answer every time
    assert set(split) == {1, 2, 3, 4} and min(split.count(k) for k in range(1, 5)) > 25
    assert parse_shard("2/8") == (2, 8)
    for bad in ("0/2", "3/2", "2", "a/b"):
        with pytest.raises(GradingError, match="K/N"):
            parse_shard(bad)


def test_shards_hold_disjoint_halves(graded):
    root, _, shards = graded
    stamps = [read_stamp(d) for d in shards]
    assert sorted(s for st in stamps for s in st["students"]) == sorted(CASES)
    assert all(st["students"] for st in stamps), "a split of 6 ids left one shard empty"
    for k, st in enumerate(stamps, start=1):
        assert all(shard_of(s, 2) == k for s in st["students"])
        assert {p.stem for p in (shards[k - 1] / "results").glob("*.json")} == set(st["students"])


def test_merged_shards_equal_one_run(graded, tmp_path):
    root, _, shards = graded
    merged = tmp_path / "merged"
    summary = merge_shards(shards, merged, TOY, "toy")
    assert summary.students == len(CASES)
    assert _rows(merged) == _rows(root / "whole")
    assert [r["student"] for r in _rows(merged)] == sorted([*CASES, "absent"])
    assert _pages(merged) == _pages(root / "whole")
    assert (merged / "manual.csv").read_text() == (root / "whole" / "manual.csv").read_text()
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{merged / 'course' / 'gradebook.db'}") as gb:
        merged_scores = {s.id: gb.find_submission("toy", s.id).score for s in gb.students
                         if s.id != "absent"}
    assert merged_scores["correct"] == 5.0 and merged_scores["blank"] == 0.0

    before = _files(merged)  # merging again (shards in another order) changes nothing
    merge_shards(shards[::-1], merged, TOY, "toy")
    assert _files(merged) == before


def test_missing_shard_is_named(graded, tmp_path):
    _, _, shards = graded
    with pytest.raises(GradingError, match=r"missing shard\(s\) 2/2"):
        merge_shards(shards[:1], tmp_path / "merged", TOY, "toy")
    assert not (tmp_path / "merged").exists()  # nothing written
    with pytest.raises(GradingError, match="shard 1/2 given twice"):
        merge_shards([shards[0], shards[0], shards[1]], tmp_path / "merged", TOY, "toy")


def test_shard_from_another_source_is_refused(graded, tmp_path):
    _, _, shards = graded
    other = tmp_path / "course"
    shutil.copytree(TOY, other)
    nb_path = other / "source" / "toy" / "toy.ipynb"
    nb = nbformat.read(nb_path, as_version=4)
    nb.cells[0].source += "\n(edited)"
    nbformat.write(nb, nb_path)
    with pytest.raises(GradingError, match=f"{shards[0]} was graded from a different source notebook"):
        merge_shards(shards, tmp_path / "merged", other, "toy")


def test_student_graded_twice_is_named(graded, tmp_path):
    _, _, shards = graded
    copy = tmp_path / "shard2"
    shutil.copytree(shards[1], copy)
    stray = next((shards[0] / "results").glob("*.json"))
    shutil.copy2(stray, copy / "results" / stray.name)
    with pytest.raises(GradingError, match=f"{stray.stem} graded twice"):
        merge_shards([shards[0], copy], tmp_path / "merged", TOY, "toy")


def test_unfinished_shard_is_named(graded, tmp_path):
    _, _, shards = graded
    copy = tmp_path / "shard1"
    shutil.copytree(shards[0], copy)
    lost = next((copy / "results").glob("*.json"))
    lost.unlink()
    with pytest.raises(GradingError, match=f"no record for {lost.stem}.*re-run its grade command"):
        merge_shards([copy, shards[1]], tmp_path / "merged", TOY, "toy")

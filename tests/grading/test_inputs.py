"""Grading a batch of inputs a course sees: every file is graded or refused with a reason and
the batch goes on -- links leading out of the submissions folder, linked folders, zips with
junk and with members over the limits -- and the refused files cost no worker."""

from __future__ import annotations

import csv
import html
import os
import struct
import zipfile
from pathlib import Path

import nbformat
import pytest
from labkit_course.grading.batch import Options, grade_batch
from labkit_course.grading.course import prepare_master
from labkit_course.grading.limits import Limits
from labkit_course.grading.results import read_records

from . import corpus as C

pytestmark = pytest.mark.slow
TOY = Path(__file__).parent / "fixtures" / "toy"
SOURCE = TOY / "source" / "toy" / "toy.ipynb"


def _crafted_zip(path: Path, members: dict[str, bytes], liar: str, declared: int) -> None:
    """A zip whose member ``liar`` declares ``declared`` bytes (it holds a few)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(liar, b"{}")
        for name, data in members.items():
            zf.writestr(name, data)
    data = bytearray(path.read_bytes())
    local, central = data.index(b"PK\x03\x04"), data.index(b"PK\x01\x02")  # liar's headers
    data[local + 22:local + 26] = data[central + 24:central + 28] = struct.pack("<I", declared)
    path.write_bytes(bytes(data))


def test_links_junk_and_zip_bombs_are_refused_per_file_and_the_batch_goes_on(tmp_path, capsys):
    out, subs, elsewhere = tmp_path / "out", tmp_path / "subs", tmp_path / "elsewhere"
    master = prepare_master(TOY, "toy", out, force=False)
    ok = C.dumps(C.correct(nbformat.read(SOURCE, as_version=4), master.release))
    subs.mkdir()
    elsewhere.mkdir()
    (subs / "amy.ipynb").write_bytes(ok)
    os.symlink(SOURCE, subs / "mallory.ipynb")  # the source notebook: solutions, hidden tests
    os.symlink(master.root / "gradebook.db", subs / "gb.ipynb")
    (elsewhere / "zed.ipynb").write_bytes(ok)
    os.symlink(elsewhere, subs / "section2")  # a folder outside: named, not walked
    (subs / "real").mkdir()
    (subs / "real" / "rita.ipynb").write_bytes(C.dumps(master.release))
    os.symlink(subs / "real", subs / "section3")  # a folder inside: walked (once)
    junk = {f"export/junk{i}.ipynb": b"\x00\x01 not a notebook" for i in range(200)}
    _crafted_zip(tmp_path / "export.zip", {**junk, "export/olga.ipynb": ok}, "export/bomb.ipynb",
                 (5 * 2**30) // 2)

    summary = grade_batch([subs, tmp_path / "export.zip"], Options(
        course=TOY, assignment="toy", out=out, workers=2, limits=Limits(cell_timeout=6, wall_limit=60),
        verbose=False, prepare_data=False))

    recs = read_records(out / "results")
    status = {s: r.status for s, r in recs.items()}
    assert {s: status[s] for s in ("amy", "rita", "olga")} == {"amy": "graded", "rita": "graded",
                                                                "olga": "graded"}
    assert recs["amy"].scores["q2_test"] == 2 and recs["rita"].scores["q2_test"] == 0
    for sid, why in (("mallory", f"a link to {SOURCE.resolve()}, outside the submissions folder"),
                     ("gb", "outside the submissions folder"),
                     ("bomb", "zip member 'export/bomb.ipynb': it declares 2.5 GiB (limit 64 MiB"),
                     ("junk7", "not a readable Jupyter notebook")):
        assert status[sid] == "invalid" and why in recs[sid].messages[0], recs[sid].messages
        assert recs[sid].total == 0
        page = (out / "feedback" / f"{sid}.html").read_text()
        assert html.escape(recs[sid].messages[0]) in page  # the reason, on the student's page
    assert len(recs) == 3 + 2 + 1 + 200 and "zed" not in recs
    line = f"{subs / 'section2'}: a link to {elsewhere}, outside the submissions folder {subs}: not read"
    assert summary.refused == [line]
    assert f"refused: {line}" in capsys.readouterr().err
    # no worker ran for a refused file, and nothing of the source notebook reached a page
    logs = {p.stem for p in (master.root / "logs").glob("*.log")} - {"zygote"}
    assert logs == {"amy", "rita", "olga"}
    page = (out / "feedback" / "mallory.html").read_text()
    assert not any(line in page for line in master.hidden_lines())
    rows = {r["student"]: r for r in csv.DictReader(open(out / "grades.csv", encoding="utf-8"))}
    assert rows["mallory"]["status"] == "invalid" and rows["mallory"]["total"] == "0"
    from nbgrader.api import Gradebook

    with Gradebook(master.db_url) as gb:
        assert {"junk0", "junk199", "bomb", "mallory", "amy"} <= {s.id for s in gb.students}
        assert gb.find_grade("q2_test", "toy", "toy", "junk3").auto_score == 0
    # a re-run skips the refused files as it skips graded ones
    again = grade_batch([subs, tmp_path / "export.zip"], Options(
        course=TOY, assignment="toy", out=out, workers=2, verbose=False, prepare_data=False))
    assert again.graded == [] and len(again.skipped) == len(recs)

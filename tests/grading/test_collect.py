"""collect: student ids from file names, folders, zips; duplicate ids refused; every other
file graded or refused with a reason (links leading out, junk, zips over their limits)."""

from __future__ import annotations

import os
import struct
import time
import zipfile
from pathlib import Path

import pytest
from labkit_course.grading import collect as collect_module
from labkit_course.grading.collect import collect, student_id
from labkit_course.grading.course import GradingError
from labkit_course.grading.limits import ZipLimits
from labkit_course.grading.names import safe_name

NB = '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'


def _collect(*inputs: Path, tmp: Path, **kw):
    return collect(list(inputs), notebook="lab1", assignment="lab1", unzip_dir=tmp / "unz", **kw)


def _by_id(found) -> dict:
    return {s.student: s for s in found.submissions}


@pytest.mark.parametrize("name, want", [
    ("alice.ipynb", "alice"), ("alice_lab1.ipynb", "alice"), ("lab1-bob.ipynb", "bob"),
    ("submitted/carol/lab1/lab1.ipynb", "carol"), ("dan/lab1.ipynb", "dan"),
    ("Eve Smith.ipynb", "Eve-Smith"), ("李雷.ipynb", "李雷"), ("josé.ipynb", "jos\u00e9"),
    ("jose\u0301.ipynb", "jos\u00e9"),  # NFD (as macOS writes it) is the same student
    ("josè.ipynb", "jos\u00e8"), ("हिन्दी_lab1.ipynb", "हिन्दी"), ("O'Brien, Ann.ipynb", "O-Brien-Ann"),
])
def test_student_id_from_name(name, want):
    assert student_id(Path(name), "lab1", "lab1") == want


def test_id_pattern_and_its_error():
    canvas = Path("doejane_12345_67890_lab1.ipynb")
    assert student_id(canvas, "lab1", "lab1", r"^(?P<student>[^_]+)_") == "doejane"
    with pytest.raises(GradingError, match="no 'student' group"):
        student_id(canvas, "lab1", "lab1", r"^x")


def test_collect_folder_zip_and_duplicates(tmp_path):
    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "alice.ipynb").write_text(NB)
    with zipfile.ZipFile(tmp_path / "export.zip", "w") as zf:
        zf.writestr("export/bob_lab1.ipynb", NB)
        zf.writestr("__MACOSX/._bob_lab1.ipynb", "junk")
        zf.writestr("export/readme.pdf", "not a notebook: not extracted")
    found = _collect(tmp_path / "f", tmp_path / "export.zip", tmp=tmp_path)
    subs = found.submissions
    assert [s.student for s in subs] == ["alice", "bob"] and len(subs[0].sha256) == 64
    assert found.refused == [] and not any(s.refused for s in subs)
    assert sorted(p.name for p in (tmp_path / "unz").rglob("*") if p.is_file()) == ["bob_lab1.ipynb"]
    (tmp_path / "f" / "alice_lab1.ipynb").write_text(NB)
    with pytest.raises(GradingError, match="two submissions for student 'alice'"):
        _collect(tmp_path / "f", tmp=tmp_path)
    with pytest.raises(GradingError, match="no such file"):
        _collect(tmp_path / "nope", tmp=tmp_path)


def test_unicode_names_are_distinct_students(tmp_path):
    for name in ("李雷", "josé", "josè", "Zoë"):
        (tmp_path / f"{name}.ipynb").write_text(NB)
    found = _collect(tmp_path, tmp=tmp_path)
    assert sorted(_by_id(found)) == sorted(["李雷", "josé", "josè", "Zoë"])
    assert not any(s.refused for s in found.submissions)


def test_ids_of_any_length_keep_their_name_and_get_short_distinct_file_names(tmp_path):
    long_a, long_b = "a" * 249, "a" * 248 + "b"  # 255-byte file names
    for name in (long_a, long_b, "short"):
        (tmp_path / f"{name}.ipynb").write_text(NB)
    ids = sorted(_by_id(_collect(tmp_path, tmp=tmp_path)))
    assert ids == sorted([long_a, long_b, "short"])
    names = {safe_name(i) for i in ids}
    assert len(names) == 3 and safe_name("short") == "short"
    assert all(len(n.encode()) <= 64 for n in names)
    wide = "李" * 100  # 300 bytes: cut on a character boundary
    assert safe_name(wide).startswith("李" * 13 + "~") and len(safe_name(wide).encode()) <= 64


def test_links_are_followed_only_inside_the_submissions_folder(tmp_path):
    subs, elsewhere = tmp_path / "subs", tmp_path / "elsewhere"
    subs.mkdir()
    elsewhere.mkdir()
    (elsewhere / "secret.txt").write_text("root:x:0:0")
    (elsewhere / "zed.ipynb").write_text(NB)
    (subs / "real").mkdir()
    (subs / "real" / "rita.ipynb").write_text(NB)
    (subs / "amy.ipynb").write_text(NB)
    os.symlink(elsewhere / "secret.txt", subs / "mallory.ipynb")  # outside: not read
    os.symlink(subs / "amy.ipynb", subs / "amy2.ipynb")  # inside: graded
    os.symlink("missing.ipynb", subs / "broken.ipynb")
    os.symlink(elsewhere, subs / "section2")  # a folder outside: named, not walked
    os.symlink(subs / "real", subs / "section3")  # a folder inside: walked once
    os.symlink(subs, subs / "real" / "loop")  # a loop: walked once
    os.mkfifo(subs / "fifo.ipynb")  # reading it would block the grader
    found = _collect(subs, tmp=tmp_path)
    by = _by_id(found)
    assert sorted(by) == ["amy", "amy2", "broken", "fifo", "mallory", "rita"]
    assert by["mallory"].refused == (f"a link to {elsewhere / 'secret.txt'}, outside the "
                                     f"submissions folder {subs}: not read")
    assert by["broken"].refused == f"a link to {subs / 'missing.ipynb'}, which does not exist"
    assert by["fifo"].refused == "not a regular file: not read"
    assert not by["amy2"].refused and by["amy2"].sha256 == by["amy"].sha256
    assert not by["rita"].refused
    assert found.refused == [f"{subs / 'section2'}: a link to {elsewhere}, outside the submissions "
                             f"folder {subs}: not read"]


def test_files_that_cannot_be_notebooks_are_refused_cheaply(tmp_path):
    with zipfile.ZipFile(tmp_path / "junk.zip", "w") as zf:
        for i in range(2000):
            zf.writestr(f"junk/s{i}.ipynb", "MZ\x90\x00 not a notebook")
        zf.writestr("junk/good.ipynb", NB)
    t0 = time.monotonic()
    found = _collect(tmp_path / "junk.zip", tmp=tmp_path)
    assert time.monotonic() - t0 < 10  # a few ms each, however loaded the machine
    by = _by_id(found)
    assert len(by) == 2001 and not by["good"].refused
    assert "not a readable Jupyter notebook" in by["s7"].refused


def _lie_about_size(path: Path, declared: int) -> None:
    """Rewrite the uncompressed size of a zip's one member as ``declared``, in its local header
    and in the central directory (what a crafted zip does)."""
    data = bytearray(path.read_bytes())
    local, central = data.index(b"PK\x03\x04"), data.index(b"PK\x01\x02")
    data[local + 22:local + 26] = data[central + 24:central + 28] = struct.pack("<I", declared)
    path.write_bytes(bytes(data))


def test_zip_members_over_the_limits_are_refused_before_extracting(tmp_path):
    with zipfile.ZipFile(tmp_path / "e.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("e/big.ipynb", "{" + " " * 3000 + "}")  # over a 2 KiB member limit
        zf.writestr("e/zeros.ipynb", b"\0" * (2 * 2**20))  # 2 MiB compressed ~500 to 1
        zf.writestr("e/ok.ipynb", NB)
        zf.writestr("../../up.ipynb", NB)
    found = _collect(tmp_path / "e.zip", tmp=tmp_path, zip_limits=ZipLimits(member_bytes=2**11 + 2**21))
    by = _by_id(found)
    assert not by["ok"].refused and by["ok"].path.read_text() == NB
    assert by["zeros"].refused.startswith("zip member 'e/zeros.ipynb': it is compressed ")
    assert "to 1 (limit 200, --zip-ratio-limit): not extracted" in by["zeros"].refused
    assert by["up"].refused == "zip member '../../up.ipynb': its path leads out of the zip's folder: not extracted"
    found = _collect(tmp_path / "e.zip", tmp=tmp_path, zip_limits=ZipLimits(member_bytes=2048))
    assert _by_id(found)["big"].refused == ("zip member 'e/big.ipynb': it declares 2.9 KiB (limit "
                                            "2 KiB, --zip-member-limit): not extracted")
    extracted = {p.name for p in (tmp_path / "unz").rglob("*.ipynb")}
    assert extracted == {"ok.ipynb", "big.ipynb"}  # big fitted the first run's limit


def test_a_zip_declaring_gigabytes_is_refused_unread_and_a_size_lie_is_caught(tmp_path):
    body = b"{" + b"a" * 54319 + b"}"  # 54,321 bytes
    for name, declared in (("bomb", 5 * 2**30 // 2), ("liar", 100)):
        with zipfile.ZipFile(tmp_path / f"{name}.zip", "w", zipfile.ZIP_STORED) as zf:
            zf.writestr(f"{name}/{name}.ipynb", body)
        _lie_about_size(tmp_path / f"{name}.zip", declared)
    t0 = time.monotonic()
    by = _by_id(_collect(tmp_path / "bomb.zip", tmp_path / "liar.zip", tmp=tmp_path))
    assert time.monotonic() - t0 < 5
    assert by["bomb"].refused == ("zip member 'bomb/bomb.ipynb': it declares 2.5 GiB (limit 64 MiB, "
                                  "--zip-member-limit): not extracted")
    assert by["liar"].refused.startswith("zip member 'liar/liar.ipynb': it cannot be extracted (BadZipFile")
    assert not list((tmp_path / "unz").rglob("*.ipynb"))


def test_a_zip_over_its_limits_is_named_and_nothing_is_extracted(tmp_path, monkeypatch):
    with zipfile.ZipFile(tmp_path / "many.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(30):
            zf.writestr(f"many/s{i}.ipynb", NB + " " * 20_000)  # compresses ~200 to 1
    (tmp_path / "bad.zip").write_bytes(b"PK\x03\x04 truncated")
    found = _collect(tmp_path / "many.zip", tmp_path / "bad.zip", tmp=tmp_path,
                     zip_limits=ZipLimits(members=29))
    assert found.submissions == []
    assert found.refused[0] == f"{tmp_path / 'many.zip'}: 30 members (limit 29, --zip-members-limit): nothing extracted"
    assert found.refused[1].startswith(f"{tmp_path / 'bad.zip'}: not a readable zip file (")
    monkeypatch.setattr(collect_module, "_ZIP_TOTAL_FLOOR", 2**16)  # instead of 64 MiB of members
    found = _collect(tmp_path / "many.zip", tmp=tmp_path, zip_limits=ZipLimits(ratio=50))
    assert found.submissions == [] and "more than 50 times the zip's" in found.refused[0]
    assert not (tmp_path / "unz").exists()
    assert len(_collect(tmp_path / "many.zip", tmp=tmp_path).submissions) == 30  # defaults


def test_a_name_without_an_id_is_named_and_the_rest_goes_on(tmp_path):
    (tmp_path / "alice.ipynb").write_text(NB)
    (tmp_path / "+++.ipynb").write_text(NB)
    found = _collect(tmp_path, tmp=tmp_path)
    assert list(_by_id(found)) == ["alice"]
    assert found.refused == [f"{tmp_path / '+++.ipynb'}: cannot make a student id from "
                             f"{tmp_path / '+++.ipynb'}: rename it <student>.ipynb or pass "
                             "--id-pattern; not graded"]


def test_a_zip_member_that_cannot_be_written_is_refused_and_the_rest_extracted(tmp_path):
    with zipfile.ZipFile(tmp_path / "e.zip", "w") as zf:
        zf.writestr("e/a.ipynb", NB)
        zf.writestr("e/a.ipynb/b.ipynb", NB)  # a file where a folder would be needed
        zf.writestr("e/c.ipynb", NB)
    by = _by_id(_collect(tmp_path / "e.zip", tmp=tmp_path))
    assert not by["a"].refused and not by["c"].refused
    assert by["b"].refused.startswith("zip member 'e/a.ipynb/b.ipynb': it cannot be extracted (")


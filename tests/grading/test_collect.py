"""collect: student ids from file names, folders, zips; duplicate ids refused."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from labkit.grading.collect import collect, student_id
from labkit.grading.course import GradingError


@pytest.mark.parametrize("name, want", [
    ("alice.ipynb", "alice"), ("alice_lab1.ipynb", "alice"), ("lab1-bob.ipynb", "bob"),
    ("submitted/carol/lab1/lab1.ipynb", "carol"), ("dan/lab1.ipynb", "dan"),
    ("Eve Smith.ipynb", "Eve-Smith"),
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
    (tmp_path / "f" / "alice.ipynb").write_text("{}")
    with zipfile.ZipFile(tmp_path / "export.zip", "w") as zf:
        zf.writestr("export/bob_lab1.ipynb", "{}")
        zf.writestr("__MACOSX/._bob_lab1.ipynb", "junk")
    subs = collect([tmp_path / "f", tmp_path / "export.zip"], notebook="lab1", assignment="lab1",
                   unzip_dir=tmp_path / "unz")
    assert [s.student for s in subs] == ["alice", "bob"] and len(subs[0].sha256) == 64
    (tmp_path / "f" / "alice_lab1.ipynb").write_text("{}")
    with pytest.raises(GradingError, match="two submissions for student 'alice'"):
        collect([tmp_path / "f"], notebook="lab1", assignment="lab1", unzip_dir=tmp_path / "unz")
    with pytest.raises(GradingError, match="no such file"):
        collect([tmp_path / "nope"], notebook="lab1", assignment="lab1", unzip_dir=tmp_path / "unz")

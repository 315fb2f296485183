"""The source notebook's reviewable twin (labkit_course.source_script) and its sync by `labkit release`."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import nbformat
import pytest

from labkit_course import release
from labkit_course.source_notebook import default_course_dir
from labkit_course.source_script import notebook_from_script, render_script, script_path, sync_source

SOURCE = default_course_dir() / "source" / "lab1" / "lab1.ipynb"


@pytest.fixture
def course(tmp_path: Path) -> Path:
    """The repository's course (source, release, config), copied; no script yet."""
    dest = tmp_path / "notebooks"
    dest.mkdir()
    shutil.copy2(default_course_dir() / "nbgrader_config.py", dest)
    for part in ("source", "release"):
        shutil.copytree(default_course_dir() / part, dest / part)
    script_path(dest, "lab1").unlink(missing_ok=True)
    return dest


def _touch_later(path: Path, seconds: float) -> None:
    t = time.time() + seconds
    os.utime(path, (t, t))


def test_the_script_round_trips_to_the_same_notebook_bytes():
    nb = nbformat.read(SOURCE, as_version=4)
    text = render_script(nb)
    assert text.startswith("# %%") and "# ---" not in text.splitlines()[0]  # no YAML header
    assert '"grade_id": "q2_fine_grained_prune"' in text  # nbgrader metadata on the # %% line
    assert nbformat.writes(notebook_from_script(text, like=nb)) + "\n" == SOURCE.read_text()


def test_sync_writes_the_script_then_finds_the_pair_in_sync(course):
    notebook = course / "source" / "lab1" / "lab1.ipynb"
    before = notebook.read_bytes()
    assert sync_source(course, "lab1", check=True).state == "script missing"
    assert not script_path(course, "lab1").exists()  # check writes nothing
    assert sync_source(course, "lab1").state == "script written"
    assert sync_source(course, "lab1", check=True).state == "in sync"
    _touch_later(script_path(course, "lab1"), 5)  # newer but equal: nothing to do
    assert sync_source(course, "lab1").state == "in sync"
    assert notebook.read_bytes() == before


def test_an_edit_of_the_script_reaches_the_notebook(course):
    notebook = course / "source" / "lab1" / "lab1.ipynb"
    sync_source(course, "lab1")
    script = script_path(course, "lab1")
    old = nbformat.read(notebook, as_version=4)
    text = script.read_text()
    edited = text.replace("# # Lab 1: Pruning\n", "# # Lab 1: Pruning, edited\n", 1)
    edited = edited.replace("# %% [markdown]\n# # Lab 1", "# %%\nanswer = 42\n\n# %% [markdown]\n# # Lab 1", 1)
    assert edited.count("edited") == text.count("edited") + 1 and "answer = 42" in edited
    script.write_text(edited)
    assert sync_source(course, "lab1", check=True).state == "differ"
    _touch_later(script, 5)
    assert sync_source(course, "lab1").state == "notebook updated"
    new = nbformat.read(notebook, as_version=4)
    nbformat.validate(new)
    assert len(new.cells) == len(old.cells) + 1
    added = next(c for c in new.cells if c.source == "answer = 42")
    assert added.id and added.id not in {c.id for c in old.cells}
    assert any(c.source.startswith("# Lab 1: Pruning, edited") for c in new.cells)
    kept = [c for c in new.cells if c.source != "answer = 42"]
    assert [c.id for c in kept] == [c.id for c in old.cells]  # ids and nbgrader metadata kept
    assert [c.metadata for c in kept] == [c.metadata for c in old.cells]
    assert new.metadata == old.metadata
    assert sync_source(course, "lab1", check=True).state == "in sync"


def test_an_edit_of_the_notebook_reaches_the_script(course):
    notebook = course / "source" / "lab1" / "lab1.ipynb"
    sync_source(course, "lab1")
    nb = nbformat.read(notebook, as_version=4)
    nb.cells[0].source += "\n# edited in Jupyter"
    nbformat.write(nb, notebook)
    _touch_later(notebook, 5)
    assert sync_source(course, "lab1").state == "script written"
    assert "# edited in Jupyter" in script_path(course, "lab1").read_text()


@pytest.mark.slow
def test_release_syncs_the_script_and_check_fails_when_they_differ(course, capsys):
    report = release.run_release(course, "lab1", grade=False, verbose=True)
    assert report.script == "script written" and script_path(course, "lab1").is_file()
    released = sorted(p.name for p in (course / "release" / "lab1").iterdir())
    assert released == ["lab1.ipynb"]  # the script (with solutions) never reaches students
    assert "wrote source-py/lab1.py from the source notebook" in capsys.readouterr().out
    assert release.run_release(course, "lab1", check=True, grade=False, verbose=False).ok
    script = script_path(course, "lab1")
    script.write_text(script.read_text().replace("# # Lab 1: Pruning", "# # Lab 1: Pruning!", 1))
    failed = release.run_release(course, "lab1", check=True, grade=False, verbose=True)
    assert not failed.ok and failed.script == "differ"
    assert "AUDIT FAILED" in capsys.readouterr().out and "source script out of sync" in failed.summary()

"""The source notebook's reviewable twin: a jupytext percent-format script, kept in sync.

A notebook is JSON, so an instructor's edit of ``<course>/source/<a>/<a>.ipynb`` is hard to
review as a diff. Its twin ``<course>/source-py/<a>.py`` holds the same cells as plain Python
(``# %%`` starts a code cell, ``# %% [markdown]`` a markdown cell; each cell's nbgrader metadata
sits on its ``# %%`` line), so a change reads as an ordinary diff. The script lives outside
``source/<a>/`` on purpose: nbgrader copies every file of that folder into the student release.

:func:`sync_source` keeps the pair equal, the way ``jupytext --sync`` does: when they differ,
the file modified last wins; cell ids, outputs and the notebook's own metadata always come from
the notebook, so syncing an unchanged pair changes no byte. ``labkit release`` syncs before it
regenerates the release; ``labkit release --check`` only compares and fails when they differ.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat import NotebookNode

__all__ = ["FORMAT", "SourcePair", "script_path", "render_script", "notebook_from_script",
           "sync_source"]

# percent format without a YAML header: notebook metadata (kernelspec ...) stays in the notebook
FORMAT = {"extension": ".py", "format_name": "percent", "notebook_metadata_filter": "-all"}


def script_path(course: Path, assignment: str) -> Path:
    """``<course>/source-py/<assignment>.py``."""
    return Path(course) / "source-py" / f"{assignment}.py"


def render_script(nb: NotebookNode) -> str:
    """The notebook as the percent-format script (what :func:`sync_source` writes)."""
    import jupytext

    return jupytext.writes(nb, fmt=FORMAT)


def notebook_from_script(text: str, like: NotebookNode | None = None) -> NotebookNode:
    """The notebook the script ``text`` describes.

    Cells that match a cell of ``like`` (the notebook it was written from) keep that cell's id
    and outputs, and the notebook keeps ``like``'s metadata; new cells get an id from their
    nbgrader ``grade_id`` or, failing that, from a hash of their position and source.
    """
    import jupytext
    from jupytext.combine import combine_inputs_with_outputs

    nb = jupytext.reads(text, fmt=FORMAT)
    if like is not None:
        nb = combine_inputs_with_outputs(nb, like, fmt=FORMAT)
        nb.metadata = like.metadata
    nb.nbformat, nb.nbformat_minor = 4, max(5, (like or nb).get("nbformat_minor", 5))
    taken = {c.get("id") for c in nb.cells}
    for i, cell in enumerate(nb.cells):
        if not cell.get("id"):
            gid = cell.metadata.get("nbgrader", {}).get("grade_id")
            cid = gid if gid and gid not in taken else hashlib.sha1(
                f"{i}\0{cell.source}".encode()).hexdigest()[:12]
            cell["id"] = cid
            taken.add(cid)
    return nb


@dataclass(frozen=True)
class SourcePair:
    """The state of a source notebook and its script after :func:`sync_source`.

    Attributes:
        notebook: the source notebook; script: its percent-format twin.
        state: ``"in sync"``; ``"script written"`` / ``"notebook updated"`` (this call synced
            them, in that direction); ``"script missing"`` / ``"differ"`` (``check`` only:
            nothing was written).
    """

    notebook: Path
    script: Path
    state: str

    @property
    def ok(self) -> bool:
        """False when ``check`` found the pair out of sync."""
        return self.state not in ("script missing", "differ")


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def sync_source(course: Path, assignment: str, *, check: bool = False) -> SourcePair:
    """Make ``<course>``'s source notebook and its script equal (see the module docstring).

    Args:
        course: the nbgrader course folder.
        assignment: the assignment (and notebook) name.
        check: only compare; write nothing.

    Raises:
        FileNotFoundError: the source notebook is missing.
    """
    nb_path = Path(course) / "source" / assignment / f"{assignment}.ipynb"
    py_path = script_path(course, assignment)
    if not nb_path.is_file():
        raise FileNotFoundError(f"no source notebook at {nb_path}")
    nb = nbformat.read(nb_path, as_version=4)
    rendered = render_script(nb)
    if not py_path.is_file():
        if check:
            return SourcePair(nb_path, py_path, "script missing")
        _write_text(py_path, rendered)
        return SourcePair(nb_path, py_path, "script written")
    text = py_path.read_text(encoding="utf-8")
    if text == rendered:
        return SourcePair(nb_path, py_path, "in sync")
    if check:
        return SourcePair(nb_path, py_path, "differ")
    if nb_path.stat().st_mtime >= py_path.stat().st_mtime:  # the notebook was edited last
        _write_text(py_path, rendered)
        return SourcePair(nb_path, py_path, "script written")
    updated = notebook_from_script(text, like=nb)
    _write_text(nb_path, nbformat.writes(updated) + "\n")
    _write_text(py_path, render_script(updated))  # normalised, so the pair now compares equal
    return SourcePair(nb_path, py_path, "notebook updated")

"""What the similarity check reads: a graded out folder's records, release and source
notebooks, and a folder of known solutions (:mod:`labkit_course.grading.similarity`)."""

from __future__ import annotations

import json
from pathlib import Path

from labkit_course.grading.course import GradingError
from labkit_course.grading.results import read_records
from labkit_course.grading.similarity import Evidence, find_evidence

__all__ = ["notebook_texts", "known_texts", "evidence_for_out"]


def _cell_text(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def notebook_texts(path: Path) -> list[tuple[str, str, str]]:
    """``(grade_id or "", "code" | "text", source)`` of each code and markdown cell of the
    notebook ``path`` (read as JSON: no schema needed)."""
    cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    out = []
    for c in cells:
        if c.get("cell_type") not in ("code", "markdown"):
            continue
        gid = c.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")
        out.append((gid, "code" if c["cell_type"] == "code" else "text", _cell_text(c)))
    return out


def known_texts(folder: Path) -> dict[str, dict[str, str]]:
    """``file -> {"code": all its code, "text": all its prose}`` for each ``.ipynb`` and
    ``.py`` file under ``folder`` (a ``.py`` file is all code), by path relative to it.

    Raises:
        GradingError: a ``.ipynb`` file is not a readable notebook (named, with what to do).
    """
    known = {}
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or ".ipynb_checkpoints" in path.parts:
            continue
        name = str(path.relative_to(folder))
        if path.suffix == ".ipynb":
            try:
                cells = notebook_texts(path)
            except (ValueError, UnicodeDecodeError, AttributeError, KeyError) as exc:
                raise GradingError(f"{path} (in --known) is not a readable notebook ({exc}): "
                                   "remove it from the folder, or save it again from Jupyter"
                                   ) from None
            known[name] = {kind: "\n".join(t for _, k, t in cells if k == kind)
                           for kind in ("code", "text")}
        elif path.suffix == ".py":
            known[name] = {"code": path.read_text(encoding="utf-8", errors="replace"), "text": ""}
    return known


def evidence_for_out(out: Path, known: Path | None = None) -> tuple[Evidence, str]:
    """:func:`find_evidence` for the graded out folder ``out`` (its records, and the release
    and source notebooks of its master course ``out/course``) and the known solutions under
    ``known``; return it with the assignment's name.

    Raises:
        GradingError: ``out`` is not a graded out folder, or ``known`` is not a folder.
    """
    releases = sorted((out / "course" / "release").glob("*/*.ipynb"))
    if len(releases) != 1 or not (out / "results").is_dir():
        raise GradingError(f"{out} is not a graded out folder (expected results/ and one "
                           "course/release/<assignment>/<notebook>.ipynb): pass the --out "
                           "folder of `labkit grade`")
    release = releases[0]
    assignment = release.parent.name
    source = out / "course" / "source" / assignment / release.name
    if known is not None and not known.is_dir():
        raise GradingError(f"--known {known} is not a folder: pass the folder of known "
                           "solution notebooks (.ipynb) or scripts (.py)")
    records = {s: r for s, r in read_records(out / "results").items() if r.status != "missing"}
    ev = find_evidence(records, notebook_texts(release),
                       notebook_texts(source) if source.is_file() else [],
                       known_texts(known) if known is not None else None)
    return ev, assignment

"""Check and repair a submitted notebook before nbgrader sees it.

nbgrader stops a whole batch on a duplicated grade_id, silently scores 0 for a deleted or
metadata-stripped test cell, and keeps huge outputs. :func:`prescan` turns each of these into
a repaired notebook plus a clear message for the student's feedback:

* unreadable file / not a notebook -> ``None`` (status ``invalid``);
* outputs are dropped (they are regenerated; a huge one is reported);
* a duplicated grade_id keeps its first cell; later copies become ordinary cells;
* a graded cell whose nbgrader metadata was stripped gets it back when it can be matched
  (same first line, or the position right after its neighbour in the release);
* a deleted test cell or free-text answer cell is put back from the release (nbgrader then
  restores the hidden tests; a put-back answer scores nothing until a TA grades it);
* an edited locked cell is reported (nbgrader restores its source).
"""

from __future__ import annotations

import copy
import json

import nbformat
from nbformat import NotebookNode

__all__ = ["prescan", "MAX_BYTES"]

MAX_BYTES = 100 * 2**20  # larger files are rejected as invalid
_BIG_OUTPUT = 2**20


def _gid(cell: NotebookNode) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def prescan(raw: bytes, release: NotebookNode) -> tuple[NotebookNode | None, list[str]]:
    """Return ``(repaired notebook or None when unreadable, messages)`` for one submission.

    Args:
        raw: the submitted file's bytes.
        release: the assignment's release notebook (what students were given).
    """
    if len(raw) > MAX_BYTES:
        return None, [f"the file is {len(raw) / 2**20:.0f} MiB (limit {MAX_BYTES // 2**20} MiB): "
                      "clear the outputs (Kernel > Restart & Clear Output) and resubmit"]
    try:
        nb = nbformat.reads(raw.decode("utf-8"), as_version=4)
        cells = nb.cells
        if not isinstance(cells, list):
            raise ValueError("'cells' is not a list")
        for cell in cells:
            if cell.get("cell_type") not in ("code", "markdown", "raw") or not isinstance(
                    cell.get("source"), str):
                raise ValueError("a cell has no valid cell_type or source")
    except Exception as exc:  # any way of not being a notebook: JSON, schema, version, types
        return None, [f"this file is not a readable Jupyter notebook ({type(exc).__name__}: "
                      f"{str(exc)[:200]}); resubmit the .ipynb file saved by Jupyter"]
    messages: list[str] = []
    out_bytes = 0
    for cell in cells:
        cell.setdefault("metadata", {})
        if cell.get("cell_type") == "code":
            out_bytes += len(json.dumps(cell.get("outputs", [])))
            cell["outputs"], cell["execution_count"] = [], None
    if out_bytes > _BIG_OUTPUT:
        messages.append(f"the notebook carried {out_bytes / 2**20:.1f} MiB of outputs; they were "
                        "cleared before grading (outputs are regenerated)")

    seen: set[str] = set()
    for i, cell in enumerate(cells):
        gid = _gid(cell)
        if gid is None:
            continue
        if gid in seen:
            del cell.metadata["nbgrader"]
            messages.append(f"cell {i} duplicates the graded cell '{gid}': the first copy is graded, "
                            "this one runs as an ordinary cell")
        seen.add(gid)

    graded = {_gid(c): c for c in release.cells if _gid(c)}
    _restore_missing(nb, release, seen, messages)

    by_id = {_gid(c): c for c in nb.cells if _gid(c)}
    for gid, rel in graded.items():
        meta = rel.metadata["nbgrader"]
        sub = by_id.get(gid)
        if sub is not None and meta.get("locked") and sub.source != rel.source:
            messages.append(f"the locked cell '{gid}' was edited; the original was restored")
    return nb, messages


def _restore_missing(nb: NotebookNode, release: NotebookNode, seen: set[str],
                     messages: list[str]) -> None:
    """Give stripped cells their metadata back, or re-insert deleted graded cells."""
    cells = nb.cells
    pos = -1  # index in the submission of the last matched release cell
    for rel in release.cells:
        gid = _gid(rel)
        if gid is not None and gid in seen:
            pos = next(i for i, c in enumerate(cells) if _gid(c) == gid)
            continue
        if gid is None:  # ordinary cell: follow it by identical source
            match = next((i for i, c in enumerate(cells) if i > pos and c.get("source") == rel.source
                          and _gid(c) is None), None)
            pos = match if match is not None else pos
            continue
        meta = rel.metadata["nbgrader"]
        if not (meta.get("grade") or meta.get("solution")):
            continue  # a locked prompt cell: nothing depends on it
        candidates = [i for i, c in enumerate(cells) if i > pos and _gid(c) is None
                      and c.get("cell_type") == rel.cell_type]
        first = _first_line(rel.source)
        match = next((i for i in candidates if first and _first_line(cells[i].source) == first), None)
        if match is None and pos + 1 in candidates and not meta.get("locked"):
            match = pos + 1  # an answer cell right after its prompt
        if match is not None:
            cells[match].metadata["nbgrader"] = copy.deepcopy(meta)
            messages.append(f"cell {match} had lost its nbgrader metadata; it was recognised as "
                            f"'{gid}' and graded as such")
            pos = match
            continue
        if meta.get("grade"):
            cells.insert(pos + 1, copy.deepcopy(rel))
            what = "test cell" if not meta.get("solution") else "answer cell (it scores 0 until a TA grades it)"
            messages.append(f"the graded {what} '{gid}' was deleted or unrecognisable; it was put back "
                            "from the release")
            pos += 1
        else:
            messages.append(f"the answer cell '{gid}' is missing or lost its metadata; the tests use "
                            "whatever your notebook defines")

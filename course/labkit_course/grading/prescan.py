"""Check a submitted notebook before nbgrader sees it: only what nbgrader's autograde lacks.

nbgrader's autograde first *sanitizes* the submission (``Autograde.sanitize_preprocessors``:
``ClearOutput``, ``DeduplicateIds``, ``OverwriteKernelspec``, ``OverwriteCells`` with
``add_missing_cells = True`` in the course config, ``CheckCellMetadata``), then executes it.
So nbgrader itself clears every output, restores the source of an edited locked cell (and the
hidden tests of a test cell), and puts a deleted graded cell back after the graded or answer
cell that precedes it in the assignment. :func:`prescan` leaves those repairs to nbgrader and
only tells the student about them. What it does itself is what nbgrader lacks:

* an unreadable or oversized file -> ``None`` (status ``invalid``) with a clear message
  (nbgrader would stop on it with a traceback);
* a cell carrying nbgrader metadata with a grade_id the assignment does not have (copied from
  another version of the notebook) loses that metadata and runs as an ordinary cell, with a
  message (nbgrader would fail the whole notebook: its gradebook has no such grade);
* a graded or answer cell whose nbgrader metadata was stripped (nbgrader sees a deleted cell
  and an ordinary one) gets it back when it can be matched: same first line, or, for an
  answer cell, the position right after its neighbour in the assignment;
* **duplicated cells** -- the one rule, nbgrader's own (its ``DeduplicateIds``, run here):
  when several cells carry the same grade_id, the LAST copy keeps the id and is graded; the
  earlier copies lose their nbgrader metadata and run as ordinary cells. prescan runs
  ``DeduplicateIds`` itself and then removes the empty ``nbgrader: {}`` it leaves on the
  earlier copies, which nbgrader's next steps cannot read (``OverwriteCells`` raises
  ``KeyError: 'grade_id'``, so without this the whole notebook fails to grade);
* a deleted graded cell that nbgrader cannot place -- the cell before it in the assignment is
  a locked prompt, or an answer cell that is missing too (``OverwriteCells`` raises
  ``KeyError`` there) -- is put back from the release at its place.

Messages (for the feedback page) report each of these, and what nbgrader will silently
repair: an edited locked cell, a deleted cell it puts back, huge outputs it clears.
"""

from __future__ import annotations

import copy
import json

import nbformat
from nbformat import NotebookNode

__all__ = ["prescan", "quick_check", "size_check", "MAX_BYTES"]

MAX_BYTES = 100 * 2**20  # larger files are rejected as invalid
_BIG_OUTPUT = 2**20


def _gid(cell: NotebookNode) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def _unreadable(exc: Exception) -> str:
    return (f"this file is not a readable Jupyter notebook ({type(exc).__name__}: "
            f"{str(exc)[:200]}); resubmit the .ipynb file saved by Jupyter")


def size_check(size: int) -> str:
    """Why a file of ``size`` bytes is refused ("" = it is not too large)."""
    if size <= MAX_BYTES:
        return ""
    return (f"the file is {size / 2**20:.0f} MiB (limit {MAX_BYTES // 2**20} MiB): clear the "
            "outputs (Kernel > Restart & Clear Output) and resubmit")


def quick_check(raw: bytes) -> str:
    """Why ``raw`` cannot be a notebook, found without reading it as one ("" = it may be one):
    its size, UTF-8 and a JSON object holding a list of cells. A JSON parse, no more: the
    grader refuses such files before it starts a worker for them."""
    if size_check(len(raw)):
        return size_check(len(raw))
    try:
        data = json.loads(raw.decode("utf-8"))
        if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
            raise ValueError("no list of 'cells' in it")
    except Exception as exc:  # any way of not being JSON: encoding, syntax, nesting depth
        return _unreadable(exc)
    return ""


def _read(raw: bytes) -> tuple[NotebookNode | None, str]:
    """The notebook in ``raw``, or ``(None, why not)``."""
    why = quick_check(raw)
    if why:
        return None, why
    try:
        nb = nbformat.reads(raw.decode("utf-8"), as_version=4)
        if not isinstance(nb.cells, list):
            raise ValueError("'cells' is not a list")
        for cell in nb.cells:
            if cell.get("cell_type") not in ("code", "markdown", "raw") or not isinstance(
                    cell.get("source"), str):
                raise ValueError("a cell has no valid cell_type or source")
    except Exception as exc:  # any way of not being a notebook: schema, version, types
        return None, _unreadable(exc)
    return nb, ""


def prescan(raw: bytes, release: NotebookNode) -> tuple[NotebookNode | None, list[str]]:
    """Return ``(notebook for nbgrader, or None when unreadable; messages)`` for one submission.

    Args:
        raw: the submitted file's bytes.
        release: the assignment's release notebook (what students were given).
    """
    nb, why = _read(raw)
    if nb is None:
        return None, [why]
    messages: list[str] = []
    for cell in nb.cells:
        cell.setdefault("metadata", {})
    out_bytes = sum(len(json.dumps(c.get("outputs", []))) for c in nb.cells if c.cell_type == "code")
    if out_bytes > _BIG_OUTPUT:  # nbgrader's ClearOutput drops them; a huge one is worth a note
        messages.append(f"the notebook carried {out_bytes / 2**20:.1f} MiB of outputs; they were "
                        "cleared before grading (every cell is run again)")
    _unknown_ids(nb, release, messages)
    _deduplicate(nb, messages)
    present = _restore_metadata(nb, release, messages)
    _deleted(nb, release, present, messages)
    by_id = {_gid(c): c for c in nb.cells if _gid(c)}
    for rel in release.cells:
        gid, sub = _gid(rel), by_id.get(_gid(rel))
        if sub is not None and rel.metadata["nbgrader"].get("locked") and sub.source != rel.source:
            messages.append(f"the locked cell '{gid}' was edited; nbgrader graded the original")
    return nb, messages


def _unknown_ids(nb: NotebookNode, release: NotebookNode, messages: list[str]) -> None:
    """Strip the nbgrader metadata of cells whose grade_id the assignment does not have (a cell
    copied from another version of the notebook, say), or that is not nbgrader's: they run as
    ordinary cells. nbgrader would stop on such a cell (its gradebook has no such grade)."""
    known = {_gid(c) for c in release.cells} - {None}
    for i, cell in enumerate(nb.cells):
        meta = cell.metadata
        if "nbgrader" not in meta:
            continue
        nbg = meta["nbgrader"]
        gid = nbg.get("grade_id") if isinstance(nbg, dict) else None
        if isinstance(gid, str) and gid in known:
            continue
        del meta["nbgrader"]
        flagged = isinstance(nbg, dict) and any(nbg.get(k) for k in ("grade", "solution", "locked", "task"))
        if gid is not None or flagged or not isinstance(nbg, dict):  # else: nothing lost
            what = f"for {gid!r}, a cell this assignment does not have" if isinstance(gid, str) \
                else "that nbgrader cannot read"
            messages.append(f"cell {i} carries nbgrader metadata {what} (copied from another "
                            "version of the notebook?); it runs as an ordinary cell and is not graded")


def _deduplicate(nb: NotebookNode, messages: list[str]) -> None:
    """nbgrader's rule for duplicated grade_ids (its DeduplicateIds: the last copy keeps the id),
    minus the empty metadata it leaves behind (see the module docstring)."""
    from nbgrader.preprocessors import DeduplicateIds

    before = [_gid(c) for c in nb.cells]
    nb, _ = DeduplicateIds().preprocess(nb, {})
    for cell in nb.cells:
        if cell.metadata.get("nbgrader") == {}:
            del cell.metadata["nbgrader"]
    for gid in dict.fromkeys(g for g in before if g is not None and before.count(g) > 1):
        copies = [i for i, g in enumerate(before) if g == gid]
        if sum(_gid(nb.cells[i]) == gid for i in copies) != 1:
            continue  # not an nbgrader cell (no grade/solution/locked flag): nbgrader keeps all
        kept = next(i for i in copies if _gid(nb.cells[i]) == gid)
        others = [str(i) for i in copies if i != kept]
        rest = (f"the earlier copy (cell {others[0]}) runs as an ordinary cell" if len(others) == 1
                else f"the earlier copies (cells {', '.join(others)}) run as ordinary cells")
        messages.append(f"the cell '{gid}' appears {len(copies)} times: as nbgrader does, the last "
                        f"copy (cell {kept}) is graded and {rest}")


def _restore_metadata(nb: NotebookNode, release: NotebookNode, messages: list[str]) -> set[str]:
    """Give graded and answer cells whose nbgrader metadata was stripped their metadata back;
    return the grade_ids now present."""
    cells = nb.cells
    present = {g for g in map(_gid, cells) if g}
    pos = -1  # index in the submission of the last matched release cell
    for rel in release.cells:
        gid = _gid(rel)
        if gid is not None and gid in present:
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
            present.add(gid)
            pos = match
    return present


def _deleted(nb: NotebookNode, release: NotebookNode, present: set[str], messages: list[str]) -> None:
    """Report missing graded and answer cells; put back the graded ones nbgrader cannot place.

    nbgrader's ``OverwriteCells.add_missing_grade_cells`` inserts a missing graded cell right
    after the assignment's previous nbgrader cell, which it must find among the submission's
    graded and answer cells (or those it put back before): anything else raises ``KeyError``.
    """
    def graded_or_answer(meta: dict) -> bool:
        return bool(meta.get("grade") or meta.get("solution"))

    placed = {_gid(c) for c in release.cells if _gid(c) in present
              and graded_or_answer(c.metadata["nbgrader"])}  # the cells nbgrader can find
    prev: str | None = None  # the previous nbgrader cell of the release
    for k, rel in enumerate(release.cells):
        gid = _gid(rel)
        if gid is None:
            continue
        meta = rel.metadata["nbgrader"]
        if gid in present or not graded_or_answer(meta):
            prev = gid
            continue
        if not meta.get("grade"):
            messages.append(f"the answer cell '{gid}' is missing or lost its metadata; the tests "
                            "use whatever your notebook defines")
            prev = gid
            continue
        answer = bool(meta.get("solution"))
        what = "answer cell" if answer else "test cell"
        if prev is None or prev in placed:  # nbgrader's copy starts with a note: a TA grades it
            messages.append(f"the graded {what} '{gid}' was deleted; nbgrader put it back from the "
                            f"assignment{f' after {prev!r}' if prev else ''} and graded it"
                            + (" (it holds no answer of yours)" if answer else ""))
        else:  # nbgrader would stop on this notebook: put it back after the cells before it
            before = {_gid(c) for c in release.cells[:k]} - {None}
            at = max((i + 1 for i, c in enumerate(nb.cells) if _gid(c) in before), default=0)
            nb.cells.insert(at, copy.deepcopy(rel))  # an unchanged answer: nbgrader scores it 0
            present.add(gid)
            messages.append(f"the graded {what} '{gid}' was deleted; it was put back from the "
                            "assignment and graded" + (" (it holds no answer of yours: 0 points)"
                                                       if answer else ""))
        placed.add(gid)
        prev = gid

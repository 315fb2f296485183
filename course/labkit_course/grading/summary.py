"""Read an autograded notebook into a student's record: what each cell was, printed and raised.

Cells are carried by their nbgrader regions, never reconstructed from text: a student's cell
is kept exactly as submitted, a test cell is the release's version of it (its hidden region
gone), and only text that came from the kernel (what a test printed, its error) is scrubbed of
hidden-test code, since a traceback or an error value may quote it.
"""

from __future__ import annotations

import re

import nbformat

from labkit_course import regions
from labkit_course.grading.course import Master
from labkit_course.grading.hidden import HIDDEN_ENAME, StudentCell, raised_in
from labkit_course.grading.results import Record, scrub

__all__ = ["summarise", "kernel_text", "cap_output", "failure_reason", "MAX_OUTPUT_LINES",
           "MAX_OUTPUT_CHARS"]

MAX_OUTPUT_LINES = 40  # lines of a test's printed output shown (the first 30 and the last 10)
MAX_OUTPUT_CHARS = 6000
_MAX_LINE_CHARS = 400
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_CELL_LINE = re.compile(r"Cell In\[\d+\], line (\d+)")


def kernel_text(text: str, hidden: list[str]) -> str:
    """Text from the kernel made fit for the page: colour codes removed, hidden-test code
    scrubbed (see :func:`~labkit_course.grading.results.scrub`)."""
    return scrub(_ANSI.sub("", text), hidden)


def cap_output(text: str, max_lines: int = MAX_OUTPUT_LINES, max_chars: int = MAX_OUTPUT_CHARS) -> str:
    """``text`` cut to its first and last lines when longer than ``max_lines`` lines or
    ``max_chars`` characters, saying how much was left out."""
    lines = [ln if len(ln) <= _MAX_LINE_CHARS else ln[:_MAX_LINE_CHARS] + " [... line cut ...]"
             for ln in text.rstrip("\n").splitlines()]
    if len(lines) <= max_lines and sum(len(ln) + 1 for ln in lines) <= max_chars:
        return "\n".join(lines)
    head, tail = max_lines * 3 // 4, max_lines // 4
    while head + tail > 2 and sum(len(ln) + 1 for ln in lines[:head] + lines[-tail:]) > max_chars:
        head, tail = max(1, head // 2), max(1, tail // 2)
    hidden = len(lines) - head - tail
    return "\n".join(lines[:head] + [f"[... {hidden} more lines not shown: the cell printed "
                                     f"{len(lines)} lines ...]"] + lines[-tail:])


def _one_line(out: dict) -> str:
    return f"{out.get('ename', 'Error')}: {out.get('evalue', '')}".strip()


_STUB = "the code still raises the stub's NotImplementedError: replace `raise NotImplementedError()` by your code"


def _hint(msg: str, where: str = "") -> str:
    """``msg`` with a hint of what to do; ``where``: where in the student's own code it was
    raised (see :func:`~labkit_course.grading.hidden.raised_in`), or ""."""
    if where:
        return f"{msg} (raised in your code, {where})"
    if msg.startswith("NameError"):
        return msg + " (a function or variable the test uses is missing: was it renamed, or " \
                     "did its cell fail?)"
    if msg.startswith("AttributeError: module 'labkit' has no attribute"):
        return msg + " (labkit has no such function: these lines are yours to write)"
    if msg.startswith("MemoryError") or "can't allocate memory" in msg:
        return msg + " (the kernel's memory limit was reached)"
    if msg.rstrip(":") == "NotImplementedError":
        return "NotImplementedError: " + _STUB
    return msg


def _failing_line(error: dict, source: str) -> tuple[str, bool] | None:
    """(the line of ``source`` the error was raised at, whether students can see it), from the
    traceback's first frame (the cell itself); None when it cannot be told."""
    tb = _ANSI.sub("", "\n".join(error.get("traceback") or []))
    m = _CELL_LINE.search(tb)
    if not m:
        return None
    n = int(m.group(1))
    try:
        parts = regions.parse(source)
    except regions.RegionError:
        return None
    for r in parts:
        lines = r.lines()
        if r.first_line <= n < r.first_line + len(lines):
            return lines[n - r.first_line].strip(), r.kind != "hidden"
    return None


def failure_reason(error: dict, source: str, printed: str, where: str = "") -> str:
    """Why a test failed, never empty: the error's type and message (a hidden check's
    grader-built reason as it is); when the message is empty, the visible line that failed
    and a pointer to what the cell printed. ``where``: where in the student's own code the
    error was raised, or ""."""
    if error.get("ename") == HIDDEN_ENAME:
        return str(error.get("evalue", "")) or "a hidden check failed"
    if where:
        return _hint(_one_line(error), where)
    if error.get("evalue", "").strip():
        return _hint(_one_line(error))
    msg = error.get("ename") or "Error"
    where = _failing_line(error, source)
    if msg == "NotImplementedError":
        detail = _STUB + (f"; it was called from: {where[0]}" if where and where[1] else "")
    elif where is None:
        detail = "a check failed without a message"
    elif where[1]:
        detail = f"this check failed: {where[0]}"
    else:
        detail = "a hidden check failed without a message"
    if printed.strip():
        detail += "; the expected and actual values are in what the test printed"
    return f"{msg} ({detail})"


def _printed(cell: nbformat.NotebookNode) -> str:
    """What a cell printed: its streams, and the text of its displayed results."""
    parts = []
    for o in cell.get("outputs", []):
        if o.get("output_type") == "stream":
            parts.append(o.get("text", ""))
        elif o.get("output_type") in ("execute_result", "display_data"):
            text = o.get("data", {}).get("text/plain", "")
            parts.append(text + "\n" if text else "")
    return "".join(parts)


def summarise(nb: nbformat.NotebookNode, master: Master, rec: Record) -> None:
    """Fill failures, answers, cells and messages of ``rec`` from the autograded notebook ``nb``.

    Each entry of ``rec.cells``: ``kind`` (markdown, code = the student's own or changed code,
    given = a release code cell left unchanged, test, manual = a free-text answer),
    ``grade_id``, ``source`` (the student's cell verbatim; for a test, the release's version),
    ``error`` (one line, "" when none) and ``output`` (what a test printed, capped; "" for
    other cells).
    """
    graded = {c.grade_id: c for c in master.cells}
    given = {c.source for c in master.release.cells if c.cell_type == "code"}
    shown = "\n".join(c.source for c in master.release.cells)
    hidden = [ln for ln in master.hidden_lines() if ln not in shown]  # the release shows the rest
    own_cells = {c.execution_count: StudentCell(i, c.source) for i, c in enumerate(nb.cells)
                 if c.cell_type == "code" and c.get("execution_count")
                 and getattr(graded.get(c.metadata.get("nbgrader", {}).get("grade_id", "")), "kind", "")
                 != "test"}
    for i, cell in enumerate(nb.cells):
        meta = cell.metadata.get("nbgrader", {})
        gid = meta.get("grade_id", "")
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        timeouts = [o for o in errors if o.get("ename") == "CellTimeoutError"]
        output = ""
        if gid in graded and graded[gid].kind == "test":
            kind = "test"
            source = graded[gid].release_source or regions.visible(cell.source)
            output = kernel_text(cap_output(_printed(cell)), hidden)
            err = failure_reason(errors[0], cell.source, output,
                                 raised_in(errors[0].get("traceback") or [], own_cells)) if errors else ""
        else:
            err = _hint(_one_line(errors[0]), raised_in(errors[0].get("traceback") or [], own_cells)
                        if errors else "") if errors else ""
            source = cell.source  # the student's cell, exactly as submitted
            if gid in graded:
                kind = "manual"
                rec.answers[gid] = cell.source
            else:
                kind = "code" if cell.cell_type == "code" else "markdown"
                if kind == "code" and source in given and not meta.get("solution"):
                    kind = "given"  # the lab's own cell, unchanged (a solution cell is always shown)
        own = cell.source if kind != "test" else ""
        err = kernel_text(err, [ln for ln in hidden if ln not in own])  # a student's own text stays
        if timeouts and err.startswith("KeyboardInterrupt"):
            err = "CellTimeoutError: this cell ran over the per-cell time limit and was interrupted"
        if kind == "test" and err:
            rec.failures[gid] = err
        elif kind != "test" and err and not err.startswith("NotRun"):
            rec.messages.append(f"cell {i}{f' ({gid})' if gid else ''} raised {err}")
        rec.cells.append({"kind": kind, "grade_id": gid, "source": source, "error": err,
                          "output": output})

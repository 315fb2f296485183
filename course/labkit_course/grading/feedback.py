"""One small self-contained HTML feedback page per student, rendered from the record's cells.

The page shows the status and any notes, the score of each question and test cell (a failed
test's reason links to the test), then the notebook: the student's own cells exactly as
submitted, each test cell as the release shows it (its visible part; hidden tests never
appear), and next to each failed test what it printed (the checks' expected-vs-got lines,
capped) and its error. The lab's unchanged cells appear only when they failed. Below a free-text answer a TA graded:
the rubric items it earned, each with its points and comment, and the grader's comment. Nothing of the
student's code is scrubbed or replaced: the record carries cells by their nbgrader regions
(:mod:`labkit_course.grading.summary`), and only kernel text was scrubbed of hidden-test code.
"""

from __future__ import annotations

import html
from pathlib import Path

from labkit_course.grading.course import Master
from labkit_course.grading.names import safe_name
from labkit_course.grading.outputs import write_text
from labkit_course.grading.results import Record

__all__ = ["render_feedback", "write_feedback"]

_CSS = """body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}
pre{background:#f6f8fa;padding:.6rem;overflow-x:auto;white-space:pre-wrap}
.err{background:#fdecea;color:#8a1c12}.out{background:#fff8e1}.ok{color:#1a7f37}.bad{color:#b42318}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2rem .6rem;text-align:left}
.cell{border-left:4px solid #ddd;padding-left:.8rem;margin:1rem 0}.test{border-color:#6e7781}
.failed{border-color:#b42318}.note{background:#eef6ff}.graded ul{margin:.2rem 0}.code,.manual{border-color:#0969da}small{color:#57606a}"""

_LABELS = {"test": "test", "manual": "your answer", "code": "your code", "given": "the lab's code"}


def _fmt(x: float | None) -> str:
    return "not graded yet" if x is None else f"{x:g}"


def _short(reason: str, limit: int = 200) -> str:
    """A failure reason's first line, cut to ``limit`` characters (the cell shows all of it)."""
    lines = reason.strip().splitlines() or [""]
    first = lines[0] if len(lines[0]) <= limit else lines[0][:limit] + " ..."
    return first + (" ..." if len(lines) > 1 and not first.endswith(" ...") else "")


def _scores_table(rec: Record, master: Master) -> list[str]:
    e = html.escape
    rows = ["<h2>Scores</h2><table><tr><th>question</th><th>cell</th><th>points</th>"
            "<th>out of</th><th>result</th></tr>"]
    for c in master.cells:
        got = rec.scores.get(c.grade_id)
        reason = rec.failures.get(c.grade_id, "")
        if reason:
            result = f"<a href='#{e(c.grade_id)}'>failed</a>: {e(_short(reason))}"
        elif c.kind == "test":
            result = "passed" if got == c.points else (
                "not run (see the notes above)" if rec.messages else "not run")
        else:
            result = ""
        rows.append(f"<tr><td>{e(c.question)}</td><td>{e(c.grade_id)}</td><td>{_fmt(got)}</td>"
                    f"<td>{c.points:g}</td><td class='{'bad' if reason else 'ok'}'>{result}</td></tr>")
    rows.append("</table>")
    return rows


def _grading(gid: str, rec: Record, master: Master) -> list[str]:
    """What the grader applied to free-text answer ``gid``: each rubric item earned with its
    points and comment, and the grader's own comment (nothing when not graded yet)."""
    e = html.escape
    entry = rec.manual.get(gid)
    if not entry:
        return []
    items = master.rubric.items(gid)
    parts = ["<div class='graded'><p><small>graded by a TA:</small></p>"]
    applied = [items[i] for i in entry.get("items", []) if i in items]
    if applied:
        parts.append("<ul>" + "".join(f"<li><b>+{i.points:g}</b> {e(i.comment)}</li>" for i in applied)
                     + "</ul>")
    elif gid in master.rubric.questions:
        parts.append("<p>No item of the rubric was earned.</p>")
    if entry.get("comment"):
        parts.append(f"<p><small>the grader's comment:</small></p><pre class='note'>{e(entry['comment'])}</pre>")
    parts.append("</div>")
    return parts


def _cell(cell: dict, rec: Record, master: Master) -> list[str]:
    e = html.escape
    gid = cell["grade_id"]
    failed = cell["kind"] == "test" and gid in rec.failures
    score = ""
    if gid in rec.max_scores:
        score = f" ({_fmt(rec.scores.get(gid))} / {rec.max_scores[gid]:g})"
    status = {True: " <span class='bad'>failed</span>", False: " <span class='ok'>passed</span>"}
    mark = status[failed] if cell["kind"] == "test" and rec.scores.get(gid) is not None else ""
    anchor = f" id='{e(gid)}'" if gid else ""
    parts = [f"<div class='cell {cell['kind']}{' failed' if failed else ''}'{anchor}>"
             f"<p><b>{_LABELS[cell['kind']]}</b>{f' <code>{e(gid)}</code>' if gid else ''}"
             f"{score}{mark}</p><pre>{e(cell['source'])}</pre>"]
    output = cell.get("output", "")
    if failed and output:
        parts.append(f"<p><small>what the test printed:</small></p><pre class='out'>{e(output)}</pre>")
    if cell["error"]:
        parts.append(f"<p><small>error:</small></p><pre class='err'>{e(cell['error'])}</pre>")
    if cell["kind"] == "manual":
        parts += _grading(gid, rec, master)
    parts.append("</div>")
    return parts


def render_feedback(rec: Record, master: Master) -> str:
    """Return the feedback page of ``rec`` as an HTML string (see the module docstring)."""
    e = html.escape
    total = f"{rec.total:g} / {rec.max_total:g}"
    parts = [f"<!doctype html><meta charset='utf-8'><title>{e(rec.student)}: {e(master.assignment)}"
             f"</title><style>{_CSS}</style>",
             f"<h1>{e(master.assignment)}: feedback for {e(rec.student)}</h1>",
             f"<p>Status: <b>{e(rec.status)}</b>. Score: <b>{total}</b>"
             + (" (free-text answers are graded by a TA later)"
                if any(v is None for v in rec.scores.values()) else "") + "</p>"]
    if rec.messages:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{e(m)}</li>" for m in rec.messages) + "</ul>")
    parts += _scores_table(rec, master)
    parts.append("<h2>Your notebook</h2><p><small>Your cells as you submitted them, and each "
                 "test as your notebook shows it; for a failed test, what it printed and its "
                 "error.</small></p>")
    for cell in rec.cells:
        if cell["kind"] == "markdown" or (cell["kind"] == "given" and not cell["error"]):
            continue  # the lab's own text and cells: not the student's work
        parts += _cell(cell, rec, master)
    return "\n".join(parts)


def write_feedback(rec: Record, master: Master, feedback_dir: Path) -> Path:
    """Write ``feedback_dir/<student>.html`` atomically (mode 0600; a long id: its
    :func:`~labkit_course.grading.names.safe_name`); return its path."""
    return write_text(feedback_dir / f"{safe_name(rec.student)}.html", render_feedback(rec, master))

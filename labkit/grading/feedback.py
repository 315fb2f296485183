"""One small self-contained HTML feedback page per student.

It shows the status and any notes, the score of each question and graded cell, the student's
own cells (the lab's unchanged cells only when they failed), and for each failing test its
message. Test cells appear as students saw them
(the release version): hidden-test sources never reach the page, and every text that comes
from the kernel is scrubbed of hidden-test lines (a test on the page proves it).
"""

from __future__ import annotations

import html
import os
from pathlib import Path

from .course import Master
from .results import Record, scrub

__all__ = ["render_feedback", "write_feedback"]

_CSS = """body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}
pre{background:#f6f8fa;padding:.6rem;overflow-x:auto;white-space:pre-wrap}
.err{background:#fdecea;color:#8a1c12}.ok{color:#1a7f37}.bad{color:#b42318}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2rem .6rem;text-align:left}
.cell{border-left:4px solid #ddd;padding-left:.8rem;margin:1rem 0}.test{border-color:#6e7781}"""


def _fmt(x: float | None) -> str:
    return "not graded yet" if x is None else f"{x:g}"


def render_feedback(rec: Record, master: Master) -> str:
    """Return the feedback page of ``rec`` as an HTML string."""
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
    parts.append("<h2>Scores</h2><table><tr><th>question</th><th>cell</th><th>points</th>"
                 "<th>out of</th><th>result</th></tr>")
    for c in master.cells:
        got = rec.scores.get(c.grade_id)
        result = rec.failures.get(c.grade_id, "")
        cls = "bad" if result else "ok"
        if not result:
            result = "passed" if c.kind == "test" and got == c.points else (
                "" if c.kind == "manual" else "partial")
        parts.append(f"<tr><td>{e(c.question)}</td><td>{e(c.grade_id)}</td><td>{_fmt(got)}</td>"
                     f"<td>{c.points:g}</td><td class='{cls}'>{e(result)}</td></tr>")
    parts.append("</table><h2>Your notebook</h2>")
    for cell in rec.cells:
        if cell["kind"] == "markdown" or (cell["kind"] == "given" and not cell["error"]):
            continue  # the lab's own text and cells: not the student's work
        label = {"test": "test", "manual": "your answer", "code": "your code",
                 "given": "the lab's code"}[cell["kind"]]
        gid = f" <code>{e(cell['grade_id'])}</code>" if cell["grade_id"] else ""
        score = ""
        if cell["grade_id"] in rec.max_scores:
            score = f" ({_fmt(rec.scores.get(cell['grade_id']))} / {rec.max_scores[cell['grade_id']]:g})"
        parts.append(f"<div class='cell {cell['kind']}'><p><b>{label}</b>{gid}{score}</p>"
                     f"<pre>{e(cell['source'])}</pre>")
        if cell["error"]:
            parts.append(f"<pre class='err'>{e(cell['error'])}</pre>")
        parts.append("</div>")
    return scrub("\n".join(parts), [e(h) for h in master.hidden_lines()] + master.hidden_lines())


def write_feedback(rec: Record, master: Master, feedback_dir: Path) -> Path:
    """Write ``feedback_dir/<student>.html`` atomically; return its path."""
    feedback_dir.mkdir(parents=True, exist_ok=True)
    path = feedback_dir / f"{rec.student}.html"
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(render_feedback(rec, master), encoding="utf-8")
    os.replace(tmp, path)
    return path

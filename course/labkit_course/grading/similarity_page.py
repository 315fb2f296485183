"""``similarity.html`` and ``similarity.csv``: the similarity evidence for a person to read.

The page says first that it is evidence, never a score. Then: pairs of students summed over
the items, answers found in known solutions, and the best-ranked matches side by side with
the shared passages highlighted by how many submissions hold them (red: only these two, or
this student and the known file; orange: a few; yellow: many). Every piece of student text is
HTML-escaped; the page loads nothing from the network.

``similarity.csv`` has one row per match: ``rank, compared, item, kind, student, other,
evidence, rarest_shared_by, student_shared, other_shared, identical``; ``compared`` is
``students`` (``other`` a student id) or ``known`` (``other`` a known file).
"""

from __future__ import annotations

import html
from pathlib import Path

from labkit_course.grading.outputs import write_text
from labkit_course.grading.sheets import write_csv
from labkit_course.grading.similarity import CONTAINED, RARE, Answer, Evidence, Match

__all__ = ["CSV_COLUMNS", "csv_rows", "render_page", "write_similarity"]

CSV_COLUMNS = ["rank", "compared", "item", "kind", "student", "other", "evidence",
               "rarest_shared_by", "student_shared", "other_shared", "identical"]
SHOWN = 30  # matches shown side by side, of each list
SUMMARY_ROWS = 50

_CSS = """body{font-family:system-ui,sans-serif;max-width:80rem;margin:2rem auto;padding:0 1rem}
table{border-collapse:collapse;margin:.5rem 0 1.2rem}td,th{border:1px solid #ccc;
padding:.25rem .6rem;text-align:left;vertical-align:top}td.n{text-align:right}
.notice{border:2px solid #9a6700;background:#fff8c5;padding:.6rem 1rem}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:.8rem;margin:.4rem 0 1.6rem}
pre{background:#f6f8fa;padding:.5rem;white-space:pre-wrap;word-break:break-word;margin:0;font-size:85%}
.r2{background:#ffb3b3}.r3{background:#ffd8a8}.rn{background:#fff3b0}small,.note{color:#57606a}
h3{margin-bottom:.2rem}"""


def _holders_per_char(ans: Answer, m: Match) -> list[int]:
    """For each normalised character of ``ans``, the fewest holders of a shared fingerprint
    covering it (0: not shared)."""
    k = ans.fingerprint.k
    best = [0] * len(ans.norm)
    for h, n in m.holders.items():
        for start in ans.fingerprint.hash_idx.get(h, ()):
            for i in range(int(start), min(int(start) + k, len(best))):
                best[i] = n if best[i] == 0 else min(best[i], n)
    return best


def _class(n: int) -> str:
    return "" if n == 0 else "r2" if n <= 2 else "r3" if n <= RARE else "rn"


def _spans(text: str, classes: list[str]) -> str:
    out, run, cls = [], [], ""
    for ch, c in zip(text, classes):
        if c != cls and run:
            joined = html.escape("".join(run))
            out.append(f"<span class='{cls}'>{joined}</span>" if cls else joined)
            run = []
        cls = c
        run.append(ch)
    if run:
        joined = html.escape("".join(run))
        out.append(f"<span class='{cls}'>{joined}</span>" if cls else joined)
    return "".join(out)


def highlight(ans: Answer, m: Match, context: int | None = None) -> str:
    """``ans.text`` as escaped HTML with the passages it shares in ``m`` marked by rarity (a
    white-space gap inside one passage is marked with it; the release's text never is). With ``context``, only the lines
    with a mark and ``context`` lines around them (a known file is long)."""
    per_norm = _holders_per_char(ans, m)
    classes = [""] * len(ans.text)
    for j, i in enumerate(ans.pos):
        classes[i] = "" if ans.given and ans.given[j] else _class(per_norm[j])
    for j in range(len(ans.pos) - 1):  # the dropped characters between two kept ones
        a, b = ans.pos[j], ans.pos[j + 1]
        if classes[a] and classes[a] == classes[b]:
            for i in range(a + 1, b):
                classes[i] = classes[a]
    if context is None:
        return _spans(ans.text, classes)
    lines, start = [], 0
    for line in ans.text.split("\n"):
        lines.append((line, classes[start:start + len(line)]))
        start += len(line) + 1
    marked = [i for i, (_, c) in enumerate(lines) if any(c)]
    keep = sorted({j for i in marked for j in range(i - context, i + context + 1)
                   if 0 <= j < len(lines)})
    out, last = [], -1
    for i in keep:
        if i != last + 1:
            out.append("<small>[...]</small>")
        out.append(_spans(*lines[i]))
        last = i
    if keep and keep[-1] != len(lines) - 1:
        out.append("<small>[...]</small>")
    return "\n".join(out)


def _other(m: Match) -> str:
    return m.b.owner.removeprefix("known:")


def csv_rows(ev: Evidence) -> list[list[object]]:
    """The rows of ``similarity.csv`` (module docstring): student pairs, then known files."""
    rows: list[list[object]] = []
    for compared, matches in (("students", ev.matches), ("known", ev.known)):
        for rank, m in enumerate(matches, 1):
            rows.append([rank, compared, m.a.item, m.a.kind, m.a.owner, _other(m),
                         f"{m.evidence:.1f}", m.rarest, f"{m.shared[0]:.2f}",
                         f"{m.shared[1]:.2f}", "yes" if m.identical else ""])
    return rows


def _pair_summary(matches: list[Match]) -> list[tuple[str, str, float, list[Match]]]:
    pairs: dict[tuple[str, str], list[Match]] = {}
    for m in matches:
        pairs.setdefault((m.a.owner, m.b.owner), []).append(m)
    rows = [(a, b, sum(m.evidence for m in ms), ms) for (a, b), ms in pairs.items()]
    return sorted(rows, key=lambda r: (-r[2], r[0], r[1]))[:SUMMARY_ROWS]


def _summary_table(title: str, note: str, rows, other: str) -> list[str]:
    e = html.escape
    if not rows:
        return [f"<h2>{title}</h2><p>None found.</p>"]
    body = []
    for a, b, total, ms in rows:
        items = ", ".join(
            f"{e(m.a.item)} ({m.evidence:.0f}{'; identical' if m.identical else ''}"
            f"{'; all of it in the file' if m.known and m.contained else ''})" for m in ms)
        body.append(f"<tr><td>{e(a)}</td><td>{e(b.removeprefix('known:'))}</td>"
                    f"<td class='n'>{total:.0f}</td><td>{items}</td></tr>")
    return [f"<h2>{title}</h2><p class='note'>{note}</p><table><tr><th>student</th>"
            f"<th>{other}</th><th>evidence</th><th>items (evidence)</th></tr>"
            + "".join(body) + "</table>"]


def _side_by_side(m: Match, rank: int) -> str:
    e = html.escape
    flags = []
    if m.identical:
        flags.append("identical once normalised")
    if m.known and m.contained:
        flags.append(f"{m.shared[0]:.0%} of the student's answer is in the known file")
    head = (f"<h3>#{rank} {e(m.a.item)}: {e(m.a.owner)} and {e(_other(m))}</h3><small>evidence "
            f"{m.evidence:.1f}; rarest shared passage held by {m.rarest}; shared: "
            f"{m.shared[0]:.0%} of {e(m.a.owner)}'s answer, {m.shared[1]:.0%} of "
            f"{e(_other(m))}'s{''.join('; <b>' + e(f) + '</b>' for f in flags)}</small>")
    return (head + f"<div class='pair'><pre>{highlight(m.a, m)}</pre>"
            f"<pre>{highlight(m.b, m, 2 if m.known else None)}</pre></div>")


def render_page(ev: Evidence, assignment: str) -> str:
    """The similarity page (module docstring) as one HTML string."""
    e = html.escape
    title = f"{e(assignment)}: similarity evidence"
    parts = [f"<!doctype html><html lang='en'><meta charset='utf-8'><title>{title}</title>"
             f"<style>{_CSS}</style><h1>{title}</h1>",
             "<p class='notice'><b>Evidence for a person to read, never a score.</b> Nothing on "
             "this page changes a grade. Correct answers to short exercises converge, and "
             "students may have worked together as allowed: read both answers, and the course's "
             "collaboration policy, before concluding anything.</p>",
             f"<p>{ev.students} submissions compared, item by item ({len(ev.items)} items: each "
             "solution cell and free-text answer), and with "
             f"{len(ev.known_files)} known solution files. The release notebook's own text "
             "(scaffold, comments, stubs) is left out. A pair's <b>evidence</b> adds up, over "
             "the passages both answers share, one per character divided by how many other "
             "submissions share it too: a passage shared by two weighs 1, the standard answer "
             f"shared by forty 1/39. Pairs are found from passages held by at most {RARE} "
             "submissions. Highlights: <span class='r2'>only these two</span>, "
             f"<span class='r3'>up to {RARE}</span>, <span class='rn'>more</span> (the "
             "reference solution and the known file count as holders).</p>"]
    parts += _summary_table("Pairs of students", "Evidence summed over the items; the matches "
                            "themselves are below and in <code>similarity.csv</code>.",
                            _pair_summary(ev.matches), "other student")
    parts += _summary_table("Answers found in known solutions", "Each student's answers that "
                            f"share passages with a known file; 'all of it' = at least "
                            f"{CONTAINED:.0%} of the answer.", _pair_summary(ev.known),
                            "known file")
    parts.append(f"<h2>Best-ranked matches between students</h2><p class='note'>The first "
                 f"{min(SHOWN, len(ev.matches))} of {len(ev.matches)}.</p>")
    parts += [_side_by_side(m, i) for i, m in enumerate(ev.matches[:SHOWN], 1)]
    if ev.known:
        parts.append(f"<h2>Best-ranked matches with known solutions</h2><p class='note'>The "
                     f"first {min(SHOWN, len(ev.known))} of {len(ev.known)}.</p>")
        parts += [_side_by_side(m, i) for i, m in enumerate(ev.known[:SHOWN], 1)]
    return "\n".join(parts) + "\n</html>\n"


def write_similarity(ev: Evidence, assignment: str, out: Path) -> tuple[Path, Path]:
    """Write ``out/similarity.html`` and ``out/similarity.csv``; return both paths."""
    html_path, csv_path = out / "similarity.html", out / "similarity.csv"
    write_csv(csv_path, CSV_COLUMNS, csv_rows(ev))
    write_text(html_path, render_page(ev, assignment))
    return html_path, csv_path

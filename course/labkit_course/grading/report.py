"""The class report: ``OUT/report.html`` (one self-contained page, charts embedded as PNG) and
``OUT/stats.csv`` (the same numbers, one row each), from the rows of ``grades.csv``.

What the page shows and how it counts: :mod:`labkit_course.grading.classstats`. Every piece of
text from a record (student ids, failure reasons) is HTML-escaped; the page loads nothing from
the network.

``stats.csv`` has the columns ``kind, name, count, out_of, fraction, value, example_student,
detail``; ``kind`` is one of ``status`` (count of that status among all students), ``total``
(a band of totals: count of submitted students with ``low <= total < high``), ``question``
(count with full marks of those scored, ``value`` their mean points), ``test`` (count passed
of those it ran for), ``failure`` (one group of a test's failures: count, of the test's
failures, the example student and reason) and ``timing`` (``value`` the median seconds).
"""

from __future__ import annotations

import html
from pathlib import Path

from labkit_course.grading.charts import png_data_uri, score_histogram, test_pass_rates
from labkit_course.grading.classstats import ClassStats, class_stats
from labkit_course.grading.course import Master
from labkit_course.grading.outputs import write_text
from labkit_course.grading.results import Record
from labkit_course.grading.sheets import write_csv

__all__ = ["STATS_COLUMNS", "stats_rows", "render_report", "write_report"]

STATS_COLUMNS = ["kind", "name", "count", "out_of", "fraction", "value", "example_student", "detail"]
TOP_FAILURES = 5  # failure groups shown per test on the page (stats.csv has all of them)

_CSS = """body{font-family:system-ui,sans-serif;max-width:64rem;margin:2rem auto;padding:0 1rem}
table{border-collapse:collapse;margin:.5rem 0 1.2rem}td,th{border:1px solid #ccc;
padding:.25rem .6rem;text-align:left;vertical-align:top}td.n{text-align:right}
.bad{color:#b42318}.ok{color:#1a7f37}small,.note{color:#57606a}img{max-width:100%}
details{margin:.3rem 0 1.2rem}summary{cursor:pointer}code{font-size:90%}
table.wide{width:100%}"""


def _frac(n: int, of: int) -> str:
    return f"{n / of:.4f}" if of else ""


def _pct(n: int, of: int) -> str:
    return f"{100 * n / of:.0f}%" if of else "-"


def stats_rows(stats: ClassStats) -> list[list[object]]:
    """The rows of ``stats.csv`` (module docstring), in page order."""
    rows: list[list[object]] = []
    for status, n in stats.statuses.items():
        rows.append(["status", status, n, stats.students, _frac(n, stats.students), "", "", ""])
    for lo, hi, n in stats.histogram():
        rows.append(["total", f"{lo:g}-{hi:g}", n, stats.submitted, _frac(n, stats.submitted),
                     "", "", ""])
    for q in stats.questions:
        rows.append(["question", q.question, q.full_marks, q.scored, _frac(q.full_marks, q.scored),
                     "" if q.mean is None else f"{q.mean:.4g}", "",
                     f"{q.kind}, {q.max_points:g} points"])
    for t in stats.tests:
        rows.append(["test", t.grade_id, t.passed, t.run, _frac(t.passed, t.run), "", "",
                     f"{t.question}, {t.points:g} points"])
    for t in stats.tests:
        for g in t.failures:
            rows.append(["failure", t.grade_id, g.count, t.failed, _frac(g.count, t.failed), "",
                         g.example_student, g.example])
    rows.append(["timing", "median_seconds", stats.timed, stats.submitted, "",
                 "" if stats.median_seconds is None else f"{stats.median_seconds:.3g}", "", ""])
    return rows


def _table(header: list[str], rows: list[list[str]], numeric: frozenset[int] = frozenset(),
           cls: str = "") -> str:
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td class='n'>{c}</td>" if i in numeric else f"<td>{c}</td>"
                                    for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<table{f' class={cls!r}' if cls else ''}><tr>{head}</tr>{body}</table>"


def _failures_section(stats: ClassStats) -> list[str]:
    e = html.escape
    parts = ["<h2>Why tests failed</h2><p class='note'>Per test, its commonest failure reasons "
             "(reasons that differ only in numbers or addresses count as one), with how many "
             f"students failed that way and one of them. The {TOP_FAILURES} commonest are shown; "
             "<code>stats.csv</code> has all.</p>"]
    failing = [t for t in stats.tests if t.failures]
    if not failing:
        parts.append("<p>No test failed.</p>")
    for t in failing:
        rows = [[str(g.count), e(g.example_student), f"<code>{e(g.example)}</code>"]
                for g in t.failures[:TOP_FAILURES]]
        more = len(t.failures) - TOP_FAILURES
        parts.append(f"<h3 id='{e(t.grade_id)}'>{e(t.grade_id)} <small>failed by {t.failed} of "
                     f"{t.run} ({_pct(t.failed, t.run)})</small></h3>"
                     + _table(["students", "example student", "reason (the example's)"], rows,
                              frozenset({0}), "wide")
                     + (f"<p class='note'>and {more} other reasons</p>" if more > 0 else ""))
    return parts


def render_report(stats: ClassStats, assignment: str) -> str:
    """The report page (module docstring) as one HTML string."""
    e = html.escape
    title = f"{e(assignment)}: class report"
    median = ("-" if stats.median_seconds is None
              else f"{stats.median_seconds:.1f} s (over {stats.timed} submissions)")
    parts = [f"<!doctype html><html lang='en'><meta charset='utf-8'><title>{title}</title>"
             f"<style>{_CSS}</style><h1>{title}</h1>",
             f"<p>{stats.students} students, {stats.submitted} submitted. Median grading time: "
             f"{median}. Counted from the same records as <code>grades.csv</code>; the numbers "
             "are also in <code>stats.csv</code>.</p>",
             "<h2>Statuses</h2>",
             _table(["status", "students", "share"],
                    [[e(s), str(n), _pct(n, stats.students)] for s, n in stats.statuses.items()],
                    frozenset({1, 2})),
             "<h2>Totals</h2>"]
    if stats.submitted:
        parts.append(f"<img alt='histogram of the totals' src='{png_data_uri(score_histogram(stats))}'>")
    parts.append("<details><summary>the bands as a table</summary>"
                 + _table(["total (from, up to)", "students"],
                          [[f"{lo:g} to {hi:g}", str(n)] for lo, hi, n in stats.histogram()],
                          frozenset({1})) + "</details>")
    parts.append("<h2>Questions</h2><p class='note'>Free-text questions count the students a TA "
                 "has scored so far.</p>")
    parts.append(_table(
        ["question", "kind", "points", "scored", "full marks", "mean"],
        [[e(q.question), e(q.kind), f"{q.max_points:g}", str(q.scored),
          f"{q.full_marks} ({_pct(q.full_marks, q.scored)})",
          "-" if q.mean is None else f"{q.mean:.1f}"] for q in stats.questions],
        frozenset({2, 3, 4, 5})))
    parts.append("<h2>Tests</h2>")
    if stats.tests and stats.submitted:
        parts.append(f"<img alt='pass rate of each test' src='{png_data_uri(test_pass_rates(stats))}'>")
    parts.append(_table(
        ["test", "points", "ran for", "passed", "pass rate"],
        [[f"<a href='#{e(t.grade_id)}'>{e(t.grade_id)}</a>" if t.failures else e(t.grade_id),
          f"{t.points:g}", str(t.run), str(t.passed),
          f"<span class='{'ok' if t.run and t.passed * 2 >= t.run else 'bad'}'>"
          f"{_pct(t.passed, t.run)}</span>"] for t in stats.tests],
        frozenset({1, 2, 3, 4})))
    parts += _failures_section(stats)
    return "\n".join(parts) + "\n</html>\n"


def write_report(records: dict[str, Record], master: Master, out: Path) -> tuple[Path, Path]:
    """Write ``out/report.html`` and ``out/stats.csv`` for ``records`` (the rows of
    ``grades.csv``, student -> Record); return both paths."""
    stats = class_stats(records, master.cells)
    html_path, csv_path = out / "report.html", out / "stats.csv"
    write_csv(csv_path, STATS_COLUMNS, stats_rows(stats))
    write_text(html_path, render_report(stats, master.assignment))
    return html_path, csv_path

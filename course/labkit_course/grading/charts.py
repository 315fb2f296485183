"""The class report's charts as PNG bytes: matplotlib ``Figure`` objects drawn with the Agg
canvas (no pyplot, no global backend, no display needed), to embed in a page as base64."""

from __future__ import annotations

import base64
import io

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from labkit_course.grading.classstats import ClassStats

__all__ = ["png_data_uri", "score_histogram", "test_pass_rates"]

_BLUE, _RED = "#0969da", "#cf222e"


def png_data_uri(fig: Figure) -> str:
    """``fig`` as a ``data:image/png;base64,...`` URI (for an ``<img src>``)."""
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def score_histogram(stats: ClassStats, bins: int = 10) -> Figure:
    """Bars of :meth:`ClassStats.histogram`: how many submitted students per band of total."""
    fig = Figure(figsize=(7, 3.2), layout="constrained")
    ax = fig.add_subplot()
    hist = stats.histogram(bins)
    width = hist[0][1] - hist[0][0]
    ax.bar([lo for lo, _, _ in hist], [n for _, _, n in hist], width=width * 0.92,
           align="edge", color=_BLUE)
    ax.set_xlim(0, stats.max_total or 1)
    ax.set_xlabel(f"total points (out of {stats.max_total:g})")
    ax.set_ylabel("students")
    ax.set_title(f"Totals of the {stats.submitted} submitted notebooks")
    ax.yaxis.get_major_locator().set_params(integer=True)
    return fig


def test_pass_rates(stats: ClassStats) -> Figure:
    """One horizontal bar per autograded test: the fraction of students who passed it (of
    those it ran for), in notebook order from the top."""
    tests = stats.tests
    fig = Figure(figsize=(7, 0.8 + 0.28 * max(len(tests), 1)), layout="constrained")
    ax = fig.add_subplot()
    rates = [t.passed / t.run if t.run else 0.0 for t in tests]
    ys = range(len(tests))
    ax.barh(ys, rates, color=[_BLUE if r >= 0.5 else _RED for r in rates])
    ax.set_yticks(list(ys), [t.grade_id for t in tests], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("passed (fraction of the students it ran for; red: under half)")
    ax.set_title("Autograded tests")
    return fig

"""nbgrader's solution and hidden-test regions of a cell: the one parser labkit uses.

A cell's source is a sequence of regions: ordinary text, a *solution* region (between
``### BEGIN SOLUTION`` and ``### END SOLUTION``, what the student writes) or a *hidden*
region (between ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS``, tests students never
see). A marker is a line that contains the marker text, as nbgrader matches it. Everything
here is a pure function of the source text; callers keep the regions and render from them
instead of matching lines afterwards.

    >>> [r.kind for r in parse("a\\n### BEGIN HIDDEN TESTS\\nb\\n### END HIDDEN TESTS\\n")]
    ['text', 'hidden']
    >>> visible("a\\n### BEGIN HIDDEN TESTS\\nb\\n### END HIDDEN TESTS\\nc")
    'a\\nc'
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Region", "RegionError", "MARKERS", "parse", "visible", "blank_hidden", "hidden_lines",
           "solution_lines", "region_lines", "CODE_STUB", "TEXT_STUB"]

# kind -> (begin marker, end marker)
MARKERS = {
    "solution": ("### BEGIN SOLUTION", "### END SOLUTION"),
    "hidden": ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"),
}
CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"  # nbgrader's default code stub
TEXT_STUB = "YOUR ANSWER HERE"  # nbgrader's default stub for a markdown answer


class RegionError(ValueError):
    """A cell's markers do not pair up (an END without a BEGIN, nested or unclosed regions)."""


@dataclass(frozen=True)
class Region:
    """One region of a cell.

    Attributes:
        kind: ``"text"`` (outside every region), ``"solution"`` or ``"hidden"``.
        text: the region's lines with their line ends, markers excluded.
        indent: the BEGIN marker's leading whitespace ("" for text regions); a stub put in
            place of a solution goes at this indentation.
        first_line: 1-based line number in the cell of the region's first content line.
    """

    kind: str
    text: str
    indent: str = ""
    first_line: int = 1

    def lines(self) -> list[str]:
        """The region's lines without line ends."""
        return self.text.splitlines()


def _marker(line: str) -> tuple[str, bool] | None:
    """(kind, is_begin) if ``line`` is a region marker, else None."""
    for kind, (begin, end) in MARKERS.items():
        if begin in line:
            return kind, True
        if end in line:
            return kind, False
    return None


def parse(source: str) -> list[Region]:
    """Split a cell's source into its regions, in order (empty text regions are left out).

    Raises:
        RegionError: an END marker without its BEGIN, a region inside another, or a region
            that is never closed (fix the cell's markers).
    """
    regions: list[Region] = []
    kind, indent, buf, start = "text", "", [], 1
    for n, line in enumerate(source.splitlines(keepends=True), start=1):
        m = _marker(line)
        if m is None:
            buf.append(line)
            continue
        mkind, is_begin = m
        if is_begin and kind != "text":
            raise RegionError(f"line {n}: {MARKERS[mkind][0]!r} inside a {kind} region (regions do not nest)")
        if not is_begin and kind != mkind:
            raise RegionError(f"line {n}: {MARKERS[mkind][1]!r} without its {MARKERS[mkind][0]!r}")
        if buf or kind != "text":
            regions.append(Region(kind, "".join(buf), indent, start))
        kind = mkind if is_begin else "text"
        indent = line[: len(line) - len(line.lstrip())] if is_begin else ""
        buf, start = [], n + 1
    if kind != "text":
        raise RegionError(f"{MARKERS[kind][0]!r} is never closed by {MARKERS[kind][1]!r}")
    if buf:
        regions.append(Region("text", "".join(buf), "", start))
    return regions


def visible(source: str, *, stub: str | None = None) -> str:
    """The cell as students see it: hidden regions removed, each solution region replaced by
    ``stub`` (at the marker's indentation; ``None`` keeps the solution's lines, e.g. to show a
    source cell's tests without its hidden part). Like nbgrader, the result has no trailing
    newline."""
    out: list[str] = []
    for r in parse(source):
        if r.kind == "hidden":
            continue
        if r.kind == "solution" and stub is not None:
            out += [r.indent + s + "\n" for s in stub.splitlines()]
        else:
            out.append(r.text)
    return "".join(out).rstrip("\n")


def blank_hidden(source: str) -> str:
    """``source`` with every hidden region, its markers included, turned into empty lines: the
    cell as released, at the same line numbers as the full cell (a traceback's line numbers
    hold for both).

        >>> blank_hidden("a\\n### BEGIN HIDDEN TESTS\\nb\\n### END HIDDEN TESTS\\nc")
        'a\\n\\n\\n\\nc'

    Raises:
        RegionError: the markers do not pair up (see :func:`parse`).
    """
    parse(source)  # the markers pair up
    out, hidden = [], False
    for line in source.splitlines(keepends=True):
        m = _marker(line)
        if m is not None and m[0] == "hidden":
            hidden = m[1]
            out.append("\n")
        else:
            out.append("\n" if hidden else line)
    return "".join(out)


def region_lines(source: str, kind: str) -> list[str]:
    """The stripped, non-empty lines of every ``kind`` region of ``source``."""
    return [s.strip() for r in parse(source) if r.kind == kind for s in r.lines() if s.strip()]


def hidden_lines(source: str) -> list[str]:
    """The stripped, non-empty lines of the hidden-test regions (for scrubbing kernel text)."""
    return region_lines(source, "hidden")


def solution_lines(source: str) -> list[str]:
    """The stripped, non-empty lines of the solution regions."""
    return region_lines(source, "solution")

"""The one leak audit: does a text hold any of the source notebook's solutions or hidden tests
(or the test suite's reference solutions)? Used alike by the release audit (the release
notebook), the student bundle (every file, inside its wheel too) and the Gradescope zip (every
member but the course source it must ship).

The rule, for every text:

* a **secret** is a solution or hidden-test region of the source notebook, or the body of a
  function of the test suite's oracle; its lines are compared stripped, with blank lines,
  comments and lines of pure syntax (only keywords and punctuation: ``finally:``, ``else:``,
  ``)``) left out;
* lines that also appear outside every region of the source are left out of a secret (the
  release shows them anyway);
* a **secret run** is two consecutive lines of what is left of one secret, or all of it when
  one line is left, that together have at least :data:`MIN_CHARS` characters;
* a text **leaks** when its own lines, compared the same way, hold a secret run, or when it
  holds a region marker line.

Two lines, not one: the student package's code shares single lines such as
``with torch.no_grad():`` with the solutions, but never two consecutive lines of one.
"""

from __future__ import annotations

import ast
import io
import keyword
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from labkit_course import regions

__all__ = ["MARKERS", "MIN_CHARS", "Secrets", "comparable_lines", "find_leaks", "notebook_texts",
           "file_texts", "oracle_bodies"]

MARKERS = tuple(marker for pair in regions.MARKERS.values() for marker in pair)
MIN_CHARS = 12  # of a secret run, its lines' stripped characters together
_WORD = re.compile(r"[A-Za-z_][A-Za-z_0-9]*|\d+")


def _is_content(line: str) -> bool:
    """Whether a stripped line carries a name or a value (not only keywords and punctuation)."""
    if not line or line.startswith("#"):
        return False
    return any(not keyword.iskeyword(w) for w in _WORD.findall(line))


def comparable_lines(text: str) -> list[str]:
    """The lines of ``text`` as the audit compares them: stripped, content lines only."""
    return [s for s in (line.strip() for line in text.splitlines()) if _is_content(s)]


def _runs(lines: list[str]) -> list[tuple[str, ...]]:
    if len(lines) < 2:
        return [tuple(lines)] if lines else []
    return [tuple(lines[i:i + 2]) for i in range(len(lines) - 1)]


def oracle_bodies(oracle: str | Path) -> dict[str, str]:
    """The test suite's reference solutions: function name -> its body (docstring dropped)."""
    source = Path(oracle).read_text()
    lines = source.splitlines()
    out = {}
    for node in ast.parse(source).body:
        if not isinstance(node, ast.FunctionDef):
            continue
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
            body = body[1:]  # the docstring
        if body:
            text = "\n".join(lines[body[0].lineno - 1:body[-1].end_lineno])
            if comparable_lines(text):
                out[node.name] = text
    return out


@dataclass(frozen=True)
class Secrets:
    """The secret runs of a course, each with what it comes from (for the report)."""

    runs: dict[tuple[str, ...], str] = field(default_factory=dict)

    @classmethod
    def of(cls, source_nb: nbformat.NotebookNode, oracle: str | Path | None = None) -> Secrets:
        """The secrets of ``source_nb``'s solution and hidden-test regions, and of the
        functions of ``oracle`` (``tests/oracle.py``; None: none)."""
        public: set[str] = set()
        secrets: list[tuple[str, str]] = []  # (text, what it is)
        for cell in source_nb.cells:
            for region in regions.parse(cell.source):
                if region.kind == "text":
                    public.update(comparable_lines(region.text))
                else:
                    secrets.append((region.text, f"a {region.kind} region of the source notebook"))
        if oracle is not None:
            secrets += [(body, f"the body of tests/oracle.py's {name}()")
                        for name, body in oracle_bodies(oracle).items()]
        runs: dict[tuple[str, ...], str] = {}
        for text, what in secrets:
            for run in _runs([line for line in comparable_lines(text) if line not in public]):
                if len("".join(run)) >= MIN_CHARS:
                    runs.setdefault(run, what)
        return cls(runs)

    def __len__(self) -> int:
        return len(self.runs)


def find_leaks(texts: Iterable[tuple[str, str]], secrets: Secrets) -> list[str]:
    """One line per leak in ``texts`` ((where, text) pairs): "<where>: <what> `line / line`"."""
    sizes = {len(run) for run in secrets.runs}
    problems: list[str] = []
    for where, text in texts:
        lines = comparable_lines(text)
        found = {tuple(lines[i:i + n]) for n in sizes for i in range(len(lines) - n + 1)}
        for run in sorted(found & secrets.runs.keys()):
            problems.append(f"{where}: {secrets.runs[run]}: {' / '.join(run)!r}")
        stripped = {line.strip() for line in text.splitlines()}
        problems += [f"{where}: region marker {m!r}" for m in MARKERS if m in stripped]
    return problems


def notebook_texts(nb: nbformat.NotebookNode, name: str) -> list[tuple[str, str]]:
    """(where, source) of each cell of ``nb`` ("<name> cell <n>", numbered from 1, with the
    cell's nbgrader grade id when it has one): a run never spans two cells."""
    out = []
    for i, cell in enumerate(nb.cells, start=1):
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        out.append((f"{name} cell {i}" + (f" ({grade_id})" if grade_id else ""), cell.source))
    return out


def file_texts(data: bytes, name: str) -> list[tuple[str, str]]:
    """(where, text) of one file: each cell of a notebook; each member of a wheel or zip, in
    turn (``name!member``); any other file as text."""
    if name.endswith((".whl", ".zip")):
        out = []
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            for member in z.namelist():
                out += [(f"{name}!{w}", t) for w, t in file_texts(z.read(member), member)]
        return out
    if name.endswith(".ipynb"):
        try:
            return notebook_texts(nbformat.reads(data.decode("utf-8"), as_version=4), name)
        except Exception:  # not a notebook after all: search it as text
            pass
    return [(name, data.decode("utf-8", errors="replace"))]

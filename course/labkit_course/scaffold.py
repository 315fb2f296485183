"""Audit of the release's stubs: every name the student must define is named in the stub.

nbgrader replaces each ``### BEGIN SOLUTION`` / ``### END SOLUTION`` region by a two-line
stub (``# YOUR CODE HERE`` / ``raise NotImplementedError()``). Whatever else a solution cell
holds reaches the student. If a line *outside* the region reads a name that only the removed
solution defined (Q2's ``tensor.mul_(mask)`` reads ``mask``), the release must tell the student
to define it: the name has to appear in a comment of the release cell *above the stub* (the
instructions a student reads before writing), or be assigned in it (a placeholder such as
``importance = ...``). The same holds for names a solution defines and
*later* cells read (Q3's ``target_sparsity``).

Pure functions over cell sources (strings) and notebooks; ``ast`` finds reads and writes.
"""

from __future__ import annotations

import ast
import builtins
import io
import re
import textwrap
import tokenize

import nbformat

from labkit_course.regions import parse, visible

__all__ = ["solution_code", "names_read", "names_written",
           "comment_words", "cell_problems", "scaffold_problems"]

_BUILTINS = set(dir(builtins)) | {"__file__", "__name__", "get_ipython", "display"}


def solution_code(source: str) -> str:
    """The lines inside solution regions of ``source`` (a cell), dedented, joined by newlines."""
    return textwrap.dedent("".join(r.text for r in parse(source) if r.kind == "solution")).rstrip("\n")


def _parse(source: str) -> ast.AST | None:
    """Parse a cell as Python; IPython magics and shell lines (``%pip``, ``!ls``) become ``pass``."""
    lines = [re.sub(r"^(\s*)[%!].*$", r"\1pass", line) for line in source.splitlines()]
    try:
        return ast.parse("\n".join(lines))
    except SyntaxError:
        return None


def names_read(source: str) -> set[str]:
    """Names the code loads (``x`` in ``f(x)``), builtins excluded; empty if it does not parse."""
    tree = _parse(source)
    if tree is None:
        return set()
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)} - _BUILTINS


def names_written(source: str) -> set[str]:
    """Names the code binds anywhere: assignments, loop targets, defs, arguments, imports."""
    tree = _parse(source)
    if tree is None:
        return set()
    out: set[str] = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del)):
            out.add(n.id)
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(n.name)
        elif isinstance(n, ast.arg):
            out.add(n.arg)
        elif isinstance(n, ast.alias):
            out.add((n.asname or n.name).split(".")[0])
        elif isinstance(n, ast.ExceptHandler) and n.name:
            out.add(n.name)
    return out


def comment_words(source: str) -> set[str]:
    """Identifier-like words inside the comments of ``source``."""
    words: set[str] = set()
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT:
                words.update(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", tok.string))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        for line in source.splitlines():  # fall back to everything after a '#'
            if "#" in line:
                words.update(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", line.split("#", 1)[1]))
    return words


def _above_stub(release_cell: str) -> str:
    """The lines of a release cell above its first stub (``raise NotImplementedError()``)."""
    lines = release_cell.splitlines()
    for i, line in enumerate(lines):
        if line.strip() == "raise NotImplementedError()":
            return "\n".join(lines[:i])
    return release_cell


def cell_problems(source_cell: str, release_cell: str, read_later: set[str] = frozenset(),
                  defined_elsewhere: set[str] = frozenset(), where: str = "cell") -> list[str]:
    """Names the student must define but the release cell does not name (see the module doc).

    Args:
        source_cell: the solution cell of the source notebook (with its solution regions).
        release_cell: the same cell in the release (regions replaced by stubs).
        read_later: names that cells after this one read (release view, hidden tests excluded).
        defined_elsewhere: names other cells bind outside solution regions (not the student's).
        where: how to name the cell in the messages (its grade_id).

    Returns:
        One message per missing name; empty when the stub names everything it must.
    """
    solution_defines = names_written(solution_code(source_cell))
    if not solution_defines:
        return []
    stub_defines = names_written(release_cell)
    mentioned = comment_words(_above_stub(release_cell)) | stub_defines
    needed_here = (names_read(release_cell) - stub_defines) & solution_defines
    needed_later = (set(read_later) & solution_defines) - stub_defines - set(defined_elsewhere)
    problems = []
    for name in sorted(needed_here - mentioned):
        problems.append(f"{where}: the code left in the release reads `{name}`, which only the removed "
                        f"solution defines; name it above the stub (a comment, or `{name} = ...`)")
    for name in sorted(needed_later - mentioned - needed_here):
        problems.append(f"{where}: later cells read `{name}`, which only the removed solution defines; "
                        f"name it above the stub (a comment, or `{name} = ...`)")
    return problems


def scaffold_problems(source_nb: nbformat.NotebookNode, release_nb: nbformat.NotebookNode) -> list[str]:
    """Audit every code solution cell of ``release_nb`` against ``source_nb`` (matched by grade_id).

    Returns:
        One message per name that a release stub fails to mention (empty: the audit passed),
        plus one per solution cell of the source missing from the release.
    """
    def gid(cell) -> str | None:
        return cell.metadata.get("nbgrader", {}).get("grade_id")

    release_code = [c for c in release_nb.cells if c.cell_type == "code"]
    by_id = {gid(c): c for c in release_code if gid(c)}
    bound_outside: dict[int, set[str]] = {}  # release cell index -> names bound outside solutions
    for i, c in enumerate(release_code):
        meta = c.metadata.get("nbgrader", {})
        bound_outside[i] = set() if meta.get("solution") else names_written(visible(c.source))
    problems = []
    for cell in source_nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or not meta.get("solution"):
            continue
        release_cell = by_id.get(meta.get("grade_id"))
        if release_cell is None:
            problems.append(f"{meta.get('grade_id')}: solution cell missing from the release")
            continue
        index = release_code.index(release_cell)
        later = set().union(*(names_read(visible(c.source)) for c in release_code[index + 1:]))
        elsewhere = set().union(*(names for i, names in bound_outside.items() if i != index))
        problems += cell_problems(cell.source, release_cell.source, later, elsewhere, meta["grade_id"])
    return problems

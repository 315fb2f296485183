"""Why a hidden check failed, told from grader-held text only.

The hidden part of each test cell runs after the student's last cell (see
:mod:`labkit_course.grading.execute`). Once hidden code has run in the kernel, the student's code could
have read it (history, frames, ``gc``), so nothing it produces may reach the student: no
printed text, no error message, no value. What comes back from a failed hidden check is built
here from what the grader holds itself: the test cell's source (an ``assert``'s message, a
``msg=`` argument, an :func:`labkit.checks.case` description), the student's submitted cells
(the line an error was raised at) and, from the kernel's report, only what it selects among
those (a line number, an exception type name) and short typed values (a count, a shape) put
into the instructor's message templates.

A kernel that lies can only pick another of the instructor's messages or its own source line:
a few bits, as pass/fail itself.
"""

from __future__ import annotations

import ast
import builtins
import re
from dataclasses import dataclass

__all__ = ["HIDDEN_ENAME", "CASE_NOTE", "StudentCell", "typed_value", "check_reason", "frames",
           "raised_in"]

from labkit.checks import CASE_NOTE  # the note labkit.checks.case adds to an exception

HIDDEN_ENAME = "HiddenCheckFailed"  # the ename of the error output a failed hidden check gets
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_FRAME = re.compile(r"^Cell In\[(\d+)\], line (\d+)")
_MAX_VALUE = 32  # characters of one typed value
_TYPED = [
    re.compile(r"-?\d{1,12}(\.\d{1,12})?([eE][-+]?\d{1,3})?%?"),  # a count, a fraction, a percent
    re.compile(r"(torch\.Size\(\[)?\(?\[?\d{1,6}(, ?\d{1,6}){0,5},?\]?\)?(\]\))?"),  # a shape
    re.compile(r"(torch\.)?(float|bfloat|int|uint)(8|16|32|64)|(torch\.)?bool"),  # a dtype
    re.compile(r"cpu|cuda(:\d{1,2})?|mps|meta"),  # a device
    re.compile(r"True|False|None"),
]


@dataclass(frozen=True)
class StudentCell:
    """A submitted cell the student wrote: its index in the notebook and its source."""

    index: int
    source: str


def typed_value(text: str) -> str | None:
    """``text`` when it is a short typed value (a number, a shape, a dtype, a device, a
    bool), else None."""
    text = text.strip()
    if len(text) > _MAX_VALUE:
        return None
    return text if any(p.fullmatch(text) for p in _TYPED) else None


def frames(traceback: list[str]) -> list[tuple[int, int]]:
    """The notebook frames of an IPython traceback, outermost first: (execution count, line)."""
    lines = _ANSI.sub("", "\n".join(traceback)).splitlines()
    return [(int(m.group(1)), int(m.group(2))) for ln in lines if (m := _FRAME.match(ln.strip()))]


def _notes(traceback: list[str]) -> list[str]:
    lines = _ANSI.sub("", "\n".join(traceback)).splitlines()
    return [ln.strip()[len(CASE_NOTE):] for ln in lines if ln.strip().startswith(CASE_NOTE)]


def _template(node: ast.expr | None) -> list[str | None] | None:
    """A message expression as literal parts and holes (None), or None when it is not made of
    string literals, f-strings and ``+``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        parts: list[str | None] = []
        for v in node.values:
            parts.append(v.value if isinstance(v, ast.Constant) else None)
        return parts
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _template(node.left), _template(node.right)
        return left + right if left is not None and right is not None else None
    return None


def _fill(template: list[str | None], actual: str) -> str:
    """The template's text with each hole replaced by the value ``actual`` (what the kernel
    says the message was) has there, when that value is typed, else by ``…``."""
    pattern = "".join("(.*?)" if p is None else re.escape(p) for p in template)
    m = re.fullmatch(pattern, actual.strip(), flags=re.S)
    values = iter(m.groups() if m else ())
    out = []
    for p in template:
        if p is not None:
            out.append(p)
        else:
            v = next(values, None)
            out.append(typed_value(v) or "…" if v is not None else "…")
    return re.sub(r"\s+", " ", "".join(out)).strip()


def _statement_at(tree: ast.Module, line: int) -> ast.stmt | None:
    """The innermost simple statement of ``tree`` that spans ``line``."""
    best = None
    for node in ast.walk(tree):
        if isinstance(node, ast.stmt) and node.lineno <= line <= (node.end_lineno or node.lineno):
            if not hasattr(node, "body") and (best is None or node.lineno >= best.lineno):
                best = node
    return best


def _message_of(stmt: ast.stmt | None) -> list[str | None] | None:
    """The instructor's failure message of a check statement: an ``assert``'s message or a
    call's ``msg=`` argument."""
    if isinstance(stmt, ast.Assert):
        return _template(stmt.msg)
    for node in ast.walk(stmt) if stmt is not None else ():
        if isinstance(node, ast.Call):
            for kw in node.keywords:
                if kw.arg == "msg" and (t := _template(kw.value)) is not None:
                    return t
    return None


def _case_templates(tree: ast.Module) -> list[list[str | None]]:
    """The descriptions given to ``case(...)`` (``lk.case``, ``labkit.case``) in the cell."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args:
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
            if name == "case" and (t := _template(node.args[0])) is not None:
                out.append(t)
    return out


def _case(tree: ast.Module, notes: list[str]) -> str | None:
    """The hidden case the error happened in, as the instructor described it; only a note
    that fits one of the cell's own ``case(...)`` templates counts."""
    for note in reversed(notes):
        for t in _case_templates(tree):
            pattern = "".join("(.*?)" if p is None else re.escape(p) for p in t)
            m = re.fullmatch(pattern, note.strip(), flags=re.S)
            if m and all(typed_value(v) for v in m.groups()):
                return _fill(t, note)
    return None


def _exception_name(ename: str) -> str:
    """A built-in exception's name as it is; any other name (the student's code may make
    classes of any name) as "an exception"."""
    obj = getattr(builtins, ename, None) if ename.isidentifier() else None
    return ename if isinstance(obj, type) and issubclass(obj, BaseException) else "an exception"


def raised_in(traceback: list[str], cells: dict[int, StudentCell]) -> str:
    """Where in the student's own cells an error was raised, as " (cell I, line N: `...`)"
    text for its page; "" when its innermost notebook frame is not one of ``cells``."""
    found = frames(traceback)
    if not found or found[-1][0] not in cells:
        return ""
    return _where(cells[found[-1][0]], found[-1][1])


def _where(cell: StudentCell, line: int) -> str:
    lines = cell.source.splitlines()
    text = lines[line - 1].strip() if 0 < line <= len(lines) else ""
    return f"cell {cell.index}, line {line}" + (f": `{text[:160]}`" if text else "")


def check_reason(error: dict, test_source: str, test_count: int | None,
                 cells: dict[int, StudentCell]) -> str:
    """One line saying why a hidden check failed, for the student's page.

    Args:
        error: the check's error output as the kernel reported it (``ename``, ``evalue``,
            ``traceback``); used only to choose among grader-held texts and for typed values.
        test_source: the test cell's full source (hidden regions included).
        test_count: the execution count the kernel gave the check (its frames are
            ``Cell In[test_count]``); None when unknown.
        cells: the student's own code cells by their execution count in the run.
    """
    ename = str(error.get("ename", ""))
    if ename == "TamperingError":
        return ("this test rebound objects the tests rely on (student code must not "
                "monkeypatch builtins, torch or numpy)")
    if ename in ("CellTimeoutError", "KeyboardInterrupt"):
        return "a hidden check ran over the per-cell time limit and was interrupted"
    tb = [str(t) for t in error.get("traceback") or []]
    try:
        tree = ast.parse(test_source)
    except SyntaxError:
        tree = ast.Module(body=[], type_ignores=[])
    found = frames(tb)
    case = _case(tree, _notes(tb))
    in_case = f" in the hidden case {case}" if case else ""
    own = [(count, line) for count, line in found if count in cells]
    last = found[-1] if found else None
    if last is not None and last[0] in cells:  # raised in the student's own code
        return (f"{_exception_name(ename)} raised in your code{in_case} "
                f"({_where(cells[last[0]], last[1])})")
    test_lines = [line for count, line in found if count == test_count]
    if test_lines:
        template = _message_of(_statement_at(tree, test_lines[-1]))
        if template is not None:
            return "a hidden check failed" + in_case + ": " + _fill(template, str(error.get("evalue", "")))
    if own:  # raised below a student's function that a frame of another cell called
        count, line = own[-1]
        return f"{_exception_name(ename)} raised from your code{in_case} ({_where(cells[count], line)})"
    return f"a hidden check failed{in_case} ({_exception_name(ename)})"

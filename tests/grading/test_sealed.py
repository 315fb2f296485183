"""Sealed grading: hidden tests and reference code never come back to a student.

A small course has one question whose hidden test holds a reference helper and a check whose
message interpolates the student's value. Hostile submissions read hidden code the ways a
kernel allows (history, the caller's frame, ``inspect.getsource`` of the reference helper, a
``gc`` scan) and send it back base64+zlib-encoded through every channel (print, an exception,
a returned value, a file, a thread printing later, a display update). A control run of the
same code in a plain IPython shell shows each reading does find the secret; graded, neither the
feedback page nor the record nor Gradescope's results.json holds anything decodable to it.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import re
import zlib
from pathlib import Path

import nbformat
import pytest
from labkit_course.grading.batch import Options, grade_batch
from labkit_course.grading.course import prepare_master
from labkit_course.grading.limits import Limits
from labkit_course.grading.results import read_records
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

pytestmark = pytest.mark.slow

SECRET = "REFSECRET_7f3a"  # in the hidden region only: reference code a student must not get
SETUP = "import math\nimport torch\nimport labkit as lk"
SOLUTION = "def half(x):\n    ### BEGIN SOLUTION\n    return x / 2\n    ### END SOLUTION"
TEST = f'''"""half halves."""
assert half(4.0) == 2.0, "half of 4 is 2"
### BEGIN HIDDEN TESTS
def _reference_half(x):
    return x * 0.5  # {SECRET}
for x in (3.0, 10.0):
    with lk.case(f"halving {{x}}"):
        got = half(x)
        assert got == _reference_half(x), f"expected {{_reference_half(x)}}, got {{got}}"
### END HIDDEN TESTS'''

# how student code reads hidden code once the hidden test has run
READINGS = {
    "history": "text = '\\n'.join(map(str, get_ipython().user_ns.get('In', [])))",
    "frame": "import sys, inspect\n    text = inspect.getsource(sys._getframe(1))",
    "getsource": "import inspect\n    f = get_ipython().user_ns.get('_reference_half')\n"
                 "    text = inspect.getsource(f) if f else ''",
    "gc": "import gc\n    text = ' '.join(s for o in gc.get_objects() if isinstance(o, list) for s in o"
          " if isinstance(s, str) and 'REFSECRET_' + '7f3a' in s)",
}
# how it sends the encoded text back
CHANNELS = {
    "print": "print('LEAK', blob)\n    return x / 2",
    "raise": "raise RuntimeError('LEAK ' + blob)",
    "value": "return blob",
    "file": "open('leak.txt', 'w').write(blob)\n    print(open('leak.txt').read())\n    return x / 2",
    "thread": "import threading, time\n    threading.Timer(0.2, print, ('LEAK', blob)).start()\n    return x / 2",
    "display": "from IPython.display import display\n    display(blob, display_id='shown', update=True)\n"
               "    return x / 2",
}


def _student(reading: str, channel: str) -> str:
    return ("def half(x):\n"
            f"    {READINGS[reading]}\n"
            "    import base64, zlib\n"
            "    blob = base64.b64encode(zlib.compress(text.encode())).decode()\n"
            "    if 'REFSECRET_' + '7f3a' not in text:  # the secret itself, not this line\n"
            "        return x / 2\n"
            f"    {CHANNELS[channel]}")


def _notebook(solution: str, *, extra: list[str] = ()) -> nbformat.NotebookNode:
    def meta(**kw):
        return {"nbgrader": {"schema_version": 3, "locked": False, "solution": False, "grade": False,
                             "task": False, **kw}}
    cells = [new_markdown_cell("# Halving"),
             new_code_cell(SETUP, metadata=meta(grade_id="setup", locked=True)),
             new_code_cell(solution, metadata=meta(grade_id="q1_half", solution=True)),
             new_code_cell("from IPython.display import display\ndisplay('shown before', display_id='shown')"),
             new_code_cell(TEST, metadata=meta(grade_id="q1_test", grade=True, points=2, locked=True)),
             *[new_code_cell(src) for src in extra]]
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def _decoded(text: str) -> str:
    """Everything in ``text`` that decodes as base64+zlib, joined."""
    out = []
    for blob in re.findall(r"[A-Za-z0-9+/=]{16,}", text):
        with contextlib.suppress(Exception):
            out.append(zlib.decompress(base64.b64decode(blob + "=" * (-len(blob) % 4))).decode())
    return "\n".join(out)


def _leaks(text: str) -> bool:
    return SECRET in text or SECRET in _decoded(text) or "x * 0.5" in text or "x * 0.5" in _decoded(text)


def _control(submission: str) -> str:
    """What the submission's code sends back when hidden tests run in its process, unsealed:
    stdout, the error and the test's message, in a plain IPython shell."""
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.reset()
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        for src in (SETUP, submission, TEST.replace("lk.case", "__import__('contextlib').nullcontext")):
            r = shell.run_cell(src, store_history=True)
            if r.error_in_exec is not None:
                buf.write(f"{r.error_in_exec!r}")
    return buf.getvalue() + "".join(str(v) for v in Path(".").glob("leak.txt"))


@pytest.fixture(scope="module")
def sealed(tmp_path_factory):
    root = tmp_path_factory.mktemp("sealed")
    course, subs, out = root / "course", root / "subs", root / "out"
    (course / "source" / "halving").mkdir(parents=True)
    subs.mkdir()
    nbformat.write(_notebook(SOLUTION), course / "source" / "halving" / "halving.ipynb")
    master = prepare_master(course, "halving", out, force=False)
    assert SECRET not in nbformat.writes(master.release)
    cases = {f"{r}-{c}": _student(r, c) for r in READINGS for c in CHANNELS}
    cases["correct"] = "def half(x):\n    return x / 2"
    cases["late-cell-reads-history"] = "def half(x):\n    return x / 2"
    cases["wrong"] = "def half(x):\n    return 2.0 if x == 4.0 else x / 3"
    for name, code in cases.items():
        extra = []
        if name == "late-cell-reads-history":
            extra = ["raise RuntimeError('EXFIL-IN:' + __import__('base64').b64encode(__import__('zlib')"
                     ".compress(repr(In).encode())).decode())"]
        nb = _notebook(code, extra=extra)
        nb.cells[2].source = code
        nbformat.write(nb, subs / f"{name}.ipynb")
    grade_batch([subs], Options(course=course, assignment="halving", out=out, workers=2,
                                limits=Limits(cell_timeout=20, wall_limit=60), verbose=False, prepare_data=False))
    return out, cases


def test_each_reading_finds_the_secret_when_unsealed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for reading in READINGS:
        for channel in ("print", "raise", "file"):
            (tmp_path / "leak.txt").unlink(missing_ok=True)
            seen = _control(_student(reading, channel))
            assert SECRET in _decoded(seen + (tmp_path / "leak.txt").read_text()
                                      if (tmp_path / "leak.txt").exists() else seen), (reading, channel)


def test_no_hidden_code_comes_back_through_any_channel(sealed):
    out, cases = sealed
    records = read_records(out / "results")
    assert set(records) == set(cases)
    for student in cases:
        page = (out / "feedback" / f"{student}.html").read_text()
        record = json.dumps(records[student].__dict__, default=str)
        assert not _leaks(page), f"{student}: the feedback page holds hidden code"
        assert not _leaks(record), f"{student}: the record holds hidden code"
    assert records["correct"].scores["q1_test"] == 2
    assert records["late-cell-reads-history"].scores["q1_test"] == 2  # it ran before any hidden code


def test_a_stolen_value_shows_as_an_ellipsis_and_a_typed_value_as_itself(sealed):
    out, _ = sealed
    records = read_records(out / "results")
    value = records["getsource-value"]  # the reference is defined after the visible check
    assert value.scores["q1_test"] == 0
    assert value.failures["q1_test"] == "a hidden check failed in the hidden case halving 3.0: expected 1.5, got …"
    assert records["wrong"].failures["q1_test"] == (
        "a hidden check failed in the hidden case halving 3.0: expected 1.5, got 1.0")
    # history is read before the cell's visible check, which then fails: its own message
    assert records["history-value"].failures["q1_test"] == "a hidden check failed: half of 4 is 2"
    raised = records["gc-raise"].failures["q1_test"]
    # the student's own line, not the value it raised
    assert raised == "RuntimeError raised in your code (cell 2, line 8: `raise RuntimeError('LEAK ' + blob)`)"


def test_results_json_for_gradescope_holds_no_hidden_code(sealed, tmp_path):
    from labkit_course.gradescope.run import results_json

    out, cases = sealed
    master = prepare_master(out.parent / "course", "halving", out, force=False)
    for student, rec in read_records(out / "results").items():
        text = json.dumps(results_json(rec, master))
        assert not _leaks(text), student

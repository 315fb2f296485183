"""The grading corpus: submissions generated from a course's source notebook, each with the
status and per-question autograded points it must get.

Submissions are made at test time from the source notebook, so they follow its edits:
``correct`` is the release with the source's solution code filled in; variants are small text
mutations of that code, hostile cells inserted after a named cell, metadata stripped, cells
duplicated or deleted, broken files. Every mutation asserts that its target text exists, so an
edit of the notebook cannot silently turn a case into a no-op.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Callable

import nbformat
from nbformat import NotebookNode

from labkit_course.samples import cell_index, filled_in, inserted_after, replaced


@dataclass
class Case:
    """One submission and what grading must make of it.

    Attributes:
        student: the student id (file ``<student>.ipynb``).
        status: the expected status.
        scores: question -> expected autograded points (questions not listed: not checked).
        make: returns the submitted file's bytes.
        message: a substring that must appear in the record's messages or failures ("" = none).
    """

    student: str
    status: str
    scores: dict[str, float]
    make: Callable[[], bytes]
    message: str = ""
    tags: set[str] = field(default_factory=set)


def gid(cell: NotebookNode) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def correct(source: NotebookNode, release: NotebookNode) -> NotebookNode:
    """The release with every solution cell's source replaced by the source's solution (the
    demo's samples make it the same way: one home, :func:`labkit_course.samples.filled_in`)."""
    return filled_in(source, release)


# one home for editing a notebook by grade_id: the demo samples and the corpus share it
find, mutate, insert_after = cell_index, replaced, inserted_after


def strip_meta(nb: NotebookNode, *grade_ids: str) -> NotebookNode:
    nb = copy.deepcopy(nb)
    for g in grade_ids:
        del nb.cells[find(nb, g)].metadata["nbgrader"]
    return nb


def delete(nb: NotebookNode, grade_id: str) -> NotebookNode:
    nb = copy.deepcopy(nb)
    del nb.cells[find(nb, grade_id)]
    return nb


def duplicate(nb: NotebookNode, grade_id: str) -> NotebookNode:
    nb = copy.deepcopy(nb)
    i = find(nb, grade_id)
    nb.cells.insert(i + 1, copy.deepcopy(nb.cells[i]))
    for c in nb.cells:
        c.pop("id", None)  # copy/paste gives a new cell id; nbgrader metadata stays
    nb.nbformat_minor = 4
    return nb


def old_copy(nb: NotebookNode, grade_id: str, old_id: str, before: str) -> NotebookNode:
    """``nb`` with a copy of its cell ``grade_id`` carrying ``old_id`` (a grade id of another
    version of the notebook) inserted before the cell ``before``."""
    nb = copy.deepcopy(nb)
    old = copy.deepcopy(nb.cells[find(nb, grade_id)])
    old.metadata["nbgrader"]["grade_id"] = old_id
    nb.cells.insert(find(nb, before), old)
    for c in nb.cells:
        c.pop("id", None)
    nb.nbformat_minor = 4
    return nb


def big_outputs(nb: NotebookNode, grade_id: str, mib: int = 3) -> NotebookNode:
    nb = copy.deepcopy(nb)
    cell = nb.cells[find(nb, grade_id)]
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="x" * (mib * 2**20))]
    return nb


def dumps(nb: NotebookNode) -> bytes:
    return nbformat.writes(nb).encode()


# Hostile cells, course-independent.
OS_EXIT = "import os\nos._exit(1)"
SEGFAULT = "import ctypes\nctypes.string_at(0)"
SIGINT_PROOF = "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    time.sleep(0.05)"
MEMORY_HOG = "hog = bytearray(16 * 2**30)  # over the kernel's memory limit"
FAKE_PASS = ('print("All tests passed!")\nprint("Score: 100/100")\n'
             'from IPython.display import display\ndisplay(100)')
HIDE_TRACEBACKS = ("import sys\nget_ipython().showtraceback = lambda *a, **k: None\n"
                   "get_ipython()._showtraceback = lambda *a, **k: None\nsys.excepthook = lambda *a: None")
LEAK_TESTS = ("get_ipython().events.register('post_run_cell', "
              "lambda result: print('LEAK', result.info.raw_cell))")
RUNTIME_FLOOD = "for i in range(30000):\n    print('flood', i)"


def snoop(paths: list[str], writes: list[str]) -> str:
    """A cell that tries to read ``paths`` and overwrite ``writes``; prints what happened."""
    return (f"for p in {paths!r}:\n"
            "    try:\n        print('READ', p, open(p, 'rb').read(40))\n"
            "    except Exception as exc:\n        print('blocked read', p, type(exc).__name__)\n"
            f"for p in {writes!r}:\n"
            "    try:\n        open(p, 'ab').write(b'HACKED')\n        print('WROTE', p)\n"
            "    except Exception as exc:\n        print('blocked write', p, type(exc).__name__)\n")


def not_a_notebook() -> bytes:
    return json.dumps({"foo": 1}).encode()

"""The toy course's corpus: 41 submissions, each with its expected status and points.

Questions: q1 free text (5, manual), q2 ``sparsity`` (2), q3 ``topk_mask`` (3).
"""

from __future__ import annotations

from nbformat import NotebookNode

from . import corpus as C
from . import hostile as H
from .corpus import Case

WRONG_FUNCS = ("def sparsity(t):\n    return 0.5\n\n"
               "def topk_mask(t, k):\n    return torch.ones_like(t)\n")
PATCHES = ("import builtins\n"
           "torch.equal = lambda *a, **k: True\n"
           "torch.testing.assert_close = lambda *a, **k: None\n"
           "math.isclose = lambda *a, **k: True\n"
           "builtins.abs = lambda x: 0\n"
           "abs = lambda x: 0\n")
# Right answer for the public test; patches what the hidden tests call while they run.
PATCH_DURING_TEST = ("import builtins\n"
                     "def sparsity(t):\n    builtins.abs = lambda x: 0\n"
                     "    math.isclose = lambda *a, **k: True\n    return 0.5\n")
LONG_ID = "long-" + "x" * 244  # a 255-byte file name
FAKE_MODULES = ("class _Anything:\n    def __getattr__(self, name):\n"
                "        return lambda *a, **k: True\n"
                "torch = _Anything()\nmath = _Anything()\n")


def toy_cases(source: NotebookNode, release: NotebookNode, snoop_paths: list[str],
              snoop_writes: list[str], listen_port: int = 9) -> list[Case]:
    """Return the corpus (``snoop_*``: files a hostile cell must not read or write;
    ``listen_port``: a listener on the host's loopback that student code must not reach)."""
    ok = C.correct(source, release)
    full = {"q2": 2, "q3": 3}
    d = C.dumps

    def case(student, status, scores, nb_fn, message="", tags=()):
        return Case(student, status, scores, nb_fn, message, set(tags))

    return [
        case("correct", "graded", full, lambda: d(ok)),
        case("blank", "graded", {"q2": 0, "q3": 0}, lambda: d(release)),
        case("wrong-counts-nonzero", "graded", {"q2": 0, "q3": 3},
             lambda: d(C.mutate(ok, "q2_sparsity", "(t == 0)", "(t != 0)")),
             "a hidden check failed: 3 of 4 are zero"),  # the instructor's message, no code
        case("wrong-strict-threshold", "graded", {"q2": 2, "q3": 0},
             lambda: d(C.mutate(ok, "q3_topk", "t.abs() >= threshold", "t.abs() > threshold")),
             "keep 3 and 2"),
        case("wrong-k-zero", "graded", {"q2": 2, "q3": 0},
             lambda: d(C.mutate(ok, "q3_topk", "if k > 0:", "if k >= 0:"))),
        case("wrong-int-division", "graded", {"q2": 0, "q3": 3},
             lambda: d(C.mutate(ok, "q2_sparsity", "/ t.numel()", "// t.numel()"))),
        case("renamed-function", "graded", {"q2": 0, "q3": 3},
             lambda: d(C.mutate(ok, "q2_sparsity", "def sparsity(", "def sparsity_of(")),
             "NameError"),
        case("syntax-error", "graded", {"q2": 2, "q3": 0},
             lambda: d(C.mutate(ok, "q3_topk", "return mask", "return mask)")), "SyntaxError"),
        case("os-exit", "crashed", {"q2": 2, "q3": 0},
             lambda: d(C.insert_after(ok, "q2_test", C.OS_EXIT)), "kernel died"),
        case("segfault", "crashed", {"q2": 2, "q3": 0},
             lambda: d(C.insert_after(ok, "q2_test", C.SEGFAULT)), "kernel died"),
        case("memory-hog", "graded", full,
             lambda: d(C.insert_after(ok, "q2_test", C.MEMORY_HOG)), "MemoryError"),
        case("sigint-proof-loop", "timeout", {"q2": 2, "q3": 0},
             lambda: d(C.insert_after(ok, "q2_test", C.SIGINT_PROOF)), "ignored the interrupt"),
        case("infinite-loop", "timeout", {"q2": 2, "q3": 3},
             lambda: d(C.insert_after(ok, "q2_test", "while True:\n    pass")),
             "CellTimeoutError"),
        case("monkeypatch", "graded", {"q2": 0, "q3": 0},
             lambda: d(C.insert_after(C.insert_after(release, "q3_topk", WRONG_FUNCS),
                                      "q3_topk", PATCHES))),
        case("patch-during-test", "graded", {"q2": 0, "q3": 0},
             lambda: d(C.insert_after(release, "q2_sparsity", PATCH_DURING_TEST)), "TamperingError"),
        case("fake-modules", "graded", {"q2": 0, "q3": 0},
             lambda: d(C.insert_after(C.insert_after(release, "q3_topk", WRONG_FUNCS),
                                      "q3_topk", FAKE_MODULES))),
        case("fake-pass-prints", "graded", {"q2": 0, "q3": 0},
             lambda: d(C.insert_after(C.insert_after(release, "q3_topk", WRONG_FUNCS),
                                      "q3_topk", C.FAKE_PASS))),
        case("hidden-tracebacks", "graded", {"q2": 0, "q3": 0},
             lambda: d(C.insert_after(C.insert_after(release, "q3_topk", WRONG_FUNCS),
                                      "q3_topk", C.HIDE_TRACEBACKS))),
        case("leak-hidden-tests", "graded", full,
             lambda: d(C.insert_after(ok, "setup", C.LEAK_TESTS)), tags={"leak"}),
        case("duplicated-test-cell", "graded", full,
             lambda: d(C.duplicate(ok, "q2_test")),
             "appears 2 times: as nbgrader does, the last copy (cell 7) is graded"),
        case("deleted-test-cell", "graded", full,
             lambda: d(C.delete(ok, "q3_test")), "'q3_test' was deleted; nbgrader put it back"),
        # after a locked prompt nbgrader cannot place a deleted cell (KeyError): prescan does
        case("deleted-answer-cell", "graded", full,
             lambda: d(C.delete(ok, "q1_answer")), "'q1_answer' was deleted; it was put back"),
        case("edited-locked-cell", "graded", {"q2": 0, "q3": 3},
             lambda: d(C.mutate(C.mutate(ok, "q2_test", "assert abs(", "pass  # assert abs("),
                                "q2_sparsity", "(t == 0)", "(t != 0)")),
             "was edited"),
        case("stripped-test-metadata", "graded", {"q2": 2, "q3": 0},
             lambda: d(C.strip_meta(C.mutate(C.mutate(ok, "q3_test", "assert torch.equal(", "pass  # ("),
                                             "q3_topk", "t.abs() >= threshold", "t.abs() > threshold"),
                                    "q3_test")),
             "lost its nbgrader metadata"),
        case("stripped-answer-metadata", "graded", full,
             lambda: d(C.strip_meta(ok, "q1_answer", "q2_sparsity", "q3_topk")),
             "lost its nbgrader metadata"),
        case("invalid-json", "invalid", {"q2": 0, "q3": 0},
             lambda: d(ok)[:-200], "not a readable Jupyter notebook"),
        case("not-a-notebook", "invalid", {"q2": 0, "q3": 0}, C.not_a_notebook,
             "not a readable Jupyter notebook"),
        case("huge-outputs", "graded", full, lambda: d(C.big_outputs(ok, "q2_sparsity")),
             "were cleared"),
        case("output-flood", "graded", full,
             lambda: d(C.insert_after(ok, "setup", C.RUNTIME_FLOOD))),
        case("snoop", "graded", full,
             lambda: d(C.insert_after(ok, "setup", C.snoop(snoop_paths, snoop_writes))),
             tags={"snoop"}),
        case("fork-and-linger", "graded", full,
             lambda: d(C.insert_after(ok, "setup", "import os, time\nif os.fork() == 0:\n"
                                      "    time.sleep(3600)\n    os._exit(0)"))),
        # Processes, users, network: each reaches only its own process world.
        case("kill-all-detached", "crashed", {"q2": 0, "q3": 0},
             lambda: d(C.insert_after(C.insert_after(ok, "setup", H.SLEEP.format(seconds=8)),
                                      "setup", H.KILL_ALL_DETACHED)), "kernel died", tags={"world"}),
        case("double-fork-sleeper", "graded", full,
             lambda: d(C.insert_after(ok, "setup", H.DOUBLE_FORK_SLEEPER)), tags={"world"}),
        case("fork-bomb", "graded", full, lambda: d(C.insert_after(ok, "setup", H.fork_bomb())),
             tags={"world"}),
        case("threads", "graded", full, lambda: d(C.insert_after(ok, "setup", H.threads())),
             tags={"world"}),
        case("network", "graded", full, lambda: d(C.insert_after(ok, "setup", H.connect(listen_port))),
             tags={"world"}),
        # Names of any script and length are students of their own; a cell of another release.
        case("李雷", "graded", full, lambda: d(ok)),
        case("josé", "graded", {"q2": 0, "q3": 0}, lambda: d(release)),
        case("josè", "graded", full, lambda: d(ok)),
        case(LONG_ID, "graded", full, lambda: d(ok)),
        case("old-release-cell", "graded", full,
             lambda: d(C.old_copy(ok, "q2_test", "q2_test_v0", before="q3_topk")),
             "'q2_test_v0', a cell this assignment does not have"),
    ]

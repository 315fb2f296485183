"""The lab1 corpus: the real notebook graded whole (grading mode, tiny profile).

The toy corpus covers every robustness and isolation case quickly; this one checks that the
lab's own tests give a correct submission full marks, a blank one nothing, and that each
plausible-but-wrong variant loses exactly the test written to catch it.
Keys of ``scores``: a question (``q2``: all its test cells) or one test cell's grade_id.
"""

from __future__ import annotations

from nbformat import NotebookNode

from . import corpus as C
from .corpus import Case

WRONG_PRUNE = ("def fine_grained_prune(tensor, sparsity):\n"
               "    return torch.ones_like(tensor, dtype=torch.bool)\n")
PATCHES = ("torch.equal = lambda *a, **k: True\n"
           "torch.testing.assert_close = lambda *a, **k: None\n"
           "lk.check_fine_grained_prune = lambda *a, **k: True\n"
           "abs = lambda x: 0\n")


def lab1_cases(source: NotebookNode, release: NotebookNode, full: dict[str, float]) -> list[Case]:
    """Return the lab1 corpus; ``full``: question -> its autograded points."""
    ok = C.correct(source, release)
    d = C.dumps

    def case(student, status, scores, make, message=""):
        return Case(student, status, scores, make, message)

    later = {q: 0 for q in ("q5", "q6", "q7")}
    return [
        case("correct", "graded", dict(full), lambda: d(ok)),
        # The release's scaffolding handles sparsity 0 and 1 itself, so q2 is not checked.
        case("blank", "graded", {"q3": 0, "q5": 0, "q6": 0, "q7": 0}, lambda: d(release)),
        case("prune-keeps-ties", "graded", {"q2_test_threshold": 0, "q6": full["q6"], "q7": full["q7"]},
             lambda: d(C.mutate(ok, "q2_fine_grained_prune", "torch.gt(importance, threshold)",
                                "torch.ge(importance, threshold)"))),
        case("prune-truncates", "graded", {"q2_test_rounding": 0, "q6": full["q6"], "q7": full["q7"]},
             lambda: d(C.mutate(ok, "q2_fine_grained_prune", "round(num_elements * sparsity)",
                                "int(num_elements * sparsity)"))),
        case("channels-truncate", "graded", {"q6_test_num_channels": 0, "q2": full["q2"], "q7": full["q7"]},
             lambda: d(C.mutate(ok, "q6_get_num_channels_to_keep", "int(round(channels * (1 - prune_ratio)))",
                                "int(channels * (1 - prune_ratio))"))),
        case("importance-l1", "graded", {"q7_test_importance": 0, "q2": full["q2"], "q6": full["q6"]},
             lambda: d(C.mutate(ok, "q7_get_input_channel_importance", "torch.norm(channel_weight)",
                                "channel_weight.abs().sum()"))),
        case("os-exit-after-q3", "crashed", {"q2": full["q2"], "q3": full["q3"], **later},
             lambda: d(C.insert_after(ok, "q3_test_target_sparsity", C.OS_EXIT)), "kernel died"),
        case("monkeypatch-q2", "graded", {"q2": 0},
             lambda: d(C.insert_after(C.insert_after(ok, "q2_fine_grained_prune", WRONG_PRUNE),
                                      "q2_fine_grained_prune", PATCHES))),
    ]

"""The lab1 corpus: the real notebook graded whole (grading mode, tiny profile).

The toy corpus covers every robustness and isolation case quickly; this one checks that the
lab's own tests are fair: a correct submission and correct alternatives earn full marks, a
blank one nothing, and each plausible-but-wrong variant loses exactly the test cells of the
concept it gets wrong (one mistake costs one concept). Every case lists the points of
EVERY autograded test cell; the full points of each cell are read from the source notebook's
nbgrader metadata.

Variants replace the code of a solution region of the source notebook (found with
:mod:`labkit_course.regions`, so they follow edits of the scaffold around it) or, for a student who
rewrites a whole cell, the whole cell.
"""

from __future__ import annotations

import copy
from typing import Iterable

from nbformat import NotebookNode

from labkit_course import regions

from . import corpus as C
from .corpus import Case

WRONG_PRUNE = ("def fine_grained_prune(tensor, sparsity):\n"
               "    return torch.ones_like(tensor, dtype=torch.bool)\n")
PATCHES = ("torch.equal = lambda *a, **k: True\n"
           "torch.testing.assert_close = lambda *a, **k: None\n"
           "lk.check_fine_grained_prune = lambda *a, **k: True\n"
           "abs = lambda x: 0\n")

# Correct alternatives to the source's solutions (they earn full marks).
SORT_MASK = ("num_zeros = round(num_elements * sparsity)\n"
             "importance = tensor.abs()\n"
             "# ties at the threshold are pruned too: the threshold is a value, the mask is strict\n"
             "threshold = torch.sort(importance.flatten()).values[num_zeros - 1]\n"
             "mask = importance > threshold\n")
VECTOR_NORM = "importance = torch.linalg.vector_norm(channel_weight)\n"
INDEX_SELECT_PRUNE = ("keep = torch.arange(n_keep, device=next_conv.weight.device)\n"
                      "next_conv.weight.set_(torch.index_select(next_conv.weight.detach(), 1, keep))\n")
# Plausible answers that fail, and how the page must name why.
SUBCLASS_MASK = ("num_zeros = round(num_elements * sparsity)\n"
                 "importance = tensor.abs()\n"
                 "threshold = importance.flatten().kthvalue(num_zeros).values\n"
                 "class _Agreeable(torch.Tensor):\n"
                 "    @classmethod\n"
                 "    def __torch_function__(cls, func, types, args=(), kwargs=None):\n"
                 "        out = super().__torch_function__(func, types, args, kwargs or {})\n"
                 "        if func in (torch.equal, torch.Tensor.__eq__, torch.Tensor.eq):\n"
                 "            return True if func is torch.equal else torch.ones_like(out, dtype=torch.bool)\n"
                 "        return out\n"
                 "mask = torch.gt(importance, threshold).as_subclass(_Agreeable)\n")
INDEX_PAST_END = ("num_zeros = round(num_elements * sparsity)\n"
                  "importance = tensor.abs()\n"
                  "threshold = importance.flatten().sort().values[num_zeros]\n"
                  "mask = importance >= threshold\n")
PRUNE_BODY_FIRST = "    all_convs, all_bns = lk.get_convs_and_bns(model)\n"  # its first line
OWN_ASSERT = "    assert isinstance(prune_ratio, (int, float)), 'prune_ratio must be a number'\n"
SQRT_SUM = "importance = channel_weight.pow(2).sum().sqrt()\n"
NARROW_PRUNE = "next_conv.weight.set_(next_conv.weight.detach().narrow(1, 0, n_keep).clone())\n"
FANCY_SORT = "next_conv.weight.copy_(next_conv.weight.detach()[:, sort_idx])\n"

# Q6 and Q7 answered by calling labkit instead of writing the next-conv lines (labkit has no
# such helper, so these earn none of those lines' points).
LABKIT_PRUNE = ("def channel_prune(model, prune_ratio):\n"
                "    counts = lk.channel_keep_counts(model, prune_ratio, get_num_channels_to_keep)\n"
                "    return lk.shrink_channels(model, counts)\n")
LABKIT_SORT = ("def apply_channel_sorting(model):\n"
               "    return lk.sort_channels(model, get_input_channel_importance)\n")


def points_per_test_cell(source: NotebookNode) -> dict[str, float]:
    """grade_id -> points of every autograded test cell, in notebook order (source metadata)."""
    out = {}
    for cell in source.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and not meta.get("solution"):
            out[meta["grade_id"]] = float(meta.get("points", 0))
    return out


def with_solution(nb: NotebookNode, source: NotebookNode, grade_id: str, code: str) -> NotebookNode:
    """Copy of ``nb`` whose cell ``grade_id`` is the source's cell with its (one) solution
    region's code replaced by ``code`` (written at the region's indentation), markers removed."""
    src = source.cells[C.find(source, grade_id)].source
    parts = regions.parse(src)
    assert [r.kind for r in parts].count("solution") == 1, f"corpus: {grade_id} needs one solution region"
    text = ""
    for r in parts:
        if r.kind == "solution":
            text += "".join(r.indent + line + "\n" for line in code.splitlines())
        else:
            text += r.text
    nb = copy.deepcopy(nb)
    nb.cells[C.find(nb, grade_id)].source = text.rstrip("\n")
    return nb


def with_solutions(nb: NotebookNode, source: NotebookNode, solutions: dict[str, str]) -> NotebookNode:
    """:func:`with_solution` for each ``grade_id -> code`` of ``solutions``."""
    for grade_id, code in solutions.items():
        nb = with_solution(nb, source, grade_id, code)
    return nb


def with_cell(nb: NotebookNode, grade_id: str, code: str) -> NotebookNode:
    """Copy of ``nb`` whose cell ``grade_id`` holds ``code`` instead (a rewritten cell)."""
    nb = copy.deepcopy(nb)
    nb.cells[C.find(nb, grade_id)].source = code
    return nb


def lab1_cases(source: NotebookNode, release: NotebookNode) -> list[Case]:
    """Return the lab1 corpus (``scores``: grade_id -> expected points, for every test cell)."""
    full = points_per_test_cell(source)
    ok = C.correct(source, release)
    d = C.dumps

    def cells(prefixes: Iterable[str]) -> set[str]:
        wanted = tuple(prefixes)
        found = {g for g in full if g.startswith(wanted)}
        assert found, f"corpus: no test cell starts with {wanted} (renamed?)"
        return found

    def losing(*prefixes: str) -> dict[str, float]:
        """Full points except 0 for the test cells whose grade_id starts with a prefix."""
        lost = cells(prefixes) if prefixes else set()
        return {g: 0.0 if g in lost else p for g, p in full.items()}

    def case(student, scores, make, status="graded", message=""):
        return Case(student, status, scores, make, message)

    q6_prune_tests = ("q6_test_channel_prune", "q6_test_macs")  # every Q6 test but the keep count
    q7_sorting_tests = ("q7_test_sorting",)
    return [
        case("correct", losing(), lambda: d(ok)),
        case("blank", losing("q"), lambda: d(release)),
        # >= instead of >: ties kept, one zero short; the shapes and in-place tests still pass
        case("prune-keeps-ties", losing("q2_test_lab_example", "q2_test_threshold", "q2_test_rounding",
                                        "q2_test_extreme"),
             lambda: d(C.mutate(ok, "q2_fine_grained_prune", "torch.gt(importance, threshold)",
                                "torch.ge(importance, threshold)"))),
        # int() instead of round() for the number of zeros: the tests whose counts round up
        case("prune-truncates", losing("q2_test_lab_example", "q2_test_rounding"),
             lambda: d(C.mutate(ok, "q2_fine_grained_prune", "round(num_elements * sparsity)",
                                "int(num_elements * sparsity)"))),
        # channel_prune is graded with the reference keep count: only the keep-count test is lost
        case("channels-truncate", losing("q6_test_num_channels"),
             lambda: d(C.mutate(ok, "q6_get_num_channels_to_keep", "int(round(channels * (1 - prune_ratio)))",
                                "int(channels * (1 - prune_ratio))"))),
        # the sorting tests use the reference importance: only the importance tests are lost
        case("importance-l1", losing("q7_test_importance"),
             lambda: d(C.mutate(ok, "q7_get_input_channel_importance", "torch.norm(channel_weight)",
                                "channel_weight.abs().sum()"))),
        # channel_prune forgets the next conv's input channels: the keep count still earns its points
        case("prune-forgets-next-conv", losing(*q6_prune_tests),
             lambda: d(with_solution(ok, source, "q6_channel_prune", "pass"))),
        case("labkit-calls", losing(*q6_prune_tests, *q7_sorting_tests),
             lambda: d(with_cell(with_cell(ok, "q6_channel_prune", LABKIT_PRUNE),
                                 "q7_apply_channel_sorting", LABKIT_SORT))),
        case("alternatives", losing(),
             lambda: d(with_solutions(ok, source, {
                 "q2_fine_grained_prune": SORT_MASK,
                 "q7_get_input_channel_importance": VECTOR_NORM,
                 "q6_channel_prune": INDEX_SELECT_PRUNE,
                 "q3_target_sparsity": "target_sparsity = 0.59  # round(14.75) = 15 zeros"}))),
        case("alternatives-2", losing(),
             lambda: d(with_solutions(ok, source, {
                 "q7_get_input_channel_importance": SQRT_SUM,
                 "q6_channel_prune": NARROW_PRUNE,
                 "q7_apply_channel_sorting": FANCY_SORT,
                 "q3_target_sparsity": "target_sparsity = 0.61  # round(15.25) = 15 zeros"}))),
        case("os-exit-after-q3", {**losing("q5_", "q6_", "q7_")},
             lambda: d(C.insert_after(ok, "q3_test_target_sparsity", C.OS_EXIT)), "crashed", "kernel died"),
        # a correct mask returned as a tensor subclass that says "equal" to every comparison
        case("prune-returns-subclass", losing("q2_"),
             lambda: d(with_solution(ok, source, "q2_fine_grained_prune", SUBCLASS_MASK))),
        # the student's own assert fires inside channel_prune: the page names the student's line
        case("assert-in-channel-prune", losing("q6_test_channel_prune_ratios"),
             lambda: d(C.mutate(ok, "q6_channel_prune", PRUNE_BODY_FIRST, OWN_ASSERT + PRUNE_BODY_FIRST)),
             message="AssertionError raised in your code"),
        # sorted(...)[num_zeros] with >=: right for distinct weights, an IndexError at 100 of 100
        case("prune-indexes-past-the-end", losing("q2_test_threshold", "q2_test_rounding"),
             lambda: d(with_solution(ok, source, "q2_fine_grained_prune", INDEX_PAST_END)),
             message="IndexError raised in your code in the hidden case sparsity 0.996 of 100 weights"),
        # monkeypatches after Q2 do not rescue a wrong fine_grained_prune (the guard restores them)
        case("monkeypatch-q2", losing("q2_"),
             lambda: d(C.insert_after(C.insert_after(ok, "q2_fine_grained_prune", WRONG_PRUNE),
                                      "q2_fine_grained_prune", PATCHES))),
    ]

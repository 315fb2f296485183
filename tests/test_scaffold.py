"""The release audit of stubs (labkit_course.scaffold): every name the student must define is named."""

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from labkit_course import regions, release, scaffold

SOURCE = release.default_course_dir() / "source" / "lab1" / "lab1.ipynb"
COMMITTED = release.default_course_dir() / "release" / "lab1" / "lab1.ipynb"
STUB = "# YOUR CODE HERE\nraise NotImplementedError()"


def _solution_cell(source: str, grade_id: str) -> nbformat.NotebookNode:
    cell = new_code_cell(source)
    cell.metadata["nbgrader"] = {"grade": False, "grade_id": grade_id, "locked": False,
                                 "schema_version": 3, "solution": True}
    return cell


def _release_of(source: str) -> str:
    """What nbgrader makes of a solution cell: each region replaced by the stub, indented."""
    return regions.visible(source, stub=STUB)


def _pair(*cells: tuple[str, str | None]) -> tuple[nbformat.NotebookNode, nbformat.NotebookNode]:
    """(source, release) notebooks from (source text, grade_id or None for a plain cell)."""
    src = new_notebook(cells=[_solution_cell(s, g) if g else new_code_cell(s) for s, g in cells])
    rel = new_notebook(cells=[_solution_cell(_release_of(s), g) if g else new_code_cell(s) for s, g in cells])
    return src, rel


PRUNE_SCAFFOLD_INSIDE = '''def prune(tensor, sparsity):
    num_elements = tensor.numel()
    ### BEGIN SOLUTION
    # Step 1: num_zeros = round(sparsity * num_elements)
    num_zeros = round(num_elements * sparsity)
    # Step 2: mask = |tensor| above the num_zeros-th smallest
    mask = tensor.abs() > tensor.abs().flatten().kthvalue(num_zeros).values
    ### END SOLUTION
    # Step 3: prune in place and return the mask
    tensor.mul_(mask)
    return mask'''

PRUNE_SCAFFOLD_OUTSIDE = '''def prune(tensor, sparsity):
    num_elements = tensor.numel()
    # Step 1: num_zeros = round(sparsity * num_elements)
    # Step 2: mask = |tensor| above the num_zeros-th smallest
    ### BEGIN SOLUTION
    num_zeros = round(num_elements * sparsity)
    mask = tensor.abs() > tensor.abs().flatten().kthvalue(num_zeros).values
    ### END SOLUTION
    # Step 3: prune in place and return the mask
    tensor.mul_(mask)
    return mask'''


def test_scaffold_inside_the_solution_region_fails_the_audit():
    src, rel = _pair((PRUNE_SCAFFOLD_INSIDE, "q_prune"))
    problems = scaffold.scaffold_problems(src, rel)
    assert len(problems) == 1, problems
    assert "q_prune" in problems[0] and "`mask`" in problems[0]  # read by tensor.mul_(mask), named only after


def test_scaffold_outside_the_solution_region_passes():
    src, rel = _pair((PRUNE_SCAFFOLD_OUTSIDE, "q_prune"))
    assert scaffold.scaffold_problems(src, rel) == []


def test_a_name_read_by_later_cells_must_be_named_in_the_stub():
    answer = "### BEGIN SOLUTION\ntarget_sparsity = 0.6\n### END SOLUTION"
    check = "check(target_sparsity)"
    src, rel = _pair((answer, "q3"), (check, None))
    problems = scaffold.scaffold_problems(src, rel)
    assert len(problems) == 1 and "later cells read `target_sparsity`" in problems[0]
    src, rel = _pair(("# target_sparsity = a number in [0, 1]\n" + answer, "q3"), (check, None))
    assert scaffold.scaffold_problems(src, rel) == []
    src, rel = _pair(("target_sparsity = ...  # fill in\n" + answer, "q3"), (check, None))
    assert scaffold.scaffold_problems(src, rel) == []  # a placeholder assignment names it too


def test_names_bound_by_other_cells_and_magics_are_not_the_student_s():
    src, rel = _pair(("%pip install nothing\nmodel = 1", None),
                     ("### BEGIN SOLUTION\nmodel = 2\n### END SOLUTION", "q"), ("print(model)", None))
    assert scaffold.scaffold_problems(src, rel) == []


def test_reads_writes_and_comments():
    code = "import torch as t\nfor i in range(3):\n    y = f(x, i)  # uses x\n"
    assert scaffold.names_read(code) == {"f", "x", "i"}
    assert scaffold.names_written(code) == {"t", "i", "y"}
    assert scaffold.comment_words(code) == {"uses", "x"}


def test_our_source_and_release_pass_the_audit():
    source = nbformat.read(SOURCE, as_version=4)
    committed = nbformat.read(COMMITTED, as_version=4)
    assert scaffold.scaffold_problems(source, committed) == []


@pytest.mark.parametrize("grade_id, names", [
    ("q2_fine_grained_prune", ["num_zeros", "importance", "threshold", "mask", "round()", "kthvalue"]),
    ("q3_target_sparsity", ["target_sparsity"]),
    ("q5_sparsity_dict", ['"backbone.conv0.weight": ...,', '"classifier.weight": ...,']),
    ("q7_get_input_channel_importance", ["importance", "torch.norm"]),
])
def test_release_stubs_name_what_the_student_writes(grade_id, names):
    committed = nbformat.read(COMMITTED, as_version=4)
    cell = next(c for c in committed.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    above_stub = cell.source.split("raise NotImplementedError()")[0]
    for name in names:
        assert name in above_stub, f"{grade_id}: {name!r} not named above the stub"

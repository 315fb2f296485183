"""The demo's sample submissions (labkit_course.samples) are made from the course's source notebook."""

from labkit_course.samples import sample_notebooks


def _cell(nb, grade_id):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def test_written_answers_are_handed_in_without_the_mark_scheme():
    samples = sample_notebooks()
    answer = _cell(samples["alice"], "q1_answer").source
    assert "1.1" in answer and "1.2" in answer  # the model answer is there
    for name, nb in samples.items():  # but no student hands in the graders' mark scheme
        assert not any("Mark scheme" in c.source for c in nb.cells), name


def test_the_correct_sample_holds_every_solution_and_no_region_marker():
    nb = sample_notebooks()["alice"]
    assert "torch.gt(importance, threshold)" in _cell(nb, "q2_fine_grained_prune").source
    assert not any("BEGIN SOLUTION" in c.source or "HIDDEN TESTS" in c.source for c in nb.cells)

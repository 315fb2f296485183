"""The Lab 1 notebooks, executed: the source end to end on the tiny profile, and a wrong
submission of the release autograded by nbgrader (it must earn partial credit)."""


import nbformat
import pytest

from grading.lab1_cases import points_per_test_cell
from labkit_course import release

COURSE = release.default_course_dir()
SOURCE = COURSE / "source" / "lab1" / "lab1.ipynb"
RELEASE = COURSE / "release" / "lab1" / "lab1.ipynb"


def _kernel_env(monkeypatch, grading: bool) -> None:
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("LABKIT_PROFILE", "tiny")
    monkeypatch.setenv("TQDM_DISABLE", "1")
    if grading:
        monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    else:
        monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)


def _outputs_text(nb: nbformat.NotebookNode) -> str:
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", "") if out.get("output_type") == "stream"
                         else str(out.get("data", {}).get("text/plain", "")))
    return "\n".join(parts)


@pytest.mark.slow
def test_source_notebook_runs_end_to_end_on_tiny(tiny_checkpoint, monkeypatch, tmp_path):
    """Every cell of the source (solutions and hidden tests included) runs without error."""
    from nbclient import NotebookClient

    _kernel_env(monkeypatch, grading=False)
    nb = nbformat.read(SOURCE, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    text = _outputs_text(nb)
    assert "labkit profile 'tiny'" in text or "tiny" in text
    assert "* Test passed." in text and "* Test failed." not in text
    assert "MISMATCH" not in text
    assert "grading mode" not in text  # not shortened outside nbgrader


def _wrong_submission(path) -> None:
    """The release with the answers filled in, two of them carelessly: >= in Q2, int() in Q6."""
    source = {c.metadata["nbgrader"]["grade_id"]: c for c in nbformat.read(SOURCE, as_version=4).cells
              if c.metadata.get("nbgrader", {}).get("solution")}
    nb = nbformat.read(RELEASE, as_version=4)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in source and cell.metadata["nbgrader"].get("solution"):
            text = source[gid].source
            for marker in ("### BEGIN SOLUTION", "### END SOLUTION"):
                text = "\n".join(line for line in text.splitlines() if marker not in line)
            text = text.replace("torch.gt(importance, threshold)", "importance >= threshold")
            text = text.replace("int(round(channels * (1 - prune_ratio)))", "int(channels * (1 - prune_ratio))")
            cell.source = text
    nbformat.write(nb, path)


@pytest.mark.slow
def test_wrong_submission_earns_partial_credit(tiny_checkpoint, tmp_path):
    submission = tmp_path / "lab1.ipynb"
    _wrong_submission(submission)
    text = submission.read_text()
    assert "importance >= threshold" in text and "int(channels * (1 - prune_ratio))" in text
    graded = release.autograde({"careless": submission})["careless"]
    earned, total = graded.total
    print(f"careless submission: {earned:g}/{total:g}", graded.scores)
    assert total == sum(points_per_test_cell(nbformat.read(SOURCE, as_version=4)).values())
    assert 0 < earned < total, graded.scores
    scores = graded.scores
    assert scores["q2_test_threshold"][0] == 0, "the hidden tie test must catch >="
    assert scores["q6_test_num_channels"][0] == 0, "the hidden rounding test must catch int()"
    for gid in ("q3_test_target_sparsity", "q5_test_size", "q5_test_accuracy", "q7_test_importance",
                "q7_test_importance_dims", "q7_test_sorting_equivalent", "q7_test_sorting_other_model",
                "q7_test_sorting_order"):
        assert scores[gid][0] == scores[gid][1], f"{gid} does not depend on Q2/Q6 and must pass: {scores}"

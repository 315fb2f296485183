"""The benchmarks' library side (labkit_course.bench) and their command (labkit_course.commands.bench):
reference solutions come from the course's source notebook, never from tests/."""

from __future__ import annotations

import contextlib
import copy
import io
import shutil
from pathlib import Path

import oracle
import pytest
from labkit_course.bench import grading, latency
from labkit_course.cli import main
from labkit_course.source_notebook import default_course_dir, load_solutions

import labkit as lk
from labkit.channels import channel_keep_counts


def test_scan_benchmark_runs_and_reports_identical(capsys):
    assert main(["bench", "scan", "--images", "8", "--batch-size", "4", "--width", "0.125"]) == 0
    out = capsys.readouterr().out
    assert "accuracies identical: True" in out and "weights restored: True" in out


def test_solutions_come_from_the_source_notebook_and_match_the_oracle():
    solutions = load_solutions()
    assert solutions.get_num_channels_to_keep(64, 0.3) == oracle.get_num_channels_to_keep(64, 0.3) == 45
    import torch

    w = torch.randn(6, 7, generator=torch.Generator().manual_seed(0))
    a, b = w.clone(), w.clone()
    assert torch.equal(solutions.fine_grained_prune(a, 0.5), oracle.fine_grained_prune(b, 0.5))
    assert torch.equal(a, b)


def test_a_course_without_its_source_notebook_says_what_to_pass(tmp_path):
    with pytest.raises(FileNotFoundError, match="--course"):
        load_solutions(tmp_path)


def test_solutions_follow_the_course_given(tmp_path):
    course = tmp_path / "course"
    shutil.copytree(default_course_dir() / "source", course / "source")
    nb = course / "source" / "lab1" / "lab1.ipynb"
    nb.write_text(nb.read_text().replace("int(round(channels * (1 - prune_ratio)))",
                                         "int(channels * (1 - prune_ratio))"))
    assert load_solutions(course).get_num_channels_to_keep(64, 0.3) == 44  # truncates
    assert load_solutions().get_num_channels_to_keep(64, 0.3) == 45


def test_latency_widths_are_those_of_the_reference_channel_prune():
    solutions = load_solutions()
    dense = lk.VGG()
    keep = channel_keep_counts(dense, 0.3, oracle.get_num_channels_to_keep)
    assert latency.pruned_widths(solutions, 0.3) == keep + dense.widths[-1:]
    rounded = latency.pruned_widths(solutions, 0.3, round_to=8)
    assert all(w % 8 == 0 for w in rounded) and rounded[-1] == dense.widths[-1]



@pytest.mark.slow
def test_sandbox_benchmark_compares_kernel_start_up_with_and_without_the_world(capsys):
    from labkit_course.grading.sandbox import protections

    assert main(["bench", "sandbox", "--rounds", "1"]) == 0
    out = capsys.readouterr().out
    if {"processes", "users"} <= protections():
        assert "kernel start-up (to its first reply): median" in out and "without" in out
    else:  # a machine without root or namespaces says so and measures nothing
        assert "cannot measure the process world here" in out


TOY = Path(__file__).resolve().parent / "grading" / "fixtures" / "toy"


@pytest.fixture(scope="module")
def toy_grading_bench(tiny_checkpoint) -> tuple[int, str, grading.Measurement]:
    """``labkit bench grading`` on the toy course, 2 submissions: (exit status, output, the run)."""
    kept: list[grading.Measurement] = []

    def keep(**options) -> grading.Measurement:
        kept.append(real(**options))
        return kept[-1]

    real = grading.measure
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(out):
        mp.setattr(grading, "measure", keep)
        rc = main(["bench", "grading", "--course", str(TOY), "--assignment", "toy",
                   "--submissions", "2"])
    return rc, out.getvalue(), kept[0]


@pytest.mark.slow
def test_grading_bench_grades_the_same_submissions_with_labkit_and_nbgrader(toy_grading_bench):
    rc, out, m = toy_grading_bench
    assert rc == 0, out
    assert m.students == {"01-correct": "correct", "02-blank": "blank"}
    assert m.test_cells == ["q2_test", "q3_test"]
    # both graders graded both: the correct one earns the toy's 5 test points, the blank one 0
    for scores in (m.labkit, m.nbgrader):
        assert [scores["01-correct"][c] for c in m.test_cells] == [2.0, 3.0]
        assert [scores["02-blank"][c] for c in m.test_cells] == [0.0, 0.0]
    assert (m.root / "nbgrader" / "autograded" / "01-correct" / "toy" / "toy.ipynb").is_file()
    assert m.labkit_status == {"01-correct": "graded", "02-blank": "graded"}
    assert "machine: " in out and "cores" in out
    last = out.strip().splitlines()[-1]
    assert last == (f"throughput: {m.nbgrader_seconds / m.labkit_seconds:.2f}x labkit / nbgrader "
                    "(goal >= 3x with 2 workers on 2 cores), scores identical")
    assert "labkit grade --workers 2" in out and "nbgrader autograde" in out


@pytest.mark.slow
def test_grading_bench_fails_loudly_on_a_score_mismatch(toy_grading_bench, capsys):
    m = copy.deepcopy(toy_grading_bench[2])
    m.nbgrader["02-blank"]["q3_test"] = 3.0  # nbgrader gave points labkit did not
    m.nbgrader["01-correct"] = None  # and no grade at all to the other student
    assert grading.report(m) == 1
    captured = capsys.readouterr()
    assert "SCORE MISMATCH 02-blank q3_test: labkit 0.0, nbgrader 3.0" in captured.out
    assert "SCORE MISMATCH 01-correct: nbgrader recorded no grade" in captured.out
    assert captured.out.strip().splitlines()[-1].endswith("scores DIFFER (2 test cells or "
                                                          "students, listed above)")
    assert "disagree on 2 scores" in captured.err


def test_grading_bench_mixes_in_wrong_samples_up_to_half():
    from labkit_course.source_notebook import default_course_dir

    subs = grading.bench_submissions(default_course_dir(), "lab1", 5)
    assert [case for case, _ in subs.values()] == ["correct"] * 3 + ["prune-keeps-ties", "blank"]
    assert [case for case, _ in grading.bench_submissions(default_course_dir(), "lab1", 1).values()
            ] == ["correct"]
    with pytest.raises(ValueError, match="at least 1"):
        grading.bench_submissions(default_course_dir(), "lab1", 0)


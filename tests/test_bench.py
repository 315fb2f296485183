"""The benchmarks' library side (labkit.bench) and their command (labkit.commands.bench):
reference solutions come from the course's source notebook, never from tests/."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import labkit as lk
from labkit.bench import latency
from labkit.cli import main
from labkit.source_notebook import default_course_dir, load_solutions

import oracle


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
    keep = lk.channel_keep_counts(dense, 0.3, oracle.get_num_channels_to_keep)
    assert latency.pruned_widths(solutions, 0.3) == keep + dense.widths[-1:]
    rounded = latency.pruned_widths(solutions, 0.3, round_to=8)
    assert all(w % 8 == 0 for w in rounded) and rounded[-1] == dense.widths[-1]



@pytest.mark.slow
def test_sandbox_benchmark_compares_kernel_start_up_with_and_without_the_world(capsys):
    from labkit.grading.sandbox import protections

    assert main(["bench", "sandbox", "--rounds", "1", "--kernel-only"]) == 0
    out = capsys.readouterr().out
    if {"processes", "users"} <= protections():
        assert "kernel start-up (to its first reply): median" in out and "without" in out
    else:  # a machine without root or namespaces says so and measures nothing
        assert "cannot measure the process world here" in out

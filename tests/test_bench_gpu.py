"""`labkit bench gpu` without a GPU: every step runs small and the summary says no GPU was measured."""

from __future__ import annotations

import pytest
import torch

from labkit_course.cli import main as cli_main


@pytest.mark.slow
def test_bench_gpu_on_a_cpu_runs_every_step_and_says_no_gpu(data_env, monkeypatch, capsys) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert cli_main(["bench", "gpu"]) == 0
    out = capsys.readouterr().out
    summary = out[out.index("== summary: labkit bench gpu =="):]
    assert "device: NO GPU (CPU smoke run)" in summary and "nothing here is a GPU figure" in summary
    for step in ("1 dense accuracy", "2 Q7 check_same_function", "3 scan vs naive loop",
                 "4 fast loop vs lab loop", "5 reference recipe"):
        line = next(ln for ln in summary.splitlines() if step in ln)
        assert "[FAIL]" not in line, line
    assert "[PASS] 2 Q7" in summary and "accuracies identical" in summary
    assert "all checks passed" in summary

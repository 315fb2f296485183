"""A grading kernel builds figures but never rasterises them (``MPLBACKEND=agg``, set by the
worker's sandbox, tests/grading/test_worker.py): the lab's plots still return their Axes.
(That grading gives the scores plain ``nbgrader autograde`` gives is checked by
tests/test_bench.py's side-by-side run.)"""

from __future__ import annotations

from pathlib import Path


def test_agg_backend_still_returns_axes(tmp_path: Path):
    import subprocess
    import sys

    code = ("import torch, labkit as lk\n"
            "torch.manual_seed(0)\n"
            "axes = lk.plot_weight_distribution(lk.VGG(0.125), bins=8)\n"
            "import matplotlib\n"
            "print(matplotlib.get_backend(), axes.shape, len(axes.flat[0].patches) > 0)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={"MPLBACKEND": "agg", "PATH": "/usr/bin:/bin"}, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[0].lower() == "agg" and "(3, 3) True" in done.stdout

"""The fast grading path differs from the plain path only in what cannot change a score:
the kernel's matplotlib backend (figures built, never rasterised) and how the kernel is shut
down. (That the scores and feedback pages are identical is checked on the toy corpus by
tests/grading/test_shards.py, whose single run uses the plain path.)"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from labkit_course.grading.batch import Options
from labkit_course.grading.worker import Job, _sandbox


def test_fast_kernel_draws_no_figures_and_todays_path_is_unchanged(tmp_path: Path):
    job = Job(student="s", path="s.ipynb", sha256="0" * 64, out_dir=str(tmp_path), tmp_root=str(tmp_path))
    assert job.fast and Options(course=tmp_path, assignment="toy", out=tmp_path).fast  # fast is the default
    assert _sandbox(job, tmp_path, "token").env["MPLBACKEND"] == "agg"
    today = _sandbox(replace(job, fast=False), tmp_path, "token").env
    assert "MPLBACKEND" not in today  # ipykernel then picks its inline backend, as before


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

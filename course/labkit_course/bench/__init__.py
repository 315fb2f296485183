"""Benchmarks that time two ways of doing one job side by side in one process and print their
ratio, with the machine noted (``labkit bench NAME``; results go to BENCHMARKS.md).

One module per benchmark (``scan``, ``loops``, ``latency``, ``grading``), each with a
keyword-only ``run(**options) -> int``; their options live in :mod:`labkit_course.commands.bench`.
Benchmarks that need a student's function (e.g. the mask function) take the reference
solutions from the course's source notebook (:func:`labkit_course.source_notebook.load_solutions`);
labkit itself holds none.
"""

from __future__ import annotations

import os
import platform

import torch

__all__ = ["machine_line"]


def machine_line() -> str:
    """Describe this machine for a benchmark's header (CPU, cores, threads, GPU, torch)."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} "
            f"({torch.get_num_threads()} threads), {gpu}")

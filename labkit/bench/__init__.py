"""``labkit bench NAME``: benchmarks that time two ways of doing one job side by side in one
process and print their ratio, with the machine noted (results go to BENCHMARKS.md).

Each benchmark is a module here with ``add_arguments(parser)`` and ``run(args) -> int``.
Benchmarks that need a student's function (e.g. the mask function) load the reference
solutions from the repository checkout (``tests/oracle.py``); labkit itself holds none.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import platform
from pathlib import Path
from types import ModuleType

import torch

# name -> (module, one-line help)
BENCHES: dict[str, tuple[str, str]] = {
    "scan": ("labkit.bench.scan", "sensitivity scan: the lab's naive loop vs labkit's, full VGG on CPU"),
    "loops": ("labkit.bench.loops", "images/s of the lab's DataLoader loop vs labkit's device-resident loop"),
    "latency": ("labkit.bench.latency", "dense vs channel-pruned VGG latency on CPU, vs the MAC reduction"),
    "grading": ("labkit.bench.grading", "labkit grade: s per submission, 1 worker vs 2 on the same batch"),
}


def machine_line() -> str:
    """Describe this machine for a benchmark's header (CPU, cores, threads, GPU, torch)."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} "
            f"({torch.get_num_threads()} threads), {gpu}")


def load_oracle(path: Path | None = None) -> ModuleType:
    """Load the test suite's reference solutions (``tests/oracle.py``) from the repo checkout.

    Raises:
        FileNotFoundError: labkit does not run from a checkout (benchmarks are maintainers' tools).
    """
    path = path or Path(__file__).resolve().parents[2] / "tests" / "oracle.py"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: benchmarks need the reference solutions in tests/oracle.py, "
            "so run them from a labkit repository checkout (pip install -e .)"
        )
    spec = importlib.util.spec_from_file_location("labkit_oracle", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="bench", metavar="NAME", required=True)
    for name, (module, help_) in BENCHES.items():
        importlib.import_module(module).add_arguments(sub.add_parser(name, help=help_))
    sub.add_parser("all", help="run every benchmark in turn")


def run(args: argparse.Namespace) -> int:
    names = list(BENCHES) if args.bench == "all" else [args.bench]
    rc = 0
    for name in names:
        module = importlib.import_module(BENCHES[name][0])
        if args.bench == "all":  # defaults for each benchmark's own options
            p = argparse.ArgumentParser()
            module.add_arguments(p)
            sub_args = p.parse_args([])
        else:
            sub_args = args
        print(f"== labkit bench {name} ==\n   machine: {machine_line()}")
        rc |= int(module.run(sub_args) or 0)
    return rc

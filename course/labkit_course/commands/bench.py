"""``labkit bench NAME``: benchmarks that time two ways of doing one job side by side in one
process and print their ratio, with the machine noted (results go to BENCHMARKS.md).

The options of every benchmark live here; the benchmarks themselves are library functions in
``labkit_course.bench.<name>`` (``run(**options) -> int``, imported only when they run).
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from pathlib import Path

import torch

from labkit_course.bench import machine_line
from labkit_course.commands.course import add_assignment_argument


def _scan_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--images", type=int, default=128, help="number of random images (default 128)")
    parser.add_argument("--batch-size", type=int, default=64, help="loader batch size (default 64)")
    parser.add_argument("--width", type=float, default=1.0, help="VGG width (default 1.0 = the lab's)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's setting); 1 is steadier on a busy machine")
    parser.add_argument("--rounds", type=int, default=1,
                        help="alternate the two scans this many rounds (naive, fast, fast, naive, ...) "
                             "and sum their times: fairer on a machine whose load changes")
    parser.add_argument("--seed", type=int, default=0)


def _loops_arguments(parser: argparse.ArgumentParser) -> None:
    on_gpu = torch.cuda.is_available()
    parser.add_argument("--widths", type=float, nargs="+", default=[1.0] if on_gpu else [0.125, 1.0],
                        help="VGG width multipliers to time (1.0 = the lab's VGG)")
    parser.add_argument("--train-images", type=int, default=50_000 if on_gpu else 1000)
    parser.add_argument("--test-images", type=int, default=10_000 if on_gpu else 1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=512)


def _latency_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ratio", type=float, default=0.3, help="channel prune ratio (default 0.3)")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--time-per-batch", type=float, default=20.0,
                        help="approximate seconds of timing per batch size and layout")


def _grading_arguments(parser: argparse.ArgumentParser) -> None:
    add_assignment_argument(parser)
    parser.add_argument("--submissions", type=int, default=8,
                        help="submissions both graders grade: correct ones and, up to half, the "
                             "wrong samples both must score alike (default %(default)s)")
    parser.add_argument("--workers", type=int, default=2,
                        help="labkit grade --workers (default %(default)s); nbgrader grades one "
                             "submission after another")


def _sandbox_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rounds", type=int, default=3, help="runs of each way, interleaved (default 3)")


def _class_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="source", type=Path, default=Path("out/demo/grades"),
                        help="graded out folder whose records are copied into the class "
                             "(default %(default)s, written by `make demo`)")
    parser.add_argument("--submissions", type=int, default=300,
                        help="students in the class (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0)


def _gpu_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cpu-too", action="store_true",
                        help="without a GPU, run the GPU sizes anyway (slow) instead of a small smoke run")


# name -> (library module, its options, one-line help)
BENCHES: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], str]] = {
    "scan": ("labkit_course.bench.scan", _scan_arguments,
             "sensitivity scan: the lab's naive loop vs labkit's, full VGG on CPU"),
    "loops": ("labkit_course.bench.loops", _loops_arguments,
              "images/s of the lab's DataLoader loop vs labkit's device-resident loop"),
    "latency": ("labkit_course.bench.latency", _latency_arguments,
                "dense vs channel-pruned VGG latency on CPU, vs the MAC reduction"),
    "grading": ("labkit_course.bench.grading", _grading_arguments,
                "labkit grade vs plain nbgrader autograde: same submissions, scores checked, throughput"),
    "sandbox": ("labkit_course.bench.sandbox", _sandbox_arguments,
                "kernel start-up in labkit's process world, with the zygote, and with bubblewrap (root)"),
    "class": ("labkit_course.bench.classscale", _class_arguments,
              "class report and labkit similarity on a class of 300, similarity vs plain copydetect"),
    "gpu": ("labkit_course.bench.gpu", _gpu_arguments,
            "the full profile on one GPU: dense accuracy, Q7 check, scan, loops, recipe; one summary"),
}
# benchmarks that take the course's source notebook (reference solutions) get --course
_NEEDS_COURSE = {"scan", "latency", "grading", "class", "gpu"}


def _course_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--course", type=Path, default=None,
                        help="nbgrader course folder whose source notebook holds the reference "
                             "solutions (default: the repository's notebooks/)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``labkit bench NAME``: one sub-command per benchmark, plus ``all``."""
    sub = parser.add_subparsers(dest="bench", metavar="NAME", required=True)
    for name, (_, arguments, help_) in BENCHES.items():
        p = sub.add_parser(name, help=help_)
        arguments(p)
        if name in _NEEDS_COURSE:
            _course_argument(p)
    _course_argument(sub.add_parser("all", help="run every benchmark in turn"))


def _options(name: str, args: argparse.Namespace) -> dict:
    """The keyword arguments of benchmark ``name``: its own options (defaults under ``all``)."""
    p = argparse.ArgumentParser()
    BENCHES[name][1](p)
    if name in _NEEDS_COURSE:
        _course_argument(p)
    defaults = vars(p.parse_args([]))
    given = vars(args) if args.bench == name else {"course": args.course}
    return {k: given.get(k, v) for k, v in defaults.items()}


def run(args: argparse.Namespace) -> int:
    """Run ``labkit bench NAME`` (or every benchmark): the OR of their exit statuses."""
    names = list(BENCHES) if args.bench == "all" else [args.bench]
    rc = 0
    for name in names:
        module = importlib.import_module(BENCHES[name][0])
        print(f"== labkit bench {name} ==\n   machine: {machine_line()}")
        rc |= int(module.run(**_options(name, args)) or 0)
    return rc

"""``labkit bench grading``: the grader's speed, 1 worker against N, side by side in one run.

It grades ``--submissions`` copies of a correct submission (the source notebook's solutions
filled into the release; read from the course folder, labkit holds no solutions) twice into
fresh output folders, first with one worker, then with ``--workers``, and prints the median
seconds per submission (whole notebook executed, from each student's record), each batch's
wall time (and its grading phase, without the one-off course preparation), and the ratios.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--course", type=Path, default=Path("notebooks"), help="nbgrader course folder")
    parser.add_argument("--assignment", default="lab1")
    parser.add_argument("--submissions", type=int, default=20, help="submissions per batch (default 20)")
    parser.add_argument("--workers", type=int, default=2, help="workers of the parallel batch (default 2)")


def _corpus_module():
    path = Path(__file__).resolve().parents[2] / "tests" / "grading" / "corpus.py"
    if not path.is_file():
        raise SystemExit(f"labkit bench grading needs the repository checkout ({path} is missing)")
    spec = importlib.util.spec_from_file_location("labkit_bench_corpus", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def run(args: argparse.Namespace) -> int:
    import nbformat

    from labkit.grading.batch import Options, grade_batch
    from labkit.grading.course import prepare_master
    from labkit.grading.results import read_records

    corpus = _corpus_module()
    root = Path(tempfile.mkdtemp(prefix="labkit-bench-grading-"))
    master = prepare_master(args.course.resolve(), args.assignment, root / "probe", force=True)
    source = nbformat.read(master.root / "source" / args.assignment / f"{master.notebook}.ipynb",
                           as_version=4)
    good = corpus.dumps(corpus.correct(source, master.release))
    subs = root / "submissions"
    subs.mkdir()
    for i in range(args.submissions):
        (subs / f"student{i:03d}.ipynb").write_bytes(good)
    rows = []
    for workers in (1, args.workers):
        out = root / f"out-{workers}"
        opts = Options(args.course, args.assignment, out, workers=workers, verbose=False)
        t0 = time.perf_counter()
        summary = grade_batch([subs], opts)
        wall = time.perf_counter() - t0
        recs = read_records(out / "results").values()
        per = statistics.median(r.seconds for r in recs)
        statuses = sorted({r.status for r in recs})
        rows.append((workers, wall, per, summary.grading_seconds))
        print(f"   {workers} worker(s): {args.submissions} submissions in {wall:6.1f} s wall "
              f"({summary.grading_seconds:6.1f} s grading, the rest is preparing the course), "
              f"median {per:5.1f} s per submission (whole notebook), statuses {statuses}, "
              f"isolation {summary.isolation[0]}", flush=True)
    print(f"   speed-up with {args.workers} workers: {rows[0][1] / rows[1][1]:.2f}x wall, "
          f"{rows[0][3] / rows[1][3]:.2f}x grading phase (goal >= 1.7x); median per submission "
          f"with 1 worker: {rows[0][2]:.1f} s (goal <= 30 s)")
    print(f"   outputs kept in {root}")
    return 0

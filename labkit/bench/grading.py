"""``labkit bench grading``: the grader's speed, side by side in one run.

``--compare paths`` (the default) grades the same submissions with today's path and the fast
one (:mod:`labkit.bench.grading_paths`). ``--compare workers``, described below, compares 1
worker against N.

It grades ``--submissions`` copies of a correct submission (the source notebook's solutions
filled into the release; read from the course folder, labkit holds no solutions) twice into
fresh output folders, first with one worker, then with ``--workers``, and prints the median
seconds per submission (whole notebook executed, from each student's record), each batch's
wall time (and its grading phase, without the one-off course preparation), and the ratios.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from ..source_notebook import default_course_dir

__all__ = ["run"]


def run(*, course: Path | None = None, assignment: str = "lab1", submissions: int = 20,
        workers: int = 2, compare: str = "paths") -> int:
    """Grade ``submissions`` correct notebooks with 1 worker, then ``workers``; print the ratios.

    Args:
        course: nbgrader course folder (default: the repository's notebooks/).
        assignment: the assignment graded.
        submissions: submissions per batch.
        workers: workers of the parallel batch.
        compare: ``"paths"``: today's grading path against the fast one, both with ``workers``
            (:mod:`labkit.bench.grading_paths`); ``"workers"``: 1 worker against ``workers``.
    """
    if compare == "paths":
        from .grading_paths import run_paths

        return run_paths(course=Path(course) if course is not None else default_course_dir(),
                         assignment=assignment, submissions=submissions, workers=workers)
    import nbformat

    from labkit.grading.batch import Options, grade_batch
    from labkit.grading.course import prepare_master
    from labkit.grading.results import read_records
    from labkit.samples import filled_in

    course = Path(course) if course is not None else default_course_dir()
    root = Path(tempfile.mkdtemp(prefix="labkit-bench-grading-"))
    master = prepare_master(course.resolve(), assignment, root / "probe", force=True)
    source = nbformat.read(master.root / "source" / assignment / f"{master.notebook}.ipynb",
                           as_version=4)
    good = nbformat.writes(filled_in(source, master.release)).encode()
    subs = root / "submissions"
    subs.mkdir()
    for i in range(submissions):
        (subs / f"student{i:03d}.ipynb").write_bytes(good)
    rows = []
    for n_workers in (1, workers):
        out = root / f"out-{n_workers}"
        opts = Options(course=course, assignment=assignment, out=out, workers=n_workers, verbose=False)
        t0 = time.perf_counter()
        summary = grade_batch([subs], opts)
        wall = time.perf_counter() - t0
        recs = read_records(out / "results").values()
        per = statistics.median(r.seconds for r in recs)
        statuses = sorted({r.status for r in recs})
        rows.append((n_workers, wall, per, summary.grading_seconds))
        print(f"   {n_workers} worker(s): {submissions} submissions in {wall:6.1f} s wall "
              f"({summary.grading_seconds:6.1f} s grading, the rest is preparing the course), "
              f"median {per:5.1f} s per submission (whole notebook), statuses {statuses}, "
              f"isolation {summary.isolation[0]}", flush=True)
    print(f"   speed-up with {workers} workers: {rows[0][1] / rows[1][1]:.2f}x wall, "
          f"{rows[0][3] / rows[1][3]:.2f}x grading phase (goal >= 1.7x); median per submission "
          f"with 1 worker: {rows[0][2]:.1f} s (goal <= 30 s)")
    print(f"   outputs kept in {root}")
    return 0

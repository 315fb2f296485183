"""``labkit similarity``: similarity evidence across the submissions of a graded out folder.

    labkit similarity OUT [--known DIR]

Compares each solution cell and free-text answer across all submissions in ``OUT`` (the
``--out`` folder of ``labkit grade``), and with the known solutions in ``DIR`` (notebooks or
``.py`` files a TA collected), leaving out the release's own text; ranks pairs by how rare
the content they share is (:mod:`labkit_course.grading.similarity`). Writes
``OUT/similarity.html`` (side by side, shared passages highlighted) and ``OUT/similarity.csv``.
Evidence for a person to read: nothing changes a grade. Exit status 2 when ``OUT`` is not a
graded out folder or ``DIR`` is not a folder.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``labkit similarity``."""
    parser.add_argument("out", type=Path, help="the graded out folder (labkit grade's --out)")
    parser.add_argument("--known", type=Path, default=None,
                        help="folder of known solutions (.ipynb or .py, searched recursively), "
                             "e.g. published completed notebooks")


def run(args: argparse.Namespace) -> int:
    """Compare, write the page and the CSV, print the strongest pairs; 2 for unusable input."""
    from labkit_course.grading.course import GradingError
    from labkit_course.grading.similarity_inputs import evidence_for_out
    from labkit_course.grading.similarity_page import write_similarity

    start = time.perf_counter()
    try:
        ev, assignment = evidence_for_out(args.out, args.known)
    except GradingError as exc:
        print(f"labkit similarity: {exc}", file=sys.stderr)
        return 2
    page, table = write_similarity(ev, assignment, args.out)
    print(f"compared {ev.students} submissions on {len(ev.items)} items"
          + (f" and with {len(ev.known_files)} known files" if args.known else "")
          + f" in {time.perf_counter() - start:.1f} s: {len(ev.matches)} student pairs and "
          f"{len(ev.known)} known-file matches share rare content")
    for m in ev.matches[:5]:
        print(f"  {m.a.item}: {m.a.owner} and {m.b.owner} (evidence {m.evidence:.0f}, rarest "
              f"passage held by {m.rarest})")
    print(f"  {page}\n  {table}\nevidence for a person to read; no grade was changed")
    return 0

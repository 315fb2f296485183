"""``labkit demo``: the main job end to end on the tiny profile, offline, on a CPU.

1. make the tiny profile ready (dataset generated when missing, the tiny model shipped in labkit);
2. regenerate the student release from the source notebook and audit it;
3. run the lab notebook (solutions included) as a student would, on the tiny profile, and keep
   the executed notebook and an HTML rendering with its plots;
4. grade five sample submissions with ``labkit grade`` (made from the course's source notebook
   by :func:`labkit_course.demo.write_samples`: correct, blank, a tie bug, a kernel death, a
   monkeypatching cheat), with a demo roster as Canvas exports it, so that the grades also go
   into ``canvas.csv``; then compare them with ``labkit similarity``;
5. print the grade table and where everything went.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from types import ModuleType

from labkit_course.commands import grade, release, similarity
from labkit_course.commands.course import add_assignment_argument, resolve_assignment
from labkit_course.demo import execute_notebook, print_grade_table
from labkit.prepare import prepare
from labkit_course.samples import write_canvas_roster, write_samples
from labkit_course.source_notebook import default_course_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``labkit demo``."""
    parser.add_argument("--out", type=Path, default=Path("out/demo"), help="output folder (default %(default)s)")
    parser.add_argument("--course", type=Path, default=None,
                        help="nbgrader course folder (default: the repository's notebooks/)")
    add_assignment_argument(parser)
    parser.add_argument("--workers", type=int, default=2, help="grading workers (default 2)")


def _verb(module: ModuleType, argv: list[str]) -> int:
    """Run another verb's module as ``labkit VERB argv...`` would."""
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    return int(module.run(parser.parse_args(argv)) or 0)


def run(args: argparse.Namespace) -> int:
    """Run ``labkit demo``: 0 when every step worked."""
    start = time.perf_counter()
    course = (args.course or default_course_dir()).resolve()
    args.course = course
    resolve_assignment(args, "demo")
    out = args.out.resolve()
    source = course / "source" / args.assignment / f"{args.assignment}.ipynb"
    samples = out / "submissions"

    def step(n: int, title: str) -> None:
        print(f"\n[{n}/5] {title}   ({time.perf_counter() - start:.0f} s so far)", flush=True)

    step(1, "tiny profile: dataset and dense reference model")
    ready = prepare("tiny", verbose=True)
    print(f"   dataset: {ready.data}\n   model:   {ready.checkpoint} (shipped with labkit)")
    step(2, "regenerate the student release and audit it")
    if _verb(release, ["--assignment", args.assignment, "--course", str(course)]) != 0:
        print("the release audit failed: see above")
        return 1
    step(3, f"run {source.relative_to(course.parent)} as a student would (tiny profile)")
    executed, html = execute_notebook(source, out)
    print(f"   executed notebook: {executed}\n   rendered with plots: {html}")
    step(4, "grade five sample submissions (correct, tie bug, blank, kernel death, cheat)")
    for path in write_samples(samples, args.assignment, course=course):
        print(f"   {path}")
    grades = out / "grades"
    roster = write_canvas_roster(out / "canvas_gradebook_export.csv", args.assignment, course=course)
    if _verb(grade, [str(samples), "--out", str(grades), "--workers", str(args.workers),
                     "--course", str(course), "--assignment", args.assignment, "--force",
                     "--roster", str(roster), "--export", "canvas"]) != 0:
        return 1
    if _verb(similarity, [str(grades)]) != 0:
        return 1
    step(5, "summary")
    print_grade_table(grades / "grades.csv")
    print(f"\n   grades:         {grades / 'grades.csv'}")
    print(f"   feedback pages: {grades / 'feedback'}/<student>.html")
    print(f"   manual sheet:   {grades / 'manual.html'}")
    print(f"   class report:   {grades / 'report.html'}")
    print(f"   similarity:     {grades / 'similarity.html'}")
    print(f"   Canvas import:  {grades / 'canvas.csv'} (from the demo roster {roster.name})")
    print(f"   notebook:       {html}")
    print(f"   student copy:   {course / 'release' / args.assignment / (args.assignment + '.ipynb')}")
    print(f"\ndemo finished in {time.perf_counter() - start:.0f} s")
    return 0

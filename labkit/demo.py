"""``labkit demo``: the main job end to end on the tiny profile, offline, on a CPU.

1. build the tiny dataset and reference model (reused when present);
2. regenerate the student release from the source notebook and audit it;
3. run the lab notebook (solutions included) as a student would, on the tiny profile, and keep
   the executed notebook and an HTML rendering with its plots;
4. grade five sample submissions with ``labkit grade`` (made from the source notebook by the
   test suite's corpus builder, tests/grading/samples.py: correct, blank, a tie bug, a kernel
   death, a monkeypatching cheat);
5. print the grade table and where everything went.
"""

from __future__ import annotations

import argparse
import csv
import os
import time
from pathlib import Path

from tqdm.auto import tqdm

from .release import default_course_dir



def write_samples(out: Path, assignment: str) -> list[Path]:
    """Generate the sample submissions with the repository's corpus builder (a checkout is needed)."""
    import importlib
    import sys

    repo = Path(__file__).resolve().parents[1]
    if not (repo / "tests" / "grading" / "samples.py").is_file():
        raise FileNotFoundError("labkit demo needs the repository checkout (tests/grading/samples.py)")
    sys.path.insert(0, str(repo))
    try:
        return importlib.import_module("tests.grading.samples").write_samples(out, assignment)
    finally:
        sys.path.remove(str(repo))


def execute_notebook(path: Path, out_dir: Path, *, timeout: float = 900.0) -> tuple[Path, Path]:
    """Execute ``path`` in its own folder (tiny profile, not grading mode) and save the result.

    Returns:
        (executed .ipynb, its .html rendering), both in ``out_dir``.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter

    nb = nbformat.read(path, as_version=4)
    n_code = sum(c.cell_type == "code" for c in nb.cells)
    bar = tqdm(total=n_code, desc=f"running {path.name}", unit="cell")
    saved = {k: os.environ.pop(k, None) for k in ("NBGRADER_EXECUTION", "LABKIT_PROFILE")}
    os.environ["LABKIT_PROFILE"] = "tiny"  # a student's run on the tiny profile, not grading
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}},
                            on_cell_executed=lambda **kw: bar.update(kw["cell"].cell_type == "code"))
    try:
        client.execute()
    finally:
        bar.close()
        for k, v in saved.items():  # the kernel has its environment; give ours back
            os.environ.pop(k, None)
            if v is not None:
                os.environ[k] = v
    out_dir.mkdir(parents=True, exist_ok=True)
    executed = out_dir / f"{path.stem}.executed.ipynb"
    nbformat.write(nb, executed)
    html = executed.with_suffix(".html")
    html.write_text(HTMLExporter().from_notebook_node(nb)[0], encoding="utf-8")
    return executed, html


def print_grade_table(grades_csv: Path) -> None:
    """Print student, status, total and the per-question columns of ``grades.csv``."""
    with open(grades_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        print("   (no submissions graded)")
        return
    questions = [c for c in rows[0] if c.lower().startswith("q") and "_" not in c]
    header = ["student", "status", "total"] + questions
    widths = [max(len(h), *(len(str(r.get(h, ""))) for r in rows)) for h in header]
    print("   " + "  ".join(h.ljust(w) for h, w in zip(header, widths)))
    for r in rows:
        cells = [r["student"], r["status"], f"{r['total']}/{r['max_total']}"] + [r.get(q, "") for q in questions]
        print("   " + "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("out/demo"), help="output folder (default %(default)s)")
    parser.add_argument("--assignment", default="lab1")
    parser.add_argument("--workers", type=int, default=2, help="grading workers (default 2)")


def run(args: argparse.Namespace) -> int:
    from .cli import main

    start = time.perf_counter()
    course = default_course_dir()
    out = args.out.resolve()
    source = course / "source" / args.assignment / f"{args.assignment}.ipynb"
    samples = out / "submissions"

    def step(n: int, title: str) -> None:
        print(f"\n[{n}/5] {title}   ({time.perf_counter() - start:.0f} s so far)", flush=True)

    step(1, "tiny profile: dataset and dense reference model")
    if main(["train", "--profile", "tiny"]) != 0:
        return 1
    step(2, "regenerate the student release and audit it")
    if main(["release", "--assignment", args.assignment]) != 0:
        print("the release audit failed: see above")
        return 1
    step(3, f"run {source.relative_to(course.parent)} as a student would (tiny profile)")
    executed, html = execute_notebook(source, out)
    print(f"   executed notebook: {executed}\n   rendered with plots: {html}")
    step(4, "grade five sample submissions (correct, tie bug, blank, kernel death, cheat)")
    for path in write_samples(samples, args.assignment):
        print(f"   {path}")
    grades = out / "grades"
    if main(["grade", str(samples), "--out", str(grades), "--workers", str(args.workers),
             "--assignment", args.assignment, "--force"]) != 0:
        return 1
    step(5, "summary")
    print_grade_table(grades / "grades.csv")
    print(f"\n   grades:         {grades / 'grades.csv'}")
    print(f"   feedback pages: {grades / 'feedback'}/<student>.html")
    print(f"   manual sheet:   {grades / 'manual.html'}")
    print(f"   notebook:       {html}")
    print(f"   student copy:   {course / 'release' / args.assignment / (args.assignment + '.ipynb')}")
    print(f"\ndemo finished in {time.perf_counter() - start:.0f} s")
    return 0

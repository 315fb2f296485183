"""The library side of ``labkit demo`` (the verb is :mod:`labkit_course.commands.demo`): run a
notebook as a student would, and print a grade table.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from tqdm.auto import tqdm

__all__ = ["execute_notebook", "print_grade_table"]


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

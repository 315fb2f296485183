"""The sample submissions ``labkit demo`` grades: five cases of the lab1 corpus under student names.

They are generated from the source notebook each time (never committed: the correct one holds
the solutions, which live only in the source notebook):

    .venv/bin/python -m tests.grading.samples OUT_DIR
"""

from __future__ import annotations

from pathlib import Path

import nbformat

from .lab1_cases import lab1_cases

REPO = Path(__file__).resolve().parents[2]
COURSE = REPO / "notebooks"
# student name -> corpus case
SAMPLES = {
    "alice": "correct",
    "bob": "prune-keeps-ties",
    "carol": "blank",
    "dave": "os-exit-after-q3",
    "erin": "monkeypatch-q2",
}
FULL = {"q2": 15, "q3": 5, "q5": 10, "q6": 10, "q7": 15}


def sample_bytes(assignment: str = "lab1") -> dict[str, bytes]:
    """Each sample's file content, generated from the current source and release."""
    source = nbformat.read(COURSE / "source" / assignment / f"{assignment}.ipynb", 4)
    release = nbformat.read(COURSE / "release" / assignment / f"{assignment}.ipynb", 4)
    cases = {c.student: c for c in lab1_cases(source, release, FULL)}
    return {student: cases[case].make() for student, case in SAMPLES.items()}


def write_samples(out: Path, assignment: str = "lab1") -> list[Path]:
    """Write ``<student>.ipynb`` for every sample into ``out``; return the paths."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for student, blob in sample_bytes(assignment).items():
        path = out / f"{student}.ipynb"
        path.write_bytes(blob)
        paths.append(path)
    return paths


if __name__ == "__main__":
    import sys

    for path in write_samples(Path(sys.argv[1])):
        print(f"wrote {path} ({SAMPLES[path.stem]})")

"""``labkit bench grading`` (default ``--compare paths``): today's grading path against the fast
one, side by side in one run on the same submissions, with the same number of workers.

The submissions are the course's samples (:mod:`labkit.samples`: one each of the wrong,
blank, crashing and cheating ones when there are at least 10, the rest correct). They are
graded in two rounds; each round grades half of them with both paths, in alternating order
(today-fast, then fast-today), so a change of the machine's load during the run hits both
paths alike. Throughput is submissions per second of grading phase (course preparation
excluded); the per-cell profile is read from nbclient's timestamps in the graded notebooks.
The last line reads ``throughput: R.RRx, scores identical`` (or names the students whose
status or scores differ).
"""

from __future__ import annotations

import datetime
import statistics
import tempfile
from pathlib import Path

__all__ = ["run_paths", "cell_seconds"]

PATHS = {"today": False, "fast": True}  # name -> Options.fast


def cell_seconds(notebook: Path) -> dict[int, tuple[float, str]]:
    """Seconds each executed code cell of a graded notebook took -> (seconds, first line)."""
    import nbformat

    def ts(text: str) -> float:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()

    nb = nbformat.read(notebook, as_version=4)
    out = {}
    for i, cell in enumerate(nb.cells):
        ex = cell.get("metadata", {}).get("execution", {})
        start = ex.get("iopub.execute_input") or ex.get("shell.execute_reply.started")
        if cell.cell_type == "code" and start and "shell.execute_reply" in ex:
            first = cell.source.strip().splitlines()[0][:60] if cell.source.strip() else ""
            out[i] = (ts(ex["shell.execute_reply"]) - ts(start), first)
    return out


def _submissions(course: Path, assignment: str, n: int, folder: Path) -> list[Path]:
    from labkit.samples import sample_notebooks
    import nbformat

    samples = sample_notebooks(course, assignment)
    names = [s for s in samples if s != "alice"] if n >= 10 else []
    names += ["alice"] * (n - len(names))
    paths = []
    for i, name in enumerate(names):
        path = folder / f"s{i:03d}-{name}.ipynb"
        path.write_text(nbformat.writes(samples[name]))
        paths.append(path)
    return paths


def run_paths(*, course: Path, assignment: str, submissions: int, workers: int) -> int:
    """Grade the same ``submissions`` with today's path and the fast one; print the comparison."""
    from labkit.grading.batch import Options, grade_batch
    from labkit.grading.results import read_records

    root = Path(tempfile.mkdtemp(prefix="labkit-bench-grading-paths-"))
    subs = root / "submissions"
    subs.mkdir()
    paths = _submissions(course, assignment, submissions, subs)
    halves = [paths[: len(paths) // 2], paths[len(paths) // 2:]]
    seconds = {name: 0.0 for name in PATHS}
    for r, half in enumerate(halves):
        order = list(PATHS) if r % 2 == 0 else list(PATHS)[::-1]
        for name in order:
            if not half:
                continue
            opts = Options(course=course, assignment=assignment, out=root / name, workers=workers,
                           verbose=False, fast=PATHS[name])
            summary = grade_batch(half, opts)
            seconds[name] += summary.grading_seconds
            print(f"   round {r + 1}, {name:5s}: {len(half)} submissions in "
                  f"{summary.grading_seconds:6.1f} s grading", flush=True)
    recs = {name: read_records(root / name / "results") for name in PATHS}
    for name in PATHS:
        per = statistics.median(rec.seconds for rec in recs[name].values())
        rate = 3600 * len(paths) / seconds[name]
        print(f"   {name:5s}: {len(paths)} submissions in {seconds[name]:6.1f} s grading with "
              f"{workers} workers = {rate:5.0f} submissions/hour; median {per:5.1f} s per submission")
    _print_profile(root, recs, paths)
    differ = sorted(s for s in recs["today"] if s not in recs["fast"]
                    or (recs["today"][s].status, recs["today"][s].scores)
                    != (recs["fast"][s].status, recs["fast"][s].scores))
    print(f"   outputs kept in {root}")
    ratio = seconds["today"] / seconds["fast"]
    same = "scores identical" if not differ else f"scores DIFFER for {', '.join(differ)}"
    print(f"throughput: {ratio:.2f}x, {same}")
    return 0 if not differ else 1


def _print_profile(root: Path, recs: dict, paths: list[Path]) -> None:
    """Median per-cell seconds of the correct submissions, both paths (cells >= 0.3 s)."""
    correct = [p.stem for p in paths if p.stem.endswith("-alice")]
    times: dict[str, dict[int, list[float]]] = {}
    firsts: dict[int, str] = {}
    overhead: dict[str, list[float]] = {}
    for name in PATHS:
        times[name] = {}
        for student in correct:
            graded = next((root / name / "course" / "autograded" / student).glob("*.ipynb"), None)
            if graded is None:
                continue
            cells = cell_seconds(graded)
            for i, (sec, first) in cells.items():
                times[name].setdefault(i, []).append(sec)
                firsts[i] = first
            overhead.setdefault(name, []).append(recs[name][student].seconds
                                                 - sum(s for s, _ in cells.values()))
    if not firsts:
        return
    med = {n: {i: statistics.median(v) for i, v in t.items()} for n, t in times.items()}
    print("   per-cell profile, median s over the correct submissions (cells >= 0.3 s):")
    print(f"   {'cell':>6} {'today':>7} {'fast':>7}  first line")
    for i in sorted(firsts):
        a, b = med["today"].get(i, 0.0), med["fast"].get(i, 0.0)
        if max(a, b) >= 0.3:
            print(f"   {i:6d} {a:7.2f} {b:7.2f}  {firsts[i]}")
    cells = {n: sum(m.values()) for n, m in med.items()}
    rest = {n: statistics.median(v) for n, v in overhead.items()}
    print(f"   {'cells':>6} {cells['today']:7.2f} {cells['fast']:7.2f}  all cells")
    print(f"   {'rest':>6} {rest.get('today', 0):7.2f} {rest.get('fast', 0):7.2f}  kernel start-up, "
          "nbgrader's steps, record (per submission minus cells)")

"""``labkit bench grading``: ``labkit grade --workers N`` against plain ``nbgrader autograde``,
side by side in one run, on the same course and the same submissions.

The submissions are the course's samples (:mod:`labkit_course.samples`): correct notebooks (the
source's solutions filled into the release) plus the wrong ones that both graders must score
alike, bob's tie bug (``>=``) and carol's blank release, up to half of the batch. Dave (the
kernel dies) and erin (monkeypatches the checks) are left out: plain nbgrader records no grade
for a notebook whose kernel died and gives the monkeypatch the points it fakes, where labkit
keeps what dave earned and gives erin none. A course without the lab's cells (the test suite's
toy course) gets its correct notebook and its blank release.

The plain peer (:mod:`labkit_course.bench.nbgrader_peer`) is a throw-away nbgrader course made from
the course's source and ``nbgrader_config.py``; its ``generate_assignment`` runs first and is
not counted. The two timed commands, one after the other, are the ones a TA runs to grade:
``labkit grade <peer>/submitted --workers N`` (its own course preparation included) and
``nbgrader autograde`` (one process, one submission after another). Then every student's score
of every autograded test cell must be the same in labkit's records and nbgrader's gradebook;
the last line reads ``throughput: R.RRx ..., scores identical`` or names what differs (exit 1).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from labkit_course.source_notebook import default_assignment, default_course_dir
from labkit_course.bench import nbgrader_peer

__all__ = ["Measurement", "bench_submissions", "measure", "mismatches", "report", "run"]

WRONG_SAMPLES = ("bob", "carol")  # samples both graders must score alike (labkit_course.samples)
GOAL = 3.0  # throughput ratio labkit / nbgrader aimed at with 2 workers on 2 cores


@dataclass
class Measurement:
    """One side-by-side run.

    Attributes:
        students: student id -> what the submission is (``correct``, ``blank``, ...).
        test_cells: grade ids of the autograded test cells, in notebook order.
        workers: ``labkit grade --workers``.
        labkit_seconds: wall time of ``labkit grade``.
        nbgrader_seconds: wall time of ``nbgrader autograde``.
        labkit: student -> grade_id -> points (None: no record, or a cell not graded).
        labkit_status: student -> labkit's status (``missing`` when it wrote no record).
        nbgrader: student -> grade_id -> points (None: nbgrader recorded no grade).
        nbgrader_rc: exit status of ``nbgrader autograde``.
        load: the 1-minute load average before and after the two timed commands.
        root: the folder holding both courses, outputs and logs (kept).
    """

    students: dict[str, str]
    test_cells: list[str]
    workers: int
    labkit_seconds: float
    nbgrader_seconds: float
    labkit: dict[str, dict[str, float | None] | None]
    labkit_status: dict[str, str]
    nbgrader: dict[str, dict[str, float | None] | None]
    nbgrader_rc: int
    load: tuple[float, float]
    root: Path

    @property
    def ratio(self) -> float:
        """Throughput of labkit over nbgrader's (same submissions: nbgrader's s / labkit's s)."""
        return self.nbgrader_seconds / self.labkit_seconds


def bench_submissions(course: Path, assignment: str, n: int) -> dict[str, tuple[str, bytes]]:
    """Student id -> (what it is, notebook bytes): ``n`` submissions, up to half of them wrong
    (module docstring). ``course`` is a prepared course folder (source and release)."""
    import nbformat

    from labkit_course.samples import SAMPLES, filled_in, sample_notebooks

    if n < 1:
        raise ValueError(f"--submissions {n} must be at least 1")
    try:
        samples = sample_notebooks(course, assignment)
        correct = ("correct", samples["alice"])
        wrong = [(SAMPLES[s], samples[s]) for s in WRONG_SAMPLES]
    except ValueError:  # not the lab's cells: the correct notebook and the blank release
        source = nbformat.read(course / "source" / assignment / f"{assignment}.ipynb", as_version=4)
        release = nbformat.read(course / "release" / assignment / f"{assignment}.ipynb", as_version=4)
        correct, wrong = ("correct", filled_in(source, release)), [("blank", release)]
    chosen = [correct] * (n - min(len(wrong), n // 2)) + wrong[: n // 2]
    return {f"{i:02d}-{case}": (case, nbformat.writes(nb).encode())
            for i, (case, nb) in enumerate(chosen, 1)}


def _labkit_grade(submitted: Path, out: Path, *, course: Path, assignment: str, workers: int,
                  log: Path) -> float:
    """Run ``labkit grade`` as a TA does (its own process); return its wall seconds.

    Raises:
        RuntimeError: the grader failed (the message ends with its log's last lines).
    """
    cmd = [sys.executable, "-c", "import sys; from labkit_course.cli import main; sys.exit(main())",
           "grade", str(submitted), "--out", str(out), "--course", str(course),
           "--assignment", assignment, "--workers", str(workers), "--quiet"]
    t0 = time.perf_counter()
    with open(log, "ab") as f:
        done = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"labkit grade failed (exit {done.returncode}); the end of {log}:\n"
                           f"{nbgrader_peer.log_tail(log)}")
    return seconds


def measure(*, course: Path, assignment: str, submissions: int, workers: int) -> Measurement:
    """Grade the same submissions with ``labkit grade`` and ``nbgrader autograde``; read both."""
    from labkit_course.grading.results import read_records
    from labkit.prepare import prepare

    root = Path(tempfile.mkdtemp(prefix="labkit-bench-grading-"))
    course = course.resolve()
    peer = nbgrader_peer.make_course(course, assignment, root / "nbgrader")
    log = root / "nbgrader.log"
    nbgrader_peer.generate(peer, log)
    subs = bench_submissions(peer.root, assignment, submissions)
    for student, (_, nb) in subs.items():
        peer.submit(student, nb)
    prepare("tiny", share=True, verbose=False)  # the profile's data, for both graders alike
    load0 = os.getloadavg()[0]
    out = root / "labkit"
    lk_s = _labkit_grade(peer.submitted, out, course=course, assignment=assignment,
                         workers=workers, log=root / "labkit.log")
    nb_s, nb_rc = nbgrader_peer.autograde(peer, log)
    load1 = os.getloadavg()[0]
    records = read_records(out / "results")
    students = list(subs)
    return Measurement(
        students={s: case for s, (case, _) in subs.items()},
        test_cells=nbgrader_peer.test_cells(peer),
        workers=workers, labkit_seconds=lk_s, nbgrader_seconds=nb_s,
        labkit={s: dict(records[s].scores) if s in records else None for s in students},
        labkit_status={s: records[s].status if s in records else "missing" for s in students},
        nbgrader=nbgrader_peer.scores(peer, students), nbgrader_rc=nb_rc,
        load=(load0, load1), root=root)


def mismatches(m: Measurement) -> list[str]:
    """One line per student and test cell whose points differ between the two graders."""
    lines = []
    for student in m.students:
        lk, nb = m.labkit[student], m.nbgrader[student]
        if lk is None or nb is None:
            lines.append(f"{student}: " + ("labkit wrote no record" if lk is None else
                                           "nbgrader recorded no grade"))
            continue
        for cell in m.test_cells:
            a, b = lk.get(cell), nb.get(cell)
            if a is None or b is None or abs(a - b) > 1e-9:
                lines.append(f"{student} {cell}: labkit {a}, nbgrader {b}")
    return lines


def _total(scores: dict[str, float | None] | None, cells: list[str]) -> str:
    if scores is None:
        return "-"
    return f"{sum(scores.get(c) or 0.0 for c in cells):g}"


def report(m: Measurement) -> int:
    """Print the per-student table, both timings and the ratio; 0 if every score agrees, else 1."""
    n = len(m.students)
    cases = {case: sum(1 for c in m.students.values() if c == case) for case in m.students.values()}
    print(f"   {n} submissions ({', '.join(f'{k} {c}' for c, k in cases.items())}), "
          f"{len(m.test_cells)} autograded test cells each")
    print(f"   {'student':24s} {'labkit status':14s} {'labkit':>7s} {'nbgrader':>8s}")
    for s, case in m.students.items():
        print(f"   {s:24s} {m.labkit_status[s]:14s} {_total(m.labkit[s], m.test_cells):>7s} "
              f"{_total(m.nbgrader[s], m.test_cells):>8s}")
    print(f"   {'grader':32s} {'wall s':>8s} {'submissions/min':>16s}")
    for name, sec in ((f"labkit grade --workers {m.workers}", m.labkit_seconds),
                      ("nbgrader autograde", m.nbgrader_seconds)):
        print(f"   {name:32s} {sec:8.1f} {60 * n / sec:16.2f}")
    if m.nbgrader_rc != 0:
        print(f"   nbgrader autograde exited with {m.nbgrader_rc}: see {m.root / 'nbgrader.log'}")
    print(f"   load average (1 min): {m.load[0]:.2f} before, {m.load[1]:.2f} after; "
          f"outputs kept in {m.root}")
    differ = mismatches(m)
    for line in differ:
        print(f"   SCORE MISMATCH {line}")
    verdict = ("scores identical" if not differ else
               f"scores DIFFER ({len(differ)} test cells or students, listed above)")
    print(f"throughput: {m.ratio:.2f}x labkit / nbgrader (goal >= {GOAL:g}x with 2 workers "
          f"on 2 cores), {verdict}")
    if differ:
        print(f"labkit bench grading: labkit and nbgrader disagree on {len(differ)} scores",
              file=sys.stderr)
    return 1 if differ else 0


def run(*, course: Path | None = None, assignment: str | None = None, submissions: int = 8,
        workers: int = 2) -> int:
    """Grade ``submissions`` notebooks with labkit and plain nbgrader; print the comparison.

    Args:
        course: nbgrader course folder (default: the repository's notebooks/).
        assignment: the assignment graded.
        submissions: how many submissions both graders grade (module docstring).
        workers: ``labkit grade --workers``.

    Returns:
        0 when every score agrees, 1 when any differs.
    """
    course = Path(course) if course is not None else default_course_dir()
    assignment = assignment or default_assignment(course)
    return report(measure(course=course, assignment=assignment, submissions=submissions,
                          workers=workers))

"""``labkit grade --merge OUT_1 ... OUT_N --out OUT``: one course's grades from its shards.

The shards are out folders graded with ``--shard K/N`` (:mod:`labkit_course.grading.shards`). The
merge checks that all N are there, once each, graded from the same source notebook as
``--course``, that each graded every student it was given and no student twice; then it builds
one gradebook, ``grades.csv``, feedback folder and manual sheet from their records. Nothing is
written when a check fails; merging again gives the same files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from labkit_course.grading.course import GradingError, _tree_sha, prepare_master
from labkit_course.grading.names import safe_name
from labkit_course.grading.gradebook import make_private
from labkit_course.grading.outlock import out_lock
from labkit_course.grading.outputs import copy_file, disk_errors, sweep_temps
from labkit_course.grading.publish import finish_outputs, publish_record
from labkit_course.grading.results import Record, read_records
from labkit_course.grading.shards import read_stamp

__all__ = ["MergeSummary", "merge_shards"]


@dataclass
class MergeSummary:
    """What a merge wrote: the number of shards and students, and the merged out folder."""

    shards: int
    students: int
    out: Path


def _check(stamps: list[tuple[Path, dict]], source_sha: str, assignment: str) -> None:
    """Raise GradingError naming every problem of the shard set (see merge_shards)."""
    problems = []
    ns = {s["of"] for _, s in stamps}
    if len(ns) > 1:
        problems.append("the shards split the students differently: "
                        + ", ".join(f"{d} is {s['shard']}/{s['of']}" for d, s in stamps))
    for d, s in stamps:
        if s["source_sha256"] != source_sha:
            problems.append(f"{d} was graded from a different source notebook (sha256 "
                            f"{s['source_sha256'][:12]}...) than --course's ({source_sha[:12] or 'none'}...): "
                            "regrade it from this course, or merge with the course it was graded from")
        if s["assignment"] != assignment:
            problems.append(f"{d} is assignment {s['assignment']!r}, not {assignment!r}")
    if len(ns) == 1:
        n = ns.pop()
        seen: dict[int, list[Path]] = {}
        for d, s in stamps:
            seen.setdefault(s["shard"], []).append(d)
        missing = [f"{k}/{n}" for k in range(1, n + 1) if k not in seen]
        if missing:
            problems.append(f"missing shard(s) {', '.join(missing)}: grade them with --shard and pass "
                            "their out folders to --merge")
        for k, dirs in sorted(seen.items()):
            if len(dirs) > 1:
                problems.append(f"shard {k}/{n} given twice: {', '.join(map(str, dirs))}")
    if problems:
        raise GradingError("cannot merge:\n  " + "\n  ".join(problems))


def merge_shards(shard_dirs: list[Path], out: Path, course: Path, assignment: str) -> MergeSummary:
    """Build ``out``'s gradebook, grades.csv, feedback and manual sheet from the shards' records.

    Args:
        shard_dirs: the shards' out folders (each with ``shard.json`` and ``results/``).
        out: the merged out folder (created; merging again into it gives the same files).
        course: the nbgrader course folder the shards were graded from.
        assignment: its assignment name.

    Raises:
        GradingError: a shard missing or given twice, shards split differently or graded from
            another source notebook, a student graded in two shards, or a shard that has not
            finished (students it was given without a record). Nothing is written then.
            Also when another grader holds ``out``.
        OutputError: a disk error stopped the merge (merging again completes it).
    """
    dirs = [Path(d).resolve() for d in shard_dirs]
    out = out.resolve()
    if out in dirs:
        raise GradingError(f"--out {out} is one of the shards: merge into a new folder")
    stamps = [(d, read_stamp(d)) for d in dirs]
    src = course.resolve() / "source" / assignment
    _check(stamps, _tree_sha(src) if src.is_dir() else "", assignment)
    records: dict[str, Record] = {}
    where: dict[str, list[Path]] = {}
    unfinished = []
    for d, stamp in dict(stamps).items():
        recs = read_records(d / "results")
        lost = [s for s in stamp["students"] if s not in recs]
        if lost:
            unfinished.append(f"{d} (shard {stamp['shard']}/{stamp['of']}) has no record for "
                              f"{', '.join(lost[:5])}{', ...' if len(lost) > 5 else ''}: re-run its "
                              "grade command (it resumes)")
        for student, rec in recs.items():
            where.setdefault(student, []).append(d)
            records[student] = rec
    twice = {s: ds for s, ds in where.items() if len(ds) > 1}
    if unfinished or twice:
        raise GradingError("cannot merge:\n  " + "\n  ".join(
            unfinished + [f"{s} graded twice: in {', '.join(map(str, ds))}" for s, ds in sorted(twice.items())]))
    with out_lock(out), disk_errors(out):
        sweep_temps(out)
        _write_merged(records, where, stamps, out, course, assignment)
    return MergeSummary(len(dirs), len(records), out)


def _write_merged(records: dict[str, Record], where: dict[str, list[Path]],
                  stamps: list[tuple[Path, dict]], out: Path, course: Path, assignment: str) -> None:
    """Write the checked shards' records into ``out`` (see :func:`merge_shards`)."""
    master = prepare_master(course.resolve(), assignment, out, force=True)
    make_private(master)
    results = out / "results"
    names = {safe_name(s) for s in records}
    for stale in results.glob("*.json") if results.is_dir() else []:
        if stale.stem not in names:
            stale.unlink()
            (out / "feedback" / f"{stale.stem}.html").unlink(missing_ok=True)
    for student in sorted(records):
        graded = where[student][0] / "course" / "autograded" / safe_name(student)
        for nb in sorted(graded.glob("*.ipynb")) if graded.is_dir() else []:
            copy_file(nb, master.root / "autograded" / safe_name(student) / nb.name)
        publish_record(master, records[student], out)
    roster = sorted({s for _, stamp in stamps for s in stamp.get("roster", [])})
    finish_outputs(master, out, roster)

"""Grade a course on many machines: a stable 1/N of the students per machine, then one merge.

``labkit grade SUBMISSIONS --shard K/N --out OUT_K`` grades only the students whose id hashes
to shard K (sha256 of the id, so every machine computes the same split from the same files)
and writes ``OUT_K/shard.json``: the shard, the source notebook's hash, and the students it
was given. ``labkit grade --merge OUT_1 ... OUT_N --out OUT`` checks that the shards are all
there, come from the same source notebook as ``--course`` and graded every student they were
given once, then builds one gradebook, ``grades.csv``, feedback folder and manual sheet from
their records (``OUT_K/results/<student>.json``). Merging again gives the same files. labkit
schedules nothing across machines: a batch engine (Slurm, Kubernetes, ...) runs the N grade
commands and the merge.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from .course import GradingError, Master, _tree_sha, prepare_master
from .results import Record, read_records, write_record

if TYPE_CHECKING:
    from .batch import Options
    from .collect import Submission

__all__ = ["STAMP", "parse_shard", "shard_of", "select_shard", "read_stamp", "merge_shards",
           "MergeSummary"]

STAMP = "shard.json"


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` -> ``(K, N)`` with ``1 <= K <= N``.

    Raises:
        GradingError: not of the form K/N, or K outside 1..N.
    """
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise GradingError(f"--shard {text!r} must be K/N with 1 <= K <= N (e.g. 2/8)")
    return int(m.group(1)), int(m.group(2))


def shard_of(student: str, n: int) -> int:
    """The shard (1..n) of ``student``: sha256 of the id, so every machine agrees."""
    digest = hashlib.sha256(student.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % n + 1


def read_stamp(out: Path) -> dict:
    """The stamp of a shard's out folder.

    Raises:
        GradingError: ``out`` has no ``shard.json`` (not graded with ``--shard``).
    """
    path = out / STAMP
    if not path.is_file():
        raise GradingError(f"{out} is not a shard's out folder (no {STAMP}): grade it with "
                           "`labkit grade SUBMISSIONS --shard K/N --out DIR`")
    return json.loads(path.read_text())


def select_shard(subs: list[Submission], opts: Options, master: Master) -> tuple[list[Submission], Options]:
    """Keep the submissions (and roster students) of shard ``opts.shard``; stamp ``opts.out``.

    Raises:
        GradingError: ``opts.out`` holds another shard, or records of students outside this one.
    """
    k, n = opts.shard
    out = opts.out.resolve()
    mine = [s for s in subs if shard_of(s.student, n) == k]
    roster = [s for s in opts.roster if shard_of(s, n) == k]
    if (out / STAMP).is_file():
        old = read_stamp(out)
        if (old["shard"], old["of"]) != (k, n):
            raise GradingError(f"{out} holds shard {old['shard']}/{old['of']}, not {k}/{n}: "
                               "give each shard its own --out")
    strays = sorted(s for s in read_records(out / "results") if shard_of(s, n) != k)
    if strays:
        raise GradingError(f"{out}/results has records of students outside shard {k}/{n} "
                           f"({', '.join(strays[:5])}{', ...' if len(strays) > 5 else ''}): "
                           "give each shard a fresh --out")
    stamp = {"shard": k, "of": n, "source_sha256": master.source_sha,
             "assignment": master.assignment, "students": sorted(s.student for s in mine),
             "roster": sorted(roster)}
    tmp = out / (STAMP + ".tmp")
    tmp.write_text(json.dumps(stamp, indent=1) + "\n")
    tmp.replace(out / STAMP)
    return mine, replace(opts, roster=roster)


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
    """
    from .batch import finish_outputs
    from .feedback import write_feedback
    from .gradebook import merge_record

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
    out.mkdir(parents=True, exist_ok=True)
    master = prepare_master(course.resolve(), assignment, out, force=True)
    results = out / "results"
    for stale in results.glob("*.json") if results.is_dir() else []:
        if stale.stem not in records:
            stale.unlink()
            (out / "feedback" / f"{stale.stem}.html").unlink(missing_ok=True)
    for student in sorted(records):
        rec = records[student]
        write_record(rec, results)
        merge_record(master, rec)
        write_feedback(rec, master, out / "feedback")
        graded = where[student][0] / "course" / "autograded" / student
        if graded.is_dir():
            shutil.copytree(graded, master.root / "autograded" / student, dirs_exist_ok=True)
    roster = sorted({s for _, stamp in stamps for s in stamp.get("roster", [])})
    finish_outputs(master, out, roster)
    return MergeSummary(len(dirs), len(records), out)

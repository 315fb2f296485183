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
from pathlib import Path

from labkit_course.grading.collect import Submission
from labkit_course.grading.course import GradingError, Master
from labkit_course.grading.outputs import write_text
from labkit_course.grading.results import read_records

__all__ = ["STAMP", "parse_shard", "shard_of", "select_shard", "read_stamp"]

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


def select_shard(subs: list[Submission], roster: list[str], shard: tuple[int, int], out: Path,
                 master: Master) -> tuple[list[Submission], list[str]]:
    """Keep the submissions and roster students of ``shard`` (K, N); stamp ``out``.

    Raises:
        GradingError: ``out`` holds another shard, or records of students outside this one.
    """
    k, n = shard
    out = out.resolve()
    mine = [s for s in subs if shard_of(s.student, n) == k]
    roster = [s for s in roster if shard_of(s, n) == k]
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
    write_text(out / STAMP, json.dumps(stamp, indent=1) + "\n")
    return mine, roster

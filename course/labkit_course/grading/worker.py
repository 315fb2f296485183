"""Grade one submission in its own process, private course copy and sandboxed kernel.

``grade_one`` runs in a process forked by the batch scheduler. It pre-scans the notebook,
builds a private nbgrader course (``source/``, a copy of the template gradebook,
``submitted/<student>/``), runs nbgrader's Autograde converter there with
:class:`~labkit_course.grading.execute.GuardedExecute`, reads the scores from the private gradebook,
and leaves the student's result record in ``OUT/course/pending/`` for the parent to publish
(:mod:`labkit_course.grading.batch`): the master gradebook, the feedback page and ``OUT/results/`` are
only ever written by the parent.
"""

from __future__ import annotations

import errno
import os
import pwd
import secrets
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from labkit.runtime import FAST_GRADING_ENV
from labkit_course.grading.course import Master, nbgrader_config
from labkit_course.grading.gradebook import read_scores
from labkit_course.grading.limits import Limits
from labkit_course.grading.names import safe_name
from labkit_course.grading.outputs import copy_file
from labkit_course.grading.prescan import prescan
from labkit_course.grading.publish import pending_dir
from labkit_course.grading.results import Record, write_record
from labkit_course.grading.sandbox import SandboxConfig
from labkit_course.grading.summary import summarise

__all__ = ["Job", "grade_one", "record_for_failure"]


@dataclass(kw_only=True)
class Job:
    """One submission to grade and the limits to grade it under."""

    student: str
    path: str
    sha256: str
    out_dir: str
    tmp_root: str
    limits: Limits = field(default_factory=Limits)
    threads: int = 1
    isolation: str = "weak"  # strong / uid / weak (see sandbox.isolation_level)
    data_dir: str = ""
    hide: list[str] = field(default_factory=list)
    protections: list[str] = field(default_factory=list)  # see sandbox.protections()
    slot: int = 0  # the worker slot grading it (0 .. workers-1)
    uid: int | None = None  # that slot's sandbox uid (None: 'nobody' when running as root)
    zygote: str = ""  # the batch's kernel zygote socket (grading.zygote); '' = none


def record_for_failure(job: Job, master: Master, status: str, message: str) -> Record:
    """A record for a submission that produced no grades (invalid file, grader worker died)."""
    scores = {c.grade_id: (0.0 if c.kind == "test" else None) for c in master.cells}
    return Record(job.student, status, scores, {c.grade_id: c.points for c in master.cells},
                  messages=[message], sha256=job.sha256, source_file=job.path)


def _package_dirs() -> list[str]:
    """The folders of installed packages on this interpreter's import path: the venv's own and
    any that a .pth file adds (e.g. another venv's). The kernel runs this interpreter with the
    same site set-up, so its own root holds each of them (read-only), wherever one lies."""
    return [p for p in dict.fromkeys(sys.path)
            if p and os.path.basename(p.rstrip("/")) in ("site-packages", "dist-packages") and os.path.isdir(p)]


def _sandbox(job: Job, work: Path, token: str, ipc: Path | None = None) -> SandboxConfig:
    """The kernel's sandbox for ``job``'s protections; ``ipc``: the ZMQ socket folder of a
    kernel in its own process world."""
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
           "LANG": "C.UTF-8", "NBGRADER_EXECUTION": "autograde", "LABKIT_GUARD_TOKEN": token,
           "PYDEVD_DISABLE_FILE_VALIDATION": "1", "LABKIT_DATA_DIR": job.data_dir,
           # figures are built (plot functions return their Axes) but never drawn; the
           # notebook's ungraded work runs on less data (labkit.budget)
           "MPLBACKEND": "agg", FAST_GRADING_ENV: "1"}
    cfg = SandboxConfig(str(work), env, mem_bytes=job.limits.mem_bytes, threads=job.threads)
    have = set(job.protections)
    if "users" in have:
        if job.uid is not None:  # the slot's own uid: limits and signals never cross slots
            cfg.uid = cfg.gid = job.uid
        else:
            nobody = pwd.getpwnam("nobody")
            cfg.uid, cfg.gid = nobody.pw_uid, nobody.pw_gid
        cfg.nproc = 512
        os.chown(work, cfg.uid, cfg.gid)
    if "files" in have:
        import labkit
        import labkit_course

        cfg.own_root, cfg.hide = True, list(job.hide)
        cfg.read_only = list(dict.fromkeys(p for p in [
            sys.base_prefix, sys.base_exec_prefix, sys.prefix, sys.exec_prefix,
            str(Path(labkit.__file__).parent), str(Path(labkit_course.__file__).parent),
            job.data_dir, *_package_dirs()] if p))
    if "processes" in have and ipc is not None:
        cfg.world, cfg.network, cfg.ipc_dir = True, "network" not in have, str(ipc)
        if cfg.uid is not None:
            os.chown(ipc, cfg.uid, cfg.gid)
    return cfg


def _ipc_dir(job: Job) -> Path | None:
    """A fresh folder for the kernel's ZMQ socket files when it runs in its own process world
    (unix socket paths must stay under ~107 bytes)."""
    if "processes" not in job.protections:
        return None
    ipc = Path(job.tmp_root) / f"ipc-{os.getpid()}"
    if len(str(ipc)) > 90:
        raise RuntimeError(f"{ipc} is too long for unix sockets; set TMPDIR to a short folder")
    shutil.rmtree(ipc, ignore_errors=True)
    ipc.mkdir(mode=0o700)
    return ipc


def _summarise(nb: nbformat.NotebookNode, master: Master, rec: Record) -> None:
    """Fill failures, answers, cells and messages of ``rec`` from the autograded notebook
    (see :func:`labkit_course.grading.summary.summarise`)."""
    summarise(nb, master, rec)


def _disk_full(folder: Path) -> bool:
    """Whether the disk holding ``folder`` has (almost) no space left."""
    try:
        return shutil.disk_usage(folder).free < 2**20
    except OSError:
        return False


def grade_one(job: Job, master: Master) -> Record:
    """Grade ``job`` (see module docstring); write its record into
    :func:`~labkit_course.grading.publish.pending_dir` and return it. Never raises for a bad
    submission: those end as records with status invalid/crashed/timeout."""
    from nbgrader.converters import Autograde
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.preprocessors import Execute
    from nbgrader.utils import capture_log

    from labkit_course.grading.execute import GuardedExecute, read_outcome

    t0 = time.monotonic()
    raw = Path(job.path).read_bytes()
    nb, messages = prescan(raw, master.release)
    if nb is None:
        rec = record_for_failure(job, master, "invalid", messages[0])
        write_record(rec, pending_dir(master))
        return rec

    name = safe_name(job.student)  # the id in file names and in the private course
    base = Path(job.tmp_root) / name
    course, work = base / "course", base / "work"
    base.mkdir(mode=0o711, parents=True, exist_ok=True)  # enterable, not listable: the
    base.chmod(0o711)  # kernel reaches its work folder by path when namespaces are missing
    for d in (course, work):
        d.mkdir(mode=0o700, exist_ok=True)
    src = master.root / "source" / master.assignment
    shutil.copytree(src, course / "source" / master.assignment)
    shutil.copy2(master.template_db, course / "gradebook.db")
    sub = course / "submitted" / name / master.assignment
    sub.mkdir(parents=True)
    nbformat.write(nb, sub / f"{master.notebook}.ipynb")
    for f in src.iterdir():  # helper files the notebook may open
        if f.is_file() and f.suffix != ".ipynb":
            shutil.copy2(f, work / f.name)

    outcome_file = base / "outcome.json"  # GuardedExecute writes how the run ended

    def attempt() -> dict:  # one nbgrader autograde run in a fresh sandbox
        token = secrets.token_hex(16)
        cfg_path = base / "sandbox.json"
        ipc = _ipc_dir(job)
        _sandbox(job, work, token, ipc).write(cfg_path)

        c = nbgrader_config(master.config, course)
        steps = c.Autograde.get("autograde_preprocessors") or Autograde().autograde_preprocessors
        c.Autograde.autograde_preprocessors = [GuardedExecute if p is Execute else p for p in steps]
        c.GuardedExecute.wall_limit = float(job.limits.wall_limit)
        c.GuardedExecute.guard_token = token
        c.GuardedExecute.outcome_file = str(outcome_file)
        c.SandboxKernelManager.sandbox_config = str(cfg_path)
        c.SandboxKernelManager.ipc_prefix = str(ipc / "k") if ipc else ""
        c.SandboxKernelManager.zygote = job.zygote if ipc else ""  # forks need a process world
        if job.limits.cell_timeout is not None:
            c.Execute.timeout = int(job.limits.cell_timeout)
        c.OverwriteCells.add_missing_cells = True
        c.Execute.shutdown_kernel = "immediate"  # the outputs are in: no need to ask it to exit
        coursedir = CourseDirectory(config=c)
        coursedir.assignment_id, coursedir.student_id = master.assignment, name
        app = Autograde(coursedir=coursedir, config=c)
        app.force, app.create_student = True, True
        outcome_file.unlink(missing_ok=True)
        return capture_log(app)

    result = attempt()
    if not result["success"] and "Address already in use" in f"{result.get('log')}{result.get('error')}":
        # TCP transport (no process world): jupyter_client picks the kernel's ports before
        # the kernel binds them, so a parallel worker can take one in between: start the
        # kernel once more. (Kernels in a process world use ipc socket files: no race.)
        result = attempt()
    if not result["success"] and _disk_full(base):  # the disk failed, not the notebook
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(base))
    shutil.rmtree(Path(job.tmp_root) / f"ipc-{os.getpid()}", ignore_errors=True)
    outcome = read_outcome(outcome_file)
    status = outcome.get("status", "crashed")
    if outcome.get("stopped"):
        messages.append(f"grading stopped early: {outcome['stopped']}; the cells after it did not "
                        "run and the tests that had already run keep their points")
    rec = Record(job.student, status, sha256=job.sha256, source_file=job.path, messages=messages)
    graded = course / "autograded" / name / master.assignment / f"{master.notebook}.ipynb"
    if not result["success"] or not graded.is_file():
        log = (result.get("error") or result.get("log") or "").strip().splitlines()
        print(result.get("log") or "", result.get("error") or "", sep="\n", flush=True)  # the TA's log
        rec = record_for_failure(job, master, "crashed",
                                 "nbgrader could not grade this notebook: " + (log[-1] if log else "?")
                                 + f" (the grader's log: course/logs/{name}.log)")
        rec.messages = messages + rec.messages
    else:
        rec.scores, rec.max_scores = read_scores(course / "gradebook.db", master.notebook,
                                                 master.assignment, name)
        _summarise(nbformat.read(graded, as_version=4), master, rec)
        copy_file(graded, master.root / "autograded" / name / f"{master.notebook}.ipynb")
    rec.seconds = time.monotonic() - t0
    write_record(rec, pending_dir(master))
    return rec

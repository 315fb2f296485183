"""Grade a batch: N submissions at once, each in a forked worker process; resumable.

The parent holds the out folder's lock (:mod:`labkit_course.grading.outlock`), prepares the master
course once, then forks one worker per submission (at most ``workers`` at a time); workers die
with the parent (``PR_SET_PDEATHSIG``). A worker grades in a private course copy and leaves
the student's record in ``OUT/course/pending/``; the parent alone publishes each finished
record (master gradebook, feedback page, then ``OUT/results/``) and at the end the CSV and the
manual sheet, through :mod:`labkit_course.grading.publish`. A worker that outlives the submission's
wall limit (plus a grace period) is killed and recorded as ``timeout``; one that dies without a
record is recorded as ``crashed``. Re-running skips students whose published record (in
``OUT/results/`` and in the gradebook) matches the submitted file's hash unless ``force``, so
a run stopped by ``kill -9``, a full disk or a crash resumes with exactly the missing ones.
Every output is written atomically (:mod:`labkit_course.grading.outputs`); a full or failing disk
stops the batch with one :class:`~labkit_course.grading.outputs.OutputError`, losing nothing published.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field, replace
from multiprocessing.connection import wait
from pathlib import Path

from tqdm.auto import tqdm

from labkit_course.grading.collect import Submission, collect
from labkit_course.grading.course import GradingError, Master, prepare_master
from labkit_course.grading.gradebook import make_private
from labkit_course.grading.limits import Limits
from labkit_course.grading.names import safe_name
from labkit_course.grading.outlock import out_lock
from labkit_course.grading.outputs import (
    disk_errno,
    disk_error,
    disk_errors,
    is_disk_error,
    private_dir,
    sweep_temps,
)
from labkit_course.grading.publish import (
    finish_outputs,
    keep_manual_scores,
    pending_dir,
    publish_record,
    publish_records,
    published_records,
)
from labkit_course.grading.results import Record, read_records, write_record
from labkit_course.grading.sandbox import isolation_level, protections
from labkit_course.grading.worker import Job, grade_one, record_for_failure
from labkit_course.grading.world import UidLease, die_with_parent, kill_all, settle
from labkit_course.grading.zygote import Zygote

__all__ = ["Options", "Summary", "grade_batch", "read_records_one", "GRACE_S"]

GRACE_S = 60.0  # worker start-up and nbgrader bookkeeping on top of the wall limit
TMP_PREFIX = "labkit-grade-"  # the batch's private folder: labkit-grade-<grader pid>-XXXX
DISK_EXIT = 64  # a worker that could not write (disk full, failing, read-only) exits 64 + errno


@dataclass(kw_only=True)
class Options:
    """How to grade (see ``labkit grade --help`` for each option)."""

    course: Path
    assignment: str
    out: Path
    workers: int = 1
    force: bool = False
    drop_manual: bool = False  # regraded students lose their imported free-text scores
    limits: Limits = field(default_factory=Limits)  # time, memory and zip limits
    id_pattern: str | None = None
    roster: list[str] = field(default_factory=list)
    prepare_data: bool = True  # build the tiny profile's data + checkpoint before any worker
    verbose: bool = True
    shard: tuple[int, int] | None = None  # (K, N): grade only shard K of N (grading.shards)
    network: bool = False  # True: student code may use the network (no network namespace)


@dataclass
class Summary:
    """What a batch did: students graded now, skipped (already graded), internal errors."""

    graded: list[str]
    skipped: list[str]
    internal_errors: list[str]
    isolation: tuple[str, str]
    seconds: float  # the whole call
    grading_seconds: float = 0.0  # from the first worker's start to the last one's end
    sandbox_uids: list[int] = field(default_factory=list)  # the uids the kernels ran as
    refused: list[str] = field(default_factory=list)  # inputs refused without a student


def _hide_list(opts: Options) -> list[str]:
    """Folders a student's kernel must not see (used with mount namespaces)."""
    import labkit
    import labkit_course

    repo = Path(labkit.__file__).resolve().parents[1]
    keep = {Path(labkit.__file__).resolve().parent, Path(labkit_course.__file__).resolve().parent,
            Path(sys.prefix).resolve()}
    hide = {opts.course.resolve(), opts.out.resolve()}
    if (repo / "pyproject.toml").is_file():
        from labkit.runtime import data_dir

        keep.add(data_dir().resolve())
        hide |= {p for p in repo.iterdir() if p.is_dir() and not any(
            k == p or p in k.parents for k in keep)}
    home = Path.home().resolve()
    if home != Path("/") and not any(home == k or home in k.parents for k in keep):
        hide.add(home)
    return sorted(str(p) for p in hide)


def _start_zygote(opts: Options, have: set[str], tmp_root: Path, master: Master) -> Zygote | None:
    """The batch's kernel zygote (:mod:`labkit_course.grading.zygote`) where kernels get process
    worlds; None otherwise, or (with a warning) when it cannot start."""
    if "processes" not in have:
        return None
    try:
        (master.root / "logs").mkdir(exist_ok=True)
        return Zygote.start(tmp_root / "zygote", master.root / "logs" / "zygote.log")
    except (OSError, RuntimeError) as exc:
        print(f"warning: kernels start without the pre-imported zygote (slower): {exc}",
              file=sys.stderr)
        return None


def _child(job: Job, master: Master, log_path: Path, parent: int) -> None:
    """Body of a worker process: quiet, in its own process group, dies with the grader
    ``parent``, grades one submission. Exits ``DISK_EXIT + errno`` when it cannot write."""
    die_with_parent(parent)
    os.setsid()
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    try:
        grade_one(job, master)
    except BaseException as exc:
        with contextlib.suppress(BaseException):
            traceback.print_exc()
            sys.stderr.flush()
        if is_disk_error(exc):
            os._exit(DISK_EXIT + disk_errno(exc))
        rec = record_for_failure(job, master, "crashed",
                                 "the grader failed on this notebook; the course staff will regrade it")
        rec.internal_error = True
        try:
            write_record(rec, pending_dir(master))
        except OSError as err:
            os._exit(DISK_EXIT + disk_errno(err) if is_disk_error(err) else 3)
        os._exit(3)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def read_records_one(path: Path, sha256: str) -> Record | None:
    """The record at ``path`` if it exists and is for the file with ``sha256``."""
    if not path.is_file():
        return None
    rec = Record(**json.loads(path.read_text()))
    return rec if rec.sha256 == sha256 else None


def sweep_stale_tmp(folder: Path | None = None) -> list[Path]:
    """Remove the private folders (students' course copies) that graders killed with
    ``kill -9`` left in ``folder`` (default: the temporary folder): those named for a process
    that no longer runs. Return what was removed."""
    gone = []
    for d in Path(folder or tempfile.gettempdir()).glob(f"{TMP_PREFIX}*-*"):
        pid = d.name[len(TMP_PREFIX):].split("-", 1)[0]
        if not pid.isdigit() or not d.is_dir() or d.is_symlink():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(d, ignore_errors=True)
            gone.append(d)
        except PermissionError:  # alive, another user's
            pass
    return gone


def _publish_refused(jobs: list[Job], reasons: list[str], master: Master, out: Path) -> None:
    """Records of status ``invalid`` for the files collect refused (each reason its note),
    published together: no worker, one gradebook transaction."""
    recs = [record_for_failure(job, master, "invalid", why) for job, why in zip(jobs, reasons)]
    if recs:
        publish_records(master, recs, out)


def _kill(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _run_jobs(jobs: list[Job], master: Master, opts: Options, on_done,
              uids: list[int] | None = None) -> None:
    """Run ``jobs``, ``opts.workers`` at a time; a job gets the index of the worker slot it runs
    in and that slot's sandbox uid (``uids[slot]``, when given)."""
    ctx = multiprocessing.get_context("fork")
    logs = master.root / "logs"
    logs.mkdir(exist_ok=True)
    queue, running = list(jobs), {}
    tqdm.monitor_interval = 0  # no monitor thread: we fork
    bar = tqdm(total=len(jobs), desc="grading", unit="notebook", leave=False, disable=not opts.verbose)
    try:
        while queue or running:
            while queue and len(running) < opts.workers:
                busy = {j.slot for _, j, _ in running.values()}
                slot = min(set(range(opts.workers)) - busy)
                job = replace(queue.pop(0), slot=slot, uid=uids[slot] if uids else None)
                proc = ctx.Process(target=_child,
                                   args=(job, master, logs / f"{safe_name(job.student)}.log", os.getpid()))
                proc.start()
                running[proc.sentinel] = (proc, job, time.monotonic())
            ready = wait(list(running), timeout=1.0)
            now = time.monotonic()
            for sentinel in list(running):
                proc, job, start = running[sentinel]
                overdue = now - start > 2 * job.limits.wall_limit + GRACE_S  # the hidden checks get as much again
                if sentinel not in ready and not overdue:
                    continue
                if overdue and proc.is_alive():
                    _kill(proc.pid)
                proc.join()
                del running[sentinel]
                on_done(job, proc.exitcode, overdue)
                bar.update(1)
    except BaseException:
        for proc, _, _ in running.values():
            _kill(proc.pid)
        raise
    finally:
        bar.close()


def grade_batch(inputs: list[Path], opts: Options) -> Summary:
    """Grade ``inputs`` (notebooks, folders, zips) into ``opts.out``; see the module docstring.

    Raises:
        GradingError: the grader cannot start (bad course, inputs or out folder, or another
            grader holds the out folder).
        OutputError: a disk error stopped the batch (what was published is kept; running the
            same command again grades the rest).
    """
    if opts.workers < 1:
        raise GradingError(f"--workers {opts.workers} must be at least 1")
    out = opts.out.resolve()
    with out_lock(out), disk_errors(out):
        return _grade_locked(inputs, opts, out)


def _grade_locked(inputs: list[Path], opts: Options, out: Path) -> Summary:
    """:func:`grade_batch` once it holds ``out``'s lock."""
    t0 = time.monotonic()
    sweep_temps(out)  # what a killed grader was writing
    master = prepare_master(opts.course.resolve(), opts.assignment, out, force=opts.force)
    make_private(master)
    shutil.rmtree(pending_dir(master), ignore_errors=True)  # a killed batch's unpublished work
    private_dir(pending_dir(master))
    if opts.prepare_data:  # once, before workers start; kernels run as 'nobody': share
        from labkit.prepare import prepare

        prepare("tiny", share=True, verbose=opts.verbose)
    found = collect(inputs, notebook=master.notebook, assignment=master.assignment,
                    unzip_dir=master.root / "downloaded", pattern=opts.id_pattern,
                    zip_limits=opts.limits.zip)
    subs = found.submissions
    for line in found.refused:
        print(f"refused: {line}", file=sys.stderr)
    if opts.shard is not None:  # this machine's stable 1/N of the students
        from labkit_course.grading.shards import select_shard

        subs, roster = select_shard(subs, opts.roster, opts.shard, out, master)
        opts = replace(opts, roster=roster)
    level = isolation_level()
    if level[0] != "strong" and opts.verbose:
        print(f"warning: weak isolation: {level[1]}", file=sys.stderr)
    have = protections()
    if opts.network:
        have.discard("network")
        if opts.verbose:
            print("note: student code may use the network (the course allows it)", file=sys.stderr)
    old = read_records(out / "results")  # their imported free-text scores are kept
    done = published_records(master, old)
    todo: list[Submission] = []
    skipped: list[str] = []
    for s in subs:
        rec = done.get(s.student)
        if not opts.force and rec is not None and rec.sha256 == s.sha256 and not rec.internal_error:
            skipped.append(s.student)
        else:
            todo.append(s)
    refused = [s for s in todo if s.refused]  # collect refused them: no worker needed
    todo = [s for s in todo if not s.refused]
    from labkit.runtime import data_dir

    threads = max(1, (os.cpu_count() or 1) // min(opts.workers, max(1, len(todo))))
    sweep_stale_tmp()
    tmp_root = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{os.getpid()}-"))
    tmp_root.chmod(0o711)  # see worker.grade_one
    base = Job(student="", path="", sha256="", out_dir=str(out), tmp_root=str(tmp_root),
               limits=opts.limits, threads=threads, isolation=level[0],
               data_dir=str(data_dir()), hide=_hide_list(opts) + [str(Path(p).resolve()) for p in inputs])
    base = replace(base, protections=sorted(have))
    jobs = [replace(base, student=s.student, path=str(s.path), sha256=s.sha256) for s in todo]
    try:  # a uid per worker slot, held for the whole batch
        lease = UidLease(opts.workers) if "users" in have else None
    except RuntimeError as exc:
        raise GradingError(f"cannot claim sandbox uids: {exc}") from exc
    uids = lease.uids if lease else []
    errors: list[str] = []
    _publish_refused([replace(base, student=s.student, path=str(s.path), sha256=s.sha256)
                      for s in refused], [s.refused for s in refused], master, out)

    def on_done(job: Job, exitcode: int | None, overdue: bool) -> None:
        pending = pending_dir(master) / f"{safe_name(job.student)}.json"
        if exitcode is not None and exitcode > DISK_EXIT:  # the worker could not write:
            code = exitcode - DISK_EXIT  # stop, lose nothing published
            raise disk_error(OSError(code, os.strerror(code)), out,
                             doing=f"while grading {job.student} (in {out} or {tmp_root})")
        rec = read_records_one(pending, job.sha256)
        if rec is None:
            status, why = ("timeout", "the submission ran past its wall limit and was stopped") \
                if overdue else ("crashed", f"the grader's worker died (exit code {exitcode})")
            rec = record_for_failure(job, master, status, why)
        if job.uid is not None:  # the grader checks itself: nothing of this submission lives on
            alive = settle({job.uid})
            if alive:
                kill_all({job.uid})
                rec.internal_error = True
                rec.messages.append(
                    f"grader error: {len(alive)} process(es) of this submission outlived its "
                    f"grading and were killed ({alive[0]}); the sandbox failed to contain it, "
                    "please report this")
        if rec.internal_error:
            errors.append(job.student)
        if not opts.drop_manual:
            keep_manual_scores(old.get(job.student), rec, master)
        publish_record(master, rec, out)
        pending.unlink(missing_ok=True)
        shutil.rmtree(tmp_root / safe_name(job.student), ignore_errors=True)

    zygote = None
    t_jobs = time.monotonic()
    try:
        zygote = _start_zygote(opts, have, tmp_root, master) if jobs else None
        if zygote is not None:
            jobs = [replace(job, zygote=zygote.socket) for job in jobs]
        _run_jobs(jobs, master, opts, on_done, uids)
        t_jobs = time.monotonic() - t_jobs
    except BaseException:
        with contextlib.suppress(Exception):  # keep the first error; publish what is published
            finish_outputs(master, out, opts.roster)
        raise
    else:
        finish_outputs(master, out, opts.roster)
    finally:
        if zygote is not None:
            zygote.stop()
        if lease is not None:  # at the end of a batch no sandbox user owns a process
            alive = kill_all(set(uids))
            if alive:
                errors.append(f"(sandbox uids {uids}: {len(alive)} process(es) alive after the "
                              f"batch, killed: {alive[0]})")
            lease.release()
        shutil.rmtree(tmp_root, ignore_errors=True)
    return Summary(sorted([j.student for j in jobs] + [s.student for s in refused]), skipped, errors,
                   level, time.monotonic() - t0, t_jobs, uids, found.refused)

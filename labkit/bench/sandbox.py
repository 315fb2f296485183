"""``labkit bench sandbox``: what a submission's own process world costs.

Side by side in one run, interleaved (on, off, off, on, ...) so that a change of the machine's
load hits both alike:

* kernel start-up: start a student kernel exactly as the grader's worker configures it (same
  sandbox uid, mounts, limits), wait until it answers a first ``pass``, and shut it down
  cleanly; with the process world (PID, IPC and network namespaces under a tiny init, ZMQ over
  ipc sockets) and without it (``Options(process_world=False)``: the kernel process itself
  enters the mount namespace, ZMQ over TCP);
* a whole submission: ``labkit grade`` of the course's correct sample (the source notebook's
  solutions filled into the release, :mod:`labkit.samples`; the record's seconds: pre-scan,
  nbgrader, kernel, cells, scoring) in three ways: the process world with the kernel zygote
  (the default fast path), the world with each kernel started from scratch, and no world.

Needs root with namespaces (it says so and does nothing otherwise).
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import statistics
import tempfile
import time
from pathlib import Path

__all__ = ["run"]


def _kernel_start(tmp: Path, world: bool, uid: int, have: set[str]) -> tuple[float, float]:
    """Seconds to start one sandboxed kernel until it answered ``pass``, and to shut it down."""
    from labkit.grading.execute import SandboxKernelManager
    from labkit.grading.worker import Job, _ipc_dir, _sandbox

    if not world:
        have = have - {"processes", "network"}
    root = Path(tempfile.mkdtemp(dir=tmp))
    root.chmod(0o711)
    work = root / "work"
    work.mkdir(mode=0o700)
    job = Job(student="bench", path="", sha256="", out_dir=str(root), tmp_root=str(root), protections=sorted(have), uid=uid)
    ipc = _ipc_dir(job)
    _sandbox(job, work, secrets.token_hex(8), ipc).write(root / "sandbox.json")

    async def once() -> tuple[float, float]:
        t0 = time.perf_counter()
        km = SandboxKernelManager(kernel_name="python3", sandbox_config=str(root / "sandbox.json"),
                                  ipc_prefix=str(ipc / "k") if ipc else "")
        await km.start_kernel()
        kc = km.client()
        kc.start_channels()
        await kc.wait_for_ready(timeout=120)
        reply = await kc.execute("pass", reply=True, timeout=60)
        assert reply["content"]["status"] == "ok", reply["content"]
        t1 = time.perf_counter()
        kc.stop_channels()
        await km.shutdown_kernel(now=False)
        return t1 - t0, time.perf_counter() - t1

    try:
        return asyncio.run(once())
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _one_submission(tmp: Path, course: Path, assignment: str, notebook: bytes, k: int,
                    world: bool, zygote: bool) -> float:
    """Seconds ``labkit grade`` spent on one correct notebook (its record's seconds)."""
    from labkit.grading.batch import Options, grade_batch
    from labkit.grading.results import read_records

    out, subs = tmp / f"grade-{k}" / "out", tmp / f"grade-{k}" / "subs"
    subs.mkdir(parents=True)
    (subs / "student.ipynb").write_bytes(notebook)
    grade_batch([subs], Options(course=course, assignment=assignment, out=out, workers=1,
                                verbose=False, process_world=world, zygote=zygote))
    rec = read_records(out / "results")["student"]
    assert rec.status == "graded" and not rec.internal_error, rec.messages
    return rec.seconds


def _row(name: str, on: list[float], off: list[float], with_: str = "with the process world",
         without: str = "without") -> str:
    m_on, m_off = statistics.median(on), statistics.median(off)
    return (f"   {name}: median {m_on:.2f} s {with_}, {m_off:.2f} s {without} "
            f"({m_on - m_off:+.2f} s, {m_on / m_off:.2f}x; {len(on)} runs each, interleaved; "
            f"min {min(on):.2f} / {min(off):.2f} s)")


WAYS = {"world + zygote": (True, True), "world": (True, False), "no world": (False, False)}


def run(*, course: Path | None = None, assignment: str = "lab1", rounds: int = 3,
        kernel_only: bool = False) -> int:
    """Time kernel start-up with and without the process world, and (unless ``kernel_only``)
    one whole correct submission of the course in the three :data:`WAYS`, ``rounds`` times
    each, interleaved; print medians and ratios."""
    import nbformat

    from labkit.grading.sandbox import isolation_level, protections
    from labkit.grading.world import UidLease
    from labkit.samples import sample_notebooks
    from labkit.source_notebook import default_course_dir

    have = protections()
    if "processes" not in have or "users" not in have:
        print(f"   cannot measure the process world here: {isolation_level()[1]}")
        return 0
    course = Path(course) if course is not None else default_course_dir()
    tmp = Path(tempfile.mkdtemp(prefix="labkit-bench-sandbox-"))
    tmp.chmod(0o711)
    lease = UidLease(1)
    starts: dict[bool, list[float]] = {True: [], False: []}
    stops: dict[bool, list[float]] = {True: [], False: []}
    whole: dict[str, list[float]] = {way: [] for way in WAYS}
    try:
        notebook = b"" if kernel_only else nbformat.writes(
            sample_notebooks(course, assignment)["alice"]).encode()
        k = 0
        for r in range(rounds):
            for world in ((True, False) if r % 2 == 0 else (False, True)):
                start, stop = _kernel_start(tmp, world, lease.uids[0], have)
                starts[world].append(start)
                stops[world].append(stop)
            if kernel_only:
                continue
            for way in (list(WAYS) if r % 2 == 0 else list(WAYS)[::-1]):
                whole[way].append(_one_submission(tmp, course, assignment, notebook, k, *WAYS[way]))
                k += 1
        print(_row("kernel start-up (to its first reply)", starts[True], starts[False]))
        print(_row("kernel shutdown", stops[True], stops[False]))
        if not kernel_only:
            print(_row("one correct submission, whole", whole["world"], whole["no world"]))
            print(_row("one correct submission, whole", whole["world + zygote"], whole["world"],
                       "with the world and the kernel zygote", "with the world, kernels from scratch"))
    finally:
        lease.release()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0

"""``labkit bench sandbox``: what a submission's own process world costs.

Side by side in one run, interleaved (on, off, off, on, ...) so that a change of the machine's
load hits both alike:

* kernel start-up: start a student kernel exactly as the grader's worker configures it (same
  sandbox uid, mounts, limits), wait until it answers a first ``pass``, and shut it down
  cleanly; with the process world (PID, IPC and network namespaces under a tiny init, ZMQ over
  ipc sockets) and without it (``Options(process_world=False)``: the kernel process itself
  enters the mount namespace, ZMQ over TCP), as before issue 9;
* a whole submission: ``labkit grade`` of one correct toy-course notebook (the record's
  seconds: pre-scan, nbgrader, kernel, cells, scoring), world on and off.

Needs root with namespaces (it says so and does nothing otherwise) and the repository
checkout (the toy course lives in ``tests/grading/fixtures/toy``).
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


def _toy_course() -> Path:
    return Path(__file__).resolve().parents[2] / "tests" / "grading" / "fixtures" / "toy"


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


def _one_submission(tmp: Path, world: bool, notebook: bytes, k: int) -> float:
    """Seconds ``labkit grade`` spent on one correct toy notebook (its record's seconds)."""
    from labkit.grading.batch import Options, grade_batch
    from labkit.grading.results import read_records

    out, subs = tmp / f"grade-{k}" / "out", tmp / f"grade-{k}" / "subs"
    subs.mkdir(parents=True)
    (subs / "student.ipynb").write_bytes(notebook)
    grade_batch([subs], Options(course=_toy_course(), assignment="toy", out=out, workers=1, verbose=False,
                                prepare_data=False, process_world=world))
    rec = read_records(out / "results")["student"]
    assert rec.status == "graded" and not rec.internal_error, rec.messages
    return rec.seconds


def _row(name: str, on: list[float], off: list[float]) -> str:
    m_on, m_off = statistics.median(on), statistics.median(off)
    return (f"   {name}: median {m_on:.2f} s with the process world, {m_off:.2f} s without "
            f"({m_on - m_off:+.2f} s, {m_on / m_off:.2f}x; {len(on)} runs each, interleaved; "
            f"min {min(on):.2f} / {min(off):.2f} s)")


def run(*, rounds: int = 5, submissions: bool = True) -> int:
    """Time kernel start-up (and, with ``submissions``, one whole toy submission) with and
    without the process world, ``rounds`` times each, interleaved; print medians and ratios."""
    import nbformat

    from labkit.grading.course import prepare_master
    from labkit.grading.sandbox import isolation_level, protections
    from labkit.grading.world import UidLease
    from labkit.samples import filled_in

    have = protections()
    if "processes" not in have or "users" not in have:
        print(f"   cannot measure the process world here: {isolation_level()[1]}")
        return 0
    tmp = Path(tempfile.mkdtemp(prefix="labkit-bench-sandbox-"))
    tmp.chmod(0o711)
    lease = UidLease(1)
    starts: dict[bool, list[float]] = {True: [], False: []}
    stops: dict[bool, list[float]] = {True: [], False: []}
    whole: dict[bool, list[float]] = {True: [], False: []}
    try:
        notebook = b""
        if submissions:
            master = prepare_master(_toy_course(), "toy", tmp / "probe", force=True)
            source = nbformat.read(master.root / "source" / "toy" / "toy.ipynb", as_version=4)
            notebook = nbformat.writes(filled_in(source, master.release)).encode()
        for r in range(rounds):
            for world in ((True, False) if r % 2 == 0 else (False, True)):
                start, stop = _kernel_start(tmp, world, lease.uids[0], have)
                starts[world].append(start)
                stops[world].append(stop)
                if submissions:
                    whole[world].append(_one_submission(tmp, world, notebook, 2 * r + world))
        print(_row("kernel start-up (to its first reply)", starts[True], starts[False]))
        print(_row("kernel shutdown", stops[True], stops[False]))
        if submissions:
            print(_row("one toy submission, whole", whole[True], whole[False]))
    finally:
        lease.release()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":  # python -m labkit.bench.sandbox [ROUNDS] [--kernel-only]
    import sys

    from labkit.bench import machine_line

    print(f"== labkit bench sandbox ==\n   machine: {machine_line()}")
    raise SystemExit(run(rounds=int(sys.argv[1]) if len(sys.argv) > 1 else 5,
                         submissions="--kernel-only" not in sys.argv))

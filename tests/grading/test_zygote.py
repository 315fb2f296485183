"""The kernel zygote: each kernel of a fast batch is a fresh fork of one pre-imported
process, never reused; a fork only ever becomes a launcher of a process world; the world dies
with the process jupyter_client started; no kernel can reach the zygote; an unreachable zygote
costs speed, not a grade."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from labkit_course.grading import sandbox
from labkit_course.grading.batch import Options, grade_batch
from labkit_course.grading.course import prepare_master
from labkit_course.grading.execute import SandboxKernelManager
from labkit_course.grading.results import read_records
from labkit_course.grading.sandbox import SandboxConfig
from labkit_course.grading.worker import Job, _ipc_dir, _sandbox
from labkit_course.grading.world import UidLease, leftovers
from labkit_course.grading.zygote import Zygote

from . import corpus as C

TOY = Path(__file__).parent / "fixtures" / "toy"
LEVEL = sandbox.isolation_level()
needs_world = pytest.mark.skipif(LEVEL[0] != "strong", reason=f"no process world here: {LEVEL[1]}")
CLIENT = Path(sandbox.__file__).with_name("zygote_client.py")
FULL = {"q2_test": 2.0, "q3_test": 3.0}


@pytest.fixture
def short_tmp():
    """A short folder (unix socket paths must stay under ~107 bytes), root-only."""
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="lkz-", dir="/tmp"))
    path.chmod(0o711)
    yield path
    subprocess.run(["rm", "-rf", str(path)], check=False)


@pytest.fixture
def zygote(short_tmp):
    z = Zygote.start(short_tmp / "zygote", short_tmp / "zygote.log")
    yield z
    z.stop()
    assert z.proc.poll() is not None


def _client(z: Zygote, args: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-I", "-S", str(CLIENT), z.socket, *args],
                          capture_output=True, text=True, timeout=120, **kw)


@needs_world
@pytest.mark.slow
def test_every_kernel_of_a_fast_batch_is_a_fresh_fork_of_the_zygote(tmp_path):
    out, subs = tmp_path / "out", tmp_path / "subs"
    subs.mkdir()
    master = prepare_master(TOY, "toy", out, force=False)
    source = nbformat.read(master.root / "source" / "toy" / "toy.ipynb", as_version=4)
    ok = C.correct(source, master.release)
    for student in ("a", "b", "c"):
        (subs / f"{student}.ipynb").write_bytes(C.dumps(ok))
    summary = grade_batch([subs], Options(course=TOY, assignment="toy", out=out, workers=2,
                                          verbose=False, prepare_data=False))
    recs = read_records(out / "results")
    assert {s: (r.status, {g: r.scores[g] for g in FULL}) for s, r in recs.items()} == {
        s: ("graded", FULL) for s in "abc"}
    log = (master.root / "logs" / "zygote.log").read_text()
    forks = [line.split()[-1] for line in log.splitlines() if "forked launcher" in line]
    assert len(forks) == 3 and len(set(forks)) == 3, log  # one fresh fork per submission
    assert summary.internal_errors == []
    ours = f"labkit_course.grading.zygote .* {os.getpid()}$"  # its last argument: the batch's pid
    assert not subprocess.run(["pgrep", "-f", ours], capture_output=True).stdout, \
        "the zygote outlived its batch"


@pytest.mark.slow
def test_a_fork_never_becomes_a_kernel_outside_a_process_world(zygote, short_tmp):
    work = short_tmp / "work"
    work.mkdir()
    cfg = short_tmp / "sandbox.json"
    SandboxConfig(str(work)).write(cfg)  # no world
    conn = short_tmp / "kernel.json"
    conn.write_text("{}")
    run = _client(zygote, ["--sandbox", str(cfg), "-f", str(conn)])
    assert run.returncode == 70, (run.returncode, run.stderr)
    assert "process world only" in run.stderr
    assert not cfg.exists()  # read once and deleted, as by the ordinary launcher


async def _start(km: SandboxKernelManager):
    await km.start_kernel()
    kc = km.client()
    kc.start_channels()
    await kc.wait_for_ready(timeout=60)
    return kc


async def _run(kc, code: str) -> str:
    out: list[str] = []

    def hook(msg):
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            out.append(f"{msg['content']['ename']}: {msg['content']['evalue']}")

    await kc.execute_interactive(code, output_hook=hook, timeout=60)
    return "".join(out)


# a stand-in for the grader's worker: starts the kernel command as its child, then sleeps
_WORKER = ("import subprocess, sys, time\n"
           "subprocess.Popen(sys.argv[1:])\n"
           "time.sleep(600)\n")


class _UnderWorker(SandboxKernelManager):
    """Starts the kernel command under a stand-in worker process (the one jupyter_client tracks)."""

    def format_kernel_cmd(self, extra_arguments=None):
        return [sys.executable, "-c", _WORKER, *super().format_kernel_cmd(extra_arguments)]


def _world_kernel_dies_with(tmp: Path, z: Zygote, manager: type, victim: str) -> str:
    """Start a world kernel through ``z`` with ``manager``, check it, SIGKILL the process
    jupyter_client started, and check the world is gone; return what the kernel printed."""
    lease = UidLease(1)
    try:
        uid = lease.uids[0]
        base = tmp / "s1"
        work = base / "work"
        work.mkdir(parents=True)
        base.chmod(0o711)
        job = Job(student="s1", path="", sha256="", out_dir=str(tmp), tmp_root=str(tmp),
                  protections=sorted(sandbox.protections()), uid=uid, data_dir=str(tmp))
        ipc = _ipc_dir(job)
        cfg = base / "sandbox.json"
        _sandbox(job, work, "token", ipc).write(cfg)
        km = manager(sandbox_config=str(cfg), ipc_prefix=str(ipc / "k"), zygote=z.socket)

        async def scenario():
            kc = await _start(km)
            try:
                return await _run(kc, "import os, socket, sys\n"
                                      "print('PID', os.getpid(), 'TORCH', 'torch' in sys.modules)\n"
                                      "s = socket.socket(socket.AF_UNIX)\n"
                                      f"try:\n    s.connect({z.socket!r}); print('REACHED')\n"
                                      "except OSError as e:\n    print('UNREACHABLE', type(e).__name__)\n")
            finally:
                kc.stop_channels()

        seen = asyncio.run(scenario())
        assert "PID 2 TORCH True" in seen, seen  # the kernel of a world, with torch imported
        assert (tmp / "zygote.log").read_text().count("forked launcher") == 1
        assert leftovers({uid}), "the kernel should be alive here"
        started = km.provisioner.process
        os.kill(started.pid, signal.SIGKILL)
        started.wait()
        deadline = time.monotonic() + 10
        while leftovers({uid}) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert leftovers({uid}) == [], f"the world outlived {victim}"
        assert z.proc.poll() is None, "the zygote must outlive one kernel"
        return seen
    finally:
        from labkit_course.grading.world import kill_all

        kill_all(set(lease.uids))
        lease.release()


@needs_world
@pytest.mark.slow
def test_the_world_dies_with_its_client_and_cannot_reach_the_zygote(zygote, short_tmp):
    """SIGKILL of the stand-in jupyter_client started (its hard shutdown) ends the world."""
    seen = _world_kernel_dies_with(short_tmp, zygote, SandboxKernelManager, "its stand-in")
    assert "UNREACHABLE" in seen and "REACHED" not in seen.replace("UNREACHABLE", ""), seen


@needs_world
@pytest.mark.slow
def test_the_world_dies_with_the_grader_worker(zygote, short_tmp):
    """SIGKILL of the process that started the stand-in (the grader's worker, e.g. stopped at
    its wall limit) ends the stand-in (PR_SET_PDEATHSIG) and so the world."""
    _world_kernel_dies_with(short_tmp, zygote, _UnderWorker, "the grader's worker")


@pytest.mark.slow
def test_an_unreachable_zygote_costs_speed_not_the_kernel(short_tmp):
    work = short_tmp / "work"
    work.mkdir()
    cfg = short_tmp / "sandbox.json"
    SandboxConfig(str(work), {"PATH": os.environ.get("PATH", "")}).write(cfg)
    km = SandboxKernelManager(sandbox_config=str(cfg), zygote=str(short_tmp / "no-such.sock"))

    async def scenario():
        kc = await _start(km)
        try:
            return await _run(kc, "print('ANSWER', 6 * 7)")
        finally:
            kc.stop_channels()
            await km.shutdown_kernel(now=True)

    assert "ANSWER 42" in asyncio.run(scenario())

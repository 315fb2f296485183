"""One student's code cannot reach another's grading.

Each submission's kernel lives in its own PID, IPC and network namespaces as its worker slot's
own uid; nothing it starts outlives its grading; the grader checks that itself. The hostile
cells (tests/grading/hostile.py) are bounded and act only inside a process world.
"""

from __future__ import annotations

import ast
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest
from labkit_course.grading import batch, sandbox
from labkit_course.grading.batch import Options, grade_batch
from labkit_course.grading.course import prepare_master
from labkit_course.grading.limits import Limits
from labkit_course.grading.results import read_records
from labkit_course.grading.sandbox import protections
from labkit_course.grading.world import UID_BASE, UidLease, kill_all, leftovers

from . import corpus as C
from . import hostile as H

TOY = Path(__file__).parent / "fixtures" / "toy"
ROOT = os.geteuid() == 0
LEVEL = sandbox.isolation_level()
needs_root = pytest.mark.skipif(not ROOT, reason="sandbox uids need root (CI runs the suite as root)")
needs_world = pytest.mark.skipif(LEVEL[0] != "strong", reason=f"no process world here: {LEVEL[1]}")


def test_weak_isolation_names_every_missing_protection(monkeypatch):
    monkeypatch.setattr(sandbox, "protections", lambda: set())
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    level, why = sandbox.isolation_level()
    assert level == "weak" and "not running as root" in why
    for text in sandbox.PROTECTIONS.values():
        assert text in why


def test_partial_isolation_names_only_what_is_missing(monkeypatch):
    monkeypatch.setattr(sandbox, "protections", lambda: {"users", "files", "processes"})
    level, why = sandbox.isolation_level()
    assert level == "uid" and sandbox.PROTECTIONS["network"] in why
    assert sandbox.PROTECTIONS["processes"] not in why and sandbox.PROTECTIONS["files"] not in why


@needs_root
def test_two_batches_never_share_a_sandbox_uid():
    a = UidLease(2)
    try:
        b = UidLease(2)
        try:
            assert len(set(a.uids + b.uids)) == 4
            assert all(UID_BASE <= u < UID_BASE + 1000 for u in a.uids + b.uids)
        finally:
            b.release()
    finally:
        a.release()


@needs_root
def test_leftovers_finds_and_kill_all_kills_a_sandbox_uid_process():
    uid = UID_BASE + 999  # never leased in practice (a batch takes the lowest free uids)
    code = f"import os, time; os.setgid({uid}); os.setuid({uid}); time.sleep(30)"
    proc = subprocess.Popen([sys.executable, "-S", "-c", code])
    try:
        deadline = 50
        while not leftovers({uid}) and deadline:
            deadline -= 1
            subprocess.run(["sleep", "0.1"])
        assert [p.pid for p in leftovers({uid})] == [proc.pid]
        assert [p.pid for p in kill_all({uid})] == [proc.pid]
        assert proc.wait(timeout=5) == -9 and leftovers({uid}) == []
    finally:
        proc.kill()


def _grade(tmp: Path, name: str, cells: dict[str, list[str]], *, world: bool = True, **kw):
    """Grade one submission per entry (the correct notebook with ``cells`` inserted after
    setup, last first) into ``tmp/name``; return (records, summary, autograded folder).
    ``world=False``: as on a host without PID namespaces (no process world, no network
    namespace)."""
    out, subs = tmp / name / "out", tmp / name / "subs"
    subs.mkdir(parents=True)
    master = prepare_master(TOY, "toy", out, force=False)
    source = nbformat.read(master.root / "source" / "toy" / "toy.ipynb", as_version=4)
    ok = C.correct(source, master.release)
    for student, codes in cells.items():
        nb = ok
        for code in reversed(codes):
            nb = C.insert_after(nb, "setup", code)
        (subs / f"{student}.ipynb").write_bytes(C.dumps(nb))
    opts = {"workers": 2, "limits": Limits(cell_timeout=30, wall_limit=90), "verbose": False,
            "prepare_data": False, **kw}
    with pytest.MonkeyPatch.context() as mp:
        if not world:
            mp.setattr(batch, "protections", lambda: protections() - {"processes", "network"})
        summary = grade_batch([subs], Options(course=TOY, assignment="toy", out=out, **opts))
    return read_records(out / "results"), summary, master.root / "autograded"


def _printed(autograded: Path, student: str) -> str:
    nb = nbformat.read(autograded / student / "toy.ipynb", as_version=4)
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                   for o in c.get("outputs", []) if o.get("output_type") == "stream")


def _assert_clean(summary, records) -> None:
    """The grader's own checks found nothing alive, and nothing is."""
    assert summary.internal_errors == [], summary.internal_errors
    assert not any(r.internal_error for r in records.values())
    assert len(summary.sandbox_uids) == 2
    assert leftovers(set(summary.sandbox_uids)) == []


FULL = {"q2_test": 2.0, "q3_test": 3.0}


def _scores(rec) -> dict:
    return {g: rec.scores[g] for g in FULL}


@needs_world
@pytest.mark.slow
def test_kill_all_from_a_detached_process_reaches_only_its_own_world(tmp_path):
    """``kill -9 -1`` in a setsid loop kills its own kernel only: the correct submission
    graded at the same time keeps full marks, the loop dies with its world, a detached
    double-forked sleeper too, and the next batch is unaffected."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)
    port = listener.getsockname()[1]
    with listener:
        recs, summary, graded = _grade(tmp_path, "first", {
            "a-killer": [H.KILL_ALL_DETACHED, H.SLEEP.format(seconds=8)],
            "b-correct-slow": [H.SLEEP.format(seconds=8)],
            "c-sleeper": [H.DOUBLE_FORK_SLEEPER],
            "d-network": [H.connect(port)]})
        with pytest.raises(BlockingIOError):
            listener.accept()
    assert "kill loop started" in _printed(graded, "a-killer")
    assert recs["a-killer"].status == "crashed" and _scores(recs["a-killer"]) == {"q2_test": 0, "q3_test": 0}
    assert recs["b-correct-slow"].status == "graded" and _scores(recs["b-correct-slow"]) == FULL
    assert recs["c-sleeper"].status == "graded" and "sleeper detached" in _printed(graded, "c-sleeper")
    assert "network blocked" in _printed(graded, "d-network")
    assert recs["d-network"].status == "graded" and _scores(recs["d-network"]) == FULL
    _assert_clean(summary, recs)

    recs, summary, _ = _grade(tmp_path, "second", {"correct": [], "correct-2": []})
    assert {s: (r.status, _scores(r)) for s, r in recs.items()} == {
        "correct": ("graded", FULL), "correct-2": ("graded", FULL)}
    _assert_clean(summary, recs)


@needs_world
@pytest.mark.slow
def test_a_fork_bomb_does_not_stop_another_kernel_starting_threads(tmp_path):
    recs, summary, graded = _grade(tmp_path, "bomb", {"a-bomb": [H.fork_bomb(hold=8)],
                                                         "b-threads": [H.threads(rounds=20, delay=1)]})
    bomb, threads = _printed(graded, "a-bomb"), _printed(graded, "b-threads")
    assert "fork bomb stopped at" in bomb, bomb  # it did reach its uid's process limit
    b0, b1, _ = map(float, bomb.split("BOMB ")[1].split()[:3])
    t0, t1 = map(float, threads.split("THREADS ")[1].split()[:2])
    assert t0 < b1 and b0 < t1, "the two kernels did not run at the same time"
    for student in ("a-bomb", "b-threads"):
        assert recs[student].status == "graded" and _scores(recs[student]) == FULL, recs[student].messages
        assert recs[student].messages == []
    _assert_clean(summary, recs)


@needs_world
@pytest.mark.slow
def test_files_a_submission_leaves_never_reach_the_next_one(tmp_path):
    tag = f"labkit-leak-{os.getpid()}"
    recs, summary, graded = _grade(tmp_path, "files", {"a-writer": [H.leave_files(tag)],
                                                       "b-reader": [H.find_files(tag)]}, workers=1)
    assert "left /tmp" in _printed(graded, "a-writer")
    found = _printed(graded, "b-reader")
    assert "FOUND" not in found and found.count("absent") == len(H.SHARED_PLACES), found
    assert not any(os.path.exists(os.path.join(d, tag)) for d in H.SHARED_PLACES)  # nor on the host
    assert {r.status for r in recs.values()} == {"graded"}
    assert summary.sandbox_uids and all(r.internal_error is False for r in recs.values())


@needs_world
@pytest.mark.slow
def test_the_course_can_allow_the_network(tmp_path):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    with listener:
        recs, summary, graded = _grade(tmp_path, "net", {"net": [H.connect(listener.getsockname()[1])]},
                                       workers=1, network=True)
    assert "NETWORK REACHED" in _printed(graded, "net")
    assert recs["net"].status == "graded"


@needs_root
@pytest.mark.slow
def test_the_grader_reports_a_process_that_outlives_its_submission(tmp_path):
    """Without the process world (turned off) a double-forked sleeper escapes its kernel's
    process group: the after-submission check must find it, kill it and report a grader error."""
    recs, summary, _ = _grade(tmp_path, "escape", {"sleeper": [H.DOUBLE_FORK_SLEEPER]},
                              workers=1, world=False)
    rec = recs["sleeper"]
    assert rec.internal_error and summary.internal_errors == ["sleeper"]
    assert any("outlived its grading and were killed" in m for m in rec.messages), rec.messages
    assert rec.status == "graded" and _scores(rec) == FULL
    assert leftovers(set(summary.sandbox_uids)) == []


# ---------------------------------------------------------------------------------------------
# the kernel's filesystem is an allow-list: submissions and output folders anywhere are absent


def _probe_reads(paths: list[str]) -> str:
    """A cell that lists or reads each path and prints ``SEEN <path> <text>`` or
    ``<error> <path>``."""
    return ("import os\n"
            f"for p in {paths!r}:\n"
            "    try:\n"
            "        seen = os.listdir(p) if os.path.isdir(p) else open(p, errors='replace').read(300)\n"
            "        print('SEEN', p, seen)\n"
            "    except OSError as exc:\n"
            "        print(type(exc).__name__, p)\n")


PROBE_FDS = (  # every open descriptor, and a forged line into every one that is a file
    "import os\n"
    "for fd in sorted(os.listdir('/proc/self/fd'), key=int):\n"
    "    try:\n        target = os.readlink('/proc/self/fd/' + fd)\n"
    "    except OSError:\n        continue\n"
    "    print('FD', fd, target)\n"
    "    if target.startswith('/') and target != '/dev/null' or int(fd) in (1, 2):\n"
    "        try:\n            os.write(int(fd), b'FORGED grader line\\n')\n"
    "        except OSError:\n            pass\n")


def _probe_writes(paths: list[str]) -> str:
    """A cell that tries to create a file in each folder; prints ``WROTE <p>`` or its errno."""
    return ("import errno, os\n"
            f"for p in {paths!r}:\n"
            "    try:\n"
            "        open(os.path.join(p, 'labkit-write-probe'), 'w').close()\n"
            "        print('WROTE', p)\n"
            "    except OSError as exc:\n"
            "        print('refused', errno.errorcode[exc.errno], p)\n")


@pytest.fixture(scope="module")
def outside_tmp():
    """A fresh folder under /srv (outside /tmp and every folder the grader knows), removed after."""
    if not ROOT:
        pytest.skip("needs root")
    os.makedirs("/srv", exist_ok=True)
    base = Path(tempfile.mkdtemp(prefix="labkit-test-", dir="/srv"))
    base.chmod(0o755)
    yield base
    shutil.rmtree(base, ignore_errors=True)


def _other_course(folder: Path, secret: str) -> list[Path]:
    """Another course's output folder as labkit writes it (files 0644), each holding ``secret``."""
    files = [folder / "grades.csv", folder / "manual.csv", folder / "manual.html",
             folder / "feedback" / "victim.html", folder / "results" / "victim.json"]
    for f in files:
        f.parent.mkdir(parents=True, exist_ok=True)
        f.parent.chmod(0o755)
        f.write_text(f"student,answer\nvictim,{secret}\n")
        f.chmod(0o644)
    return files


FS_WAYS = {"world + zygote": {}, "no world": {"world": False}}


@pytest.fixture(scope="module", params=list(FS_WAYS))
def probed(request, outside_tmp):
    """A probe and a victim graded side by side, submissions under /srv, another course's
    output folder beside --out: (way, records, the probe's printed text, its out folder,
    secrets, the folders probed for writes)."""
    import labkit
    from labkit.runtime import data_dir

    way = request.param
    if LEVEL[0] != "strong":
        pytest.skip(f"no process world here: {LEVEL[1]}")
    name = way.replace(" ", "-").replace("+", "and")
    secret, other_secret = (f"labkit-secret-{k}-{os.getpid()}" for k in ("victim", "other"))
    tmp = outside_tmp / name
    others = _other_course(tmp / "other-out", other_secret)
    out, subs = tmp / name / "out", tmp / name / "subs"
    repo = Path(labkit.__file__).resolve().parents[1]
    reads = [str(subs / "victim.ipynb"), str(subs), *map(str, others), str(tmp / "other-out"),
             str(out / "course" / "gradebook.db"), str(out), str(TOY), str(outside_tmp), "/srv",
             str(repo / "tests"), str(repo / "notebooks"), "/etc/passwd", "/etc/shadow", "/home",
             str(Path.home())]
    writes = [sys.prefix, sys.base_prefix, str(Path(labkit.__file__).parent), str(data_dir()),
              "/usr", "/", "/etc", "/dev"]
    recs, _, graded = _grade(tmp, name, {
        "victim": [f"SECRET = {secret!r}"],
        "probe": [_probe_reads(reads), PROBE_FDS, _probe_writes(writes)]}, **FS_WAYS[way])
    return way, recs, _printed(graded, "probe"), out, (secret, other_secret), writes, reads


@pytest.mark.slow
def test_the_kernel_reads_no_submission_and_no_output_folder_wherever_they_are(probed):
    way, recs, printed, out, secrets_, _, reads = probed
    assert recs["probe"].status == "graded" and _scores(recs["probe"]) == FULL, recs["probe"].messages
    home = str(Path.home())
    for path in reads[:-1]:  # not even there: the kernel's root holds none of them
        assert f"FileNotFoundError {path}\n" in printed, (way, path, printed)
    # the grader's home only where the Python environment lies in it (e.g. /root/.pyenv)
    allowed = {Path(p).relative_to(home).parts[0] for p in (sys.prefix, sys.base_prefix)
               if Path(p).is_relative_to(home)}
    seen = [line for line in printed.splitlines() if line.startswith("SEEN")]
    assert seen in ([], [f"SEEN {home} {sorted(allowed)}"]) or (
        len(seen) == 1 and set(ast.literal_eval(seen[0].split(" ", 2)[2])) == allowed), (way, seen)
    shown = [out / "feedback" / "probe.html", out / "results" / "probe.json",
             out / "course" / "autograded" / "probe" / "toy.ipynb"]
    for page in shown:  # what the student and the TA are shown of the probe
        assert not any(s in page.read_text() for s in secrets_), (way, page)


@pytest.mark.slow
def test_the_kernel_holds_only_its_own_file_descriptors(probed):
    way, recs, printed, out, *_ = probed
    fds = dict(line.split()[1:3] for line in printed.splitlines() if line.startswith("FD "))
    assert fds["0"] == "/dev/null", (way, fds)
    files = {fd: t for fd, t in fds.items() if t.startswith("/") and t != "/dev/null"}
    assert files == {}, (way, files)  # only pipes, sockets and event fds of its own
    assert all(t.split(":")[0] in ("pipe", "socket", "anon_inode") for fd, t in fds.items()
               if t != "/dev/null"), (way, fds)
    log = (out / "course" / "logs" / "probe.log").read_text()
    assert "FORGED" not in log, (way, log[-2000:])


@pytest.mark.slow
def test_the_kernel_cannot_write_to_what_it_may_read(probed):
    way, recs, printed, _, _, writes, _ = probed
    for path in writes:
        assert f"refused EROFS {path}\n" in printed, (way, path, printed)
        assert not os.path.exists(os.path.join(path, "labkit-write-probe"))

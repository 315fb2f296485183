"""labkit_course.grading.fsroot on its own: the root a kernel gets holds the allowed paths read-only,
its writable folders under a private /tmp, a minimal /dev and /proc, and nothing else; a hidden
path inside an allowed one is covered; nothing is mounted in the host's mount namespace. The
kernels of a grading run in it (test_isolation.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from labkit_course.grading import fsroot
from labkit_course.grading.world import UID_BASE, can_unshare

needs_mount_ns = pytest.mark.skipif(not can_unshare(0x20000),
                                    reason="needs root and mount namespaces")
UID = UID_BASE + 998  # never leased in practice (a batch takes the lowest free uids)

# Run as a child: enter the root, drop to UID, report what is there as JSON on stdout.
_CHILD = r"""
import ctypes, errno, json, os, sys
from labkit_course.grading import fsroot
cfg = json.loads(sys.argv[1])
host = os.readlink("/proc/self/ns/mnt")
assert ctypes.CDLL(None, use_errno=True).unshare(0x20000) == 0
fsroot.enter_root(cfg["read_only"], cfg["writable"], cfg["hide"], host)
os.setgroups([]); os.setgid(cfg["uid"]); os.setuid(cfg["uid"])

def look(p):
    try:
        return sorted(os.listdir(p)) if os.path.isdir(p) else open(p).read()
    except OSError as exc:
        return errno.errorcode[exc.errno]

def write(p):
    try:
        open(p, "w").write("x")
        return "written"
    except OSError as exc:
        return errno.errorcode[exc.errno]

print(json.dumps({"look": {p: look(p) for p in cfg["look"]},
                  "write": {p: write(p) for p in cfg["write"]}}))
"""


def _in_root(read_only, writable, hide, look, write) -> dict:
    cfg = {"read_only": [str(p) for p in read_only], "writable": {k: str(v) for k, v in writable.items()},
           "hide": [str(p) for p in hide], "look": [str(p) for p in look],
           "write": [str(p) for p in write], "uid": UID}
    run = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(cfg)], capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """allowed/{shown.txt, course/answers.txt, course/env/lib.txt}, elsewhere/secret.txt,
    work/ (owned by UID)."""
    tmp_path.chmod(0o755)
    for d in ("allowed/course/env", "elsewhere", "work"):
        (tmp_path / d).mkdir(parents=True)
        (tmp_path / d).chmod(0o755)
    (tmp_path / "allowed" / "shown.txt").write_text("shown")
    (tmp_path / "allowed" / "course" / "answers.txt").write_text("hidden answers")
    (tmp_path / "allowed" / "course" / "env" / "lib.txt").write_text("library")
    (tmp_path / "elsewhere" / "secret.txt").write_text("secret")
    for f in tmp_path.rglob("*.txt"):
        f.chmod(0o644)
    os.chown(tmp_path / "work", UID, UID)
    return tmp_path


@needs_mount_ns
def test_the_root_holds_the_allowed_paths_read_only_and_nothing_else(tree):
    allowed = tree / "allowed"
    got = _in_root(
        read_only=[allowed, allowed / "course" / "env"], writable={"/tmp/work": tree / "work"},
        hide=[allowed / "course", tree],  # tree: outside every allowed path, nothing to cover
        look=["/", "/dev", allowed / "shown.txt", allowed / "course", allowed / "course" / "env",
              tree / "elsewhere",
              tree / "elsewhere" / "secret.txt", tree / "work", "/tmp/work", "/etc/passwd",
              "/proc/self/status"],
        write=[allowed / "new.txt", allowed / "shown.txt", allowed / "course" / "new.txt", "/new.txt", "/usr/new.txt",
               "/tmp/work/mine.txt", "/tmp/scratch.txt", "/dev/shm/scratch.txt"])
    look, write = got["look"], got["write"]
    assert set(look["/"]) <= {"bin", "dev", "etc", "lib", "lib32", "lib64", "libx32", "proc",
                              "sbin", "tmp", "usr"} | {tree.parts[1]}
    assert {"null", "zero", "urandom", "shm", "fd"} <= set(look["/dev"]) <= {
        *fsroot.DEVICES, "fd", "stdin", "stdout", "stderr", "shm"}
    assert look[str(allowed / "shown.txt")] == "shown"
    # covered: a course kept inside an allowed path, but what is allowed inside it is shown
    assert look[str(allowed / "course")] == ["env"] and look[str(allowed / "course" / "env")] == ["lib.txt"]
    for gone in ("elsewhere", "elsewhere/secret.txt", "work"):
        assert look[str(tree / gone)] == "ENOENT", gone
    assert look["/tmp/work"] == [] and look["/etc/passwd"] == "ENOENT"
    assert f"Uid:\t{UID}" in look["/proc/self/status"]
    assert write == {str(allowed / "new.txt"): "EROFS", str(allowed / "shown.txt"): "EROFS",
                     str(allowed / "course" / "new.txt"): "EROFS",
                     "/new.txt": "EROFS", "/usr/new.txt": "EROFS", "/tmp/work/mine.txt": "written",
                     "/tmp/scratch.txt": "written", "/dev/shm/scratch.txt": "written"}
    assert (tree / "work" / "mine.txt").read_text() == "x"  # the work folder is the host's
    assert not (allowed / "new.txt").exists()


@needs_mount_ns
def test_a_path_is_shown_at_its_own_path_and_at_its_real_one(tree):
    (tree / "link").symlink_to(tree / "allowed")
    got = _in_root(read_only=[tree / "link"], writable={}, hide=[],
                   look=[tree / "link" / "shown.txt", tree / "allowed" / "shown.txt"], write=[])
    assert set(got["look"].values()) == {"shown"}


def test_nothing_is_mounted_in_the_hosts_mount_namespace():
    host = os.readlink("/proc/self/ns/mnt")
    with pytest.raises(RuntimeError, match="not in a private mount namespace"):
        fsroot.enter_root([sys.prefix], {}, [], host)


def test_the_whole_machine_is_never_an_allowed_path():
    with pytest.raises(ValueError, match="whole machine"):
        fsroot.enter_root(["/usr", "/"], {}, [], "mnt:[0]")


def test_a_relative_path_is_refused_not_taken_from_the_working_folder():
    with pytest.raises(ValueError, match="must be absolute"):
        fsroot.plan([sys.prefix, ""])  # '' would be the grader's working folder


def test_the_root_shows_the_system_libraries_and_the_given_paths():
    shown = [path for kind, path, _ in fsroot.plan([sys.prefix]) if kind == "bind"]
    assert "/usr" in shown and os.path.realpath(sys.prefix) in shown
    assert not any(p in shown for p in ("/", "/etc", "/home", "/root", "/srv", "/tmp"))

"""labkit_course.grading.sandbox on its own: the config file the grader hands the kernel launcher, the
protections it names when some are missing, the namespaces of a process world, and what
enter_sandbox does to a process without root protections (environment, folder, limits). The
isolation levels and the protections at work are in test_isolation.py."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

from labkit_course.grading import sandbox
from labkit_course.grading.sandbox import PROTECTIONS, SandboxConfig, missing_protections, world_flags
from labkit_course.grading.world import CLONE_WORLD


def test_the_config_file_round_trips_and_only_its_owner_can_read_it(tmp_path):
    cfg = SandboxConfig("/w", {"A": "1"}, uid=1234, gid=1235, hide=["/srv"], read_only=["/opt/py"],
                        own_root=True, mem_bytes=2**30, nproc=64, threads=2, world=True,
                        network=False, ipc_dir="/tmp/ipc")
    path = tmp_path / "sandbox.json"
    cfg.write(path)
    assert SandboxConfig.read(path) == cfg
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    SandboxConfig("/other").write(path)  # rewriting replaces it whole
    assert SandboxConfig.read(path) == SandboxConfig("/other")


def test_missing_protections_names_exactly_what_is_missing(monkeypatch):
    monkeypatch.setattr(sandbox, "protections", lambda: {"users", "files"})
    assert missing_protections() == [PROTECTIONS["processes"], PROTECTIONS["network"]]
    monkeypatch.setattr(sandbox, "protections", lambda: set(PROTECTIONS))
    assert missing_protections() == []


def test_without_root_there_is_no_protection(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert sandbox.protections() == set()


def test_a_world_without_network_also_unshares_the_network():
    with_net = world_flags(SandboxConfig("/w", world=True, network=True))
    without = world_flags(SandboxConfig("/w", world=True, network=False))
    assert with_net == CLONE_WORLD
    assert without == CLONE_WORLD | 0x40000000  # CLONE_NEWNET


def test_enter_sandbox_gives_the_process_only_its_environment_folder_limits_and_own_fds(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    conn = tmp_path / "kernel.json"
    conn.write_text('{"key": "k"}')
    cfg = tmp_path / "sandbox.json"
    SandboxConfig(str(work), {"ONLY": "this"}, mem_bytes=3 * 2**30, nproc=None,
                  fsize_bytes=2**20, threads=3).write(cfg)
    log = tmp_path / "grader.log"  # the grader's log: the process's stdout and stderr
    code = ("import json, os, resource, sys\n"
            "from labkit_course.grading.sandbox import SandboxConfig, enter_sandbox\n"
            "held = os.open(sys.argv[3], os.O_WRONLY | os.O_APPEND)  # inherited, not CLOEXEC\n"
            "conn = enter_sandbox(SandboxConfig.read(sys.argv[1]), sys.argv[2])\n"
            "print('FORGED grader line'); os.write(2, b'FORGED on fd 2')\n"
            "def link(fd):\n"
            "    try:\n        return os.readlink('/proc/self/fd/' + fd)\n"
            "    except OSError:  # the listing's own descriptor, closed by now\n        return None\n"
            "fds = {fd: link(fd) for fd in os.listdir('/proc/self/fd') if link(fd)}\n"
            "open('probe.json', 'w').write(json.dumps({'env': dict(os.environ), 'cwd': os.getcwd(),\n"
            "    'conn': conn, 'fds': fds, 'held': held,\n"
            "    'conn_text': open(conn).read(), 'conn_mode': os.stat(conn).st_mode & 0o777,\n"
            "    'data': resource.getrlimit(resource.RLIMIT_DATA)[0],\n"
            "    'fsize': resource.getrlimit(resource.RLIMIT_FSIZE)[0],\n"
            "    'core': resource.getrlimit(resource.RLIMIT_CORE)[0]}))\n")
    env = {**os.environ, "GRADER_SECRET": "must-not-leak"}
    with open(log, "wb") as out:
        subprocess.run([sys.executable, "-c", code, str(cfg), str(conn), str(log)], env=env,
                       cwd=tmp_path, stdout=out, stderr=out, timeout=120, check=True)
    got = json.loads((work / "probe.json").read_text())
    assert "GRADER_SECRET" not in got["env"] and got["env"]["ONLY"] == "this"
    assert got["env"]["HOME"] == str(work) and got["env"]["OMP_NUM_THREADS"] == "3"
    assert got["cwd"] == str(work) and got["conn"] == str(work / ".kernel-connection.json")
    assert got["conn_text"] == '{"key": "k"}' and got["conn_mode"] == 0o600
    assert (got["data"], got["fsize"], got["core"]) == (3 * 2**30, 2**20, 0)
    # no descriptor of the grader's: 0, 1 and 2 on /dev/null, the held log closed
    assert got["fds"] == dict.fromkeys(("0", "1", "2"), "/dev/null"), got["fds"]  # log closed
    assert b"FORGED" not in log.read_bytes()

"""labkit_course.grading.execute: the kernel command SandboxKernelManager builds, read_outcome, and
GuardedExecute on tiny notebooks run in a weak sandbox (no root protections): a kernel death
ends only the remaining cells, the wall limit ends the submission, and a passing test that
writes to stderr keeps its points. (A missing outcome file and a valid one are read in
test_worker.py; whole gradings in test_corpus.py.)"""

from __future__ import annotations

import json
import secrets
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook
from nbgrader.utils import determine_grade
from traitlets.config import Config

from labkit_course.grading.execute import GuardedExecute, SandboxKernelManager, read_outcome
from labkit_course.grading.sandbox import SandboxConfig


def test_the_kernel_command_needs_a_sandbox_config():
    with pytest.raises(RuntimeError, match="sandbox_config is not set"):
        SandboxKernelManager().format_kernel_cmd()


def test_the_kernel_command_runs_labkits_kernel_in_its_sandbox(tmp_path):
    km = SandboxKernelManager(sandbox_config=str(tmp_path / "sandbox.json"))
    km.connection_file = str(tmp_path / "kernel.json")
    assert km.format_kernel_cmd(["--x"]) == [
        sys.executable, "-m", "labkit_course.grading.kernel", "--sandbox", str(tmp_path / "sandbox.json"),
        "-f", str(tmp_path / "kernel.json"), "--x"]
    assert km.transport == "tcp"  # no ipc_prefix: loopback ports


def test_an_ipc_prefix_puts_the_kernels_sockets_in_files(tmp_path):
    c = Config()
    c.SandboxKernelManager.sandbox_config = str(tmp_path / "sandbox.json")
    c.SandboxKernelManager.ipc_prefix = str(tmp_path / "k")  # as the worker sets it
    km = SandboxKernelManager(config=c)
    km.connection_file = str(tmp_path / "kernel.json")
    km.write_connection_file()
    info = json.loads((tmp_path / "kernel.json").read_text())
    assert info["transport"] == "ipc" and info["ip"] == str(tmp_path / "k")
    assert km.format_kernel_cmd()[3:5] == ["--sandbox", str(tmp_path / "sandbox.json")]


@pytest.mark.parametrize("text", ["", "{", '{"status": "graded"', "\xff"])
def test_a_corrupt_outcome_file_reads_as_crashed(tmp_path, text):
    (tmp_path / "outcome.json").write_text(text, errors="surrogateescape")
    assert read_outcome(tmp_path / "outcome.json") == {"status": "crashed", "stopped": None}


# GuardedExecute on tiny notebooks -------------------------------------------------------------

def _test_cell(source: str, gid: str) -> nbformat.NotebookNode:
    cell = new_code_cell(source)
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "points": 2,
                                 "grade_id": gid, "schema_version": 3}
    return cell


def _run(tmp_path: Path, cells: list, *, wall_limit: float = 120, timeout: int = 60):
    """Run ``cells`` with GuardedExecute (weak sandbox); return (notebook, outcome, token)."""
    work = tmp_path / "work"
    work.mkdir()
    token = secrets.token_hex(8)
    cfg = tmp_path / "sandbox.json"
    SandboxConfig(str(work), {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
                              "LANG": "C.UTF-8", "LABKIT_GUARD_TOKEN": token}).write(cfg)
    c = Config()
    c.SandboxKernelManager.sandbox_config = str(cfg)
    c.GuardedExecute.guard_token = token
    c.GuardedExecute.wall_limit = float(wall_limit)
    c.GuardedExecute.outcome_file = str(tmp_path / "outcome.json")
    c.GuardedExecute.timeout = timeout
    nb = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "language": "python",
                                                            "display_name": "Python 3"}})
    nb, _ = GuardedExecute(config=c).preprocess(nb, {"metadata": {"path": str(work)}})
    return nb, read_outcome(tmp_path / "outcome.json"), token


def _errors(cell) -> list[str]:
    return [o.get("ename") for o in cell.outputs if o.get("output_type") == "error"]


@pytest.mark.slow
def test_a_kernel_death_marks_the_remaining_cells_not_run_and_keeps_earlier_tests(tmp_path):
    nb, outcome, _ = _run(tmp_path, [new_code_cell("x = 1"), _test_cell("assert x == 1", "t1"),
                                     new_code_cell("import os\nos._exit(1)"), new_code_cell("y = 2"),
                                     _test_cell("assert True", "t2")])
    assert outcome["status"] == "crashed" and "the kernel died in cell 2" in outcome["stopped"]
    assert determine_grade(nb.cells[1]) == (2, 2)  # ran before the death: keeps its points
    assert _errors(nb.cells[2]) == ["DeadKernelError"]
    for cell in nb.cells[3:]:
        assert _errors(cell) == ["NotRun"] and "kernel died" in cell.outputs[0]["evalue"]
    assert determine_grade(nb.cells[4]) == (0, 2)


@pytest.mark.slow
def test_the_wall_limit_ends_the_submission_as_timeout(tmp_path):
    t0 = time.monotonic()
    nb, outcome, _ = _run(tmp_path, [new_code_cell("x = 1"), new_code_cell("while True:\n    pass"),
                                     _test_cell("assert x == 1", "t1")], wall_limit=15, timeout=120)
    assert time.monotonic() - t0 < 60  # the cell's 120 s shrank to what was left of 15 s
    assert outcome["status"] == "timeout"
    assert set(_errors(nb.cells[1])) & {"CellTimeoutError", "NotRun"}  # the loop never finished


@pytest.mark.slow
def test_a_passing_test_that_writes_to_stderr_keeps_its_points(tmp_path):
    warn = "import sys\nprint('a warning', file=sys.stderr)"
    nb, outcome, token = _run(tmp_path, [new_code_cell(warn), _test_cell(warn, "t1"),
                                         _test_cell(warn + "\nassert False", "t2")])
    assert outcome == {"status": "graded", "stopped": None, "checks_stopped": None}
    assert [o["name"] for o in nb.cells[0].outputs] == ["stderr"]  # a student cell: untouched
    assert [o["name"] for o in nb.cells[1].outputs] == ["stdout"]
    assert determine_grade(nb.cells[1]) == (2, 2)
    assert determine_grade(nb.cells[2]) == (0, 2)  # a failing one still fails
    assert all(token not in c.source for c in nb.cells)  # the marker never stays in the notebook

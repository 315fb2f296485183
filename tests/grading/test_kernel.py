"""labkit_course.grading.kernel: the student's kernel, started the way the grader starts it (through
SandboxKernelManager) with a weak sandbox (no root protections), and driven cell by cell.

A cell whose first line is ``#labkit-test <token>`` runs inside the Guard, and a rebinding it
makes is reported as a TamperingError; any other cell (no marker, a wrong token) runs as a
plain cell. The token leaves the environment before student code runs, and the work folder is
not on the import path.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
from pathlib import Path

import pytest

from labkit_course.grading.execute import SandboxKernelManager
from labkit_course.grading.kernel import MARKER
from labkit_course.grading.sandbox import SandboxConfig

pytestmark = pytest.mark.slow  # a kernel start imports torch (the Guard's snapshot)

TOKEN = secrets.token_hex(16)
PATCH_ABS = "import builtins\nbuiltins.abs = lambda x: 0"


class Kernel:
    """One sandboxed kernel and a blocking ``run(code) -> (reply content, outputs)``."""

    def __init__(self, work: Path, cfg_path: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.km = SandboxKernelManager(sandbox_config=str(cfg_path))
        self.loop.run_until_complete(self.km.start_kernel(cwd=str(work)))
        self.kc = self.km.client()
        self.kc.start_channels()
        self.loop.run_until_complete(self.kc.wait_for_ready(timeout=120))

    def run(self, code: str) -> tuple[dict, list[dict]]:
        outputs: list[dict] = []

        def hook(msg: dict) -> None:
            if msg["msg_type"] in ("stream", "error", "execute_result"):
                outputs.append({"type": msg["msg_type"], **msg["content"]})

        reply = self.loop.run_until_complete(
            self.kc.execute_interactive(code, output_hook=hook, timeout=120))
        return reply["content"], outputs

    def printed(self, code: str) -> str:
        content, outputs = self.run(code)
        assert content["status"] == "ok", content
        return "".join(o.get("text", "") for o in outputs if o["type"] == "stream")

    def close(self) -> None:
        self.kc.stop_channels()
        self.loop.run_until_complete(self.km.shutdown_kernel(now=True))
        self.loop.close()


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("kernel")
    work = root / "work"
    work.mkdir()
    (work / "shadowmod.py").write_text("LOADED = True\n")  # importable only if work is on sys.path
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "LANG": "C.UTF-8",
           "LABKIT_GUARD_TOKEN": TOKEN, "LABKIT_KERNEL_TEST": "passed-through"}
    cfg_path = root / "sandbox.json"
    SandboxConfig(str(work), env).write(cfg_path)
    k = Kernel(work, cfg_path)
    k.cfg_path, k.work = cfg_path, work
    yield k
    k.close()


def test_the_kernel_reads_then_deletes_its_sandbox_config_and_runs_in_the_work_folder(kernel):
    assert not kernel.cfg_path.exists()
    assert kernel.printed("import os\nprint(os.getcwd())").strip() == str(kernel.work)
    assert kernel.printed("print(os.environ.get('LABKIT_KERNEL_TEST'))").strip() == "passed-through"


def test_the_token_is_gone_from_the_environment_and_from_the_history(kernel):
    kernel.run(f"{MARKER} {TOKEN}\nx = 1")
    out = kernel.printed("import os\nprint(os.environ.get('LABKIT_GUARD_TOKEN'), "
                         "[h for h in In if h.startswith('#labkit')], 'x = 1' in In)")
    assert out.split() == ["None", "[]", "True"]  # the test ran, its marker line never showed


def test_the_work_folder_is_not_on_the_import_path(kernel):
    out = kernel.printed(f"import sys\nprint([p for p in sys.path if p in ('', '.', {str(kernel.work)!r})])")
    assert out.strip() == "[]"
    content, outputs = kernel.run("import shadowmod")
    assert content["status"] == "error" and content["ename"] == "ModuleNotFoundError"


def test_a_marked_cell_that_rebinds_a_builtin_fails_as_tampering(kernel):
    content, outputs = kernel.run(f"{MARKER} {TOKEN}\n{PATCH_ABS}")
    assert content["status"] == "error" and content["ename"] == "TamperingError"
    assert content["evalue"].startswith("this test rebound objects the tests rely on: abs")
    assert [o["ename"] for o in outputs if o["type"] == "error"] == ["TamperingError"]


def test_a_marked_cell_sees_pristine_builtins_after_student_code_patched_them(kernel):
    content, _ = kernel.run(PATCH_ABS)  # an ordinary cell may do it
    assert content["status"] == "ok"
    assert kernel.printed("print(abs(-3))").strip() == "0"  # ... and keeps it outside tests
    content, outputs = kernel.run(f"{MARKER} {TOKEN}\nassert abs(-3) == 3\nprint('real abs')")
    assert content["status"] == "ok", content
    assert "real abs" in "".join(o.get("text", "") for o in outputs)


@pytest.mark.parametrize("first_line", ["", "#labkit-test not-the-token", f"#labkit-test{TOKEN}",
                                        f"# {TOKEN}"])
def test_unmarked_and_wrongly_marked_cells_run_as_plain_cells(kernel, first_line):
    content, outputs = kernel.run(f"{first_line}\n{PATCH_ABS}\nprint('plain')")
    assert content["status"] == "ok", content  # no guard: the rebinding is not reported
    assert not [o for o in outputs if o["type"] == "error"]

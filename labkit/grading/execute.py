"""nbgrader's Execute step, made to survive what students do to kernels.

:class:`GuardedExecute` subclasses nbgrader's ``Execute`` preprocessor (so nbgrader's scoring,
restored tests and gradebook are unchanged) and adds:

* each kernel starts through :class:`SandboxKernelManager` (``labkit.grading.kernel``: sandbox
  + guarded test cells);
* a kernel death (``os._exit``, a segfault) or a SIGINT-proof loop ends only the remaining
  cells: the kernel is killed, each remaining code cell gets an error output saying why, and
  nbgrader saves the grades of the cells that did run;
* a per-submission wall limit (the per-cell timeout shrinks to what is left);
* test cells are scored by the kernel's execute_reply status only: a warning on stderr does
  not cost points, a hidden traceback does not hide a failure.

The outcome (``graded``/``timeout``/``crashed``, and why the remaining cells did not run) is
written to ``GuardedExecute.outcome_file`` as JSON; :func:`read_outcome` reads it back. Both
classes take their settings from the nbgrader config (``c.GuardedExecute.*``,
``c.SandboxKernelManager.*``: nbclient hands its config to the kernel manager it creates).
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from jupyter_client.manager import AsyncKernelManager
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import run_sync
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Float, Unicode

from .kernel import MARKER

__all__ = ["GuardedExecute", "SandboxKernelManager", "read_outcome"]


class SandboxKernelManager(AsyncKernelManager):
    """Starts ``python -m labkit.grading.kernel --sandbox CONFIG`` instead of the kernelspec
    (with ``zygote``: :mod:`labkit.grading.zygote_client`, which has the kernel zygote fork it).

    ``sandbox_config`` and ``ipc_prefix`` come from the config (``c.SandboxKernelManager.*``)
    or the constructor. With ``ipc_prefix`` the kernel's ZMQ sockets are unix socket files
    ``<ipc_prefix>-<n>`` (``ipc`` transport: they work across the kernel's network namespace
    and need no free TCP port) instead of TCP ports on loopback.
    """

    sandbox_config = Unicode("", help="the kernel's SandboxConfig JSON file").tag(config=True)
    ipc_prefix = Unicode("", help="prefix of the kernel's ipc socket files ('': TCP)").tag(config=True)
    zygote = Unicode("", help="the kernel zygote's socket ('': start a fresh launcher)").tag(config=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.ipc_prefix:
            self.transport, self.ip = "ipc", self.ipc_prefix

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        if not self.sandbox_config:
            raise RuntimeError("SandboxKernelManager.sandbox_config is not set")
        args = ["--sandbox", self.sandbox_config, "-f", self.connection_file, *(extra_arguments or [])]
        if self.zygote:  # a stand-in that has the pre-imported zygote fork the launcher
            client = str(Path(__file__).with_name("zygote_client.py"))
            return [sys.executable, "-I", "-S", client, self.zygote, *args]
        return [sys.executable, "-m", "labkit.grading.kernel", *args]


def read_outcome(path: Path) -> dict:
    """The outcome :class:`GuardedExecute` wrote to ``path``: ``{"status": graded|timeout|
    crashed, "stopped": why the remaining cells did not run, or None}``; ``crashed`` when the
    run never got that far (no file)."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {"status": "crashed", "stopped": None}


def _error(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=evalue,
                        traceback=[f"{ename}: {evalue}"])


def _is_test(cell: NotebookNode) -> bool:
    meta = cell.metadata.get("nbgrader", {})
    return bool(meta.get("grade")) and not meta.get("solution") and cell.cell_type == "code"


class GuardedExecute(Execute):
    """nbgrader ``Execute`` with sandboxed, guarded, death-tolerant execution."""

    outcome_file = Unicode("", help="where preprocess writes its outcome (JSON: status, "
                           "stopped)").tag(config=True)
    wall_limit = Float(600.0, help="seconds for all of one submission's cells").tag(config=True)
    guard_token = Unicode("", help="secret that marks test cells for the kernel's guard").tag(config=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("kernel_manager_class", SandboxKernelManager)
        super().__init__(*args, **kwargs)

    def preprocess(self, nb, resources=None, km=None):
        self._stopped: str | None = None  # why the remaining cells do not run
        self._status = "graded"
        self._cell_timeout = self.timeout
        self._deadline = time.monotonic() + self.wall_limit
        self._pgid: int | None = None
        try:
            return super().preprocess(nb, resources, km)
        finally:
            self.timeout = self._cell_timeout
            if self._pgid:  # processes the student's code forked and left behind
                try:
                    os.killpg(self._pgid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            if self.outcome_file:
                Path(self.outcome_file).write_text(
                    json.dumps({"status": self._status, "stopped": self._stopped}))

    def _stop(self, status: str, why: str) -> None:
        self._status, self._stopped = status, why
        try:  # kill the whole kernel process group; a stuck kernel ignores polite requests
            run_sync(self.km.shutdown_kernel)(now=True)
        except Exception as exc:  # already dead
            self.log.debug("kernel shutdown after %s: %s", status, exc)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or not cell.source.strip():
            return cell, resources
        if self._stopped is None and time.monotonic() >= self._deadline:
            self._stop("timeout", f"the submission used its whole wall limit ({self.wall_limit:.0f} s)")
        if self._stopped is not None:
            cell.outputs = [_error("NotRun", f"this cell did not run: {self._stopped}")]
            return cell, resources
        left = self._deadline - time.monotonic()
        capped = not self._cell_timeout or left < self._cell_timeout  # the wall limit bounds it
        self.timeout = max(1, math.ceil(min(self._cell_timeout or left, left)))
        if self._pgid is None and self.km is not None and getattr(self.km, "provisioner", None):
            self._pgid = getattr(self.km.provisioner, "pgid", None)
        source = cell.source
        if _is_test(cell) and self.guard_token:
            cell.source = f"{MARKER} {self.guard_token}\n{source}"
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            self._stop("crashed", f"the kernel died in cell {index} "
                                  "(os._exit, a segfault or the memory limit)")
            cell.outputs = [_error("DeadKernelError", "the kernel died while running this cell")]
        except CellTimeoutError:
            self._stop("timeout", f"cell {index} ran over {self.timeout} s and ignored the interrupt")
            cell.outputs = [_error("CellTimeoutError", f"this cell ran over {self.timeout} s and "
                                   "ignored the interrupt; the kernel was killed")]
        finally:
            cell.source = source
        if any(o.get("ename") == "CellTimeoutError" for o in cell.outputs) and self._status == "graded":
            self._status = "timeout"
            if capped and self._stopped is None:  # interrupted at the wall limit: nothing more runs
                self._stop("timeout", f"the submission used its whole wall limit ({self.wall_limit:.0f} s)")
        return cell, resources

    def on_cell_executed(self, **kwargs: Any) -> None:
        super().on_cell_executed(**kwargs)  # nbgrader: reply error without an error output
        cell, reply = kwargs["cell"], kwargs["execute_reply"]
        if _is_test(cell) and reply["content"].get("status") == "ok":
            for out in cell.outputs:  # pass/fail is the reply status, not stderr noise
                if out.get("output_type") == "stream" and out.get("name") == "stderr":
                    out["name"] = "stdout"

"""nbgrader's Execute step, made to survive what students do to kernels.

:class:`GuardedExecute` subclasses nbgrader's ``Execute`` preprocessor (so nbgrader's scoring,
restored tests and gradebook are unchanged) and adds:

* each kernel starts through :class:`SandboxKernelManager` (``labkit_course.grading.kernel``: sandbox
  + guarded test cells);
* a kernel death (``os._exit``, a segfault) or a SIGINT-proof loop ends only the remaining
  cells: the kernel is killed, each remaining code cell gets an error output saying why, and
  nbgrader saves the grades of the cells that did run;
* a per-submission wall limit (the per-cell timeout shrinks to what is left);
* test cells are scored by the kernel's execute_reply status only: a warning on stderr does
  not cost points, a hidden traceback does not hide a failure;
* sealed hidden tests. The notebook first runs as released: each test cell without its hidden
  part (blanked to empty lines, so line numbers hold). Every output a student sees comes
  from that run, in which no hidden-test or reference code has entered the kernel. Then, after
  the last cell, the whole of each test cell whose visible part passed runs again ("hidden
  checks"), with a wall limit of its own; from that part only the points come back (a pass,
  or a numeric partial-credit value) and, on a failure, a reason the grader builds from its own
  text (:func:`labkit_course.grading.hidden.check_reason`). Its outputs, display updates and comm
  messages are dropped. When the kernel died or ignored an interrupt, the cells before the
  stop are replayed in a fresh kernel (outputs dropped) before the hidden checks.

The outcome (``graded``/``timeout``/``crashed``, and why the remaining cells did not run) is
written to ``GuardedExecute.outcome_file`` as JSON; :func:`read_outcome` reads it back. Both
classes take their settings from the nbgrader config (``c.GuardedExecute.*``,
``c.SandboxKernelManager.*``: nbclient hands its config to the kernel manager it creates).
"""

from __future__ import annotations

import copy
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

from labkit_course import regions
from labkit_course.grading.hidden import HIDDEN_ENAME, StudentCell, check_reason
from labkit_course.grading.kernel import MARKER
from labkit_course.grading.limits import Limits

__all__ = ["GuardedExecute", "SandboxKernelManager", "read_outcome"]


class SandboxKernelManager(AsyncKernelManager):
    """Starts ``python -m labkit_course.grading.kernel --sandbox CONFIG`` instead of the kernelspec
    (with ``zygote``: :mod:`labkit_course.grading.zygote_client`, which has the kernel zygote fork it).

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
        cfg = Path(self.sandbox_config)  # the kernel deletes it once read: keep it for a restart
        if cfg.is_file():
            self._sandbox_bytes = cfg.read_bytes()
        elif getattr(self, "_sandbox_bytes", None):
            fd = os.open(cfg, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(self._sandbox_bytes)
        args = ["--sandbox", self.sandbox_config, "-f", self.connection_file, *(extra_arguments or [])]
        if self.zygote:  # a stand-in that has the pre-imported zygote fork the launcher
            client = str(Path(__file__).with_name("zygote_client.py"))
            return [sys.executable, "-I", "-S", client, self.zygote, *args]
        return [sys.executable, "-m", "labkit_course.grading.kernel", *args]


def read_outcome(path: Path) -> dict:
    """The outcome :class:`GuardedExecute` wrote to ``path``: ``{"status": graded|timeout|
    crashed, "stopped": why the remaining cells did not run, or None, "checks_stopped": why
    the remaining hidden checks did not run, or None}``; ``crashed`` when the run never got
    that far (no file)."""
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
    """nbgrader ``Execute`` with sandboxed, guarded, death-tolerant, sealed execution."""

    outcome_file = Unicode("", help="where preprocess writes its outcome (JSON: status, "
                           "stopped, checks_stopped)").tag(config=True)
    wall_limit = Float(Limits().wall_limit, help="seconds for all of one submission's cells; the hidden "
                       "checks get as much again").tag(config=True)
    guard_token = Unicode("", help="secret that marks test cells for the kernel's guard").tag(config=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("kernel_manager_class", SandboxKernelManager)
        super().__init__(*args, **kwargs)

    def preprocess(self, nb, resources=None, km=None):
        self._stopped: str | None = None  # why the remaining cells do not run
        self._checks_stopped: str | None = None  # why the remaining hidden checks do not run
        self._status = "graded"
        self._cell_timeout = self.timeout
        self._deadline = time.monotonic() + self.wall_limit
        self._pgids: set[int] = set()
        self._dead = False  # the kernel was killed: the hidden checks need a fresh one
        self._stop_index = 0  # cells before it ran in the first part
        self._checks: list[int] = []  # test cells whose hidden part is still to run
        self._cells: dict[int, StudentCell] = {}  # the student's code cells by execution count
        self._sealed = False
        try:
            return super().preprocess(nb, resources, km)
        finally:
            self.timeout = self._cell_timeout
            for pgid in self._pgids:  # processes the student's code forked and left behind
                try:
                    os.killpg(pgid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            if self.outcome_file:
                Path(self.outcome_file).write_text(json.dumps(
                    {"status": self._status, "stopped": self._stopped,
                     "checks_stopped": self._checks_stopped}))

    def _note_pgid(self) -> None:
        if self.km is not None and getattr(self.km, "provisioner", None):
            pgid = getattr(self.km.provisioner, "pgid", None)
            if pgid:
                self._pgids.add(pgid)

    def _kill(self) -> None:
        self._dead = True
        try:  # kill the whole kernel process group; a stuck kernel ignores polite requests
            run_sync(self.km.shutdown_kernel)(now=True, restart=True)  # restart: keep the context
        except Exception as exc:  # already dead
            self.log.debug("kernel shutdown: %s", exc)

    def _stop(self, status: str, why: str, *, kill: bool = True) -> None:
        self._status, self._stopped = status, why
        if kill:
            self._kill()

    def _set_timeout(self, deadline: float) -> bool:
        """Bound the next cell by ``deadline``; whether the deadline (not the per-cell
        timeout) is what bounds it."""
        left = deadline - time.monotonic()
        capped = not self._cell_timeout or left < self._cell_timeout
        self.timeout = max(1, math.ceil(min(self._cell_timeout or left, left)))
        return capped

    def preprocess_cell(self, cell, resources, index):
        try:
            return self._first_part(cell, resources, index)
        finally:
            if index == len(self.nb.cells) - 1:
                self._hidden_checks()

    def _first_part(self, cell, resources, index):
        """Run ``cell`` as released (a test cell's hidden part blanked)."""
        if cell.cell_type != "code" or not cell.source.strip():
            return cell, resources
        if self._stopped is None and time.monotonic() >= self._deadline:
            self._stop("timeout", f"the submission used its whole wall limit ({self.wall_limit:.0f} s)",
                       kill=False)
        if self._stopped is not None:
            cell.outputs = [_error("NotRun", f"this cell did not run: {self._stopped}")]
            return cell, resources
        capped = self._set_timeout(self._deadline)
        self._note_pgid()
        source, test = cell.source, _is_test(cell)
        if test:
            cell.source = f"{MARKER} {self.guard_token}\n" if self.guard_token else ""
            cell.source += regions.blank_hidden(source)
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
        self._stop_index = index + 1 if self._stopped is None else index
        timed_out = any(o.get("ename") == "CellTimeoutError" for o in cell.outputs)
        if timed_out and self._status == "graded":
            self._status = "timeout"
            if capped and self._stopped is None:  # interrupted at the wall limit: nothing more runs
                self._stop("timeout", f"the submission used its whole wall limit ({self.wall_limit:.0f} s)",
                           kill=False)
        if test:
            for out in cell.outputs:  # the points come from the hidden checks, not this run
                if out.get("output_type") == "execute_result":
                    out["output_type"] = "display_data"
                    out.pop("execution_count", None)
            failed = any(o.get("output_type") == "error" for o in cell.outputs)
            if not failed and self._stopped is None:
                self._checks.append(index)
        elif cell.get("execution_count"):
            self._cells[cell.execution_count] = StudentCell(index, source)
        return cell, resources

    # -- the hidden checks ---------------------------------------------------------------

    def process_message(self, msg, cell, cell_index):
        if self._sealed:  # nothing from the hidden checks may reach another cell's outputs
            kind = msg["msg_type"]
            if kind.startswith("comm") or kind == "update_display_data":
                return None
            if msg["content"].get("transient"):
                msg = {**msg, "content": {k: v for k, v in msg["content"].items() if k != "transient"}}
        return super().process_message(msg, cell, cell_index)

    def _run_copy(self, cell: NotebookNode, index: int, source: str) -> NotebookNode | str:
        """Run ``source`` as cell ``index`` on a copy of ``cell`` and return the copy (the
        notebook keeps ``cell``), or why it could not run to the end (the kernel was killed)."""
        probe = copy.deepcopy(cell)
        probe.source, probe.outputs = source, []
        self._note_pgid()
        try:
            self.execute_cell(probe, index, store_history=True)
        except DeadKernelError:
            self._kill()
            return f"the kernel died in cell {index}"
        except CellTimeoutError:
            self._kill()
            return f"cell {index} ran over {self.timeout} s and ignored the interrupt"
        finally:
            self.nb.cells[index] = cell
        return probe

    def _replay(self, deadline: float) -> str | None:
        """Run the cells the first part ran again in a fresh kernel (outputs dropped); why it
        could not, or None."""
        self._dead = False
        try:
            run_sync(self.km.restart_kernel)(now=True)
            if self.kc is not None:
                self.kc.stop_channels()
            self.start_new_kernel_client()
        except Exception as exc:
            self._dead = True
            return f"no fresh kernel could be started for them ({type(exc).__name__})"
        self._cells = {}
        for index, cell in enumerate(self.nb.cells[:self._stop_index]):
            if cell.cell_type != "code" or not cell.source.strip():
                continue
            if time.monotonic() >= deadline:
                return "replaying the cells before the kernel stopped used their wall limit"
            self._set_timeout(deadline)
            source = cell.source
            if _is_test(cell):
                source = (f"{MARKER} {self.guard_token}\n" if self.guard_token else "") + regions.blank_hidden(source)
            probe = self._run_copy(cell, index, source)
            if isinstance(probe, str):
                return f"replaying the cells before the kernel stopped: {probe}"
            if not _is_test(cell) and probe.get("execution_count"):
                self._cells[probe.execution_count] = StudentCell(index, cell.source)
        return None

    def _hidden_checks(self) -> None:
        """Run the whole of each test cell in ``self._checks`` after the last cell; keep its
        points and, on a failure, a grader-built reason."""
        if not self._checks:
            return
        deadline = time.monotonic() + self.wall_limit
        self._sealed = True
        why = self._replay(deadline) if self._dead else None
        for index in self._checks:
            cell = self.nb.cells[index]
            if why is None and time.monotonic() >= deadline:
                why = f"they used their whole wall limit ({self.wall_limit:.0f} s)"
            if why is not None:
                self._checks_stopped = self._checks_stopped or why
                cell.outputs.append(_error(HIDDEN_ENAME, f"the hidden checks did not run: {why}"))
                continue
            self._set_timeout(deadline)
            marker = f"{MARKER} {self.guard_token}\n" if self.guard_token else ""
            probe = self._run_copy(cell, index, marker + cell.source)
            if isinstance(probe, str):
                why = probe
                self._checks_stopped = why
                if self._status == "graded":
                    self._status = "crashed" if "died" in why else "timeout"
                cell.outputs.append(_error(HIDDEN_ENAME, f"the hidden checks did not run to the end: {why}"))
                continue
            errors = [o for o in probe.outputs if o.get("output_type") == "error"]
            if errors:
                if errors[0].get("ename") == "CellTimeoutError" and self._status == "graded":
                    self._status = "timeout"
                reason = check_reason(errors[0], cell.source, probe.get("execution_count"), self._cells)
                cell.outputs.append(_error(HIDDEN_ENAME, reason))
                continue
            value = _partial_credit(probe)
            if value is not None:
                cell.outputs.append(NotebookNode(output_type="execute_result", metadata={},
                                                 execution_count=cell.get("execution_count"),
                                                 data={"text/plain": repr(value)}))
        self._sealed = False

    def on_cell_executed(self, **kwargs: Any) -> None:
        super().on_cell_executed(**kwargs)  # nbgrader: reply error without an error output
        cell, reply = kwargs["cell"], kwargs["execute_reply"]
        if _is_test(cell) and reply["content"].get("status") == "ok":
            for out in cell.outputs:  # pass/fail is the reply status, not stderr noise
                if out.get("output_type") == "stream" and out.get("name") == "stderr":
                    out["name"] = "stdout"


def _partial_credit(cell: NotebookNode) -> float | None:
    """The number a test cell's run ended with (nbgrader's partial credit), or None."""
    for out in cell.outputs:
        if out.get("output_type") == "execute_result":
            try:
                value = float(out.get("data", {}).get("text/plain", ""))
            except ValueError:
                return None
            return value if math.isfinite(value) else None
    return None

"""Check the notebook you will upload, before you upload it: ``lk.check_submission()``.

From the notebook's last cell, or in a terminal (``python -m labkit.submission lab1.ipynb``):

1. the file is read as it is on disk (in Jupyter: save first; on Colab the notebook is not a
   file the kernel can read, so the check asks the browser for the notebook as it is open);
2. every test cell is there once and unchanged (nbgrader's own checksum of the cell, stored in
   the released notebook), and no answer still holds its stub (``raise NotImplementedError()``,
   ``YOUR ANSWER HERE``);
3. it runs the notebook from the top in a fresh kernel, as the grader will, and lists each
   visible test that fails and each cell that raises.

It prints what it found and returns True when the notebook is ready to upload. The hidden
tests are not in your notebook, so a notebook that passes here can still lose points there.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .runtime import is_autograding

__all__ = ["check_submission", "SubmissionReport", "nbgrader_checksum", "structure_problems"]

STUBS = ("raise NotImplementedError()", "YOUR ANSWER HERE")
_INSIDE = "LABKIT_SUBMISSION_CHECK"  # set in the kernel the check runs, so it does not recurse


@dataclass
class SubmissionReport:
    """What :func:`check_submission` found.

    Attributes:
        source: where the notebook came from (a path, or "the notebook open in Colab").
        problems: one line per problem of the file itself (edited, deleted, duplicated test
            cells, answers left as stubs).
        failures: one line per failing visible test or raising cell of the fresh run.
        ran: whether the notebook was run.
        asked_to_run: whether a run was asked for (a run that could not start is not ready).
        note: why it was not run, when it was not.
    """

    source: str
    problems: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    ran: bool = False
    asked_to_run: bool = True
    note: str = ""

    @property
    def ready(self) -> bool:
        return not self.problems and not self.failures and (self.ran or not self.asked_to_run)

    def summary(self) -> str:
        lines = [f"submission check of {self.source}:"]
        lines += [f"  PROBLEM {p}" for p in self.problems]
        lines += [f"  FAILS   {f}" for f in self.failures]
        if self.ran and not self.failures:
            lines.append("  every visible test passes and every cell runs, from the top in a fresh kernel")
        if self.note:
            lines.append(f"  {self.note}")
        lines.append("  -> ready to upload (hidden tests are graded too)" if self.ready
                     else "  -> not ready: fix the lines above, save, and check again")
        return "\n".join(lines)


def _nbgrader(cell: dict) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def nbgrader_checksum(cell: dict) -> str:
    """nbgrader's checksum of a cell (``nbgrader.utils.compute_checksum``), from the cell's JSON.

    md5 over the source, the cell type, whether it is a grade, solution and locked cell, its
    grade id and, for a grade cell, its points as a float.
    """
    meta = _nbgrader(cell)
    grade, solution = bool(meta.get("grade", False)), bool(meta.get("solution", False))
    locked = False if solution else (True if grade else bool(meta.get("locked", False)))
    m = hashlib.md5()
    for part in (_source(cell), cell.get("cell_type", ""), str(grade), str(solution), str(locked),
                 meta.get("grade_id", "")):
        m.update(part.encode("utf-8"))
    if grade:
        m.update(str(float(meta.get("points", 0))).encode("utf-8"))
    return m.hexdigest()


def _is_test(cell: dict) -> bool:
    meta = _nbgrader(cell)
    return bool(meta.get("grade")) and not meta.get("solution")


def structure_problems(nb: dict) -> list[str]:
    """The problems of the notebook file itself: test cells edited (checksum), duplicated or
    missing (against the release's list in ``metadata.labkit.graded_cells``), answers left as
    stubs. ``nb``: the notebook's JSON (a dict)."""
    problems = []
    cells = nb.get("cells", [])
    seen: dict[str, int] = {}
    for cell in cells:
        gid = _nbgrader(cell).get("grade_id")
        if gid:
            seen[gid] = seen.get(gid, 0) + 1
    for gid, n in seen.items():
        if n > 1:
            problems.append(f"the cell {gid} appears {n} times: delete the copies (the grader keeps the last)")
    expected = nb.get("metadata", {}).get("labkit", {}).get("graded_cells", [])
    for gid in expected:
        if gid not in seen:
            problems.append(f"the cell {gid} is missing: copy it back from a fresh copy of the notebook")
    for index, cell in enumerate(cells, start=1):
        meta = _nbgrader(cell)
        gid = meta.get("grade_id")
        if not gid:
            continue
        if _is_test(cell) and meta.get("checksum") and nbgrader_checksum(cell) != meta["checksum"]:
            problems.append(f"the test cell {gid} (cell {index}) was edited: restore it from a fresh "
                            "copy of the notebook (the grader runs the original)")
        if meta.get("solution") and any(stub in _source(cell) for stub in STUBS):
            stub = next(s for s in STUBS if s in _source(cell))
            problems.append(f"the answer {gid} (cell {index}) still holds `{stub}`")
    return problems


def _colab_notebook() -> dict | None:
    """The notebook open in Colab, as the browser holds it (None outside Colab)."""
    if "google.colab" not in sys.modules:
        return None
    from google.colab import _message  # noqa: PLC0415 (only on Colab)

    reply = _message.blocking_request("get_ipynb", timeout_sec=60)
    return reply.get("ipynb") if isinstance(reply, dict) else None


def _find(path: str | os.PathLike | None) -> tuple[dict, str, Path | None]:
    """(the notebook's JSON, where it came from, its folder)."""
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"no notebook at {p}: give the path of the .ipynb you will upload")
        try:
            return json.loads(p.read_text(encoding="utf-8")), str(p), p.resolve().parent
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{p} is not a notebook the grader can read ({exc}); "
                             "download it again from Jupyter or Colab as .ipynb") from exc
    colab = _colab_notebook()
    if colab is not None:
        return colab, "the notebook open in Colab (upload what File > Download > .ipynb gives)", Path.cwd()
    session = os.environ.get("JPY_SESSION_NAME")
    if session and Path(session).is_file():
        return _find(session)
    raise FileNotFoundError("cannot tell which notebook this is: pass its path, e.g. "
                            "lk.check_submission('lab1.ipynb') (save it first)")


def _run(nb: dict, folder: Path | None, timeout: float) -> tuple[list[str], str]:
    """Run ``nb`` from the top in a fresh kernel; (failures, note)."""
    try:
        import nbclient  # noqa: PLC0415 (Jupyter and Colab have it; the check works without)
        import nbformat  # noqa: PLC0415
    except ImportError:
        return [], ("not run: this Python has no nbclient; use Kernel > Restart Kernel and Run All "
                    "Cells, or `pip install nbclient ipykernel` and check again")
    node = nbformat.reads(json.dumps(nb), as_version=4)  # joins list sources, as Jupyter does
    for cell in node.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    os.environ[_INSIDE] = "1"
    try:
        client = nbclient.NotebookClient(node, timeout=timeout, allow_errors=True, kernel_name="python3",
                                         resources={"metadata": {"path": str(folder or Path.cwd())}})
        client.execute()
    except Exception as exc:  # a kernel that died or timed out: say so, never a traceback
        return [f"the run stopped: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"], ""
    finally:
        os.environ.pop(_INSIDE, None)
    failures = []
    for index, cell in enumerate(node.cells, start=1):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                what = f"{out.get('ename')}: {out.get('evalue', '')}".strip().rstrip(":")
                gid = _nbgrader(cell).get("grade_id")
                where = f"test {gid}" if gid and _is_test(cell) else f"cell {index}"
                failures.append(f"{where}: {what[:300]}")
    return failures, ""


def check_submission(path: str | os.PathLike | None = None, *, execute: bool = True,
                     timeout: float = 1800.0, verbose: bool = True) -> bool:
    """Check the notebook you will upload (module docstring); True when it is ready.

    Args:
        path: the .ipynb (default: this notebook: the file Jupyter opened, saved; on Colab the
            notebook as the browser holds it).
        execute: also run it from the top in a fresh kernel (minutes on a laptop CPU).
        timeout: seconds allowed per cell of that run.
        verbose: print the report.
    """
    if os.environ.get(_INSIDE) or is_autograding():
        if verbose:
            print("submission check: skipped while the notebook is being checked or graded")
        return True
    nb, source, folder = _find(path)
    report = SubmissionReport(source, structure_problems(nb), asked_to_run=execute)
    if execute:
        report.failures, report.note = _run(nb, folder, timeout)
        report.ran = not report.note
    else:
        report.note = "not run: the file alone was checked"
    if verbose:
        print(report.summary())
    return report.ready


def main(argv: list[str] | None = None) -> int:
    """``python -m labkit.submission NOTEBOOK [--no-run]``: 0 when ready, 1 when not, 2 on bad input."""
    args = list(sys.argv[1:] if argv is None else argv)
    run = "--no-run" not in args
    paths = [a for a in args if a != "--no-run"]
    if len(paths) != 1 or paths[0].startswith("-"):
        print("usage: python -m labkit.submission NOTEBOOK.ipynb [--no-run]", file=sys.stderr)
        return 2
    try:
        return 0 if check_submission(paths[0], execute=run) else 1
    except (FileNotFoundError, ValueError) as exc:
        print(f"submission check: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

"""What Gradescope runs: ``python -m labkit_course.gradescope.run [--setup]``.

Layout (Gradescope's; the root ``/autograder`` moves with ``AUTOGRADER_ROOT``)::

    ROOT/source/            the autograder zip, unpacked: course/, labkit.json, the wheel, ...
    ROOT/submission/        the student's upload (one notebook, any name, maybe in a folder)
    ROOT/results/results.json   written here
    ROOT/labkit-grades/     labkit's out folder (master course, records); root-only

``--setup`` (from setup.sh, once per image) prepares the master course and the tiny profile's
data, and makes the course folders readable by root only, so the student's kernel (user
``nobody``) cannot read the hidden tests. Without it, each run grades the one submission with
:func:`labkit_course.grading.batch.grade_batch` and turns its record into Gradescope's results.json:
one test per autograded cell (name, score, max_score, output = the visible test and the
failure message; hidden tests never), the free-text questions left to manual grading, and a
submission-level message for invalid notebooks, timeouts and crashes.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from labkit_course.grading.course import GradeCell, Master
from labkit_course.grading.results import Record, scrub

__all__ = ["autograder_root", "setup", "run_autograder", "results_json", "secret_lines", "main"]

STUDENT = "submission"  # one student per Gradescope run


def autograder_root() -> Path:
    """``$AUTOGRADER_ROOT`` or ``/autograder``."""
    return Path(os.environ.get("AUTOGRADER_ROOT") or "/autograder")


def _config(root: Path) -> dict:
    path = root / "source" / "labkit.json"
    if not path.is_file():
        raise SystemExit(f"{path} is missing: build the zip with `labkit gradescope --out autograder.zip`")
    return json.loads(path.read_text())


def _options(root: Path, cfg: dict, inputs_out: Path):
    from labkit_course.grading.batch import Options
    from labkit_course.grading.limits import Limits

    return Options(course=root / "source" / "course", assignment=cfg["assignment"], out=inputs_out,
                   workers=1, force=True, limits=Limits.from_json(cfg.get("limits", {})), verbose=False,
                   prepare_data=bool(cfg.get("prepare_data", True)))


def setup(root: Path) -> None:
    """Prepare the master course and the data once; lock the course folders (root only)."""
    from labkit.prepare import prepare
    from labkit_course.grading.course import prepare_master

    cfg = _config(root)
    out = root / "labkit-grades"
    prepare_master((root / "source" / "course").resolve(), cfg["assignment"], out.resolve(), force=True)
    if cfg.get("prepare_data", True):
        prepare("tiny", share=True, verbose=True)
    for folder in (root / "source" / "course", out):
        folder.chmod(0o700)


def _find_notebook(folder: Path, notebook: str) -> tuple[Path | None, str]:
    found = sorted(p for p in folder.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts) \
        if folder.is_dir() else []
    if len(found) == 1:
        return found[0], ""
    named = [p for p in found if p.name == f"{notebook}.ipynb"]
    if len(named) == 1:
        return named[0], ""
    if not found:
        return None, f"no notebook was found in your submission: upload {notebook}.ipynb"
    return None, (f"your submission has {len(found)} notebooks ({', '.join(p.name for p in found[:5])}) "
                  f"and none or several named {notebook}.ipynb: upload only {notebook}.ipynb")


def secret_lines(master: Master) -> list[str]:
    """Hidden-test lines the release does not show (the ones students must never see)."""
    shown = {ln.strip() for c in master.release.cells for ln in c.source.splitlines()}
    return [ln for ln in master.hidden_lines() if ln not in shown]


def _test_output(cell: GradeCell, rec: Record) -> str:
    score = rec.scores.get(cell.grade_id)
    failure = rec.failures.get(cell.grade_id, "")
    head = (f"failed: {failure}" if failure else "passed" if score == cell.points
            else "not run" if rec.status in ("invalid", "crashed", "timeout") and not score
            else f"{score or 0:g} of {cell.points:g} points")
    printed = next((c.get("output", "") for c in rec.cells
                    if c.get("kind") == "test" and c.get("grade_id") == cell.grade_id), "")
    text = f"{head}\n\nThe test (its hidden part is not shown):\n{cell.release_source.strip()}\n"
    if printed.strip():  # the checks' expected-vs-got lines (capped and scrubbed by the grader)
        text += f"\nWhat it printed:\n{printed.rstrip()}\n"
    return text


def results_json(rec: Record, master: Master) -> dict:
    """Gradescope's results.json for one student's record (hidden-test lines scrubbed)."""
    tests = []
    for c in master.cells:
        if c.kind != "test":
            continue
        tests.append({"name": f"{c.question}: {c.grade_id}", "score": rec.scores.get(c.grade_id) or 0.0,
                      "max_score": c.points, "output": _test_output(c, rec), "visibility": "visible"})
    status = {"graded": "Your notebook was graded.",
              "timeout": "Grading stopped: your notebook ran past its time limit. The tests that "
                         "ran before keep their points; the others got 0.",
              "crashed": "Grading stopped: your notebook crashed the grader's kernel (os._exit, a "
                         "segfault or the memory limit). The tests that ran before keep their points.",
              "invalid": "Your file could not be graded: it is not a readable Jupyter notebook."}
    lines = [status.get(rec.status, f"Status: {rec.status}.")]
    lines += [f"- {m}" for m in rec.messages]
    manual = [c for c in master.cells if c.kind == "manual"]
    if manual:
        lines.append("Graded by hand later (not in this score): " + ", ".join(
            f"{c.question} ({c.points:g} points)" for c in manual) + ".")
    result = {"output": "\n".join(lines), "tests": tests, "visibility": "visible",
              "stdout_visibility": "hidden", "extra_data": {"status": rec.status}}
    secret = secret_lines(master)  # a last guard; the record's texts are already scrubbed
    return json.loads(scrub(json.dumps(result), [json.dumps(h)[1:-1] for h in secret]))


def _write(root: Path, result: dict) -> Path:
    results = root / "results"
    results.mkdir(parents=True, exist_ok=True)
    path = results / "results.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=1))
    os.replace(tmp, path)
    return path


def run_autograder(root: Path | None = None) -> dict:
    """Grade the notebook in ``ROOT/submission``; write and return ``ROOT/results/results.json``."""
    from labkit_course.grading.batch import grade_batch
    from labkit_course.grading.course import GradingError, prepare_master
    from labkit_course.grading.results import read_records

    root = (root or autograder_root()).resolve()
    cfg = _config(root)
    out = root / "labkit-grades"
    opts = _options(root, cfg, out)
    try:
        master = prepare_master(opts.course.resolve(), opts.assignment, out, force=True)
    except GradingError as exc:
        _write(root, {"score": 0.0, "output": f"The autograder is broken, tell the course staff: {exc}"})
        raise
    nb, problem = _find_notebook(root / "submission", master.notebook)
    if nb is None:
        result = results_json(Record(STUDENT, "invalid", {c.grade_id: 0.0 for c in master.cells
                                                          if c.kind == "test"},
                                     messages=[problem]), master)
        _write(root, result)
        return result
    with tempfile.TemporaryDirectory(prefix="labkit-gradescope-") as tmp:
        sub = Path(tmp) / f"{STUDENT}.ipynb"
        shutil.copyfile(nb, sub)
        meta = root / "submission_metadata.json"  # its created_at: the submission's time
        if meta.is_file():
            shutil.copyfile(meta, Path(tmp) / meta.name)
        summary = grade_batch([sub], opts)
    rec = read_records(out / "results")[STUDENT]
    result = results_json(rec, master)
    if summary.internal_errors:
        result["output"] += "\nThe grader itself failed on this notebook; the course staff will regrade it."
    _write(root, result)
    return result


def main(argv: list[str] | None = None) -> int:
    """``--setup``: prepare once (setup.sh); otherwise grade the submission (run_autograder)."""
    argv = sys.argv[1:] if argv is None else argv
    root = autograder_root()
    if argv == ["--setup"]:
        setup(root)
        return 0
    if argv:
        print("usage: python -m labkit_course.gradescope.run [--setup]", file=sys.stderr)
        return 2
    result = run_autograder(root)
    total = sum(t["score"] for t in result.get("tests", []))
    print(f"wrote {root / 'results' / 'results.json'}: {total:g} / "
          f"{sum(t['max_score'] for t in result.get('tests', [])):g} autograded points")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Each student kernel runs torch on cores // workers threads (2 workers on 2 cores: 1 each).

Regression: OMP_NUM_THREADS was set after the kernel had imported torch, so every kernel ran
2 threads and 2 workers were no faster than 1 (BENCHMARKS.md, autograding).
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from labkit_course.grading.batch import Options, grade_batch
from labkit_course.grading.course import prepare_master
from labkit_course.grading.limits import Limits

from . import corpus as C

pytestmark = pytest.mark.slow
TOY = Path(__file__).parent / "fixtures" / "toy"
PROBE = "import torch\nprint('torch threads:', torch.get_num_threads())"


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs 2 cores to give 2 workers 1 thread each")
def test_kernels_get_cores_divided_by_workers_threads(tmp_path):
    out, subs = tmp_path / "out", tmp_path / "subs"
    subs.mkdir()
    master = prepare_master(TOY, "toy", out, force=False)
    probed = C.insert_after(master.release, "setup", PROBE)
    for student in ("t1", "t2"):
        (subs / f"{student}.ipynb").write_bytes(C.dumps(probed))
    grade_batch([subs], Options(course=TOY, assignment="toy", out=out, workers=2, limits=Limits(cell_timeout=30, wall_limit=120),
                                verbose=False, prepare_data=False))
    want = (os.cpu_count() or 1) // 2
    for student in ("t1", "t2"):
        nb = nbformat.read(master.root / "autograded" / student / "toy.ipynb", as_version=4)
        printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                          for o in c.get("outputs", []) if o.get("output_type") == "stream")
        assert f"torch threads: {want}" in printed, printed


def test_a_kernel_port_race_is_retried_once(tmp_path, monkeypatch):
    """jupyter_client picks ports before the kernel binds them; a lost race must not cost a grade."""
    import nbgrader.utils

    real, calls = nbgrader.utils.capture_log, []

    def first_start_loses_its_port(app, *args, **kwargs):
        calls.append(1)  # workers are forked: each child starts with an empty list
        if len(calls) == 1:
            return {"success": False, "log": "zmq.error.ZMQError: Address already in use"}
        return real(app, *args, **kwargs)

    out, subs = tmp_path / "out", tmp_path / "subs"
    subs.mkdir()
    master = prepare_master(TOY, "toy", out, force=False)
    monkeypatch.setattr(nbgrader.utils, "capture_log", first_start_loses_its_port)
    (subs / "racer.ipynb").write_bytes(C.dumps(master.release))
    grade_batch([subs], Options(course=TOY, assignment="toy", out=out, workers=1, limits=Limits(cell_timeout=30, wall_limit=120),
                                verbose=False, prepare_data=False))
    record = (out / "results" / "racer.json").read_text()
    assert '"status": "graded"' in record, record
